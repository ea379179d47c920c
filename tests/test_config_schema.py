"""The JSON Schema of lash.toml, generated from attrs settings classes."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from attrs import field, frozen
from click.testing import CliRunner

from lash_core.cli import main
from lash_core.config_schema import attrs_schema, build_config_schema


class Mode(enum.Enum):
    """A mode."""

    FAST = "fast"
    SAFE = "safe"


@frozen
class Inner:
    """Nested settings."""

    depth: int = 1


@frozen
class Sample:
    """A sample settings class.

    * ``name``: who it is.
    * ``mode``: how it runs.
    """

    name: str
    mode: Mode = Mode.SAFE
    limit: int | None = None
    tags: tuple[str, ...] = ()
    headers: dict[str, str] = field(factory=dict)
    inner: Inner = field(factory=Inner)
    ratio: float = field(default=0.5, metadata={"description": "a share between 0 and 1"})


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The schema for every installed plugin."""
    return build_config_schema()


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_attrs_types_map_to_json_schema_types() -> None:
    """Strings, enums, optionals, arrays, maps and nested classes get their JSON types."""
    props = attrs_schema(Sample)["properties"]
    assert props["name"]["type"] == "string"
    assert props["mode"] == {
        "enum": ["fast", "safe"],
        "type": "string",
        "default": "safe",
        "description": "how it runs.",
    }
    assert props["limit"]["type"] == ["integer", "null"]
    assert props["tags"]["type"] == "array" and props["tags"]["items"] == {"type": "string"}
    assert props["headers"]["additionalProperties"] == {"type": "string"}
    assert props["inner"]["$ref"] == "#/$defs/Inner"


def test_required_fields_defaults_and_unknown_keys() -> None:
    """Fields without defaults are required, defaults are shown, unknown keys refused."""
    schema = attrs_schema(Sample)
    assert schema["required"] == ["name"]
    assert schema["properties"]["ratio"]["default"] == 0.5
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["Inner"]["additionalProperties"] is False


def test_descriptions_come_from_metadata_and_docstrings() -> None:
    """Metadata wins; otherwise the docstring's ``name``: lines describe fields."""
    schema = attrs_schema(Sample)
    assert schema["description"] == "A sample settings class."
    assert schema["properties"]["name"]["description"] == "who it is."
    assert schema["properties"]["ratio"]["description"] == "a share between 0 and 1"


def test_whole_config_schema_is_a_valid_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    """The generated schema is itself valid."""
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False


def test_component_types_list_what_is_registered(schema: dict[str, Any]) -> None:
    """Each component kind accepts the registered type names."""
    store_types = {c["const"] for c in schema["properties"]["store"]["properties"]["type"]["anyOf"]}
    assert {"memory", "sqlite"} <= store_types
    provider = schema["properties"]["providers"]["additionalProperties"]
    assert "echo" in {c["const"] for c in provider["properties"]["type"]["anyOf"]}


def test_a_valid_configuration_passes(schema: dict[str, Any]) -> None:
    """A configuration the loader accepts validates against the schema."""
    config = {
        "system_prompt": "be brief",
        "model": {"id": "echo-1", "context_window_tokens": 4096},
        "providers": {"default": {"type": "echo", "settings": {"prefix": "> "}}},
        "store": {"type": "sqlite", "settings": {"path": "/tmp/x.db", "durability": "normal"}},
        "trace_sinks": [{"type": "jsonl", "settings": {"directory": "/tmp/traces"}}],
        "plugins": {"disable": ["postgres"]},
    }
    assert list(_validator(schema).iter_errors(config)) == []


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"stroe": {"type": "memory"}}, []),
        (
            {"store": {"type": "sqlite", "settings": {"durability": "fast"}}},
            ["store", "settings", "durability"],
        ),
        ({"store": {"type": "sqlite", "settings": {"pth": "x"}}}, ["store", "settings"]),
        (
            {"providers": {"default": {"type": "echo", "settings": {"prefix": 3}}}},
            ["providers", "default", "settings", "prefix"],
        ),
        ({"model": {"context_window_tokens": 5}}, ["model"]),
        ({"plugins": {"enable": "echo"}}, ["plugins", "enable"]),
        ({"plugins": {"nobody": {}}}, ["plugins"]),
    ],
)
def test_invalid_configurations_fail_at_their_path(
    schema: dict[str, Any], config: dict[str, Any], where: list[str]
) -> None:
    """Unknown keys, wrong types and missing values fail the schema where they are."""
    errors = list(_validator(schema).iter_errors(config))
    assert errors, config
    paths = [list(e.absolute_path) for e in errors] + [
        list(s.absolute_path) for e in errors for s in (e.context or [])
    ]
    assert any(p[: len(where)] == where for p in paths)


def test_plugin_settings_classes_appear_under_plugins() -> None:
    """A plugin asking for settings contributes its class under [plugins.<name>]."""
    from lash_core.config_schema import config_schema
    from lash_core.plugins.manager import create_plugin_manager
    from lash_core.plugins.registry import build_registry
    from lash_hookspecs import hookimpl

    class Plugin:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            register.settings(Sample)

    loaded = create_plugin_manager(plugins={"sampler": Plugin()}, load_entry_points=False)
    schema = config_schema(build_registry(loaded, {"sampler": {"name": "x"}}))
    assert schema["properties"]["plugins"]["properties"]["sampler"] == {"$ref": "#/$defs/Sample"}
    validator = _validator(schema)
    assert not list(validator.iter_errors({"plugins": {"sampler": {"name": "n", "mode": "fast"}}}))
    assert list(validator.iter_errors({"plugins": {"sampler": {"name": "n", "mode": "slow"}}}))


def test_lash_config_schema_prints_the_schema() -> None:
    """`lash config schema` prints the JSON Schema."""
    result = CliRunner().invoke(main, ["config", "schema"])
    assert result.exit_code == 0
    printed = json.loads(result.stdout)
    assert printed["title"] == "lash.toml" and "store" in printed["properties"]


def test_lash_config_check_accepts_a_valid_file(tmp_path: Path) -> None:
    """`lash config check FILE` exits 0 for a valid file."""
    path = tmp_path / "lash.toml"
    path.write_text('[model]\nid = "e"\n[providers.default]\ntype = "echo"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "check", str(path)], env={"LASH_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "is valid" in result.stdout


def test_lash_config_check_lists_each_problem_with_its_key_path(tmp_path: Path) -> None:
    """`lash config check FILE` exits 1 and names every bad key."""
    path = tmp_path / "lash.toml"
    path.write_text(
        'max_turns = "x"\n[model]\nid = "e"\n[providers.default]\ntype = "echo"\nsettings = { prefx = "a" }\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["config", "check", str(path)], env={"LASH_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "max_turns: expected an integer, found a string" in result.stderr


def test_lash_config_check_names_component_settings_keys(tmp_path: Path) -> None:
    """Settings of a registered component are checked too, by full key path."""
    path = tmp_path / "lash.toml"
    path.write_text(
        '[model]\nid = "e"\n[providers.default]\ntype = "echo"\nsettings = { prefx = "a" }\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["config", "check", str(path)], env={"LASH_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "providers.default.settings.prefx: unknown key (allowed keys: prefix)" in result.stderr
