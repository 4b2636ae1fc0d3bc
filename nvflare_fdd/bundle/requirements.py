"""Checks ``requirements.txt``: every line must install with one ``uv pip install -r`` on a site.

Sites build the environment from this one file, in a container, without the developer's disk:
so no local paths or ``file://`` URLs, no editable installs, no includes of other files, and
no shell commands. Index options (``--extra-index-url``, ``-i``, ``-f``...) may appear on any
line, as in the K-MELLODDY examples; ``pkg @ https://...`` and environment markers are fine.
"""

from __future__ import annotations

import re
import shlex

from packaging.requirements import InvalidRequirement, Requirement

from nvflare_fdd.bundle.contract import Problem

FILE = "requirements.txt"

_FLAG_OPTIONS = frozenset({"--pre", "--prefer-binary", "--no-index"})
_URL_OPTIONS = {"-i": "--index-url", "--index-url": "--index-url", "--extra-index-url": "--extra-index-url",
                "-f": "--find-links", "--find-links": "--find-links"}  # fmt: skip
_VALUE_OPTIONS = frozenset({"--trusted-host", "--no-binary", "--only-binary"})
_INCLUDE_OPTIONS = {"-r": "-r", "--requirement": "-r", "-c": "-c", "--constraint": "-c"}
_EDITABLE_OPTIONS = frozenset({"-e", "--editable"})
_SHORT_OPTIONS = frozenset({"-i", "-f", "-r", "-c", "-e"})
_PER_REQUIREMENT_OPTIONS = frozenset({"--hash"})

_SHELL_WORDS = frozenset(
    {"pip", "pip3", "uv", "python", "python3", "conda", "mamba", "apt", "apt-get", "yum", "brew",
     "sudo", "bash", "sh", "source", "wget", "curl", "git", "cd", "export", "echo", "chmod"}
)  # fmt: skip
_SHELL_OPERATORS = ("&&", "||", "`", "$(", "|")
_LOCAL_PREFIXES = ("./", "../", "/", "~", ".\\", "..\\", "\\")
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".zip")
_REMOTE_SCHEMES = ("https://", "http://", "git+https://", "git+http://", "hg+https://", "svn+https://",
                   "bzr+https://")  # fmt: skip
_COMMENT = re.compile(r"(^|\s)#.*$")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_OPTION_START = re.compile(r"\s+(?=--?[A-Za-z])")

SHELL_MESSAGE = (
    "shell commands are not run: uv pip install -r reads only requirement lines; "
    "write the package as NAME==VERSION instead"
)
LOCAL_MESSAGE = (
    "points to a local file, which the sites do not have: publish the package and "
    "write NAME==VERSION, or NAME @ https://URL-of-the-wheel"
)


def check_requirements(text: str) -> list[Problem]:
    """Checks the text of ``requirements.txt`` line by line.

    Args:
        text: the file's content.

    Returns:
        one problem per bad line, with its 1-based line number.
    """
    problems = []
    for line_number, line in _logical_lines(text):
        found = _line_problem(line)
        if found:
            code, message, params = found
            problems.append(Problem(FILE, message, line_number, code=code, params=params))
    return problems


def named_indexes(text: str) -> list[tuple[int, str, str]]:
    """The package indexes and link pages ``text`` names: ``(line number, option, URL)`` per option."""
    found = []
    for line_number, line in _logical_lines(text):
        if not line.startswith("-"):
            continue
        option, value = _split_option(line)
        if option in _URL_OPTIONS:
            found.append((line_number, _URL_OPTIONS[option], value))
        elif option == "--trusted-host":
            found.append((line_number, option, value))
    return found


def index_warnings(text: str) -> list[Problem]:
    """Warnings for a bundle that names package indexes: each site installs only from the indexes it allows."""
    return [
        Problem(FILE, f"names the package index {url} ({option}); a site installs only from indexes on its own "
                      "allow-list (https only), so ask the sites' operators to allow it, or use packages from PyPI", number,
                code="bundle.req_index", params={"url": url, "option": option})
        for number, option, url in named_indexes(text)
    ]  # fmt: skip


def disallowed_indexes(text: str, allowed: list[str]) -> list[str]:
    """The lines of ``text`` that name an index not in ``allowed`` (or not https, or ``--trusted-host``)."""
    accepted = {_normal_url(url) for url in allowed}
    refused = []
    for number, option, url in named_indexes(text):
        if option == "--trusted-host":
            refused.append(f"line {number}: --trusted-host turns off TLS verification, which sites do not allow")
        elif not url.lower().startswith("https://"):
            refused.append(f"line {number}: {option} {url} is not https")
        elif _normal_url(url) not in accepted:
            refused.append(f"line {number}: {option} {url} is not an index this site allows")
    return refused


def _normal_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Yields ``(first line number, content)``, comments removed, ``\\`` continuations joined."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        stripped = _COMMENT.sub("", raw).rstrip()
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        joined = " ".join(part.strip() for part in pending).strip()
        pending = []
        if joined:
            lines.append((start, joined))
    if pending and (joined := " ".join(part.strip() for part in pending).strip()):
        lines.append((start, joined))
    return lines


Found = tuple[str, str, dict]
"""``(code, message, params)`` of a problem with one line."""


def _line_problem(line: str) -> Found | None:
    if shell := _shell_problem(line):
        return "bundle.req_shell", shell, {}
    if line.startswith("-"):
        return _option_problem(line)
    requirement, *options = _OPTION_START.split(line)
    for option in options:
        name = option.split("=", 1)[0].split()[0]
        if name not in _PER_REQUIREMENT_OPTIONS:
            return ("bundle.req_option_after", f"option {name} after a requirement is not supported by uv pip install -r: "
                    "remove it", {"option": name})  # fmt: skip
    return _requirement_problem(requirement)


def _shell_problem(line: str) -> str | None:
    if any(operator in line for operator in _SHELL_OPERATORS):
        return SHELL_MESSAGE
    for segment in line.split(";"):
        words = segment.split()
        if len(words) >= 2 and words[0] in _SHELL_WORDS and re.match(r"[A-Za-z-]", words[1]):
            return SHELL_MESSAGE
    return None


def _split_option(line: str) -> tuple[str, str]:
    """An option line's option and value: ``--index-url=URL``, ``--index-url URL`` or ``-iURL``."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    option, _, value = words[0].partition("=")
    if not value and option[:2] in _SHORT_OPTIONS and len(option) > 2:
        option, value = option[:2], option[2:]  # short form glued to its value: -ihttps://...
    if not value and len(words) > 1:
        value = words[1]
    return option, value


def _option_problem(line: str) -> Found | None:
    option, value = _split_option(line)
    if option in _EDITABLE_OPTIONS:
        return "bundle.req_editable", (
            "editable installs (-e) need the package's source on the site's disk: publish the package "
            "and write NAME==VERSION, or NAME @ https://URL-of-the-wheel"
        ), {}
    if option in _INCLUDE_OPTIONS:
        return "bundle.req_include", (
            f"{_INCLUDE_OPTIONS[option]} includes another file, which cannot be resolved from one "
            "upload (subfolders and relative paths do not exist on the sites): copy its lines into requirements.txt"
        ), {"option": _INCLUDE_OPTIONS[option]}
    if option in _FLAG_OPTIONS:
        return None
    if option in _VALUE_OPTIONS:
        return None if value else ("bundle.req_needs_value", f"{option} needs a value: add it or remove the line", {"option": option})
    if option in _URL_OPTIONS:
        if not value:
            return "bundle.req_needs_url", f"{option} needs a URL: add it or remove the line", {"option": option}
        if not value.startswith(("https://", "http://")):
            if _looks_local(value):
                return "bundle.req_local", f"{_URL_OPTIONS[option]} {value} {LOCAL_MESSAGE}", {"text": f"{_URL_OPTIONS[option]} {value}"}
            return ("bundle.req_not_http", f"{_URL_OPTIONS[option]} needs an http(s) URL, not {value!r}: write the full https:// "
                    "address", {"option": _URL_OPTIONS[option], "value": value})  # fmt: skip
        return None
    return ("bundle.req_option_unsupported", f"option {option} is not supported in a bundle's requirements.txt: remove it",
            {"option": option})  # fmt: skip


def _requirement_problem(text: str) -> Found | None:
    if _looks_local(text):
        return "bundle.req_local", f"{text} {LOCAL_MESSAGE}", {"text": text}
    if text.startswith(_REMOTE_SCHEMES):
        return None  # a bare URL: pip and uv infer the name from the wheel or archive
    try:
        requirement = Requirement(text)
    except InvalidRequirement as error:
        reason = str(error).splitlines()[0]
        return ("bundle.req_unreadable", f"cannot read {text!r} as a requirement ({reason}): write NAME==VERSION or "
                "NAME @ https://URL", {"text": text, "reason": reason})  # fmt: skip
    if requirement.url is None:
        return None
    if requirement.url.startswith(_REMOTE_SCHEMES):
        return None
    if requirement.url.startswith(("git+ssh://", "git@")):
        return ("bundle.req_ssh", f"{requirement.url} needs SSH keys the sites do not have: use the https:// address of "
                "the repository", {"url": requirement.url})  # fmt: skip
    return "bundle.req_local", f"{requirement.name} @ {requirement.url} {LOCAL_MESSAGE}", {"text": f"{requirement.name} @ {requirement.url}"}


def _looks_local(text: str) -> bool:
    lowered = text.lower()
    if lowered.startswith(("file:", "git+file:")) or text.startswith(_LOCAL_PREFIXES):
        return True
    if _WINDOWS_DRIVE.match(text):
        return True
    first = text.split(";")[0].strip()
    return "://" not in first and " " not in first and first.lower().endswith(_ARCHIVE_SUFFIXES)
