"""A fake ``docker`` client for the tests: no Docker engine runs where they do.

The fake is a Python script handed to the backend as its ``docker`` option. It
appends each call (argv, and for ``build`` the Dockerfile and requirements it was
given) to ``calls.jsonl`` and keeps the images it knows in ``state.json``:

- ``image inspect [--format F] REF``: prints the image's ID, or fails with "No such image".
- ``build --tag T ... CONTEXT``: fails like uv does when the requirements name
  ``fdd-no-such-package`` (echoing the Dockerfile the way BuildKit does), or when the
  ``FROM`` image is unknown; otherwise records ``T`` as an image.
- ``run``: only recorded; ``kill``/``rm``: recorded, and fail with "No such container".
- with ``"down": true`` in the state, every call fails like a stopped daemon.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

BASE_IMAGE = "nvflare-fdd:latest"
BAD_PACKAGE = "fdd-no-such-package"

FAKE_DOCKER = textwrap.dedent(
    '''
    import hashlib, json, os, sys, time
    from pathlib import Path

    HERE = Path(__file__).resolve().parent
    STATE = HERE / "state.json"
    BAD_PACKAGE = {bad!r}


    def save(state):
        temp = STATE.with_suffix(".tmp")
        temp.write_text(json.dumps(state))
        os.replace(temp, STATE)


    def main(argv):
        state = json.loads(STATE.read_text())
        record = {{"argv": argv}}
        code = 0
        if state.get("down"):
            print("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", file=sys.stderr)
            code = 1
        elif argv[:2] == ["image", "inspect"]:
            reference = argv[-1]
            if reference in state["images"]:
                print(state["images"][reference])
            else:
                print(f"Error: No such image: {{reference}}", file=sys.stderr)
                code = 1
        elif argv[:1] == ["build"]:
            context = Path(argv[-1])
            tag = argv[argv.index("--tag") + 1]
            record["dockerfile"] = (context / "Dockerfile").read_text()
            record["requirements"] = (context / "requirements.txt").read_text()
            base = record["dockerfile"].splitlines()[0].split(" ", 1)[1]
            time.sleep(state.get("build_delay", 0))
            if base not in state["images"]:
                print(f"ERROR: failed to solve: {{base}}: not found", file=sys.stderr)
                code = 1
            elif BAD_PACKAGE in record["requirements"]:
                run_line = record["dockerfile"].splitlines()[2].rstrip(" \\\\")
                print(f"#5 [1/3] FROM docker.io/library/{{base}}", file=sys.stderr)
                print(f"#7 [3/3] {{run_line}}", file=sys.stderr)
                print("#7 0.41   x No solution found when resolving dependencies:", file=sys.stderr)
                print(f"#7 0.41   Because {{BAD_PACKAGE}} was not found in the package registry and you require", file=sys.stderr)
                print(f"#7 0.41   {{BAD_PACKAGE}}, we can conclude that your requirements are unsatisfiable.", file=sys.stderr)
                print(f'ERROR: failed to solve: process "/bin/sh -c {{run_line}}" did not complete successfully: exit code: 1', file=sys.stderr)
                code = 1
            else:
                state["images"][tag] = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
                save(state)
                print(f"#9 naming to docker.io/library/{{tag}} done")
        elif argv[:1] in (["kill"], ["rm"]):
            print(f"Error response from daemon: No such container: {{argv[-1]}}", file=sys.stderr)
            code = 1
        record["exit"] = code
        with open(HERE / "calls.jsonl", "a") as log:
            log.write(json.dumps(record) + "\\n")
        return code


    sys.exit(main(sys.argv[1:]))
    '''
).format(bad=BAD_PACKAGE)


@dataclass
class FakeDocker:
    """The fake client's path and what it recorded."""

    path: Path

    @property
    def folder(self) -> Path:
        return self.path.parent

    def state(self) -> dict:
        return json.loads((self.folder / "state.json").read_text())

    def set_state(self, **changes: object) -> None:
        (self.folder / "state.json").write_text(json.dumps({**self.state(), **changes}))

    def calls(self) -> list[dict]:
        log = self.folder / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def builds(self) -> list[dict]:
        return [call for call in self.calls() if call["argv"][:1] == ["build"]]
