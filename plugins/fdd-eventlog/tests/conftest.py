"""Fixtures of the fdd-eventlog tests: an event log in a fresh folder, and a reader for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def event_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$FDD_EVENT_LOG`` set to a file in a folder that does not exist yet."""
    path = tmp_path / "logs" / "events.jsonl"
    monkeypatch.setenv("FDD_EVENT_LOG", str(path))
    return path


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


@pytest.fixture
def read_log():
    """``read_log(path)``: the file's lines as strict JSON objects (no NaN, no Infinity), asserting each is whole."""

    def read(path: Path) -> list[dict]:
        data = path.read_bytes()
        assert data.endswith(b"\n"), "the log must end with a complete line"
        return [json.loads(line, parse_constant=_refuse_constant) for line in data.decode().splitlines()]

    return read
