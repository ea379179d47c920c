"""The plugin manager: entry-point discovery and filtering, load errors, registration rules, reports."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lash_core import Runtime, hookimpl, tool
from lash_core.errors import PluginLoadError, PluginRegistrationError
from lash_core.model import ToolCallOutput
from lash_core.plugins.manager import ENTRY_POINT_GROUP, create_plugin_manager
from lash_core.plugins.registry import build_registry
from lash_core.testing import ScriptedProvider, reply_text, scripted_runtime
from lash_core.tools.contract import ToolInvocation

FIXTURES = Path(__file__).parent / "fixtures"

DEFAULTS = {
    "memory_store": "lash_core.builtin.memory_store",
    "inline_effects": "lash_core.builtin.inline_effects",
    "standard": "lash_protocol_standard.plugin",
    "echo": "lash_test_plugins.echo_provider",
}
EXTRA = {"alpha": "lash_test_plugins.alpha", "beta": "lash_test_plugins.beta"}
CONFIG = {"providers": {"default": {"type": "echo"}}}

Install = Callable[..., None]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LASH_LOAD_PLUGINS", "LASH_DISABLE_PLUGINS", "LASH_TRACE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EntryPoint]]:
    """The fake ``lash`` entry points ``importlib.metadata.entry_points`` returns (append to it)."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    entry_points: list[EntryPoint] = []
    real = importlib.metadata.entry_points

    def fake(**params: Any) -> Any:
        if params == {"group": ENTRY_POINT_GROUP}:
            return list(entry_points)
        return real(**params)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    yield entry_points


@pytest.fixture
def install(installed: list[EntryPoint]) -> Install:
    """``install(name=module, ...)`` adds fake ``lash`` entry points."""

    def add(**modules: str) -> None:
        installed.extend(EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in modules.items())

    return add


def report_of(rt: Runtime, name: str) -> dict[str, Any]:
    """The ``plugins_report()`` entry of plugin ``name``."""
    entries = [entry for entry in rt.plugins_report() if entry["name"] == name]
    assert len(entries) == 1, f"plugin {name!r} is not in the report"
    return entries[0]


# --------------------------------------------------------------------------- discovery and filtering


def test_load_plugins_unset_loads_every_entry_point(install: Install) -> None:
    """Without LASH_LOAD_PLUGINS every ``lash`` entry point is loaded."""
    install(**DEFAULTS, **EXTRA)
    loaded = create_plugin_manager()
    assert set(loaded.plugins) == {*DEFAULTS, *EXTRA}
    assert loaded.errors == []
    assert loaded.plugins["alpha"].module == "lash_test_plugins.alpha"


def test_empty_load_plugins_loads_none(install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty LASH_LOAD_PLUGINS loads no entry point; host plugins are still registered."""
    install(**DEFAULTS, **EXTRA)
    monkeypatch.setenv("LASH_LOAD_PLUGINS", "")

    class Host:
        @hookimpl
        def prepare_turn(self) -> None: ...

    loaded = create_plugin_manager(plugins={"host": Host()})
    assert set(loaded.plugins) == {"host"}


def test_load_plugins_list_loads_only_those(install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    """LASH_LOAD_PLUGINS=a,b loads only the named entry points (spaces ignored)."""
    install(**DEFAULTS, **EXTRA)
    monkeypatch.setenv("LASH_LOAD_PLUGINS", " alpha , memory_store,")
    loaded = create_plugin_manager()
    assert set(loaded.plugins) == {"alpha", "memory_store"}


def test_disable_plugins_skips_them(install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    """LASH_DISABLE_PLUGINS keeps the named entry points out."""
    install(**DEFAULTS, **EXTRA)
    monkeypatch.setenv("LASH_DISABLE_PLUGINS", "beta,echo")
    loaded = create_plugin_manager()
    assert set(loaded.plugins) == {"memory_store", "inline_effects", "standard", "alpha"}


def test_disable_plugins_wins_over_load_plugins(install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry point both listed in LASH_LOAD_PLUGINS and disabled is not loaded."""
    install(**EXTRA)
    monkeypatch.setenv("LASH_LOAD_PLUGINS", "alpha,beta")
    monkeypatch.setenv("LASH_DISABLE_PLUGINS", "beta")
    assert set(create_plugin_manager().plugins) == {"alpha"}


def test_environ_argument_replaces_process_environment(
    install: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An explicit ``environ`` mapping is read instead of ``os.environ``."""
    install(**EXTRA)
    monkeypatch.setenv("LASH_LOAD_PLUGINS", "alpha")
    assert set(create_plugin_manager(environ={"LASH_LOAD_PLUGINS": "beta"}).plugins) == {"beta"}


def test_load_entry_points_false_ignores_entry_points(install: Install) -> None:
    """``load_entry_points=False`` registers only the host's plugins."""
    install(**DEFAULTS, **EXTRA)
    assert create_plugin_manager(load_entry_points=False).plugins == {}


def test_each_call_makes_its_own_manager(install: Install) -> None:
    """Two managers share nothing: a host plugin of one is absent from the other."""
    install(**EXTRA)

    class Host:
        @hookimpl
        def prepare_turn(self) -> None: ...

    first = create_plugin_manager(plugins={"host": Host()})
    second = create_plugin_manager()
    assert first.pm is not second.pm
    assert first.pm.has_plugin("host") and not second.pm.has_plugin("host")


def test_entry_point_distribution_is_reported(installed: list[EntryPoint]) -> None:
    """An entry point of a real distribution reports the distribution's name and version."""
    dist = next(iter(importlib.metadata.distributions(path=[str(FIXTURES / "dist")])))
    installed.extend(ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP)
    loaded = create_plugin_manager()
    alpha = loaded.plugins["alpha"]
    assert (alpha.distribution, alpha.version, alpha.module) == (
        "lash-test-plugins",
        "1.2.3",
        "lash_test_plugins.alpha",
    )
    assert set(loaded.plugins) == {"alpha", "beta"}


# --------------------------------------------------------------------------- tracing


@pytest.mark.anyio
async def test_trace_plugins_prints_hook_calls(
    install: Install, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """LASH_TRACE_PLUGINS=1 prints each turn-phase hook call, with the plugin, to stderr."""
    install(**DEFAULTS, **EXTRA)
    monkeypatch.setenv("LASH_TRACE_PLUGINS", "1")
    async with Runtime(CONFIG) as rt:
        await (await rt.session("s1")).turn("hi").run()
    assert "lash: hook prepare_turn -> alpha" in capsys.readouterr().err


@pytest.mark.anyio
@pytest.mark.parametrize("value", [None, "0"])
async def test_trace_plugins_off_prints_nothing(
    value: str | None, install: Install, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without LASH_TRACE_PLUGINS (or with 0) hook calls are not printed."""
    install(**DEFAULTS, **EXTRA)
    if value is not None:
        monkeypatch.setenv("LASH_TRACE_PLUGINS", value)
    async with Runtime(CONFIG) as rt:
        await (await rt.session("s1")).turn("hi").run()
    assert "lash: hook" not in capsys.readouterr().err


# --------------------------------------------------------------------------- load errors


@pytest.mark.anyio
async def test_plugin_failing_to_import_is_reported_and_others_load(install: Install) -> None:
    """A plugin whose import raises is reported with its name and error; the others work."""
    install(**DEFAULTS, **EXTRA, broken="lash_test_plugins.broken_import")
    async with Runtime(CONFIG) as rt:
        errors = rt.loaded.errors
        assert [error.plugin for error in errors] == ["broken"]
        assert isinstance(errors[0], PluginLoadError) and isinstance(errors[0].error, ImportError)
        entry = report_of(rt, "broken")
        assert "broken on purpose" in entry["error"] and "'broken'" in entry["error"]
        assert entry["registered"] == {}
        assert set(rt.tools) == {"alpha_ping", "beta_ping"}
        result = await (await rt.session("s1")).turn("hi").run()
    assert result.assistant_output.raw_text == "echo: hi"


@pytest.mark.anyio
async def test_plugin_failing_to_register_is_reported_and_contributes_nothing(install: Install) -> None:
    """A plugin whose registration hook raises is reported and its registrations are dropped."""
    install(**DEFAULTS, **EXTRA, broken="lash_test_plugins.broken_register")
    async with Runtime(CONFIG) as rt:
        assert [error.plugin for error in rt.registry.errors] == ["broken"]
        entry = report_of(rt, "broken")
        assert "registration exploded" in entry["error"]
        assert entry["hooks"] == ["register_tools"]
        assert entry["registered"] == {}
        assert "broken_ping" not in rt.tools
        assert set(rt.tools) == {"alpha_ping", "beta_ping"}
        result = await (await rt.session("s1")).turn("hi").run()
    assert result.assistant_output.raw_text == "echo: hi"


def test_plugin_with_unknown_hook_argument_is_reported(install: Install) -> None:
    """A host plugin whose hook declares an argument the spec lacks is reported as a load error."""

    class Wrong:
        @hookimpl
        def prepare_turn(self, context: Any) -> None: ...

    loaded = create_plugin_manager(plugins={"wrong": Wrong()}, load_entry_points=False)
    assert "wrong" not in loaded.plugins
    assert [error.plugin for error in loaded.errors] == ["wrong"]
    assert "context" in str(loaded.errors[0])


# --------------------------------------------------------------------------- registration rules


def store_plugin(plugin_name: str, store_name: str) -> object:
    """A plugin registering a memory store under ``store_name``."""

    class StorePlugin:
        lash_plugin_name = plugin_name

        @hookimpl
        def register_stores(self, register: Any) -> None:
            from lash_core.store.memory import MemoryStore

            register(store_name, lambda settings=None: MemoryStore())

    return StorePlugin()


def test_duplicate_component_name_names_both_plugins() -> None:
    """Two plugins registering the same store name fail composition naming both plugins."""
    plugins = [store_plugin("store-one", "dup"), store_plugin("store-two", "dup")]
    with pytest.raises(PluginRegistrationError) as raised:
        scripted_runtime(ScriptedProvider(), plugins=plugins)
    message = str(raised.value)
    assert "'dup'" in message and "'store-one'" in message and "'store-two'" in message


def test_builtin_component_name_clash_names_both_plugins() -> None:
    """A plugin re-registering the built-in ``memory`` store name fails naming both plugins."""
    with pytest.raises(PluginRegistrationError) as raised:
        scripted_runtime(ScriptedProvider(), plugins=[store_plugin("my-store", "memory")])
    assert "'memory_store'" in str(raised.value) and "'my-store'" in str(raised.value)


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def test_duplicate_tool_name_names_both_plugins() -> None:
    """A tool name registered by two plugins fails composition naming both plugins."""

    class AlsoAdd:
        lash_plugin_name = "also-add"

        @hookimpl
        def register_tools(self, register: Any) -> None:
            register(add)

    with pytest.raises(PluginRegistrationError) as raised:
        scripted_runtime(ScriptedProvider(), tools=[add], plugins=[AlsoAdd()])
    message = str(raised.value)
    assert "'add'" in message and "'test-tools'" in message and "'also-add'" in message


def test_registration_hook_with_specname_registers() -> None:
    """A registration hook implemented under another name with ``specname`` registers like any other."""

    class Renamed:
        lash_plugin_name = "renamed"

        @hookimpl(specname="register_tools")
        def tools_of_renamed(self, register: Any) -> None:
            register(add)

    rt = scripted_runtime(ScriptedProvider(), plugins=[Renamed()])
    assert rt.tools["add"].plugin == "renamed"
    assert report_of(rt, "renamed")["registered"] == {"tools": ["add"]}


class PlainProjector:
    def project(self, call: ToolInvocation, output: ToolCallOutput) -> str:
        return "plain"


def test_second_result_projector_names_both_plugins() -> None:
    """A second claimant of the tool-result projector slot fails naming both plugins."""

    class ProjectorPlugin:
        lash_plugin_name = "plain-projector"

        @hookimpl
        def register_tools(self, register: Any) -> None:
            register.result_projector(PlainProjector())

    with pytest.raises(PluginRegistrationError) as raised:
        scripted_runtime(ScriptedProvider(), plugins=[ProjectorPlugin()])
    message = str(raised.value)
    assert "'tool_output_budget'" in message and "'plain-projector'" in message


class OtherProtocolPlugin:
    lash_plugin_name = "other-protocol"

    @hookimpl
    def register_protocols(self, register: Any) -> None:
        from lash_protocol_standard.protocol import StandardProtocol

        register("other", lambda settings=None: StandardProtocol())


def test_two_protocols_without_configuration_names_both() -> None:
    """Two registered protocols and none configured fail composition naming both and their plugins."""
    with pytest.raises(PluginRegistrationError) as raised:
        scripted_runtime(ScriptedProvider(), plugins=[OtherProtocolPlugin()])
    message = str(raised.value)
    for name in ("'standard'", "'other'", "'other-protocol'"):
        assert name in message


@pytest.mark.anyio
async def test_configured_protocol_settles_two_registered() -> None:
    """With two protocols registered, the configured one is used."""
    provider = ScriptedProvider([reply_text("ok")])
    rt = scripted_runtime(provider, plugins=[OtherProtocolPlugin()], config={"protocol": {"type": "other"}})
    async with rt:
        assert rt._protocol_registration.plugin == "other-protocol"
        result = await (await rt.session("s1")).turn("hi").run()
    assert result.assistant_output.raw_text == "ok"


def test_hookwrapper_on_turn_hook_is_refused() -> None:
    """A plugin implementing a turn-phase hook as a wrapper is refused when the runtime is composed."""

    class Wrapper:
        lash_plugin_name = "wrapper-plugin"

        @hookimpl(wrapper=True)
        def turn_persisted(self, ctx: Any) -> Iterator[None]:
            return (yield)

    with pytest.raises(PluginRegistrationError) as raised:
        scripted_runtime(ScriptedProvider([reply_text("ok")]), plugins=[Wrapper()])
    message = str(raised.value)
    assert "'wrapper-plugin'" in message and "'turn_persisted'" in message and "wrapper" in message


def test_old_style_hookwrapper_is_refused() -> None:
    """A ``hookwrapper=True`` implementation of a turn-phase hook is refused too."""

    class OldWrapper:
        lash_plugin_name = "old-wrapper"

        @hookimpl(hookwrapper=True)
        def prepare_turn(self, ctx: Any) -> Iterator[None]:
            yield

    with pytest.raises(PluginRegistrationError, match=r"'old-wrapper'.*'prepare_turn'"):
        scripted_runtime(ScriptedProvider(), plugins=[OldWrapper()])


def test_unknown_component_lists_registered_ones() -> None:
    """Asking for an unregistered component names what is registered."""
    rt = scripted_runtime(ScriptedProvider(), plugins=[store_plugin("extra-store", "extra")])
    with pytest.raises(PluginRegistrationError) as raised:
        rt.registry.component("stores", "sqlite")
    assert "'sqlite'" in str(raised.value) and "extra, memory" in str(raised.value)


# --------------------------------------------------------------------------- reports and the CLI


class Reporter:
    lash_plugin_name = "reporter"

    @hookimpl
    def register_tools(self, register: Any) -> None:
        register(add)

    @hookimpl
    def prepare_turn(self) -> None: ...

    @hookimpl
    def snapshot_state(self, session_id: str) -> None: ...


def test_plugins_report_content() -> None:
    """``plugins_report()`` lists each plugin, sorted, with its module, hooks and registrations."""
    rt = scripted_runtime(ScriptedProvider(), plugins=[Reporter()])
    report = rt.plugins_report()
    names = [entry["name"] for entry in report]
    assert names == sorted(names)
    assert {"memory_store", "inline_effects", "standard", "reporter"} <= set(names)
    assert report_of(rt, "reporter") == {
        "name": "reporter",
        "version": None,
        "distribution": None,
        "module": "Reporter",
        "hooks": ["prepare_turn", "register_tools", "snapshot_state"],
        "registered": {"tools": ["add"]},
    }
    assert report_of(rt, "memory_store")["registered"] == {"stores": ["memory"]}
    assert report_of(rt, "tool_output_budget")["registered"] == {"result_projector": ["BudgetProjector"]}


def test_cli_runs_a_command_registered_through_an_entry_point(
    install: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``lash hello`` runs the command a ``lash`` entry-point plugin registered."""
    from lash_core import cli

    install(hello="lash_test_plugins.hello_command")
    monkeypatch.setattr(cli.main, "_cached_plugin_commands", None, raising=False)
    outcome = CliRunner().invoke(cli.main, ["hello", "world"])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output == "hello world\n"


class _AsyncRegistration:
    lash_plugin_name = "async-registration"

    @hookimpl
    async def register_providers(self, register: Any) -> None:
        register("never", lambda settings=None: object())


def test_async_registration_hook_is_reported_as_a_load_error() -> None:
    """An async registration hook registers nothing and is reported, naming the plugin and the fix."""
    loaded = create_plugin_manager(plugins=[_AsyncRegistration()], load_entry_points=False)
    registry = build_registry(loaded)
    assert "never" not in registry.components["providers"]
    errors = [e for e in registry.errors if e.plugin == "async-registration"]
    assert len(errors) == 1 and "must be a plain function" in str(errors[0])
