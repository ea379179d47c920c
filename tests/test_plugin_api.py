"""Plugin API compatibility: a plugin declares the range it supports; others are refused at load."""

from __future__ import annotations

from typing import Any

import pytest

from lash_core.errors import PluginIncompatibleError
from lash_core.plugins.api import PLUGIN_API_VERSION, check_plugin_api
from lash_core.plugins.manager import create_plugin_manager
from lash_core.plugins.registry import build_registry
from lash_hookspecs import hookimpl


class _Provider:
    """A plugin registering one provider, with an optional API range."""

    def __init__(self, name: str, api: str | None) -> None:
        self.lash_plugin_name = name
        if api is not None:
            self.LASH_PLUGIN_API = api

    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(self.lash_plugin_name, lambda settings=None: object())


def test_compatible_range_is_accepted() -> None:
    """A range containing the running version passes the check."""
    check_plugin_api("good", _Provider("good", f">={PLUGIN_API_VERSION},<99"))


def test_undeclared_range_is_accepted() -> None:
    """A plugin without LASH_PLUGIN_API is assumed compatible."""
    check_plugin_api("plain", _Provider("plain", None))


def test_incompatible_range_names_plugin_range_and_running_version() -> None:
    """The refusal names the plugin, its range and the running version."""
    with pytest.raises(PluginIncompatibleError) as info:
        check_plugin_api("future", _Provider("future", ">=2,<3"), running="1.0")
    message = str(info.value)
    assert "'future'" in message and ">=2,<3" in message and "1.0" in message


def test_unreadable_range_is_refused_with_a_hint() -> None:
    """A declaration that is not a version range is refused, saying what a range looks like."""
    with pytest.raises(PluginIncompatibleError, match="not a version range"):
        check_plugin_api("typo", _Provider("typo", "version one"))


def test_incompatible_plugin_is_reported_and_others_keep_working() -> None:
    """An incompatible plugin is not registered; a compatible one next to it is."""
    loaded = create_plugin_manager(
        plugins={"old": _Provider("old", ">=0.1,<1"), "good": _Provider("good", ">=1,<2")},
        load_entry_points=False,
    )
    registry = build_registry(loaded)
    assert sorted(registry.components["providers"]) == ["good"]
    assert [error.plugin for error in loaded.errors] == ["old"]
    assert isinstance(loaded.errors[0].error, PluginIncompatibleError)
    assert "supports lash plugin API >=0.1,<1" in str(loaded.errors[0])
