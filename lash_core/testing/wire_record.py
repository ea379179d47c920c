"""Recording wire scripts from a live transport, credentials redacted (see
:mod:`lash_core.testing.wire`, which exports this module's public names)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from lash_core.providers import REDACTED, Redactor
from lash_core.testing.wire_script import WireExchange, WireScript, WireScriptError

_SENSITIVE_HEADERS = frozenset(
    "authorization proxy-authorization cookie set-cookie x-api-key api-key x-goog-api-key "
    "openai-organization openai-project".split()
)
_SENSITIVE_JSON = re.compile(
    r'"(access_token|refresh_token|id_token|api_key|apiKey|client_secret|password|authorization|secret)"'
    r'\s*:\s*"[^"]*"'
)


def redact_text(text: str, redactor: Redactor) -> str:
    """``text`` with known secrets, credential shapes and sensitive JSON values redacted."""
    return _SENSITIVE_JSON.sub(lambda m: f'"{m.group(1)}":"{REDACTED}"', redactor(text))


def _frames(body: bytes) -> list[bytes]:
    pieces = re.split(rb"(?<=\n\n)", body)
    return [p for p in pieces if p]


class _RecordingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, done: Any) -> None:
        self._inner = inner
        self._done = done
        self._chunks: list[bytes] = []
        self._error: str | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                self._chunks.append(chunk)
                yield chunk
        except httpx.TransportError as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()
        if self._done is not None:
            done, self._done = self._done, None
            done(b"".join(self._chunks), self._error)


class WireRecorder(httpx.AsyncBaseTransport):
    """Wraps a live transport and records each exchange as a wire script exchange.

    Credentials never reach the script: sensitive headers are replaced, the
    ``Authorization`` / ``x-api-key`` values seen on requests and any ``secrets`` given are
    redacted from bodies (after the whole body arrived, so a secret split across chunks is
    caught), as are sensitive JSON values. Requests are matched by method, path and the
    ``model`` / ``stream`` fields only; user text is never stored. Non-UTF-8 bodies are
    refused.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, *, secrets: Iterable[str] = ()) -> None:
        self._inner = inner
        self._redactor = Redactor(secrets)
        self.exchanges: list[WireExchange] = []

    async def aclose(self) -> None:
        await self._inner.aclose()

    def _headers(self, headers: httpx.Headers) -> dict[str, str]:
        return {
            k: (REDACTED if k in _SENSITIVE_HEADERS else self._redactor(v))
            for k, v in headers.items()
            if k not in ("content-length", "content-encoding", "transfer-encoding")
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for name in ("authorization", "x-api-key", "api-key", "x-goog-api-key"):
            value = request.headers.get(name)
            if value:
                self._redactor.add(value.split(" ", 1)[-1])
        await request.aread()
        try:
            body = json.loads(request.content) if request.content else {}
        except ValueError:
            body = {}
        spec: dict[str, Any] = {"method": request.method, "path": request.url.path}
        spec["body"] = {
            k: {"equals": body[k]} for k in ("model", "stream") if isinstance(body, dict) and k in body
        }
        exchange = WireExchange(spec, [])
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            exchange.events.append(
                {"type": "transport_error", "error": "connect", "message": self._redactor(str(exc))}
            )
            self.exchanges.append(exchange)
            raise
        status = {
            "type": "status",
            "status": response.status_code,
            "headers": self._headers(response.headers),
        }
        exchange.events.append(status)
        self.exchanges.append(exchange)

        def done(raw: bytes, error: str | None) -> None:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise WireScriptError(
                    "the recorded body is not UTF-8; lash records text bodies only"
                ) from exc
            for frame in _frames(raw):
                exchange.events.append(
                    {"type": "chunk", "text": redact_text(frame.decode("utf-8"), self._redactor)}
                )
            if error is not None:
                exchange.events.append({"type": "disconnect", "message": self._redactor(error)})
            else:
                exchange.events.append({"type": "end"})

        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_RecordingStream(response.stream, done),
            request=request,
            extensions=response.extensions,
        )

    def script(
        self,
        name: str,
        *,
        expect: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> WireScript:
        """The recorded exchanges as a script (review it before committing it)."""
        return WireScript(
            name,
            list(self.exchanges),
            expect=dict(expect or {}),
            provenance=dict(provenance) if provenance else {"kind": "captured_live", "source": name},
        )

    def save(self, path: str | Path, name: str, **kwargs: Any) -> Path:
        """Write :meth:`script` as JSON to ``path``; returns the path."""
        target = Path(path)
        target.write_text(
            json.dumps(self.script(name, **kwargs).to_json(), indent=2, ensure_ascii=False) + "\n"
        )
        return target
