"""The plugin API version of lash-core, and the check of what a plugin supports.

A plugin declares the range of plugin API versions it works with as a module (or
object) attribute, in PEP 440 specifier syntax::

    LASH_PLUGIN_API = ">=1.0,<2"

A plugin whose range excludes the running version is refused when it loads, with a
message naming the plugin, its range and the running version; the other plugins keep
working. A plugin without the attribute is assumed compatible. The major version rises
when a hook or a contract changes incompatibly; the minor version when one is added.
"""

from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from lash_core.errors import PluginIncompatibleError

__all__ = ["PLUGIN_API_ATTRIBUTE", "PLUGIN_API_VERSION", "check_plugin_api"]

PLUGIN_API_VERSION = "1.0"
PLUGIN_API_ATTRIBUTE = "LASH_PLUGIN_API"


def check_plugin_api(name: str, plugin: object, running: str = PLUGIN_API_VERSION) -> None:
    """Raise :class:`PluginIncompatibleError` when ``plugin`` declares a range that excludes
    ``running`` (or declares one that cannot be read)."""
    declared = getattr(plugin, PLUGIN_API_ATTRIBUTE, None)
    if declared is None:
        return
    try:
        supported = SpecifierSet(str(declared))
    except InvalidSpecifier as exc:
        raise PluginIncompatibleError(
            f"plugin {name!r} declares {PLUGIN_API_ATTRIBUTE} = {declared!r}, which is not a version range "
            f"such as '>=1.0,<2' ({exc}); fix the plugin's declaration"
        ) from exc
    if Version(running) not in supported:
        raise PluginIncompatibleError(
            f"plugin {name!r} supports lash plugin API {declared}, but this lash-core provides {running}; "
            "install a version of the plugin made for this lash-core, or a lash-core the plugin supports"
        )
