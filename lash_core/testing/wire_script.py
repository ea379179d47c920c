"""Wire scripts: HTTP exchanges, recorded or written, replayed through httpx.

The script format, its validation and loading (:func:`load_script`), request matching
(:func:`match_request`) and the replaying transport (:class:`WireTransport`); the format
is described in :mod:`lash_core.testing.wire`, which exports this module's public names.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
from attrs import define, field

from lash_core.providers import Sleep

SCHEMA = "lash.wire-script.v1"
_SCRIPT_KEYS = {"schema", "name", "description", "provenance", "exchanges", "expect"}
_REQUEST_KEYS = {"method", "path", "body", "headers"}
_EVENT_KEYS: dict[str, set[str]] = {
    "status": {"status", "headers"},
    "body": {"text", "json"},
    "sse": {"data", "event", "id"},
    "chunk": {"text", "hex", "base64"},
    "disconnect": {"message"},
    "stall": {"ms"},
    "end": set(),
    "http_error": {"status", "headers", "body"},
    "transport_error": {"error", "message"},
}
_BODY_MATCHERS = {"present", "equals", "contains", "min_len"}


class WireScriptError(ValueError):
    """A wire script file is malformed (the message names the file and the field)."""


class WireMismatch(AssertionError):
    """The provider sent a request the script did not expect, or more requests than scripted."""


@define
class WireExchange:
    """One HTTP attempt: the request matcher and the response timeline."""

    request: dict[str, Any] = field(factory=dict)
    events: list[dict[str, Any]] = field(factory=list)


@define
class WireScript:
    """A named list of exchanges plus free-form expectations."""

    name: str
    exchanges: list[WireExchange]
    expect: dict[str, Any] = field(factory=dict)
    description: str = ""
    provenance: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The script as a JSON object in the file format."""
        data: dict[str, Any] = {"schema": SCHEMA, "name": self.name}
        if self.description:
            data["description"] = self.description
        if self.provenance is not None:
            data["provenance"] = self.provenance
        data["exchanges"] = [{"request": x.request, "events": x.events} for x in self.exchanges]
        if self.expect:
            data["expect"] = self.expect
        return data


def _fail(where: str, message: str) -> WireScriptError:
    return WireScriptError(f"{where}: {message}")


def _validate_event(event: Any, where: str, last_at: float) -> float:
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise _fail(where, 'each event is an object with a "type"')
    kind = event["type"]
    allowed = _EVENT_KEYS.get(kind)
    if allowed is None:
        raise _fail(where, f"unknown event type {kind!r}; known: {', '.join(sorted(_EVENT_KEYS))}")
    extra = set(event) - allowed - {"type", "at_ms"}
    if extra:
        raise _fail(where, f"unknown keys {sorted(extra)} for a {kind!r} event")
    if kind in ("status", "http_error") and not isinstance(event.get("status"), int):
        raise _fail(where, f'a {kind!r} event needs an integer "status"')
    if kind == "chunk" and len(set(event) & {"text", "hex", "base64"}) != 1:
        raise _fail(where, 'a "chunk" event has exactly one of "text", "hex", "base64"')
    if kind == "sse" and "data" not in event:
        raise _fail(where, 'an "sse" event needs "data"')
    at = event.get("at_ms")
    if at is not None:
        if not isinstance(at, int | float) or at < last_at:
            raise _fail(where, '"at_ms" must be a number, never decreasing')
        return float(at)
    return last_at


def _parse_script(data: Any, where: str) -> WireScript:
    if not isinstance(data, dict):
        raise _fail(where, "a wire script is a JSON object")
    if data.get("schema") != SCHEMA:
        raise _fail(where, f'"schema" must be {SCHEMA!r}')
    extra = set(data) - _SCRIPT_KEYS
    if extra:
        raise _fail(where, f"unknown keys {sorted(extra)}")
    exchanges_data = data.get("exchanges")
    if not isinstance(exchanges_data, list) or not exchanges_data:
        raise _fail(where, '"exchanges" must be a non-empty list')
    exchanges = []
    for i, raw in enumerate(exchanges_data):
        at = f"{where}: exchanges[{i}]"
        if not isinstance(raw, dict) or set(raw) - {"request", "events"}:
            raise _fail(at, 'an exchange is {"request": ..., "events": [...]}')
        request = raw.get("request", {})
        if set(request) - _REQUEST_KEYS:
            raise _fail(at, f"unknown request keys {sorted(set(request) - _REQUEST_KEYS)}")
        for path, matcher in request.get("body", {}).items():
            if not isinstance(matcher, dict) or not matcher or set(matcher) - _BODY_MATCHERS:
                raise _fail(at, f"body matcher for {path!r} must use {sorted(_BODY_MATCHERS)}")
        events = raw.get("events")
        if not isinstance(events, list) or not events:
            raise _fail(at, '"events" must be a non-empty list')
        last = 0.0
        for j, event in enumerate(events):
            last = _validate_event(event, f"{at}.events[{j}]", last)
        exchanges.append(WireExchange(dict(request), list(events)))
    return WireScript(
        name=str(data.get("name") or where),
        exchanges=exchanges,
        expect=dict(data.get("expect") or {}),
        description=str(data.get("description") or ""),
        provenance=data.get("provenance"),
    )


def load_script(source: str | Path | Mapping[str, Any]) -> WireScript:
    """A validated script from a file path or an already parsed JSON object."""
    if isinstance(source, Mapping):
        return _parse_script(dict(source), str(source.get("name", "<script>")))
    path = Path(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WireScriptError(f"{path}: cannot read the wire script: {exc}") from exc
    return _parse_script(data, str(path))


def load_scripts(directory: str | Path) -> dict[str, WireScript]:
    """Every ``*.json`` script in ``directory``, by file stem."""
    return {p.stem: load_script(p) for p in sorted(Path(directory).glob("*.json"))}


# --- request matching ---------------------------------------------------------------------

_MISSING = object()
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _lookup(data: Any, path: str) -> Any:
    for name, index in _TOKEN.findall(path):
        if index:
            if not isinstance(data, list) or int(index) >= len(data):
                return _MISSING
            data = data[int(index)]
        else:
            if not isinstance(data, dict) or name not in data:
                return _MISSING
            data = data[name]
    return data


def _subset(value: Any, target: Any) -> bool:
    if isinstance(value, dict) and isinstance(target, dict):
        return all(k in target and _subset(v, target[k]) for k, v in value.items())
    return bool(value == target)


def _contains(target: Any, value: Any) -> bool:
    if isinstance(target, str):
        return isinstance(value, str) and value in target
    if isinstance(target, list):
        return any(_subset(value, item) for item in target)
    if isinstance(target, dict):
        return isinstance(value, str) and value in target
    return False


def _check(target: Any, matcher: Mapping[str, Any], label: str) -> list[str]:
    problems = []
    present = target is not _MISSING
    if "present" in matcher and bool(matcher["present"]) != present:
        problems.append(f"{label}: expected {'present' if matcher['present'] else 'absent'}")
    if not present:
        if set(matcher) - {"present"}:
            problems.append(f"{label}: missing")
        return problems
    if "equals" in matcher and target != matcher["equals"]:
        problems.append(f"{label}: expected {matcher['equals']!r}, got {target!r}")
    if "contains" in matcher and not _contains(target, matcher["contains"]):
        problems.append(f"{label}: expected to contain {matcher['contains']!r}")
    if "min_len" in matcher and (not hasattr(target, "__len__") or len(target) < matcher["min_len"]):
        problems.append(f"{label}: expected at least {matcher['min_len']} items")
    return problems


def match_request(spec: Mapping[str, Any], request: httpx.Request, body: Any) -> list[str]:
    """What differs between ``request`` and a script's request matcher (empty: it matches)."""
    problems = []
    method = spec.get("method")
    if method and method.upper() != request.method:
        problems.append(f"method: expected {method}, got {request.method}")
    path = spec.get("path")
    if path and path != request.url.path:
        problems.append(f"path: expected {path}, got {request.url.path}")
    for name, matcher in spec.get("body", {}).items():
        problems += _check(_lookup(body, name), matcher, f"body.{name}")
    for name, matcher in spec.get("headers", {}).items():
        value = request.headers.get(name)
        problems += _check(_MISSING if value is None else value, matcher, f"header {name}")
    return problems


# --- replay -------------------------------------------------------------------------------


def sse_frame(data: Any, event: str | None = None, event_id: str | None = None) -> bytes:
    """One SSE event as bytes (``data`` that is not a string is JSON-encoded)."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    lines = [f"event: {event}"] if event else []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in text.split("\n")]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def _body_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _chunk_bytes(event: Mapping[str, Any]) -> bytes:
    if "text" in event:
        return str(event["text"]).encode("utf-8")
    if "hex" in event:
        return bytes.fromhex(str(event["hex"]))
    return base64.b64decode(str(event["base64"]))


def _transport_exception(event: Mapping[str, Any], request: httpx.Request) -> Exception:
    message = str(event.get("message") or "scripted transport error")
    error = event.get("error", "connect")
    cls: type[httpx.TransportError] = {
        "connect": httpx.ConnectError,
        "read": httpx.ReadError,
        "timeout": httpx.ReadTimeout,
    }.get(str(error), httpx.ConnectError)
    return cls(message, request=request)


class _ReplayStream(httpx.AsyncByteStream):
    """The body of a replayed response. A plain iterator (not an async generator), so a
    consumer that stops early leaves nothing for the garbage collector to finalize."""

    def __init__(self, events: list[dict[str, Any]], owner: WireTransport, request: httpx.Request) -> None:
        self._events = list(events)
        self._owner = owner
        self._request = request

    def __aiter__(self) -> _ReplayStream:
        return self

    async def __anext__(self) -> bytes:
        while self._events:
            event = self._events.pop(0)
            await self._owner._wait_until(event)
            kind = event["type"]
            if kind == "end":
                self._events = []
            elif kind == "sse":
                return sse_frame(event["data"], event.get("event"), event.get("id"))
            elif kind == "chunk":
                return _chunk_bytes(event)
            elif kind == "body":
                return _body_bytes(event["json"] if "json" in event else event.get("text", ""))
            elif kind == "disconnect":
                message = (
                    event.get("message") or "peer closed connection without sending complete message body"
                )
                raise httpx.RemoteProtocolError(str(message), request=self._request)
            elif kind == "stall":
                await _stall(event)
            elif kind == "transport_error":
                raise _transport_exception(event, self._request)
            else:
                raise WireScriptError(f"a {kind!r} event cannot appear after the response started")
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._events = []


async def _stall(event: Mapping[str, Any]) -> None:
    ms = event.get("ms")
    if ms is None:
        await anyio.sleep_forever()
    else:
        await anyio.sleep(float(ms) / 1000.0)


def _default_content_type(events: Sequence[Mapping[str, Any]]) -> str:
    if any(e["type"] == "sse" for e in events):
        return "text/event-stream; charset=utf-8"
    return "application/json"


class WireTransport(httpx.MockTransport):
    """Replays wire scripts, one exchange per request, in order.

    ``sleep`` (optional) is awaited between events according to their ``at_ms`` (pass a
    fake sleep to observe the timing, ``anyio.sleep`` to replay in real time); without it
    events are released at once. ``stall`` events always wait in real time, since they
    exist to trip the provider's own timeouts.
    """

    def __init__(self, *scripts: WireScript | WireExchange, sleep: Sleep | None = None) -> None:
        super().__init__(self._handle)
        self._queue: list[tuple[str, WireExchange]] = []
        for item in scripts:
            if isinstance(item, WireScript):
                self._queue += [(item.name, x) for x in item.exchanges]
            else:
                self._queue.append(("<exchange>", item))
        self._sleep = sleep
        self._clock_ms = 0.0
        self.requests: list[httpx.Request] = []
        self.bodies: list[Any] = []

    @property
    def remaining(self) -> int:
        """Exchanges not yet replayed."""
        return len(self._queue)

    def assert_done(self) -> None:
        """Fail when scripted exchanges were never requested."""
        if self._queue:
            names = ", ".join(name for name, _ in self._queue)
            raise WireMismatch(f"{len(self._queue)} scripted exchange(s) were never requested ({names})")

    async def _wait_until(self, event: Mapping[str, Any]) -> None:
        at = event.get("at_ms")
        if at is None:
            return
        delta, self._clock_ms = float(at) - self._clock_ms, max(self._clock_ms, float(at))
        if self._sleep is not None and delta > 0:
            await self._sleep(delta / 1000.0)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        try:
            body: Any = json.loads(request.content) if request.content else None
        except ValueError:
            body = request.content.decode("utf-8", "replace")
        self.requests.append(request)
        self.bodies.append(body)
        if not self._queue:
            raise WireMismatch(
                f"unexpected request {request.method} {request.url.path}: every scripted exchange was "
                f"used ({len(self.requests) - 1}); script one more exchange or fix the retry count"
            )
        name, exchange = self._queue.pop(0)
        problems = match_request(exchange.request, request, body)
        if problems:
            raise WireMismatch(
                f"request {len(self.requests)} does not match script {name!r}: " + "; ".join(problems)
            )
        self._clock_ms = 0.0
        events = list(exchange.events)
        while events:
            event = events.pop(0)
            await self._wait_until(event)
            kind = event["type"]
            if kind == "stall":
                await _stall(event)
            elif kind == "transport_error":
                raise _transport_exception(event, request)
            elif kind == "http_error":
                headers = {"content-type": "application/json", **event.get("headers", {})}
                return httpx.Response(
                    event["status"],
                    headers=headers,
                    content=_body_bytes(event.get("body", "")),
                    request=request,
                )
            elif kind == "status":
                headers = dict(event.get("headers") or {})
                headers.setdefault("content-type", _default_content_type(events))
                return httpx.Response(
                    event["status"],
                    headers=headers,
                    stream=_ReplayStream(events, self, request),
                    request=request,
                )
            else:
                events.insert(0, event)
                headers = {"content-type": _default_content_type(events)}
                return httpx.Response(
                    200, headers=headers, stream=_ReplayStream(events, self, request), request=request
                )
        raise WireScriptError(f"script {name!r}: an exchange ended before any response")
