"""Loading a user bundle's code and configuration, the way the platform runs it.

User code imports its flat helper modules by bare name (``from utils import x``)
and finds its files next to ``__file__`` (DESIGN §2). So the bundle folder goes
on ``sys.path`` while its code runs, and its modules are dropped from
``sys.modules`` afterwards, so that two bundles (or two runs of one) never see
each other's ``model`` or ``data`` module.

This module imports and runs user code; validation (``nvflare_fdd.bundle``)
never does.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from nvflare_fdd.errors import BundleError, ContractError

CONFIG_FILE = "config.yaml"
INJECTED_DIR = Path(__file__).resolve().parent / "injected"
"""K-MELLODDY's modules that user code imports by bare name (``model_manager``, ``controller_manager``)."""


def load_configs(bundle_dir: str | Path):
    """The client's view of ``config.yaml``: an OmegaConf ``DictConfig``, or ``None`` without one.

    Raises:
        BundleError: the file is not valid YAML or not a mapping.
    """
    from omegaconf import DictConfig, OmegaConf

    path = Path(bundle_dir) / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        configs = OmegaConf.load(path)
    except Exception as exc:  # omegaconf wraps yaml errors in several types
        raise ContractError("config_yaml", f"{CONFIG_FILE}: cannot be read as YAML: {exc}") from exc
    if not isinstance(configs, DictConfig):
        raise ContractError("config_yaml", f"{CONFIG_FILE}: the top level must be a mapping of keys to values")
    return configs


def load_config_dict(bundle_dir: str | Path) -> dict[str, Any] | None:
    """The server's view of ``config.yaml``: a plain ``dict`` (interpolations resolved), or ``None``."""
    from omegaconf import OmegaConf

    configs = load_configs(bundle_dir)
    if configs is None:
        return None
    return cast(dict[str, Any], OmegaConf.to_container(configs, resolve=True))  # a DictConfig's container is a dict


@contextlib.contextmanager
def user_modules(bundle_dir: str | Path) -> Iterator[Path]:
    """Make the bundle's modules importable by bare name for the duration of the block.

    K-MELLODDY's injected modules (``INJECTED_DIR``) are importable too, behind the bundle's
    own files (a bundle that ships its own ``controller_manager.py`` keeps it). Modules of the
    same names imported before (another bundle's ``model``) are set aside and restored
    afterwards; the bundle's own modules and the injected ones are forgotten on exit.
    """
    bundle_dir = Path(bundle_dir).resolve()
    own_names = {path.stem for path in (*bundle_dir.glob("*.py"), *INJECTED_DIR.glob("*.py"))}
    set_aside = {name: sys.modules.pop(name) for name in own_names if name in sys.modules}
    sys.path[0:0] = [str(bundle_dir), str(INJECTED_DIR)]
    importlib.invalidate_caches()
    try:
        yield bundle_dir
    finally:
        for folder in (bundle_dir, INJECTED_DIR):
            with contextlib.suppress(ValueError):
                sys.path.remove(str(folder))
        for name, module in list(sys.modules.items()):
            if _is_inside(module, bundle_dir) or _is_inside(module, INJECTED_DIR):
                del sys.modules[name]
        sys.modules.update(set_aside)


def import_user_module(bundle_dir: str | Path, name: str) -> ModuleType:
    """Import ``name`` from the bundle folder (inside a ``user_modules`` block).

    Raises:
        BundleError: the bundle has no ``name.py``.
    """
    bundle_dir = Path(bundle_dir).resolve()
    if not (bundle_dir / f"{name}.py").is_file():
        raise ContractError("missing_file", f"{name}.py is missing from the bundle; add it (see `fdd validate`)")
    module = sys.modules.get(name)
    if module is not None and not _is_inside(module, bundle_dir):
        del sys.modules[name]
    return importlib.import_module(name)


def user_function(module: ModuleType, name: str):
    """The callable ``name`` of a user module.

    Raises:
        BundleError: it is missing or not callable.
    """
    function = getattr(module, name, None)
    if not callable(function):
        source = Path(module.__file__).name if module.__file__ else module.__name__
        raise ContractError(f"missing_function:{name}", f"{source} must define a function `{name}`")
    return function


def model_class(module: ModuleType, class_name: str) -> type:
    """The ``nn.Module`` subclass ``class_name`` defined in (or imported into) ``model.py``.

    Raises:
        BundleError: there is no such class, naming the ``nn.Module`` classes there are.
    """
    import torch.nn as nn

    candidate = getattr(module, class_name, None)
    if isinstance(candidate, type) and issubclass(candidate, nn.Module):
        return candidate
    modules = sorted(
        name
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == module.__name__
    )
    hint = f"; model.py defines {', '.join(modules)}" if modules else ""
    raise BundleError(f"model.py has no torch.nn.Module class named {class_name!r}{hint}")


def build_server_model(bundle_dir: str | Path, class_name: str):
    """Build the model the way the server does: ``Class(config_dict)``, or ``Class()`` without ``config.yaml``.

    Must be called inside a ``user_modules(bundle_dir)`` block.
    """
    config = load_config_dict(bundle_dir)
    cls = model_class(import_user_module(bundle_dir, "model"), class_name)
    return cls() if config is None else cls(config)


def keep_out_of_process(custom_dir: str | Path) -> list[str]:
    """Take the job's ``custom/`` folder (the user bundle) off this process's import path.

    NVFlare appends a job's ``custom/`` folder to ``sys.path`` in the server's and the
    sites' job processes; the platform runs user code only in its sandboxed processes,
    so a bundle file must never be importable here (a ``psutil.py`` in a bundle would
    otherwise be what an optional ``import psutil`` of a library finds).

    Returns:
        The names of modules already imported from the folder (there should be none).
    """
    folder = Path(custom_dir).resolve()
    sys.path[:] = [entry for entry in sys.path if not entry or not _same_folder(entry, folder)]
    importlib.invalidate_caches()
    return sorted(name for name, module in list(sys.modules.items()) if module is not None and _is_inside(module, folder))


def _same_folder(entry: str, folder: Path) -> bool:
    try:
        return Path(entry).resolve() == folder
    except OSError:
        return False


def _is_inside(module: ModuleType, folder: Path) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return False
    try:
        return Path(file).resolve().is_relative_to(folder)
    except OSError:
        return False
