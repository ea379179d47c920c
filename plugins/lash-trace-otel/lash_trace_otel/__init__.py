"""A lash trace sink that turns trace records into OpenTelemetry spans following the GenAI
semantic conventions: a ``lash.turn`` span per turn with a ``chat <model>`` child per model
call and an ``execute_tool <tool>`` child per tool call."""

from lash_trace_otel.plugin import otel_trace_plugin
from lash_trace_otel.settings import OtelTraceSettings
from lash_trace_otel.sink import OtelTraceSink, force_flush_all

__all__ = ["OtelTraceSettings", "OtelTraceSink", "force_flush_all", "otel_trace_plugin"]
