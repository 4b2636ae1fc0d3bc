"""Rules about what bundles use of the platform: K-MELLODDY's injected modules, and the site's device.

The platform gives user code ``controller_manager`` and ``model_manager`` (DESIGN §9), so
importing them is fine; importing a name they do not have (``from controller_manager import
FLFedprox``) fails on every site, so it is a problem. A hard-coded ``cuda:0`` (every
K-MELLODDY example has one) works only on sites with a GPU, so it is a warning.
"""

from __future__ import annotations

import ast
import difflib
import re
from functools import lru_cache

from nvflare_fdd.bundle.contract import Problem
from nvflare_fdd.usercode import INJECTED_DIR

_CUDA = re.compile(r"^cuda(:\d+)?$")


@lru_cache(maxsize=1)
def injected_names() -> dict[str, frozenset[str]]:
    """Each injected module's public names (its ``__all__``), read from its source."""
    names: dict[str, frozenset[str]] = {}
    for path in sorted(INJECTED_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        exported: list[str] = []
        for node in tree.body:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.List | ast.Tuple)
                    and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)):
                exported = [element.value for element in node.value.elts
                            if isinstance(element, ast.Constant) and isinstance(element.value, str)]
        names[path.stem] = frozenset(exported)
    return names


def check_platform_imports(trees: dict[str, ast.Module]) -> list[Problem]:
    """Names imported from an injected module (or used as its attributes) that it does not have.

    A bundle that ships its own ``controller_manager.py`` (some K-MELLODDY examples do) uses its own.
    """
    modules = {module: names for module, names in injected_names().items() if f"{module}.py" not in trees}
    problems = []
    for file, tree in sorted(trees.items()):
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in modules:
                for alias in node.names:
                    if alias.name != "*" and alias.name not in modules[node.module]:
                        problems.append(_unknown(file, node.module, alias.name, node.lineno, modules[node.module]))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        aliases[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                module = aliases[node.value.id]
                if node.attr not in modules[module]:
                    problems.append(_unknown(file, module, node.attr, node.lineno, modules[module]))
    return problems


def cuda_warnings(trees: dict[str, ast.Module]) -> list[Problem]:
    """Places that pin a CUDA device (``"cuda:0"``, ``.cuda()``): they fail on a site without a GPU."""
    warnings = []
    for file, tree in sorted(trees.items()):
        lines = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _CUDA.match(node.value):
                lines.add((node.lineno, node.value))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cuda":
                lines.add((node.lineno, "cuda"))
        for line, device in sorted(lines):
            warnings.append(Problem(
                file, f"moves data to {device}; on a site without a GPU this fails — use "
                      "`model_manager.DEVICE` (this site's device)", line, code="bundle.cuda_pinned", params={"device": device},
            ))  # fmt: skip
    return warnings


def _unknown(file: str, module: str, name: str, line: int, known: frozenset[str]) -> Problem:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return Problem(file, f"{module} has no {name!r}: {hint}it offers {', '.join(sorted(known))} (DESIGN §9)", line,
                   code="bundle.platform_unknown_name" if not close else "bundle.platform_unknown_name_close",
                   params={"module": module, "name": name, "known": ", ".join(sorted(known)), "close": close[0] if close else ""})
