"""The ``otel`` trace sink: lash trace records become OpenTelemetry spans."""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.trace import Span, Status, StatusCode

from lash_trace_otel import attributes as a
from lash_trace_otel.mapping import SpanPlan, llm_call_span, tool_call_span, turn_end, turn_event, turn_span
from lash_trace_otel.settings import OtelTraceSettings, build_tracer_provider

__all__ = ["INSTRUMENTATION_NAME", "OtelTraceSink", "force_flush_all"]

INSTRUMENTATION_NAME = "lash_trace_otel"
log = logging.getLogger("lash.tracing.otel")

try:
    _VERSION: str | None = version("lash-trace-otel")
except PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
    _VERSION = None


_OWNING_SINKS: weakref.WeakSet[OtelTraceSink] = weakref.WeakSet()


def force_flush_all(timeout_millis: int = 30_000) -> bool:
    """Force-flush the providers of every live sink that made its own (``console`` and
    ``otlp`` exporters), e.g. before a short-lived process exits; ``True`` when all finished
    in time. For sinks built from a runtime configuration, whose objects the host does not hold."""
    return all([sink.force_flush(timeout_millis) for sink in list(_OWNING_SINKS)])


class OtelTraceSink:
    """A lash trace sink making OpenTelemetry spans (see the package README for the mapping).

    Spans go to ``tracer_provider`` when one is given (the host owns it: its processors,
    exporters and flushing), else to a provider built from ``settings``: none for the
    ``none`` exporter (the sink is then inert), the process-wide provider for ``global``,
    or one the sink owns for ``console`` and ``otlp`` (flush it with :meth:`force_flush`,
    close it with :meth:`shutdown`).

    A ``lash.turn`` span is opened by ``turn_started`` and ended by ``turn_completed``; it is
    a child of the span current when the turn starts (the host's own span, if any). Model and
    tool calls become its children, with start times computed from the record timestamp
    minus the recorded duration. ``append`` never raises; :meth:`flush` does nothing.
    At most ``max_open_turns`` turn spans are kept open: past that the oldest is ended with
    ``lash.turn.unfinished = true`` (turns whose ``turn_completed`` never came).
    """

    def __init__(
        self,
        settings: OtelTraceSettings | None = None,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        max_open_turns: int = 1024,
    ) -> None:
        self.settings = settings or OtelTraceSettings()
        self._owned: SdkTracerProvider | None = None
        provider: trace.TracerProvider | None
        if tracer_provider is not None:
            self.settings.validate()
            provider = tracer_provider
        elif self.settings.exporter == "global":
            self.settings.validate()
            provider = trace.get_tracer_provider()
        else:
            provider = self._owned = build_tracer_provider(self.settings)
        self.tracer_provider = provider
        self._tracer = provider.get_tracer(INSTRUMENTATION_NAME, _VERSION) if provider is not None else None
        self._max_open_turns = max(1, max_open_turns)
        self._turns: OrderedDict[tuple[str, str], Span] = OrderedDict()
        self._lock = threading.Lock()
        if self._owned is not None:
            _OWNING_SINKS.add(self)

    @property
    def enabled(self) -> bool:
        """Whether records become spans (false for the ``none`` exporter and after :meth:`shutdown`)."""
        return self._tracer is not None

    @property
    def owns_provider(self) -> bool:
        """Whether the sink made its tracer provider (``console`` and ``otlp``) and so flushes it."""
        return self._owned is not None

    @property
    def open_turns(self) -> int:
        """How many turn spans are open (started, not yet completed)."""
        with self._lock:
            return len(self._turns)

    def append(self, record: dict[str, Any]) -> None:
        """Turn one record into spans or span events. Never raises: a record that cannot be
        mapped is logged and dropped."""
        if self._tracer is None:
            return
        try:
            with self._lock:
                self._handle(self._tracer, record)
        except Exception:
            kind = record.get("type") if isinstance(record, Mapping) else type(record).__name__
            log.warning("the otel trace sink dropped a %r record", kind, exc_info=True)

    def flush(self) -> None:
        """Nothing: exporting and flushing spans is the tracer provider's job. A host that
        passed its own provider flushes it; a sink-owned provider is flushed by
        :meth:`force_flush` (and, at interpreter exit, by the SDK)."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export the spans the sink-owned provider still holds; ``True`` when done in time.
        A no-op returning ``True`` when the provider is not the sink's."""
        if self._owned is None:
            return True
        return self._owned.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """End open turn spans as unfinished, then shut the sink-owned provider down (its
        exporters flush). The sink is inert afterwards."""
        with self._lock:
            self._end_open_turns()
            self._tracer = None
        if self._owned is not None:
            _OWNING_SINKS.discard(self)
            self._owned.shutdown()

    def _handle(self, tracer: trace.Tracer, record: Mapping[str, Any]) -> None:
        kind = record.get("type")
        key = (str(record.get("session_id")), str(record.get("turn_id")))
        if kind == "turn_started":
            stale = self._turns.pop(key, None)
            if stale is not None:  # started again (a re-run of the same turn): close the old span
                self._end_unfinished(stale)
            plan = turn_span(record)
            self._turns[key] = tracer.start_span(
                plan.name, kind=plan.kind, attributes=plan.attributes, start_time=plan.start_ns
            )
            while len(self._turns) > self._max_open_turns:
                _, oldest = self._turns.popitem(last=False)
                self._end_unfinished(oldest)
        elif kind == "turn_completed":
            span = self._turns.pop(key, None)
            if span is None:
                return
            end = turn_end(record)
            span.set_attributes(end.attributes)
            if end.error is not None:
                span.set_status(Status(StatusCode.ERROR, end.error))
            span.end(end_time=end.end_ns)
        elif kind == "llm_call":
            self._child(tracer, key, llm_call_span(record, self.settings.provider_names))
        elif kind == "tool_call":
            self._child(tracer, key, tool_call_span(record))
        else:
            turn = self._turns.get(key)
            if turn is not None:
                event = turn_event(record)
                turn.add_event(event.name, event.attributes, timestamp=event.timestamp_ns)

    def _child(self, tracer: trace.Tracer, key: tuple[str, str], plan: SpanPlan) -> None:
        parent = self._turns.get(key)
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = tracer.start_span(
            plan.name, context=context, kind=plan.kind, attributes=plan.attributes, start_time=plan.start_ns
        )
        if plan.error is not None:
            span.set_status(Status(StatusCode.ERROR, plan.error))
        span.end(end_time=plan.end_ns)

    def _end_unfinished(self, span: Span) -> None:
        span.set_attribute(a.LASH_TURN_UNFINISHED, True)
        span.end()

    def _end_open_turns(self) -> None:
        while self._turns:
            _, span = self._turns.popitem(last=False)
            self._end_unfinished(span)
