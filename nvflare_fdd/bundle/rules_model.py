"""The registered model class: ``model.py`` must define it, and it must be a torch module.

The server builds the class by name from ``model.py`` (``NAME(**config)``), so the name must exist
there and the class must derive from ``torch.nn.Module``. Bases are resolved by reading the
bundle's files (``class Net(Base)`` with ``Base`` in ``model.py`` or in a flat helper module)
until a base outside the bundle is reached; such a base counts as a torch module when it *looks*
like one:

- any class under an ``nn`` module (``torch.nn.Module``, ``nn.Sequential``, ``torch_geometric.nn.MessagePassing``),
- a class whose name ends in ``Module`` or ``Model`` (``LightningModule``, ``PreTrainedModel``, ``PeftModel``).

A name that ``model.py`` imports from a package outside the bundle is accepted unchecked.
"""

from __future__ import annotations

import ast
import keyword
from pathlib import Path

from nvflare_fdd.bundle.contract import Problem
from nvflare_fdd.bundle.pysource import dotted_name, import_aliases, parse_sources, top_level_statements

MODEL_FILE = "model.py"
_NOT_MODULES = frozenset({"Parameter", "UninitializedParameter", "Buffer", "UninitializedBuffer"})


def check_model_class(trees: dict[str, ast.Module], class_name: str) -> list[Problem]:
    """Checks that ``model.py`` defines ``class_name`` as a ``torch.nn.Module`` subclass.

    Args:
        trees: the parsed bundle files (file name -> module).
        class_name: the class name the model is registered with.

    Returns:
        the problems found (none when ``model.py`` is missing or does not parse: other rules say so).
    """
    if not class_name.isidentifier() or keyword.iskeyword(class_name):
        message = (
            f"{class_name!r} is not a Python class name: register the model with the name of its class in model.py"
        )
        return [Problem(MODEL_FILE, message, code="bundle.class_name_invalid", params={"class_name": class_name})]
    if MODEL_FILE not in trees:
        return []
    resolver = _Resolver(trees)
    verdict = resolver.name_is_module("model", class_name)
    if verdict is True:
        return []
    module_classes = resolver.module_classes("model")
    if verdict is None:
        hint = (
            f"torch module classes in model.py: {', '.join(module_classes)}"
            if module_classes
            else "model.py has no torch.nn.Module class at all"
        )
        message = (
            f"defines no top-level class {class_name} ({hint}): "
            "add it, or register the model with the right class name"
        )
        code = "bundle.class_missing" if module_classes else "bundle.class_missing_none"
        return [Problem(MODEL_FILE, message, code=code, params={"class_name": class_name, "classes": ", ".join(module_classes)})]
    definition = resolver.classes("model").get(class_name)
    if definition is None:  # bound by an import or an assignment that leads to no torch module class
        return [
            Problem(
                MODEL_FILE,
                f"{class_name} is imported or assigned in model.py but does not lead to a torch.nn.Module "
                "class in the bundle: define class " + class_name + "(nn.Module) in model.py",
                code="bundle.class_not_module", params={"class_name": class_name},
            )
        ]
    bases = ", ".join(ast.unparse(base) for base in definition.bases)
    return [
        Problem(
            MODEL_FILE,
            f"class {class_name}({bases}) does not derive from torch.nn.Module, but the server builds it as "
            "a torch module: derive it from nn.Module (or a class that is one)",
            definition.lineno,
            code="bundle.class_not_nn_module", params={"class_name": class_name, "bases": bases},
        )
    ]


def model_classes(folder: Path) -> list[str]:
    """Names of the top-level ``torch.nn.Module`` classes of ``folder/model.py``, read by AST.

    Used to pick the registered class when the user names none: a bundle with exactly
    one such class needs no ``--model-class``.
    """
    names = sorted(path.name for path in folder.glob("*.py"))
    trees, _ = parse_sources(folder, names)
    if MODEL_FILE not in trees:
        return []
    return _Resolver(trees).module_classes("model")


class _Resolver:
    """Answers "is this name a torch module class?" across the bundle's modules, by AST only."""

    def __init__(self, trees: dict[str, ast.Module]):
        self._trees = {file[:-3]: tree for file, tree in trees.items()}
        self._classes: dict[str, dict[str, ast.ClassDef]] = {}
        self._imports: dict[str, dict[str, str]] = {}
        self._assigned: dict[str, dict[str, str]] = {}

    def classes(self, module: str) -> dict[str, ast.ClassDef]:
        """Top-level classes of a bundle module, by name."""
        if module not in self._classes:
            statements = top_level_statements(self._trees[module])
            self._classes[module] = {node.name: node for node in statements if isinstance(node, ast.ClassDef)}
        return self._classes[module]

    def module_classes(self, module: str) -> list[str]:
        """Names of the top-level classes of ``module`` that are torch modules."""
        return [name for name in self.classes(module) if self.name_is_module(module, name)]

    def name_is_module(self, module: str, name: str, seen: frozenset = frozenset()) -> bool | None:
        """``True``/``False`` whether ``module.name`` is a torch module class; ``None`` if undefined."""
        key = (module, name)
        if key in seen:
            return False  # a cycle of imports or assignments never reaches a class
        seen = seen | {key}
        if name in self.classes(module):
            return self._class_is_module(module, self.classes(module)[name], seen)
        if name in self._assigned_of(module):
            return self._written_is_module(module, self._assigned_of(module)[name], seen)
        target = self._imports_of(module).get(name)
        if target is None:
            return None
        if target.split(".")[0] not in self._trees:
            return True  # imported from a package outside the bundle: cannot be checked here
        return self._absolute_is_module(target, seen)

    def _imports_of(self, module: str) -> dict[str, str]:
        if module not in self._imports:
            self._imports[module] = import_aliases(self._trees[module])
        return self._imports[module]

    def _assigned_of(self, module: str) -> dict[str, str]:
        """``Net = layers.Net`` -> ``{"Net": "layers.Net"}``, names as written in ``module``."""
        if module not in self._assigned:
            assigned = {}
            for statement in top_level_statements(self._trees[module]):
                if isinstance(statement, ast.Assign) and (value := dotted_name(statement.value)):
                    for target in statement.targets:
                        if isinstance(target, ast.Name):
                            assigned[target.id] = value
            self._assigned[module] = assigned
        return self._assigned[module]

    def _class_is_module(self, module: str, definition: ast.ClassDef, seen: frozenset) -> bool:
        return any(
            self._written_is_module(module, name, seen)
            for base in definition.bases
            if (name := dotted_name(base)) is not None
        )

    def _written_is_module(self, module: str, name: str, seen: frozenset) -> bool:
        """Resolves a dotted name as written inside ``module`` (a base class or an assigned value)."""
        first, *rest = name.split(".")
        if not rest and (first in self.classes(module) or first in self._assigned_of(module)):
            return bool(self.name_is_module(module, first, seen))
        if first in self._imports_of(module):
            return self._absolute_is_module(".".join([self._imports_of(module)[first], *rest]), seen)
        return _looks_like_torch_module(name)

    def _absolute_is_module(self, name: str, seen: frozenset) -> bool:
        """Resolves a fully qualified name: into a bundle module when it names one, else by its looks."""
        first, *rest = name.split(".")
        if first in self._trees and rest:
            return len(rest) == 1 and bool(self.name_is_module(first, rest[0], seen))
        return _looks_like_torch_module(name)


def _looks_like_torch_module(name: str) -> bool:
    *path, leaf = name.split(".")
    if leaf in _NOT_MODULES or not leaf[:1].isupper():
        return False
    return "nn" in path or leaf.endswith(("Module", "Model"))
