"""check_requirements: what one ``uv pip install -r requirements.txt`` on a site can and cannot use."""

from __future__ import annotations

import pytest

from nvflare_fdd.bundle.requirements import check_requirements

ACCEPTED_LINES = [
    "# a comment",
    "   ",
    "numpy==1.26.4",
    "numpy",
    "pkg==1.0  # inline note",
    "nvflare==2.7.0 # 현 시스템 버전 2.7",
    "torch==2.6.0+cu126",
    "scikit-learn>=1.3,<2",
    "pkg[extra1,extra2]>=1",
    'numpy; python_version < "3.12"',
    "torch @ https://download.pytorch.org/whl/cu126/torch-2.6.0%2Bcu126-cp311-cp311-manylinux_2_28_x86_64.whl",
    'torch @ https://host/torch.whl ; sys_platform == "linux"',
    "https://host/pkgs/mypkg-1.0-py3-none-any.whl",
    "pkg @ git+https://github.com/org/pkg@v1.0",
    "--extra-index-url https://download.pytorch.org/whl/cu126",
    "--extra-index-url=https://download.pytorch.org/whl/cu126",
    "--index-url https://pypi.org/simple",
    "-i https://pypi.org/simple",
    "-f https://data.pyg.org/whl/torch-2.6.0+cu126.html",
    "--find-links https://data.pyg.org/whl/torch-2.6.0+cu126.html",
    "--pre",
    "--trusted-host pypi.example.org",
    "--only-binary :all:",
    "foo==1.0 --hash=sha256:0123abcd",
    "pip==24.0",
    "pip >= 20",
    "uv==0.5.0",
    "python-dateutil==2.9.0",
    "sh==2.0",
]


@pytest.mark.parametrize("line", ACCEPTED_LINES)
def test_accepted_line(line):
    assert check_requirements(line + "\n") == []


# line, message substring
REJECTED_LINES = [
    # local files and paths
    ("file:///home/me/pkg.whl", "points to a local file"),
    ("pkg @ file:///home/me/pkg.whl", "pkg @ file:///home/me/pkg.whl points to a local file"),
    ("pkg @ file:pkg.whl", "points to a local file"),
    ("pkg @ ./dist/pkg.whl", "points to a local file"),
    ("./pkg-1.0-py3-none-any.whl", "points to a local file"),
    ("/abs/pkg-1.0-py3-none-any.whl", "points to a local file"),
    ("../pkg-1.0.tar.gz", "points to a local file"),
    ("~/wheels/pkg.whl", "points to a local file"),
    ("C:\\wheels\\pkg.whl", "points to a local file"),
    ("pkg-1.0-py3-none-any.whl", "points to a local file"),
    ("pkg-1.0.tar.gz", "points to a local file"),
    ("git+file:///home/me/repo", "points to a local file"),
    ("-f ./wheels", "--find-links ./wheels points to a local file"),
    ("--find-links=/opt/wheels", "points to a local file"),
    ("--index-url file:///srv/simple", "points to a local file"),
    ("--extra-index-url pypi.example.org/simple", "needs an http(s) URL"),
    ("pkg @ git+ssh://git@github.com/org/pkg", "needs SSH keys"),
    # shell commands
    ("pip install torch", "shell commands are not run"),
    ("pip3 install -U torch", "shell commands are not run"),
    ("uv pip install torch", "shell commands are not run"),
    ("python -m pip install torch", "shell commands are not run"),
    ("apt-get install -y libxrender1", "shell commands are not run"),
    ("sudo apt install git", "shell commands are not run"),
    ("bash install.sh", "shell commands are not run"),
    ("conda install rdkit", "shell commands are not run"),
    ("wget https://host/pkg.whl", "shell commands are not run"),
    ("numpy && pip install torch", "shell commands are not run"),
    ("numpy; pip install torch", "shell commands are not run"),
    ("torch==`cat version.txt`", "shell commands are not run"),
    ("torch==$(cat version.txt)", "shell commands are not run"),
    ("numpy || true", "shell commands are not run"),
    # editable installs and includes
    ("-e .", "editable installs"),
    ("-e git+https://github.com/org/pkg#egg=pkg", "editable installs"),
    ("--editable ./pkg", "editable installs"),
    ("-r base.txt", "-r includes another file, which cannot be resolved from one upload"),
    ("-rbase.txt", "-r includes another file"),
    ("--requirement=base.txt", "-r includes another file"),
    ("-c constraints.txt", "-c includes another file"),
    ("--constraint constraints.txt", "-c includes another file"),
    # options and lines that are not requirements
    ("--upgrade", "option --upgrade is not supported"),
    ("--extra-index-url", "--extra-index-url needs a URL"),
    ("numpy==1.0 --install-option=--prefix=/x", "option --install-option after a requirement is not supported"),
    ("numpy=1.0", "cannot read 'numpy=1.0' as a requirement"),
    ("torch 2.6.0", "cannot read"),
    ("numpy; python_version < 3.12", "cannot read"),
]


@pytest.mark.parametrize(("line", "substring"), REJECTED_LINES)
def test_rejected_line(line, substring):
    problems = check_requirements(f"# first line is a comment\n{line}\n")

    assert len(problems) == 1, problems
    assert problems[0].file == "requirements.txt"
    assert problems[0].line == 2
    assert substring in problems[0].message


def test_continuation_lines_are_joined_and_numbered_from_their_start():
    text = "numpy==1.26.4 \\\n    ; python_version < '3.12'\n--pre\npip \\\n  install torch\n"

    problems = check_requirements(text)

    assert [(problem.line, "shell" in problem.message) for problem in problems] == [(4, True)]


def test_every_bad_line_is_reported():
    text = "numpy\n-e .\npandas\n./x.whl\npip install y\n"

    assert [problem.line for problem in check_requirements(text)] == [2, 4, 5]


def test_url_fragment_is_not_a_comment():
    assert check_requirements("pkg @ https://host/pkg-1.0.tar.gz#sha256=abc\n") == []
