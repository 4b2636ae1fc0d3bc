#!/usr/bin/env bash
# GPU check of the docker backend on a machine with NVIDIA GPUs: does user code in a job's
# container, under the full sandbox (no network, read-only, no capabilities, not root), see and
# use the GPU through `--gpus`?
#
# Usage (from the repository root, as root; the project's .venv is used when there is one, else this
# checkout's packages on python3 with its torch):
#   plugins/fdd-docker/scripts/gpu_check.sh [IMAGE]
# IMAGE: an image with a CUDA build of torch (e.g. `fdd env build-base --cuda --tag nvflare-fdd:cuda`).
# Without one, an image is made from this machine's own Python with torch (FDD_GPU_PYTHON, default
# python3) by `docker import`, which needs no registry or network. Prints PASS/FAIL/SKIP lines and
# exits non-zero when a step fails; writes its log to ${OUT:-/tmp}/gpu_check.log.
set -uo pipefail
cd "$(dirname "$0")/../../.."
LOG=${OUT:-/tmp}/gpu_check.log
IMAGE=${1:-}
PY=${FDD_GPU_PYTHON:-python3}
if [ -x .venv/bin/python ]; then
    SITE_PY=.venv/bin/python
else  # no project environment (a bare GPU machine): the packages from this checkout, on that Python
    SITE_PY=$PY
    export PYTHONPATH="$PWD:$PWD/plugins/fdd-docker${PYTHONPATH:+:$PYTHONPATH}"
fi
exec > >(tee "$LOG") 2>&1
failed=0
step() { echo "== $*"; }
fail() { echo "FAIL: $*"; failed=1; }

step "host: GPUs and the NVIDIA container toolkit"
if ! nvidia-smi -L; then
    echo "FAIL: no NVIDIA GPU visible here (nvidia-smi); nothing to check"
    exit 2
fi
ls -l /dev/nvidia* 2>/dev/null | head
for tool in nvidia-container-cli nvidia-container-runtime-hook nvidia-ctk; do
    command -v "$tool" >/dev/null && echo "found $tool"
done
GPUS=$("$SITE_PY" -c 'from fdd_docker.environment import host_gpus; print(host_gpus() or "(none)")') || fail "the plugin did not load"
echo "the backend's gpus=auto resolves to: $GPUS"

step "docker engine"
if ! docker info >/dev/null 2>&1; then
    if command -v dockerd >/dev/null; then
        (dockerd >/tmp/gpu-check-dockerd.log 2>&1 &)
        for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
    fi
fi
if ! docker info >/dev/null 2>&1; then
    echo "SKIP: no Docker engine here (install docker.io and the NVIDIA container toolkit); only the run line is checked"
    "$SITE_PY" - <<'EOF' || failed=1
from fdd_docker import DockerBackend

env = DockerBackend(base_image="nvflare-fdd:latest", gpus="auto")._environment("nvflare-fdd:latest", "check")
print(f"PASS: the run line would carry --gpus {env.gpus}" if env.gpus else "FAIL: gpus=auto found no GPU usable by docker")
raise SystemExit(0 if env.gpus else 1)
EOF
    exit $failed
fi
[ "$GPUS" = "(none)" ] && fail "GPUs exist but the NVIDIA container toolkit is missing: --gpus cannot work"

if [ -z "$IMAGE" ]; then
    step "image: this machine's Python and torch, imported (no registry needed)"
    PREFIX=$("$PY" -c 'import sys; print(sys.prefix)')
    BASE=$("$PY" -c 'import sys; print(sys.base_prefix)')
    IMAGE=fdd-gpu-check:host
    # only what that Python needs: its installation, the system's shared libraries and a few files of /etc
    PARTS=$(cd / && ls -d lib lib64 usr/lib64 usr/lib/x86_64-linux-gnu usr/bin/python3* usr/lib/python3* \
        etc/passwd etc/group etc/ld.so.cache etc/ld.so.conf etc/ld.so.conf.d "${PREFIX#/}" "${BASE#/}" 2>/dev/null | sort -u)
    tar -C / --exclude='*/__pycache__' -c $PARTS 2>/dev/null \
        | docker import --change "ENV PATH=$PREFIX/bin:/usr/local/bin:/usr/bin:/bin" - "$IMAGE" >/dev/null || fail "docker import"
    PY_IN_IMAGE="$PREFIX/bin/python3"
else
    PY_IN_IMAGE=python
fi

step "user code in the sandboxed container uses the GPU ($IMAGE)"
FDD_CHECK_IMAGE=$IMAGE FDD_CHECK_PY=$PY_IN_IMAGE "$SITE_PY" - <<'EOF' || failed=1
import os, subprocess, tempfile, time
from nvflare_fdd.envs import Sandbox
from fdd_docker import DockerBackend

backend = DockerBackend(base_image=os.environ["FDD_CHECK_IMAGE"], gpus="auto", python=os.environ["FDD_CHECK_PY"])
env = backend._environment(os.environ["FDD_CHECK_IMAGE"], "gpu check")
work = tempfile.mkdtemp(prefix="fdd-gpu-")
probe = os.path.join(work, "probe")
os.makedirs(probe)
with open(os.path.join(probe, "fdd_gpu_probe.py"), "w") as handle:
    handle.write(
        "import os, torch\n"
        "assert os.getuid() != 0, 'runs as root'\n"
        "assert torch.cuda.is_available(), 'no CUDA device in the container'\n"
        "x = torch.randn(4096, 4096, device='cuda')\n"
        "y = (x @ x).sum().item()\n"
        "print('PASS: uid', os.getuid(), 'sees', torch.cuda.device_count(), 'GPU(s):', torch.cuda.get_device_name(0),"
        " 'torch', torch.__version__, 'matmul ok', y == y)\n"
    )
sandbox = Sandbox(env={"PYTHONPATH": probe, "HOME": work, "TMPDIR": "/tmp"}, read_only=(probe,), writable=(work,))
command = env.command("fdd_gpu_probe", [], sandbox)
print("run line:", " ".join(command[command.index("--") + 1 :]))
started = time.monotonic()
done = subprocess.run(command, env=env.process_env(sandbox), stdin=subprocess.DEVNULL, timeout=600)
print(f"container ran in {time.monotonic() - started:.1f} s, exit {done.returncode}")
left = subprocess.run(["docker", "ps", "-aq", "--filter", "name=fdd-worker-"], capture_output=True, text=True).stdout.split()
print("PASS: no container left" if not left else f"FAIL: containers left: {left}")
raise SystemExit(done.returncode or bool(left))
EOF
[ "$failed" = 0 ] && echo "GPU CHECK PASSED" || echo "GPU CHECK FAILED"
exit $failed
