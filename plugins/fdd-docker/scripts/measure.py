"""Times of the docker backend on this machine: base image build, first and cached job start, container overhead.

Usage (a Docker engine running, the project installed): ``python plugins/fdd-docker/scripts/measure.py [--rebuild]``

- base image: ``fdd env build-base`` into ``--tag`` (default ``nvflare-fdd-measure:latest``; kept when its inputs are the
  same unless ``--rebuild``; the Debian root file system is reused when present);
- first job start: the job image built for a requirement the base lacks (``tabulate``), then the worker
  started and set up in its container (config, data, ``data_loader``, ``model_loader``);
- cached job start: the same, with the image already there;
- container overhead: worker start and setup in a container, minus the same on the local backend
  (the site's own Python under bubblewrap), each the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fdd_docker_bundles import write_bundle, write_site_kdas  # noqa: E402

from fdd_docker import DockerBackend, image_key  # noqa: E402
from fdd_docker.base_image import BaseImageSpec, build_base_image  # noqa: E402
from nvflare_fdd.client.process import WorkerProcess  # noqa: E402
from nvflare_fdd.envs.local import LocalBackend  # noqa: E402
from nvflare_fdd.kda import load_raw_datas  # noqa: E402


def start_worker(environment, bundle: Path, url: str) -> float:
    """Seconds from starting the worker to the end of its setup; the worker is stopped after."""
    started = time.monotonic()
    worker = WorkerProcess(environment, bundle, "site_a", lambda: load_raw_datas(url), device="cpu")
    try:
        worker.start()
        worker.setup()
        return time.monotonic() - started
    finally:
        worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="build the base image even when it is current")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tag", default="nvflare-fdd-measure:latest", help="the base image to build or keep")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fdd-measure-"))
    url = write_site_kdas(work, {"site_a": 200})["site_a"]

    started = time.monotonic()
    base = build_base_image(BaseImageSpec(tag=args.tag, rebuild=args.rebuild), log=lambda line: None)
    print(f"base image {args.tag}: {time.monotonic() - started:.1f} s ({'kept, inputs unchanged' if base.reused else 'built'})")

    backend = DockerBackend(base_image=args.tag, gpus="")
    requirements = "tabulate==0.9.0\n"
    bundle = write_bundle(work / "bundle", requirements)
    image = f"fdd-env:{image_key(args.tag, base.image_id, requirements)}"
    subprocess.run(["docker", "image", "rm", image], capture_output=True)
    for label in ("first job start (image built)", "cached job start (image reused)"):
        started = time.monotonic()
        environment = backend.prepare(requirements)
        prepared = time.monotonic() - started
        ready = start_worker(environment, bundle, url)
        print(f"{label}: {prepared + ready:.1f} s = environment {prepared:.1f} s + worker start and setup {ready:.1f} s")

    plain = write_bundle(work / "plain", "")
    (plain / "train_eval.py").write_text((plain / "train_eval.py").read_text().replace("import tabulate\n", ""))
    docker_env, local_env = backend.prepare(""), LocalBackend(cache_dir=str(work / "envs")).prepare("")
    docker_times = [start_worker(docker_env, plain, url) for _ in range(args.repeat)]
    local_times = [start_worker(local_env, plain, url) for _ in range(args.repeat)]
    docker_median, local_median = statistics.median(docker_times), statistics.median(local_times)
    print(f"worker start and setup: container {docker_median:.2f} s, local {local_median:.2f} s (medians of {args.repeat})")
    print(f"container start overhead per job: {docker_median - local_median:.2f} s")


if __name__ == "__main__":
    main()
