"""Rules about the bundle's Python code: the entry functions the platform calls, and imports.

The platform imports ``model.py``, ``data.py`` and ``train_eval.py`` as top-level modules and calls
``model_loader(configs)``, ``data_loader(raw_datas, configs)``, ``train(model, data, configs)`` and
``evaluate(model, data, configs)`` with positional arguments (``ENTRY_POINTS``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from nvflare_fdd.bundle.contract import ENTRY_POINTS, Problem
from nvflare_fdd.bundle.pysource import top_level_statements

_STAR = "*"


@dataclass(frozen=True)
class _Binding:
    """How a module-level name gets its value: a ``def`` (arity known) or anything else."""

    line: int
    arguments: ast.arguments | None = None
    is_async: bool = False


def check_entry_points(trees: dict[str, ast.Module]) -> list[Problem]:
    """Checks that each required module defines its entry functions with a compatible signature.

    A name bound by an import or an assignment counts as defined, with an arity that cannot be
    checked; so does any name when the module has a star import.

    Args:
        trees: the parsed bundle files (file name -> module); missing files are skipped.

    Returns:
        the problems found.
    """
    problems = []
    for file, functions in ENTRY_POINTS.items():
        if file not in trees:
            continue  # missing or unparsable: reported by other rules
        bindings = _module_bindings(trees[file])
        for function, parameters in functions.items():
            call = f"{function}({', '.join(parameters)})"
            if function not in bindings:
                if _STAR not in bindings:
                    message = f"defines no top-level function {function}: the platform calls {call}; add it"
                    problems.append(Problem(file, message, code="bundle.entry_missing", params={"function": function, "call": call}))
                continue
            binding = bindings[function][-1]  # the last binding is the one the module ends with
            found = _signature_problem(function, binding, parameters, call)
            if found:
                code, message, params = found
                problems.append(Problem(file, message, binding.line, code=code,
                                        params={"function": function, "call": call, "parameters": ", ".join(parameters), **params}))
    return problems


def check_relative_imports(trees: dict[str, ast.Module]) -> list[Problem]:
    """Reports ``from .x import y``: bundle files are imported as top-level modules, without a package."""
    problems = []
    for file, tree in sorted(trees.items()):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                target = node.module or "<module>"
                problems.append(
                    Problem(
                        file,
                        f"relative import from {'.' * node.level}{node.module or ''} fails: the platform imports "
                        f"bundle files as top-level modules, not as a package; write 'from {target} import ...'",
                        node.lineno,
                        code="bundle.relative_import",
                        params={"module": f"{'.' * node.level}{node.module or ''}", "target": target},
                    )
                )
    return problems


def _module_bindings(tree: ast.Module) -> dict[str, list[_Binding]]:
    bindings: dict[str, list[_Binding]] = {}

    def bind(name: str, binding: _Binding) -> None:
        bindings.setdefault(name, []).append(binding)

    for statement in top_level_statements(tree):
        line = statement.lineno
        if isinstance(statement, ast.FunctionDef):
            bind(statement.name, _Binding(line, statement.args))
        elif isinstance(statement, ast.AsyncFunctionDef):
            bind(statement.name, _Binding(line, statement.args, is_async=True))
        elif isinstance(statement, ast.ClassDef):
            bind(statement.name, _Binding(line))
        elif isinstance(statement, ast.Assign):
            lambda_args = statement.value.args if isinstance(statement.value, ast.Lambda) else None
            for target in statement.targets:
                for name in _target_names(target):
                    bind(name, _Binding(line, lambda_args if isinstance(target, ast.Name) else None))
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            for name in _target_names(statement.target):
                bind(name, _Binding(line))
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            for alias in statement.names:
                name = alias.asname or alias.name.split(".")[0]
                bind(_STAR if name == "*" else name, _Binding(line))
    return bindings


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    return []


def _signature_problem(function: str, binding: _Binding, parameters: tuple[str, ...],
                       call: str) -> tuple[str, str, dict] | None:  # fmt: skip
    """``(code, message, params)`` when ``binding`` cannot be called as the platform calls it."""
    if binding.is_async:
        return "bundle.entry_async", (
            f"{function} is 'async def': the platform calls {call} without await, so it would never run; "
            "make it a plain def"
        ), {}
    arguments = binding.arguments
    if arguments is None:
        return None
    positional = [argument.arg for argument in (*arguments.posonlyargs, *arguments.args)]
    fewest = len(positional) - len(arguments.defaults)
    most = None if arguments.vararg else len(positional)
    keyword_only = [
        argument.arg for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults) if default is None
    ]
    if keyword_only:
        return "bundle.entry_keyword_only", (
            f"{function} has required keyword-only parameter(s) {', '.join(keyword_only)}, but the platform "
            f"calls {call} with positional arguments only: give them defaults"
        ), {"names": ", ".join(keyword_only)}
    count = len(parameters)
    if fewest <= count and (most is None or count <= most):
        return None
    return "bundle.entry_arity", (
        f"{function} takes {_arity(fewest, most, positional)}, the platform calls it with {count}: "
        f"{call}; change its parameters to ({', '.join(parameters)})"
    ), {"count": count, "defined": ", ".join(positional)}


def _arity(fewest: int, most: int | None, names: list[str]) -> str:
    if most is None:
        return f"at least {fewest} positional argument(s)"
    if fewest == most:
        return f"{most} positional argument(s) ({', '.join(names)})" if names else "no arguments"
    return f"{fewest} to {most} positional arguments ({', '.join(names)})"
