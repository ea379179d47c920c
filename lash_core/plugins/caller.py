"""The async-aware hook caller.

pluggy cannot await, so the kernel calls hook implementations itself: in pluggy's order
(last registered first, ``tryfirst``/``trylast`` honoured), passing each implementation
only the arguments it declares, awaiting awaitables, then applying the hook's calling
convention. Implementation lists are cached per hook; the cache is rebuilt when the
plugin set changes.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pluggy
from attrs import frozen

from lash_core.errors import HookError, PluginRegistrationError

__all__ = ["HookCaller", "HookImpl"]

log = logging.getLogger("lash.plugins")


@frozen
class HookImpl:
    """One implementation of a hook: the plugin's name, the function and its argument names."""

    plugin: str
    function: Callable[..., Any]
    argnames: tuple[str, ...]

    def call(self, kwargs: dict[str, Any]) -> Any:
        """Call the implementation with the arguments it declares."""
        return self.function(*[kwargs[name] for name in self.argnames])


class HookCaller:
    """Calls turn-phase hooks of one plugin manager with their calling conventions."""

    def __init__(self, pm: pluggy.PluginManager, *, trace: bool = False) -> None:
        self._pm = pm
        self._trace = trace
        self._cache: dict[str, tuple[HookImpl, ...]] = {}

    def invalidate(self) -> None:
        """Forget cached implementation lists (call after registering or removing plugins)."""
        self._cache.clear()

    def impls(self, hook: str) -> tuple[HookImpl, ...]:
        """The implementations of ``hook`` in calling order."""
        cached = self._cache.get(hook)
        if cached is None:
            cached = self._cache[hook] = self._collect(hook)
        return cached

    def has(self, hook: str) -> bool:
        """True when at least one plugin implements ``hook``."""
        return bool(self.impls(hook))

    def _collect(self, hook: str) -> tuple[HookImpl, ...]:
        caller = getattr(self._pm.hook, hook, None)
        if caller is None:
            return ()
        found = []
        for impl in reversed(caller.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                raise PluginRegistrationError(
                    f"plugin {impl.plugin_name!r} implements {hook!r} as a hook wrapper; lash calls "
                    "turn-phase hooks itself and does not support wrappers: implement a plain hook"
                )
            found.append(HookImpl(impl.plugin_name, impl.function, tuple(impl.argnames)))
        return tuple(found)

    def _note(self, hook: str, impl: HookImpl) -> None:
        if self._trace:
            print(f"lash: hook {hook} -> {impl.plugin}", file=sys.stderr)

    async def _call(self, hook: str, impl: HookImpl, kwargs: dict[str, Any]) -> Any:
        self._note(hook, impl)
        try:
            result = impl.call(kwargs)
            if inspect.isawaitable(result):
                result = await result
        except HookError:
            raise
        except Exception as exc:
            raise HookError(impl.plugin, hook, exc) from exc
        return result

    async def collect(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Run every implementation; return ``(plugin, result)`` for each non-None result.

        An exception is raised as :class:`HookError` naming the plugin and the hook.
        """
        results = []
        for impl in self.impls(hook):
            result = await self._call(hook, impl, kwargs)
            if result is not None:
                results.append((impl.plugin, result))
        return results

    async def first(self, hook: str, **kwargs: Any) -> tuple[str, Any] | None:
        """Run implementations until one returns non-None; return ``(plugin, result)``."""
        for impl in self.impls(hook):
            result = await self._call(hook, impl, kwargs)
            if result is not None:
                return impl.plugin, result
        return None

    async def pipeline(self, hook: str, value_arg: str, value: Any, **kwargs: Any) -> Any:
        """Chain implementations: each receives the previous output as ``value_arg``
        (``None`` keeps the value as it was)."""
        for impl in self.impls(hook):
            kwargs[value_arg] = value
            result = await self._call(hook, impl, kwargs)
            if result is not None:
                value = result
        return value

    async def observe(self, hook: str, **kwargs: Any) -> list[HookError]:
        """Run every implementation; log and return errors instead of raising them."""
        errors = []
        for impl in self.impls(hook):
            try:
                await self._call(hook, impl, kwargs)
            except HookError as exc:
                log.error("%s", exc, exc_info=exc.error)
                errors.append(exc)
        return errors

    def collect_sync(self, hook: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """Run every implementation of a synchronous hook; yield ``(plugin, result)`` for all.

        An exception is raised as :class:`HookError`.
        """
        for impl in self.impls(hook):
            self._note(hook, impl)
            try:
                result = impl.call(kwargs)
            except Exception as exc:
                raise HookError(impl.plugin, hook, exc) from exc
            if inspect.isawaitable(result):
                _discard(result)
                raise HookError(impl.plugin, hook, TypeError(f"{hook} must not be async"))
            yield impl.plugin, result

    def call_each_sync(self, hook: str, per_plugin: Callable[[str], dict[str, Any]]) -> list[HookError]:
        """Run every implementation of a synchronous observer hook with per-plugin arguments;
        log and return errors."""
        errors = []
        for impl in self.impls(hook):
            self._note(hook, impl)
            try:
                result = impl.call(per_plugin(impl.plugin))
                if inspect.isawaitable(result):
                    _discard(result)
                    raise TypeError(f"{hook} must not be async")
            except Exception as exc:
                error = HookError(impl.plugin, hook, exc)
                log.error("%s", error, exc_info=exc)
                errors.append(error)
        return errors


def _discard(awaitable: Any) -> None:
    """Close an awaitable a synchronous hook returned, so it is not reported as never awaited."""
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
