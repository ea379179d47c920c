"""What ``lash plugins`` prints: each plugin, its version, its hooks and what it registered."""

from __future__ import annotations

from typing import Any

from lash_core.plugins.manager import LoadedPlugins
from lash_core.plugins.registry import Registry

__all__ = ["plugins_report"]


def plugins_report(loaded: LoadedPlugins, registry: Registry) -> list[dict[str, Any]]:
    """One entry per plugin (sorted by name); plugins that failed carry an ``error``."""
    report = []
    errors = {error.plugin: error for error in registry.errors}
    for name, info in sorted(loaded.plugins.items()):
        entry: dict[str, Any] = {
            "name": name,
            "version": info.version,
            "distribution": info.distribution,
            "module": info.module,
            "hooks": loaded.hooks_of(name),
            "registered": registry.registered_by(name),
        }
        if name in errors:
            entry["error"] = str(errors[name])
        report.append(entry)
    for name, error in sorted(errors.items()):
        if name not in loaded.plugins:
            report.append({"name": name, "error": str(error), "hooks": [], "registered": {}})
    return report
