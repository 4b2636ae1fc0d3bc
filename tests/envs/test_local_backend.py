"""The local environment backend: layered on the base, cached, safe under concurrency, never half-built."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nvflare_fdd.envs import JobEnvironmentError, blamed_requirements, requirement_lines
from nvflare_fdd.envs.local import MARKER, LocalBackend

# Satisfied by the platform's own environment: uv needs no index, so these tests run offline.
BASE_ONLY = "# only what the site already has\nclick\ntorch>=2\n"


def run_in(environment, code: str) -> str:
    done = subprocess.run([*environment.argv_prefix, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_no_requirements_means_the_base_environment(tmp_path):
    environment = LocalBackend(cache_dir=str(tmp_path)).prepare("# nothing\n\n")
    assert environment.argv_prefix == [sys.executable]
    assert list(tmp_path.iterdir()) == []


def test_base_packages_count_as_installed_and_stay_importable(tmp_path):
    lines = []
    environment = LocalBackend(cache_dir=str(tmp_path)).prepare(BASE_ONLY, log=lines.append)
    python = environment.argv_prefix[0]
    assert python.startswith(str(tmp_path))
    # torch and the platform itself come from the base; nothing was installed into the job environment
    import torch

    assert run_in(environment, "import torch; print(torch.__file__)") == torch.__file__
    assert run_in(environment, "import nvflare_fdd.client.worker; print('ok')") == "ok"
    assert not any(line.startswith("+") for line in lines)


def test_a_second_prepare_reuses_the_cached_environment(tmp_path):
    backend = LocalBackend(cache_dir=str(tmp_path))
    first = backend.prepare(BASE_ONLY)
    messages = []
    second = backend.prepare(BASE_ONLY, log=messages.append)
    assert second.argv_prefix == first.argv_prefix
    assert any("reusing" in message for message in messages)
    assert "cached" in second.description


def test_other_requirements_get_another_environment(tmp_path):
    backend = LocalBackend(cache_dir=str(tmp_path))
    assert backend.prepare(BASE_ONLY).argv_prefix != backend.prepare("click\n").argv_prefix


def test_concurrent_builders_of_one_environment_build_it_once(tmp_path, concurrently):
    results, logs = [], []

    def build() -> None:
        lines = []
        results.append(LocalBackend(cache_dir=str(tmp_path)).prepare(BASE_ONLY, log=lines.append).argv_prefix)
        logs.append(lines)

    errors = concurrently(build, 4)
    assert errors == []
    assert len({tuple(r) for r in results}) == 1
    assert sum(any(line.startswith("built environment") for line in lines) for lines in logs) == 1
    environments = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert len(environments) == 1 and (environments[0] / MARKER).is_file()


def test_a_failed_install_leaves_no_cache_entry_and_names_the_requirement(tmp_path):
    # an unreachable URL fails fast and needs no network
    requirements = "click\nbroken-wheel @ http://127.0.0.1:9/broken_wheel-1.0-py3-none-any.whl\n"
    with pytest.raises(JobEnvironmentError) as caught:
        LocalBackend(cache_dir=str(tmp_path)).prepare(requirements)
    assert caught.value.requirements == ["broken-wheel @ http://127.0.0.1:9/broken_wheel-1.0-py3-none-any.whl"]
    assert "could not install" in str(caught.value)
    assert [p for p in tmp_path.iterdir() if not p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("torch==2.6\n# comment\n\n--extra-index-url https://x\nrdkit  # pinned below\n", ["torch==2.6", "rdkit"]),
        ("-f https://data.pyg.org/whl/torch-2.6.0.html\n", []),
        ("pkg @ https://h/pkg-1.0-py3-none-any.whl\n", ["pkg @ https://h/pkg-1.0-py3-none-any.whl"]),
    ],
)
def test_requirement_lines(text, lines):
    assert requirement_lines(text) == lines


def test_blamed_requirements_match_names_in_any_spelling():
    output = "Because scikit_learn==9.9 was not found and my-pkg has no wheels..."
    assert blamed_requirements("scikit-learn==9.9\nMy_Pkg>=1\ntorch\n", output) == ["scikit-learn==9.9", "My_Pkg>=1"]
