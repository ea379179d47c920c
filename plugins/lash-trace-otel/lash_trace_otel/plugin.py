"""Entry point of the ``otel`` trace sink plugin, and a plugin object for an injected provider."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from lash_hookspecs import hookimpl
from lash_trace_otel.settings import OtelTraceSettings
from lash_trace_otel.sink import OtelTraceSink

__all__ = ["otel_trace_plugin", "register_trace_sinks"]

_DESCRIPTION = "OpenTelemetry spans (GenAI semantic conventions)"


@hookimpl
def register_trace_sinks(register: Any) -> None:
    """Register the ``otel`` trace sink (its exporter chosen by its settings)."""
    register("otel", OtelTraceSink, settings=OtelTraceSettings, description=_DESCRIPTION)


def otel_trace_plugin(tracer_provider: trace.TracerProvider, *, name: str = "otel") -> object:
    """A plugin object registering trace sink type ``name`` whose sinks send their spans to
    ``tracer_provider`` (the host's: it owns exporting and flushing). Pass it in
    ``Runtime(..., plugins=[...])`` and configure ``trace_sinks = [{type = "<name>"}]``; the
    settings still apply (``provider_names``). When entry points are loaded, choose a ``name``
    other than ``otel``, which the installed entry point already registers.
    """

    class OtelTracePlugin:
        lash_plugin_name = f"lash-trace-otel-{name}"

        @hookimpl
        def register_trace_sinks(self, register: Any) -> None:
            register(
                name,
                lambda settings: OtelTraceSink(settings, tracer_provider=tracer_provider),
                settings=OtelTraceSettings,
                description=f"{_DESCRIPTION}, to an injected tracer provider",
            )

    return OtelTracePlugin()
