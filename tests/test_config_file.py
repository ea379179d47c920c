"""lash.toml: loading, secrets, embedded defaults, plugin settings and key-path errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from attrs import frozen

from lash_core.config import RuntimeConfig, load_runtime_config
from lash_core.config_file import (
    check_config,
    embedded_defaults,
    load_config,
    locate_config,
    redacting_sink,
    resolve_secrets,
)
from lash_core.errors import ConfigError
from lash_core.runtime import Runtime
from lash_core.testing import ScriptedProvider, reply_text, scripted_runtime
from lash_hookspecs import hookimpl

ALL = {"sqlite", "standard", "jsonl_trace", "openai", "llamacpp", "echo"}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"LASH_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path), **extra}


def _write(tmp_path: Path, text: str, name: str = "lash.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path: Path, text: str, **env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text), environ=_env(tmp_path, **env))
    return str(caught.value)


ECHO = '[model]\nid = "echo-1"\n[providers.default]\ntype = "echo"\n'


# ---- errors name the key path and the expected type ------------------------------------------


def test_unknown_top_level_key_names_the_key(tmp_path: Path) -> None:
    """An unknown top-level key is refused by name, listing the allowed keys."""
    message = _problems(tmp_path, "stroe = 1\n" + ECHO)
    assert "stroe: unknown key (allowed keys:" in message
    assert "store" in message


def test_unknown_nested_key_names_the_full_path(tmp_path: Path) -> None:
    """An unknown key inside [store] names `store.<key>`."""
    message = _problems(tmp_path, ECHO + '[store]\ntype = "memory"\npath = "x"\n')
    assert "store.path: unknown key (allowed keys: type, settings)" in message


def test_wrong_type_names_the_path_and_the_expected_type(tmp_path: Path) -> None:
    """A wrong type names its key path and what was expected."""
    message = _problems(tmp_path, 'max_turns = "ten"\n' + ECHO)
    assert "max_turns: expected an integer, found a string" in message


def test_missing_required_value_names_the_path_and_type(tmp_path: Path) -> None:
    """A missing required value names its key path and expected type."""
    message = _problems(tmp_path, '[model]\ncontext_window_tokens = 10\n[providers.default]\ntype = "echo"\n')
    assert "model.id: required value missing (expected a string)" in message


def test_wrong_type_in_an_array_names_the_index(tmp_path: Path) -> None:
    """An element of the wrong type names its index."""
    message = _problems(tmp_path, ECHO + '[plugins]\ndisable = ["a", 3]\n')
    assert "plugins.disable[1]: expected a string, found an integer" in message


def test_every_problem_is_listed(tmp_path: Path) -> None:
    """Several problems are all reported, not only the first."""
    message = _problems(tmp_path, 'max_turns = "x"\nsystem_prompt = 3\n' + ECHO)
    assert "max_turns:" in message and "system_prompt:" in message


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    """A syntax error names the file and the line."""
    message = _problems(tmp_path, "[model\nid = 1\n")
    assert "lash.toml: invalid TOML" in message and "line 1" in message


def test_component_settings_errors_name_their_key_path(tmp_path: Path) -> None:
    """Bad store settings fail composition, naming `store.settings.<key>` and the choices."""
    path = _write(tmp_path, ECHO + '[store]\ntype = "sqlite"\n[store.settings]\ndurability = "fast"\n')
    with pytest.raises(ConfigError) as caught:
        Runtime.from_config(path, environ=_env(tmp_path))
    assert "store.settings.durability: invalid value" in str(caught.value)
    assert '"full", "normal"' in str(caught.value)


def test_an_unregistered_type_names_the_key_and_what_is_registered(tmp_path: Path) -> None:
    """A store type nobody registered names `store.type` and the registered ones."""
    origin, problems = check_config(
        _write(tmp_path, ECHO + '[store]\ntype = "mongo"\n'), environ=_env(tmp_path)
    )
    assert origin.endswith("lash.toml")
    assert any(p.startswith("store.type: no store named 'mongo'") and "memory" in p for p in problems)


def test_mapping_config_errors_use_the_file_key_paths() -> None:
    """A Python mapping gets the same key-path errors as a file."""
    with pytest.raises(ConfigError, match=r"plugins\.enable: expected an array, found a string"):
        load_runtime_config({"plugins": {"enable": "tools"}})


# ---- secrets ----------------------------------------------------------------------------------


def test_env_secret_is_resolved_and_collected_for_redaction(tmp_path: Path) -> None:
    """`$env:NAME` is replaced by the variable, and the value is listed in `redact`."""
    config = load_config(
        _write(tmp_path, ECHO.replace('type = "echo"', 'type = "echo"\nsettings = { prefix = "$env:PFX" }')),
        environ=_env(tmp_path, PFX="s3cret-value"),
    )
    assert config.providers["default"].settings == {"prefix": "s3cret-value"}
    assert "s3cret-value" in config.redact


def test_missing_env_secret_names_the_key(tmp_path: Path) -> None:
    """A `$env:` reference to an unset variable is an error naming the key and the variable."""
    message = _problems(tmp_path, ECHO + '[providers.default.settings]\nprefix = "$env:NOPE_NOT_SET"\n')
    assert "providers.default.settings.prefix: environment variable NOPE_NOT_SET is not set" in message


def test_file_secret_is_read_without_its_newline(tmp_path: Path) -> None:
    """`$file:path` is replaced by the file's content, trailing newline removed."""
    (tmp_path / "key.txt").write_text("from-a-file\n", encoding="utf-8")
    text = ECHO + f'[providers.default.settings]\nprefix = "$file:{tmp_path / "key.txt"}"\n'
    config = load_config(_write(tmp_path, text), environ=_env(tmp_path))
    assert config.providers["default"].settings["prefix"] == "from-a-file"
    assert "from-a-file" in config.redact


def test_missing_secret_file_names_the_key(tmp_path: Path) -> None:
    """A `$file:` reference to a missing file is an error naming the key."""
    message = _problems(tmp_path, f'system_prompt = "$file:{tmp_path / "absent"}"\n' + ECHO)
    assert "system_prompt: cannot read the secret file" in message


def test_malformed_reference_names_the_key(tmp_path: Path) -> None:
    """`$env:` with an invalid name is an error, not a literal."""
    assert "system_prompt: '$env:1BAD' is not a valid reference" in _problems(
        tmp_path, 'system_prompt = "$env:1BAD"\n' + ECHO
    )


def test_double_dollar_escapes_a_literal() -> None:
    """`$$env:X` is the literal text `$env:X`."""
    resolved, secrets, problems = resolve_secrets({"a": ["$$env:X"]}, {})
    assert resolved == {"a": ["$env:X"]} and secrets == [] and problems == []


def test_redacting_sink_scrubs_secrets_everywhere() -> None:
    """The redacting wrapper replaces secrets in nested values before the sink sees them."""
    seen: list[dict[str, Any]] = []

    class Sink:
        def append(self, record: dict[str, Any]) -> None:
            seen.append(record)

        def flush(self) -> None:
            pass

    redacting_sink(Sink(), ["tok-123"]).append({"a": "x tok-123 y", "b": [{"c": "tok-123"}], "n": 3})
    assert seen == [{"a": "x [redacted] y", "b": [{"c": "[redacted]"}], "n": 3}]


def test_resolved_secrets_never_reach_the_trace(tmp_path: Path) -> None:
    """A secret used in the configuration is redacted from the JSONL trace."""
    text = (
        '[model]\nid = "$env:SECRET_MODEL"\n[providers.default]\ntype = "echo"\n[store]\ntype = "memory"\n'
        f'[[trace_sinks]]\ntype = "jsonl"\nsettings = {{ directory = "{tmp_path / "traces"}" }}\n'
    )
    env = _env(tmp_path, SECRET_MODEL="model-s3cret")

    async def main() -> None:
        async with Runtime.from_config(_write(tmp_path, text), environ=env) as runtime:
            await (await runtime.session("s")).turn("hi").run()

    anyio.run(main)
    trace = (tmp_path / "traces" / "s.jsonl").read_text(encoding="utf-8")
    assert "llm_call" in trace and "[redacted]" in trace and "model-s3cret" not in trace


# ---- where the configuration comes from, and the embedded defaults ---------------------------


def test_locate_prefers_the_named_file_then_lash_config_then_cwd(tmp_path: Path) -> None:
    """--config, then $LASH_CONFIG, then ./lash.toml; none gives None."""
    named = _write(tmp_path, "", "named.toml")
    env_file = _write(tmp_path, "", "env.toml")
    assert locate_config(named, environ={"LASH_CONFIG": str(env_file)}, cwd=tmp_path) == named
    assert locate_config(None, environ={"LASH_CONFIG": str(env_file)}, cwd=tmp_path) == env_file
    assert locate_config(None, environ={}, cwd=tmp_path) is None
    local = _write(tmp_path, "")
    assert locate_config(None, environ={}, cwd=tmp_path) == local


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    """A --config path that does not exist says so."""
    with pytest.raises(ConfigError, match="does not exist"):
        locate_config(tmp_path / "nope.toml", environ={})


def test_defaults_without_keys_use_the_offline_local_model(tmp_path: Path) -> None:
    """No API key: the llamacpp SmolLM2 model with a 2048-token window."""
    defaults = embedded_defaults(_env(tmp_path), installed=ALL)
    assert defaults["providers"]["default"]["type"] == "llamacpp"
    assert defaults["model"] == {"id": "smollm2-135m", "context_window_tokens": 2048}


def test_defaults_use_sqlite_jsonl_and_standard_under_the_data_dir(tmp_path: Path) -> None:
    """Sessions and traces live under the data directory."""
    defaults = embedded_defaults(_env(tmp_path), installed=ALL)
    assert defaults["store"] == {
        "type": "sqlite",
        "settings": {"path": str(tmp_path / "data" / "sessions.db")},
    }
    assert defaults["trace_sinks"] == [
        {"type": "jsonl", "settings": {"directory": str(tmp_path / "data" / "traces")}}
    ]
    assert defaults["protocol"] == {"type": "standard"}


def test_defaults_pick_openai_when_its_key_is_set(tmp_path: Path) -> None:
    """OPENAI_API_KEY selects the openai provider, its key as a resolved secret."""
    config = load_config({}, environ=_env(tmp_path, OPENAI_API_KEY="sk-test-123"))
    assert config.providers["default"].type == "openai"
    assert config.providers["default"].settings == {"api_key": "sk-test-123"}
    assert "sk-test-123" in config.redact


def test_defaults_pick_anthropic_only_when_its_plugin_is_installed(tmp_path: Path) -> None:
    """ANTHROPIC_API_KEY selects anthropic when installed, else the local model."""
    env = _env(tmp_path, ANTHROPIC_API_KEY="k")
    assert (
        embedded_defaults(env, installed=ALL | {"anthropic"})["providers"]["default"]["type"] == "anthropic"
    )
    assert embedded_defaults(env, installed=ALL)["providers"]["default"]["type"] == "llamacpp"


def test_file_keys_replace_defaults_and_the_rest_stay(tmp_path: Path) -> None:
    """A file setting providers keeps the default store but not the default model."""
    config = load_config(_write(tmp_path, '[providers.default]\ntype = "echo"\n'), environ=_env(tmp_path))
    assert config.store.type == "sqlite"
    assert config.model.id == "default"
    assert [s.type for s in config.trace_sinks] == ["jsonl"]


def test_empty_trace_sinks_turn_tracing_off(tmp_path: Path) -> None:
    """`trace_sinks = []` replaces the default sink with none."""
    config = load_config(_write(tmp_path, "trace_sinks = []\n" + ECHO), environ=_env(tmp_path))
    assert config.trace_sinks == ()


def test_no_file_uses_the_embedded_defaults(tmp_path: Path) -> None:
    """Without any file, load_config returns the embedded defaults."""
    config = load_config(None, environ=_env(tmp_path), cwd=tmp_path)
    assert isinstance(config, RuntimeConfig)
    assert config.store.type == "sqlite" and config.protocol is not None


# ---- plugin settings through register.settings ------------------------------------------------


@frozen
class GreeterSettings:
    """Settings of the greeter test plugin.

    * ``greeting``: what the plugin says.
    * ``times``: how often.
    """

    greeting: str = "hello"
    times: int = 1


class Greeter:
    """A plugin reading its own settings and the workspace while registering."""

    lash_plugin_name = "greeter"

    def __init__(self) -> None:
        self.settings: GreeterSettings | None = None
        self.workspace: Path | None = None

    @hookimpl
    def register_providers(self, register: Any) -> None:
        self.settings = register.settings(GreeterSettings)

    @hookimpl
    def register_tools(self, register: Any) -> None:
        assert register.settings(GreeterSettings) is self.settings  # the same instance in every hook
        self.workspace = register.workspace


def _greeter_runtime(config: dict[str, Any]) -> tuple[Greeter, Runtime]:
    greeter = Greeter()
    return greeter, scripted_runtime(ScriptedProvider([reply_text("x")]), plugins=[greeter], config=config)


def test_plugin_settings_come_from_its_table() -> None:
    """register.settings structures [plugins.<name>] into the plugin's class."""
    greeter, runtime = _greeter_runtime({"plugins": {"greeter": {"greeting": "hey", "times": 2}}})
    assert greeter.settings == GreeterSettings("hey", 2)
    assert runtime.registry.plugin_settings["greeter"] is GreeterSettings


def test_plugin_settings_default_when_the_table_is_absent() -> None:
    """Without a table the plugin gets its defaults."""
    greeter, _ = _greeter_runtime({})
    assert greeter.settings == GreeterSettings()


def test_plugin_settings_errors_name_the_full_key_path() -> None:
    """A wrong type in the plugin's table names `plugins.<name>.<key>` and the expected type."""
    with pytest.raises(ConfigError, match=r"plugins\.greeter\.greeting: expected a string, found an integer"):
        _greeter_runtime({"plugins": {"greeter": {"greeting": 3}}})


def test_plugin_settings_unknown_key_is_refused() -> None:
    """An unknown key in the plugin's table is refused by name."""
    with pytest.raises(
        ConfigError, match=r"plugins\.greeter\.volume: unknown key \(allowed keys: greeting, times\)"
    ):
        _greeter_runtime({"plugins": {"greeter": {"volume": 11}}})


def test_a_table_for_an_unknown_plugin_is_refused() -> None:
    """A [plugins.<name>] table for no installed plugin is an error naming it."""
    with pytest.raises(ConfigError, match=r"plugins\.nobody: no plugin named 'nobody' is installed"):
        _greeter_runtime({"plugins": {"nobody": {"x": 1}}})


def test_a_table_for_a_plugin_without_settings_is_refused() -> None:
    """Settings for a plugin that takes none are an error."""
    with pytest.raises(ConfigError, match=r"plugins\.memory_store: plugin 'memory_store' takes no settings"):
        _greeter_runtime({"plugins": {"memory_store": {"x": 1}}})


def test_register_workspace_is_the_configured_workspace(tmp_path: Path) -> None:
    """register.workspace is the configuration's workspace, resolved."""
    greeter, runtime = _greeter_runtime({"workspace": str(tmp_path)})
    assert greeter.workspace == tmp_path.resolve() == runtime.workspace


def test_enable_and_disable_map_onto_plugin_loading(tmp_path: Path) -> None:
    """[plugins] enable / disable choose which entry points load."""
    runtime = Runtime(
        {"plugins": {"enable": ["echo", "standard", "memory_store", "inline_effects"], "disable": ["echo"]}},
        environ={},
    )
    assert sorted(runtime.loaded.plugins) == ["inline_effects", "memory_store", "standard"]


def test_enable_naming_an_uninstalled_plugin_is_an_error() -> None:
    """`enable` naming a plugin that is not installed names the index."""
    with pytest.raises(ConfigError, match=r"plugins\.enable\[1\]: no installed plugin is named 'ghost'"):
        Runtime({"plugins": {"enable": ["echo", "ghost"]}}, environ={})


def test_a_table_for_a_disabled_plugin_is_allowed() -> None:
    """Disabling a plugin does not make its settings table an error."""
    runtime = Runtime({"plugins": {"disable": ["echo"], "echo": {}}}, environ={})
    assert "echo" not in runtime.loaded.plugins


def test_check_config_reports_plugin_and_component_problems_together(tmp_path: Path) -> None:
    """check_config lists problems from every layer at once."""
    text = ECHO + '[store]\ntype = "sqlite"\nsettings = { durability = 1 }\n' + "[plugins.ghost]\nx = 1\n"
    _, problems = check_config(_write(tmp_path, text), environ=_env(tmp_path))
    joined = "\n".join(problems)
    assert "plugins.ghost: no plugin named 'ghost' is installed" in joined
    assert "store.settings.durability: invalid value" in joined


def test_the_config_repr_hides_resolved_secrets(tmp_path: Path) -> None:
    """repr(RuntimeConfig) shows `[redacted]` instead of a resolved secret."""
    config = load_config(
        _write(tmp_path, ECHO + '[providers.default.settings]\nprefix = "$env:PFX"\n'),
        environ=_env(tmp_path, PFX="hidden-value-42"),
    )
    assert "hidden-value-42" not in repr(config) and "[redacted]" in repr(config)
