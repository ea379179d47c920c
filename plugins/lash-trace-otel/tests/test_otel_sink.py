"""The sink on hand-made records: span tree, explicit times, odd record orders, exporters, settings."""

from __future__ import annotations

import http.server
import importlib.util
import logging
import threading
from typing import Any, ClassVar

import pytest
from lash_trace_otel import OtelTraceSettings, OtelTraceSink, force_flush_all
from lash_trace_otel import plugin as otel_plugin
from lash_trace_otel.settings import build_tracer_provider, traces_url
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from lash_core.errors import ConfigError

MS = 1_000_000
T = 1_700_000_000_000


def record(kind: str, at: int = 0, turn_id: str | None = "t1", **fields: Any) -> dict[str, Any]:
    """A record ``at`` ms after ``T``."""
    return {
        "schema_version": 1,
        "id": f"{turn_id}:{kind}:{at}",
        "timestamp_ms": T + at,
        "session_id": "s1",
        "turn_id": turn_id,
        "type": kind,
        **fields,
    }


def one_turn(turn_id: str = "t1") -> list[dict[str, Any]]:
    """The records of a turn with a tool call: 0 ms start, model 0-400, tool 400-650, model 650-950, end 960."""
    usage = {"input_tokens": 10, "output_tokens": 5}
    return [
        record("turn_started", 0, turn_id, input_item_count=1),
        record("prompt_built", 0, turn_id, prompt_hash="h", prompt_chars=3, tool_count=1, message_count=1),
        record("llm_call", 400, turn_id, model="m", provider="p", duration_ms=400, usage=usage),
        record("tool_call", 650, turn_id, name="weather", call_id="c1", duration_ms=250, outcome="success"),
        record("llm_call", 950, turn_id, model="m", provider="p", duration_ms=300, usage=usage),
        record("turn_completed", 960, turn_id, status="completed", done_reason="assistant_message"),
    ]


def by_name(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    """Finished spans grouped by name."""
    grouped: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        grouped.setdefault(span.name, []).append(span)
    return grouped


def registered_factory() -> tuple[Any, type]:
    """The factory and settings class the entry-point module registers for ``otel``."""
    found: dict[str, Any] = {}

    def register(name: str, factory: Any, *, settings: type, description: str = "") -> None:
        found[name] = (factory, settings)

    otel_plugin.register_trace_sinks(register)
    factory, settings = found["otel"]
    return factory, settings


def test_a_turn_becomes_a_parent_span_with_model_and_tool_children(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """One trace: lash.turn at the root, two chat spans and one execute_tool span under it."""
    sink = OtelTraceSink(tracer_provider=tracer_provider)
    for item in one_turn():
        sink.append(item)
    spans = by_name(exporter.get_finished_spans())
    (turn,) = spans["lash.turn"]
    first, second = spans["chat m"]
    (tool,) = spans["execute_tool weather"]
    assert turn.parent is None
    assert turn.context is not None
    for child in (first, second, tool):
        assert child.parent is not None
        assert child.parent.span_id == turn.context.span_id
        assert child.context is not None and child.context.trace_id == turn.context.trace_id
    assert (turn.start_time, turn.end_time) == (T * MS, (T + 960) * MS)
    assert (first.start_time, first.end_time) == (T * MS, (T + 400) * MS)
    assert (tool.start_time, tool.end_time) == ((T + 400) * MS, (T + 650) * MS)
    assert (second.start_time, second.end_time) == ((T + 650) * MS, (T + 950) * MS)
    assert [event.name for event in turn.events] == ["lash.prompt_built"]
    assert turn.events[0].timestamp == T * MS
    assert turn.status.status_code is StatusCode.UNSET
    assert sink.open_turns == 0


def test_interleaved_turns_of_two_sessions_keep_their_own_parents(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Records of two turns arriving interleaved are parented by turn id."""
    sink = OtelTraceSink(tracer_provider=tracer_provider)
    for a, b in zip(one_turn("a"), one_turn("b"), strict=True):
        sink.append(a)
        sink.append(b)
    spans = exporter.get_finished_spans()
    turns = {span.attributes["lash.turn.id"]: span for span in spans if span.name == "lash.turn"}  # type: ignore[index]
    assert set(turns) == {"a", "b"}
    for span in spans:
        if span.name != "lash.turn":
            owner = turns[span.attributes["lash.turn.id"]]  # type: ignore[index]
            assert span.parent is not None and owner.context is not None
            assert span.parent.span_id == owner.context.span_id


def test_failed_turn_and_failed_tool_have_error_status(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """status failed -> ERROR described by the done reason; tool outcome failure -> ERROR."""
    sink = OtelTraceSink(tracer_provider=tracer_provider)
    sink.append(record("turn_started"))
    sink.append(record("tool_call", 5, name="t", call_id="c", duration_ms=5, outcome="failure"))
    sink.append(record("turn_completed", 6, status="failed", done_reason="tool_failure"))
    spans = by_name(exporter.get_finished_spans())
    (tool,) = spans["execute_tool t"]
    (turn,) = spans["lash.turn"]
    assert tool.status.status_code is StatusCode.ERROR
    assert turn.status.status_code is StatusCode.ERROR
    assert turn.status.description == "tool_failure"
    assert turn.attributes is not None and turn.attributes["error.type"] == "tool_failure"


def test_steps_without_an_open_turn_are_root_spans(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A model call of a session-level step (no turn) still makes a span; a lone turn_completed or
    custom record makes none."""
    sink = OtelTraceSink(tracer_provider=tracer_provider)
    sink.append(record("llm_call", 10, turn_id=None, model="m", duration_ms=10))
    sink.append(record("turn_completed", 20, status="completed", done_reason="assistant_message"))
    sink.append(record("custom", 30, turn_id=None, name="queued_work.claimed"))
    (span,) = exporter.get_finished_spans()
    assert span.name == "chat m"
    assert span.parent is None


def test_turn_span_is_a_child_of_the_current_host_span(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """When the host runs the turn inside its own span, the turn nests under it."""
    sink = OtelTraceSink(tracer_provider=tracer_provider)
    with tracer_provider.get_tracer("host").start_as_current_span("http request") as host:
        for item in one_turn():
            sink.append(item)
    (turn,) = by_name(exporter.get_finished_spans())["lash.turn"]
    assert turn.parent is not None
    assert turn.parent.span_id == host.get_span_context().span_id


def test_a_restarted_turn_ends_the_stale_span_as_unfinished(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """turn_started twice for one turn id: the first span ends, marked unfinished."""
    sink = OtelTraceSink(tracer_provider=tracer_provider)
    sink.append(record("turn_started"))
    sink.append(record("turn_started", 100))
    sink.append(record("turn_completed", 200, status="completed", done_reason="assistant_message"))
    stale, fresh = exporter.get_finished_spans()
    assert stale.attributes is not None and stale.attributes["lash.turn.unfinished"] is True
    assert fresh.attributes is not None and "lash.turn.unfinished" not in fresh.attributes
    assert fresh.start_time == (T + 100) * MS


def test_open_turns_are_bounded(tracer_provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    """Past ``max_open_turns`` the oldest open turn span is ended as unfinished."""
    sink = OtelTraceSink(tracer_provider=tracer_provider, max_open_turns=2)
    for turn_id in ("a", "b", "c"):
        sink.append(record("turn_started", turn_id=turn_id))
    (evicted,) = exporter.get_finished_spans()
    assert evicted.attributes is not None
    assert evicted.attributes["lash.turn.id"] == "a"
    assert evicted.attributes["lash.turn.unfinished"] is True
    assert sink.open_turns == 2


def test_shutdown_ends_open_turns_and_makes_the_sink_inert(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Open turns end as unfinished; later records are ignored."""
    sink = OtelTraceSink(tracer_provider=tracer_provider)
    sink.append(record("turn_started"))
    sink.shutdown()
    assert not sink.enabled
    sink.append(record("llm_call", 5, model="m", duration_ms=1))
    (span,) = exporter.get_finished_spans()
    assert span.name == "lash.turn"
    assert span.attributes is not None and span.attributes["lash.turn.unfinished"] is True


class ExplodingTracer(trace.NoOpTracer):
    """A tracer whose spans cannot be started."""

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        raise RuntimeError("tracer on fire")


class ExplodingProvider(trace.NoOpTracerProvider):
    """Hands out :class:`ExplodingTracer`."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return ExplodingTracer()


def test_append_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    """A tracer failure or a record that is not a mapping is logged and dropped."""
    sink = OtelTraceSink(tracer_provider=ExplodingProvider())
    with caplog.at_level(logging.WARNING, logger="lash.tracing.otel"):
        sink.append(record("turn_started"))
        sink.append(record("llm_call", model="m"))
        sink.append("not a record")  # type: ignore[arg-type]
    assert len(caplog.records) == 3
    assert "dropped a 'turn_started' record" in caplog.records[0].getMessage()


def test_flush_is_a_no_op_and_force_flush_leaves_a_host_provider_alone(
    tracer_provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flush() does nothing; force_flush() only flushes a provider the sink made."""
    calls: list[int] = []

    def force_flush(timeout_millis: int = 30_000) -> bool:
        calls.append(timeout_millis)
        return True

    monkeypatch.setattr(tracer_provider, "force_flush", force_flush)
    sink = OtelTraceSink(tracer_provider=tracer_provider)
    sink.flush()
    assert sink.force_flush() is True
    assert not sink.owns_provider
    assert calls == []


def test_exporter_none_makes_no_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default settings build an inert sink that does not fall back to the global provider."""
    exporter = InMemorySpanExporter()
    global_provider = TracerProvider()
    global_provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: global_provider)
    factory, settings_class = registered_factory()
    sink = factory(settings_class())
    assert isinstance(sink, OtelTraceSink)
    assert sink.settings.exporter == "none"
    assert not sink.enabled and sink.tracer_provider is None and not sink.owns_provider
    for item in one_turn():
        sink.append(item)
    assert sink.force_flush() is True
    assert exporter.get_finished_spans() == ()


def test_exporter_global_uses_the_process_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """``global`` sends spans to the provider the host installed process-wide, without owning it."""
    exporter = InMemorySpanExporter()
    global_provider = TracerProvider()
    global_provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: global_provider)
    sink = OtelTraceSink(OtelTraceSettings(exporter="global"))
    assert sink.tracer_provider is global_provider and not sink.owns_provider
    for item in one_turn():
        sink.append(item)
    assert len(exporter.get_finished_spans()) == 4


def test_exporter_console_prints_spans(capsys: pytest.CaptureFixture[str]) -> None:
    """``console`` owns an SDK provider printing each span as JSON; force_flush and shutdown work."""
    sink = OtelTraceSink(OtelTraceSettings(exporter="console", service_name="my-agent"))
    assert sink.owns_provider
    for item in one_turn():
        sink.append(item)
    assert sink.force_flush() is True
    sink.shutdown()
    out = capsys.readouterr().out
    assert '"name": "lash.turn"' in out
    assert '"name": "execute_tool weather"' in out
    assert '"service.name": "my-agent"' in out


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _otlp_http_installed() -> bool:
    return _installed("opentelemetry.exporter.otlp.proto.http.trace_exporter")


@pytest.mark.skipif(_otlp_http_installed(), reason="the OTLP HTTP exporter is installed")
def test_exporter_otlp_without_the_extra_says_what_to_install() -> None:
    """Without the optional exporter package the error names the extra to install."""
    with pytest.raises(ConfigError, match=r"lash-trace-otel\[otlp\]"):
        OtelTraceSink(OtelTraceSettings(exporter="otlp", endpoint="http://127.0.0.1:4318"))


@pytest.mark.skipif(
    _installed("opentelemetry.exporter.otlp.proto.grpc.trace_exporter"),
    reason="the OTLP gRPC exporter is installed",
)
def test_exporter_otlp_grpc_without_the_extra_says_what_to_install() -> None:
    """protocol ``grpc`` names its own extra."""
    with pytest.raises(ConfigError, match=r"lash-trace-otel\[otlp-grpc\]"):
        OtelTraceSink(OtelTraceSettings(exporter="otlp", protocol="grpc"))


class Collector(http.server.BaseHTTPRequestHandler):
    """A loopback OTLP/HTTP collector that keeps what it is sent."""

    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, self.headers.get("Authorization", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.mark.skipif(
    not _otlp_http_installed(), reason="the OTLP HTTP exporter (extra 'otlp') is not installed"
)
def test_exporter_otlp_sends_spans_to_the_collector() -> None:  # pragma: no cover - optional extra
    """With the extra installed, ``otlp`` batches spans to ``<endpoint>/v1/traces`` with the
    configured headers; shutdown flushes them."""
    Collector.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = OtelTraceSettings(
            exporter="otlp",
            endpoint=f"http://127.0.0.1:{server.server_port}",
            headers={"Authorization": "Bearer t0ken"},
        )
        sink = OtelTraceSink(settings)
        assert sink.owns_provider
        for item in one_turn():
            sink.append(item)
        sink.shutdown()
    finally:
        server.shutdown()
        server.server_close()
    paths = {path for path, _, _ in Collector.received}
    assert paths == {"/v1/traces"}
    assert all(auth == "Bearer t0ken" for _, auth, _ in Collector.received)
    payload = b"".join(body for _, _, body in Collector.received)
    assert b"lash.turn" in payload and b"execute_tool weather" in payload
    assert b"t0ken" not in payload


def test_traces_url_completes_a_bare_collector_address() -> None:
    """``/v1/traces`` is added to an address without a path, and only then."""
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("https://example.test/otlp/v1/traces") == "https://example.test/otlp/v1/traces"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"exporter": "jaeger"}, "unknown exporter 'jaeger'"),
        ({"exporter": "otlp", "protocol": "thrift"}, "unknown OTLP protocol 'thrift'"),
        ({"timeout_seconds": 0}, "timeout_seconds must be positive"),
    ],
)
def test_bad_settings_are_config_errors(settings: dict[str, Any], message: str) -> None:
    """Bad settings fail when the sink is built, naming the setting."""
    with pytest.raises(ConfigError, match=message):
        OtelTraceSink(OtelTraceSettings(**settings))
    with pytest.raises(ConfigError, match=message):
        build_tracer_provider(OtelTraceSettings(**settings))


def test_settings_repr_hides_headers() -> None:
    """OTLP headers may carry credentials: they are left out of the settings' repr."""
    settings = OtelTraceSettings(exporter="otlp", headers={"authorization": "Bearer s3cret"})
    assert "s3cret" not in repr(settings)


def test_force_flush_all_reaches_sinks_built_from_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """force_flush_all flushes every live sink-owned provider, and forgets a sink once shut down."""
    sink = OtelTraceSink(OtelTraceSettings(exporter="console"))
    assert sink._owned is not None
    calls: list[int] = []

    def force_flush(timeout_millis: int = 30_000) -> bool:
        calls.append(timeout_millis)
        return True

    monkeypatch.setattr(sink._owned, "force_flush", force_flush)
    assert force_flush_all(1234) is True
    assert calls == [1234]
    sink.shutdown()
    assert force_flush_all(1234) is True
    assert calls == [1234]
