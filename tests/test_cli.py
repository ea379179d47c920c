"""The ``lash`` command line (kernel part)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from lash_core.cli import main


def _report(env: dict[str, str] | None = None) -> dict[str, dict]:
    result = CliRunner().invoke(main, ["plugins"], env=env)
    assert result.exit_code == 0, result.output
    return {entry["name"]: entry for entry in json.loads(result.output)}


def test_plugins_lists_the_defaults_with_what_they_registered() -> None:
    """`lash plugins` lists the standard protocol, memory store, inline host and echo provider."""
    report = _report()
    assert report["standard"]["registered"] == {"protocols": ["standard"]}
    assert report["memory_store"]["registered"] == {"stores": ["memory"]}
    assert report["inline_effects"]["registered"] == {"effect_hosts": ["inline"]}
    assert report["echo"]["registered"] == {"providers": ["echo"]}
    assert report["standard"]["hooks"] == ["register_protocols"]
    assert report["echo"]["version"] == "0.1.0"


def test_plugins_honours_lash_load_plugins() -> None:
    """LASH_LOAD_PLUGINS restricts what `lash plugins` loads."""
    report = _report({"LASH_LOAD_PLUGINS": "echo,standard"})
    assert sorted(report) == ["echo", "standard"]


def test_plugins_honours_lash_disable_plugins() -> None:
    """LASH_DISABLE_PLUGINS drops the named plugins."""
    report = _report({"LASH_DISABLE_PLUGINS": "echo"})
    assert "echo" not in report
    assert "standard" in report
