"""Reading the bundle's Python files as text: parsing, and walking what a module defines.

Nothing here imports or executes user code; everything works on ``ast`` trees.
"""

from __future__ import annotations

import ast
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from nvflare_fdd.bundle.contract import Problem


def parse_sources(folder: Path, names: list[str]) -> tuple[dict[str, ast.Module], list[Problem]]:
    """Parses every ``.py`` file of a bundle.

    Args:
        folder: the bundle folder.
        names: the bundle's file names.

    Returns:
        ``(trees, problems)``: file name -> parsed module for the files that parse, and one
        problem (file and line) per file that does not.
    """
    trees: dict[str, ast.Module] = {}
    problems: list[Problem] = []
    for name in sorted(name for name in names if name.endswith(".py")):
        source = (folder / name).read_bytes()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. SyntaxWarning for "\d" in a string
                trees[name] = ast.parse(source, filename=name)
        except SyntaxError as error:
            message = f"syntax error: {error.msg}; fix it so Python can import the file"
            problems.append(Problem(name, message, error.lineno, code="bundle.syntax_error", params={"detail": error.msg}))
        except ValueError as error:  # null bytes, on Python versions that do not raise SyntaxError
            problems.append(Problem(name, f"cannot be read as Python source ({error}): save it as UTF-8 text",
                                    code="bundle.not_python_source", params={"error": str(error)}))
    return trees, problems

# ``try``/``except*`` (Python 3.11) binds names the way ``try``/``except`` does
_TRY_NODES = (ast.Try, ast.TryStar) if sys.version_info >= (3, 11) else (ast.Try,)


def top_level_statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """Yields the statements that run at import time and bind module-level names.

    Descends into ``if``/``try``/``with`` blocks (``try: import x`` / ``except: def x``),
    but not into ``if __name__ == "__main__":``, which does not run on import.
    """
    pending = list(tree.body)
    while pending:
        statement = pending.pop(0)
        if isinstance(statement, ast.If):
            if _is_main_guard(statement.test):
                pending[:0] = statement.orelse
            else:
                pending[:0] = [*statement.body, *statement.orelse]
        elif isinstance(statement, _TRY_NODES):
            handler_bodies = [item for handler in statement.handlers for item in handler.body]
            pending[:0] = [*statement.body, *handler_bodies, *statement.orelse, *statement.finalbody]
        elif isinstance(statement, ast.With):
            pending[:0] = statement.body
        else:
            yield statement


def dotted_name(node: ast.expr) -> str | None:
    """``nn.Module`` -> ``"nn.Module"``; ``None`` for anything that is not a dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def import_aliases(tree: ast.Module) -> dict[str, str]:
    """Maps each module-level name bound by an import to the dotted name it stands for.

    ``import torch.nn as nn`` -> ``{"nn": "torch.nn"}``; ``import torch.nn`` -> ``{"torch": "torch"}``;
    ``from torch.nn import Module as M`` -> ``{"M": "torch.nn.Module"}``. A relative import
    (``from .layers import X``) maps as if it were absolute. Star imports are left out.
    """
    aliases: dict[str, str] = {}
    for statement in top_level_statements(tree):
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    first = alias.name.split(".")[0]
                    aliases[first] = first
        elif isinstance(statement, ast.ImportFrom):
            for alias in statement.names:
                if alias.name != "*":
                    source = f"{statement.module}.{alias.name}" if statement.module else alias.name
                    aliases[alias.asname or alias.name] = source
    return aliases


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )
