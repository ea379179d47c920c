"""Settings of the ``otel`` trace sink and the tracer providers they build."""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from attrs import field, frozen
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from lash_core.errors import ConfigError

__all__ = ["EXPORTERS", "OTLP_PROTOCOLS", "OtelTraceSettings", "build_tracer_provider", "traces_url"]

EXPORTERS = ("none", "console", "otlp", "global")
OTLP_PROTOCOLS = ("http/protobuf", "grpc")


@frozen
class OtelTraceSettings:
    """Settings of the ``otel`` trace sink.

    ``exporter``: ``none`` (default: no spans are made, nothing leaves the process),
    ``console`` (spans printed to standard output, for debugging), ``otlp`` (an OTLP
    collector; needs the ``otlp`` or ``otlp-grpc`` extra) or ``global`` (spans go to the
    process-wide tracer provider the host set up with ``opentelemetry.trace.set_tracer_provider``).
    ``endpoint``, ``protocol``, ``headers`` and ``timeout_seconds`` apply to ``otlp`` only
    (an unset endpoint lets the exporter read ``OTEL_EXPORTER_OTLP_*`` variables or use its
    default). ``service_name`` is the ``service.name`` resource of a provider the sink makes.
    ``provider_names`` maps lash provider ids (``providers.<id>`` in the configuration) to
    ``gen_ai.provider.name`` values such as ``"openai"``; unmapped ids are used as they are.
    """

    exporter: str = "none"
    endpoint: str | None = None
    protocol: str = "http/protobuf"
    headers: dict[str, str] = field(factory=dict, repr=False)  # may hold credentials: never logged
    timeout_seconds: float = 10.0
    service_name: str = "lash"
    provider_names: dict[str, str] = field(factory=dict)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the bad setting."""
        if self.exporter not in EXPORTERS:
            raise ConfigError(
                f"otel trace sink: unknown exporter {self.exporter!r}; choose one of {', '.join(EXPORTERS)}"
            )
        if self.protocol not in OTLP_PROTOCOLS:
            raise ConfigError(
                f"otel trace sink: unknown OTLP protocol {self.protocol!r}; "
                f"choose one of {', '.join(OTLP_PROTOCOLS)}"
            )
        if self.timeout_seconds <= 0:
            raise ConfigError("otel trace sink: timeout_seconds must be positive")


def build_tracer_provider(settings: OtelTraceSettings) -> TracerProvider | None:
    """A new SDK tracer provider exporting as ``settings`` say, or ``None`` for the
    ``none`` and ``global`` exporters (which make no provider of their own)."""
    settings.validate()
    if settings.exporter in ("none", "global"):
        return None
    exporter: SpanExporter
    if settings.exporter == "console":
        # Bound to the current standard output (the exporter's default is bound at import time).
        exporter = ConsoleSpanExporter(out=sys.stdout)
        processor: SimpleSpanProcessor | BatchSpanProcessor = SimpleSpanProcessor(exporter)
    else:
        exporter = _otlp_exporter(settings)
        processor = BatchSpanProcessor(exporter)  # exports on a background thread: append stays quick
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    provider.add_span_processor(processor)
    return provider


def _otlp_exporter(settings: OtelTraceSettings) -> SpanExporter:
    kwargs: dict[str, Any] = {"timeout": settings.timeout_seconds}
    if settings.headers:
        kwargs["headers"] = dict(settings.headers)
    if settings.protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found, unused-ignore]
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError as exc:
            raise ConfigError(
                "otel trace sink: exporter 'otlp' with protocol 'grpc' needs the OTLP gRPC exporter: "
                "pip install 'lash-trace-otel[otlp-grpc]'"
            ) from exc
        if settings.endpoint:
            kwargs["endpoint"] = settings.endpoint
        grpc_exporter: SpanExporter = GrpcExporter(**kwargs)
        return grpc_exporter
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found, unused-ignore]
            OTLPSpanExporter as HttpExporter,
        )
    except ImportError as exc:
        raise ConfigError(
            "otel trace sink: exporter 'otlp' needs the OTLP HTTP exporter: pip install 'lash-trace-otel[otlp]'"
        ) from exc
    if settings.endpoint:
        kwargs["endpoint"] = traces_url(settings.endpoint)
    http_exporter: SpanExporter = HttpExporter(**kwargs)
    return http_exporter


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of ``endpoint``: a bare collector address
    (``http://collector:4318``) gets ``/v1/traces``; a URL with a path is kept as it is."""
    parts = urlsplit(endpoint)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path="/v1/traces"))
    return endpoint
