"""The installed plugin: lash finds it through its entry point, loads it and lists what it
registered, and the plugin API it declares admits the running lash-core."""

from __future__ import annotations

import importlib.metadata

from lash_core.plugins.api import PLUGIN_API_VERSION
from lash_core.plugins.manager import create_plugin_manager
from lash_core.plugins.registry import build_registry
from lash_core.plugins.report import plugins_report
from packaging.specifiers import SpecifierSet

from {{ cookiecutter.package_name }} import plugin

NAME = "{{ cookiecutter.entry_point_name }}"
DISTRIBUTION = "{{ cookiecutter.dist_name }}"
{%- if cookiecutter.kind == "tool" %}
HOOKS = ["register_tools"]
REGISTERED = {"tools": [NAME]}
{%- elif cookiecutter.kind == "provider" %}
HOOKS = ["register_providers"]
REGISTERED = {"providers": [NAME]}
{%- elif cookiecutter.kind == "store" %}
HOOKS = ["register_stores"]
REGISTERED = {"stores": [NAME]}
{%- elif cookiecutter.kind == "protocol" %}
HOOKS = ["register_protocols"]
REGISTERED = {"protocols": [NAME]}
{%- else %}
HOOKS = ["prepare_turn", "restore_state", "snapshot_state", "turn_persisted"]
REGISTERED: dict[str, list[str]] = {}  # turn-phase hooks only: nothing is registered
{%- endif %}


def test_the_entry_point_is_installed() -> None:
    """The distribution declares the plugin in the ``lash`` entry-point group."""
    (entry_point,) = [ep for ep in importlib.metadata.entry_points(group="lash") if ep.name == NAME]
    assert entry_point.value == "{{ cookiecutter.package_name }}.plugin"
    assert entry_point.dist is not None and entry_point.dist.metadata["Name"] == DISTRIBUTION


def test_lash_loads_the_plugin_and_lists_what_it_registered() -> None:
    """What ``lash plugins`` prints for this plugin (only this plugin is loaded here)."""
    loaded = create_plugin_manager(environ={"LASH_LOAD_PLUGINS": NAME})
    registry = build_registry(loaded)
    assert [str(error) for error in registry.errors] == []
    (entry,) = plugins_report(loaded, registry)
    assert entry["name"] == NAME
    assert entry["distribution"] == DISTRIBUTION
    assert entry["hooks"] == HOOKS
    assert entry["registered"] == REGISTERED


def test_the_declared_plugin_api_admits_the_running_lash() -> None:
    """``LASH_PLUGIN_API`` in the plugin module covers the plugin API of this lash-core."""
    assert PLUGIN_API_VERSION in SpecifierSet(plugin.LASH_PLUGIN_API)
