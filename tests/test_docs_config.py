"""The configuration docs are executable: every TOML block loads, every key is documented,
and the quickstart's commands run offline."""

from __future__ import annotations

import re
import shlex
import tomllib
import typing
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from click.testing import CliRunner

from lash_core.cli import main
from lash_core.config import RuntimeConfig
from lash_core.config_file import check_config
from lash_core.config_schema import build_config_schema
from lash_core.plugins.manager import create_plugin_manager
from lash_core.plugins.registry import Registry, build_registry

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def blocks(doc: str, language: str) -> list[str]:
    """The fenced blocks of ``language`` in ``docs/<doc>``."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang == language]


TOML_BLOCKS = [
    pytest.param(doc, index, body, id=f"{doc}[{index}]")
    for doc in ("configuration.md", "quickstart.md")
    for index, body in enumerate(blocks(doc, "toml"))
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    """What every installed plugin registers."""
    return build_registry(create_plugin_manager(environ={}))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The configuration's JSON Schema."""
    return build_config_schema()


def _environment(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "backup.key").write_text("backup-key\n", encoding="utf-8")
    return {
        "LASH_DATA_DIR": str(tmp_path / "data"),
        "OPENAI_API_KEY": "sk-docs-test",
        "ANTHROPIC_API_KEY": "sk-ant-docs-test",
        "LASH_POSTGRES_DSN": "postgresql://lash@localhost:5432/lash",
    }


def test_the_docs_have_toml_examples() -> None:
    """Both pages hold TOML examples (the extraction works)."""
    assert len(blocks("configuration.md", "toml")) >= 8
    assert len(blocks("quickstart.md", "toml")) >= 2


@pytest.mark.parametrize(("doc", "index", "body"), TOML_BLOCKS)
def test_toml_example_is_a_valid_configuration(
    doc: str, index: int, body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry
) -> None:
    """Each TOML block of the docs passes `lash config check` (loader, plugins, components)."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "lash.toml"
    path.write_text(body, encoding="utf-8")
    _, problems = check_config(path, environ=_environment(tmp_path), cwd=tmp_path)
    assert problems == [], f"{doc} TOML block {index}:\n{body}"


@pytest.mark.parametrize(("doc", "index", "body"), TOML_BLOCKS)
def test_toml_example_matches_the_json_schema(
    doc: str, index: int, body: str, schema: dict[str, Any]
) -> None:
    """Each TOML block validates against the generated JSON Schema too."""
    data = tomllib.loads(body)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    assert errors == [], [e.message for e in errors]


def _settings_classes(registry: Registry) -> dict[str, type]:
    found: dict[str, type] = {}
    for kind in registry.components.values():
        for name, registration in kind.items():
            if registration.settings is not None:
                found[name] = registration.settings
    for plugin, cls in registry.plugin_settings.items():
        found[f"plugins.{plugin}"] = cls
    return found


def _field_names(cls: type, seen: set[type] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if cls in seen:
        return set()
    seen.add(cls)
    names = set()
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        names.add(field.name)
        declared = hints.get(field.name)
        if isinstance(declared, type) and attrs.has(declared):
            names |= _field_names(declared, seen)
    return names


def test_every_registered_type_and_settings_key_is_documented(registry: Registry) -> None:
    """configuration.md names every registered type and every key of its settings."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [
        f"{kind}: {name}"
        for kind, names in registry.components.items()
        for name in names
        if f"`{name}`" not in text
    ]
    for owner, cls in _settings_classes(registry).items():
        missing += [f"{owner}.{key}" for key in sorted(_field_names(cls)) if f"`{key}`" not in text]
    assert missing == []


def test_every_top_level_key_is_documented() -> None:
    """configuration.md lists every top-level key of the runtime configuration."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    names = [
        f.name for f in attrs.fields(RuntimeConfig) if f.name not in ("enable_plugins", "disable_plugins")
    ]
    assert [n for n in names if f"`{n}`" not in text] == []
    assert "`enable`" in text and "`disable`" in text


def _quickstart_commands() -> list[str]:
    return [
        line.strip()
        for body in blocks("quickstart.md", "sh")
        for line in body.splitlines()
        if line.startswith("lash ")
    ]


def test_quickstart_shell_commands_run_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The quickstart's `lash` commands succeed, in order, with its echo configuration."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lash.toml").write_text(blocks("quickstart.md", "toml")[0], encoding="utf-8")
    env = {"LASH_DATA_DIR": str(tmp_path / "data"), "LASH_CONFIG": None, "NO_COLOR": "1"}
    commands = _quickstart_commands()
    assert len(commands) >= 8
    outputs = {}
    for command in commands:
        result = CliRunner().invoke(main, shlex.split(command)[1:], env=env)
        assert result.exit_code == 0, f"{command}\n{result.output}"
        outputs[command] = result.stdout
    assert "echo: hello there" in outputs['lash run --session first "hello there"']
    assert "model call echo-1" in outputs["lash trace show first"]
    assert (tmp_path / ".lash" / "traces" / "first.jsonl").is_file()


def test_quickstart_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """The quickstart's Python example composes from its lash.toml and runs a turn."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LASH_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "lash.toml").write_text(blocks("quickstart.md", "toml")[0], encoding="utf-8")
    exec(compile(blocks("quickstart.md", "python")[0], "quickstart.md", "exec"), {"__name__": "quickstart"})
    assert capsys.readouterr().out.strip() == "echo: hello from code"
