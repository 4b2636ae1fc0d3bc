"""The hook specs are the plugin authors' reference: each is documented, has a working example, and is tested.

Three checks, in the manner of datasette's ``test_plugin_hooks_have_tests``:

- every spec in ``nvflare_fdd.plugin.hookspecs`` is named ``fdd_*`` and its docstring has an
  ``Example::`` block whose function has the hook's name and parameters;
- that example works: its code is taken from the docstring **as written**, run with stand-ins for
  the names it leaves to the reader (``DockerBackend``, ``send_mail``, ...), registered with a
  ``FddPluginManager`` and called through the manager's typed methods;
- every hook is exercised by a test elsewhere: a test source under ``tests/`` or ``plugins/*/tests/``
  (this module does not count) implements it, names it (``pm.hook.fdd_x``, ``notify("fdd_x", ...)``)
  or calls its typed manager method (``manager.storage_backends()``). Comments and docstrings do
  not count; neither does a test that reaches the hook only through other code (``Platform(...)``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
import types
from pathlib import Path

import pytest

from nvflare_fdd import hookimpl
from nvflare_fdd.platform.config import load_config
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.plugin import PROJECT, hookspecs
from nvflare_fdd.plugin.manager import FddPluginManager

REPOSITORY = Path(__file__).resolve().parents[2]
TEST_ROOTS = (REPOSITORY / "tests", *sorted((REPOSITORY / "plugins").glob("*/tests")))
SPEC_MARKER = f"{PROJECT}_spec"

# Hooks known to have no test yet. Each entry is a strict xfail: the day a test names the hook,
# the meta-test fails until the entry is removed. A new hook must not be added here.
HOOKS_AWAITING_TESTS = {
}


def hook_specs() -> dict[str, types.FunctionType]:
    """Hook name → spec function, as the plugin manager loads them."""
    return {name: spec for name, spec in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(spec, SPEC_MARKER)}


HOOKS = sorted(hook_specs())


def example_source(spec: types.FunctionType) -> str:
    """The code of the ``Example::`` block in a spec's docstring (dedented); ``""`` if there is none."""
    lines = inspect.getdoc(spec).splitlines() if spec.__doc__ else []
    for index, line in enumerate(lines):
        if line.strip() == "Example::":
            indent = len(line) - len(line.lstrip())
            block = []
            for following in lines[index + 1 :]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                block.append(following)
            return textwrap.dedent("\n".join(block)).strip("\n") + "\n"
    return ""


def example_plugin(hook: str, **names: object) -> types.ModuleType:
    """A plugin module made of the docstring's example, with ``names`` standing in for what it leaves out."""
    plugin = types.ModuleType(f"example_{hook}")
    namespace = {"hookimpl": hookimpl, **names}
    exec(compile(example_source(hook_specs()[hook]), f"<{hook} example>", "exec"), namespace)
    setattr(plugin, hook, namespace[hook])
    return plugin


# -- every spec is documented ---------------------------------------------------------------------


def test_the_manager_loads_exactly_these_specs():
    manager = FddPluginManager(autoload=False)

    assert HOOKS and {name for name in vars(manager.pm.hook) if not name.startswith("_")} == set(HOOKS)
    undecorated = [name for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
                   if f.__module__ == hookspecs.__name__ and not hasattr(f, SPEC_MARKER)]  # fmt: skip
    assert not undecorated, f"functions in hookspecs.py without @hookspec: {undecorated}"


@pytest.mark.parametrize("hook", HOOKS)
def test_the_spec_is_named_and_documented_with_an_example(hook):
    spec = hook_specs()[hook]
    source = example_source(spec)

    assert hook.startswith("fdd_"), f"hook {hook} must be named fdd_*"
    assert source, f"{hook}'s docstring needs an 'Example::' block"
    [example] = [node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]
    decorators = [ast.unparse(decorator) for decorator in example.decorator_list]
    spec_parameters = list(inspect.signature(spec).parameters)
    example_parameters = [argument.arg for argument in example.args.args]
    assert (example.name, decorators) == (hook, ["hookimpl"]), f"{hook}'s example must define @hookimpl def {hook}(...)"
    assert example_parameters == spec_parameters, f"{hook}'s example takes {example_parameters}, the spec {spec_parameters}"


@pytest.mark.parametrize("hook", HOOKS)
def test_the_spec_refers_only_to_names_that_exist(hook):
    """``nvflare_fdd.x.y`` in a docstring must import, so the reference never points at something renamed."""
    for dotted in re.findall(r"``(nvflare_fdd(?:\.\w+)+)``", hook_specs()[hook].__doc__):
        module_name, _, attribute = dotted.rpartition(".")
        try:
            assert hasattr(importlib.import_module(module_name), attribute), f"{hook} refers to {dotted}, which does not exist"
        except ModuleNotFoundError:
            importlib.import_module(dotted)


# -- every example works ----------------------------------------------------------------------------

# Stand-ins for the names the examples leave to the reader.


class DockerBackend:
    def __init__(self, **options):
        self.options = options


class ReplicaStorage(SqlStorage):
    pass


class TerminalUI:
    def __init__(self, platform):
        self.platform = platform
        self.served: list[tuple[str, int]] = []

    def serve(self, host: str, port: int) -> None:
        self.served.append((host, port))


class Dashboard:
    def __init__(self):
        self.pushed: list[tuple] = []

    def push(self, *values) -> None:
        self.pushed.append(values)


def test_example_fdd_environment_backends():
    manager = FddPluginManager(autoload=False, plugins=(example_plugin("fdd_environment_backends", DockerBackend=DockerBackend),))

    backends = manager.environment_backends()

    assert backends["docker"] is DockerBackend and "local" in backends
    assert backends["docker"](base_image="nvflare-fdd:latest").options == {"base_image": "nvflare-fdd:latest"}


def test_example_fdd_env_commands():
    from unittest import mock

    import click
    from click.testing import CliRunner

    from nvflare_fdd.cli.main import main

    @click.command("build-base")
    def build_base() -> None:
        click.echo("built")

    manager = FddPluginManager(autoload=False, plugins=(example_plugin("fdd_env_commands", build_base=build_base),))

    assert manager.env_commands() == {"build-base": build_base}
    with mock.patch("nvflare_fdd.plugin.manager.plugin_manager", return_value=manager):
        assert CliRunner().invoke(main, ["env", "build-base"]).output == "built\n"


def test_example_fdd_storage_backends(tmp_path, monkeypatch):
    manager = FddPluginManager(autoload=False, plugins=(example_plugin("fdd_storage_backends", ReplicaStorage=ReplicaStorage),))
    (tmp_path / "platform.yaml").write_text(
        f"storage_url: sqlite:///{tmp_path / 'platform.db'}\nstorage_backend: sql-readonly-replica\n"
    )
    monkeypatch.delenv("FDD_STORAGE_URL", raising=False)

    backends = manager.storage_backends()
    platform = Platform(load_config(tmp_path / "platform.yaml"), plugins=manager)

    assert backends["sql-readonly-replica"] is ReplicaStorage and backends["sql"] is SqlStorage
    assert isinstance(platform.storage, ReplicaStorage)
    assert platform.user("alice").name == "alice"  # a working storage: SqlStorage's methods, on the configured URL
    platform.storage.close()


def test_example_fdd_ui_backends():
    manager = FddPluginManager(autoload=False, plugins=(example_plugin("fdd_ui_backends", TerminalUI=TerminalUI),))
    platform = object()

    ui = manager.ui_backends()["tui"](platform)
    ui.serve("127.0.0.1", 8080)

    assert isinstance(ui, TerminalUI) and ui.platform is platform and ui.served == [("127.0.0.1", 8080)]


def test_example_fdd_job_state_changed():
    mails: list[str] = []
    manager = FddPluginManager(autoload=False, plugins=(example_plugin("fdd_job_state_changed", send_mail=mails.append),))

    manager.notify("fdd_job_state_changed", job="sol_1", old_state="queued", new_state="running", reason="started")
    manager.notify("fdd_job_state_changed", job="sol_1", old_state="running", new_state="failed", reason="site b, phase 6000")

    assert mails == ["sol_1 failed: site b, phase 6000"]


def test_example_fdd_round_progress(capsys):
    manager = FddPluginManager(autoload=False, plugins=(example_plugin("fdd_round_progress"),))
    phases = [{"code": 1000, "name": "config", "start": 100.0, "end": 100.5},
              {"code": 8000, "name": "send", "start": 109.9, "end": 110.3}]  # fmt: skip

    manager.notify("fdd_round_progress", job="sol_1", round=2, site="pharma_a", phases=phases)

    assert capsys.readouterr().out == "sol_1: pharma_a finished round 2 in 10.3 s\n"


def test_example_fdd_metrics_recorded():
    dashboard = Dashboard()
    manager = FddPluginManager(autoload=False, plugins=(example_plugin("fdd_metrics_recorded", dashboard=dashboard),))

    manager.notify("fdd_metrics_recorded", job="sol_1", round=2, site="pharma_a", kind="global", metrics={"mse": 0.5})

    assert dashboard.pushed == [("sol_1", 2, "pharma_a", "global", {"mse": 0.5})]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_example_is_tested_here(hook):
    assert f"test_example_{hook}" in globals(), f"add test_example_{hook} to {Path(__file__).name}: run the docstring's example"


# -- every hook is tested elsewhere ---------------------------------------------------------------


def typed_methods() -> dict[str, str]:
    """Manager method → the hook it calls (``self.pm.hook.fdd_x`` in its body)."""
    methods = {}
    for name, method in inspect.getmembers(FddPluginManager, inspect.isfunction):
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(method)))):
            if isinstance(node, ast.Attribute) and node.attr in HOOKS and ast.unparse(node.value) == "self.pm.hook":
                methods[name] = node.attr
    return methods


def hooks_used(source: str, methods: dict[str, str]) -> set[str]:
    """The hooks a test source exercises: implements, names in code, or calls through the typed method."""
    used = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            used.add(node.name)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            used.add(node.value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in methods:
            used.add(methods[node.func.attr])
    return used & set(HOOKS)


def scanned_sources() -> dict[Path, str]:
    """Every test source but this module."""
    this_module = Path(__file__).resolve()
    return {path: path.read_text() for root in TEST_ROOTS for path in sorted(root.rglob("*.py")) if path.resolve() != this_module}


@pytest.fixture(scope="module")
def exercised() -> dict[str, list[str]]:
    """Hook → the test files that exercise it."""
    methods = typed_methods()
    found: dict[str, list[str]] = {hook: [] for hook in HOOKS}
    for path, source in scanned_sources().items():
        for hook in hooks_used(source, methods):
            found[hook].append(str(path.relative_to(REPOSITORY)))
    return found


def test_the_scan_sees_the_typed_methods_and_skips_comments():
    methods = typed_methods()
    source = '''
# fdd_ui_backends in a comment
"""fdd_round_progress in a docstring"""
manager.storage_backends()
manager.notify("fdd_job_state_changed", job="j")
class Plugin:
    def fdd_metrics_recorded(self, job): ...
'''

    assert methods == {"environment_backends": "fdd_environment_backends", "storage_backends": "fdd_storage_backends",
                       "ui_backends": "fdd_ui_backends", "env_commands": "fdd_env_commands"}  # fmt: skip
    assert hooks_used(source, methods) == {"fdd_storage_backends", "fdd_job_state_changed", "fdd_metrics_recorded"}


@pytest.mark.parametrize(
    "hook",
    [pytest.param(hook, marks=pytest.mark.xfail(strict=True, reason=HOOKS_AWAITING_TESTS[hook]))
     if hook in HOOKS_AWAITING_TESTS else hook for hook in HOOKS],
)  # fmt: skip
def test_every_hook_has_a_test(hook, exercised):
    assert exercised[hook], (
        f"no test exercises hook {hook}: implement it in a test plugin, notify it, or call its typed manager method "
        f"in a test under tests/ or plugins/*/tests/ (this module does not count)"
    )


def test_hooks_awaiting_tests_are_real_hooks():
    assert set(HOOKS_AWAITING_TESTS) <= set(HOOKS)
