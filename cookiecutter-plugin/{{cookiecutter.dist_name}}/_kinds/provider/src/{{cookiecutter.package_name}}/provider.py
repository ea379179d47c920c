"""The ``{{ cookiecutter.entry_point_name }}`` provider: a small chat API over HTTP, with httpx.

The API this example speaks (replace it with your vendor's; the shape of the code stays):

``POST {base_url}/v1/chat`` with ``Authorization: Bearer <key>`` and a JSON body::

    {"model": "...", "stream": true,
     "messages": [{"role": "system" | "user" | "assistant" | "tool", "content": "...",
                   "tool_calls": [{"id", "name", "arguments"}],   # assistant
                   "reasoning": [{"signature": "..."}],          # assistant: replay state
                   "tool_call_id": "..."}],                      # tool
     "tools": [{"name", "description", "parameters"}], "tool_choice": "auto" | "none" | "required",
     "max_tokens": 1024, "temperature": 0.2, "reasoning": {"effort": "low"}}

Streamed (``"stream": true``), the answer is server-sent events, each ``data:`` a JSON object:
``{"type": "text", "delta"}``, ``{"type": "reasoning", "delta", "signature"?}``,
``{"type": "tool_call", "index", "id"?, "name"?, "arguments"}`` (the first piece of a call
carries its id and name), ``{"type": "usage", "prompt_tokens", "cached_tokens",
"completion_tokens", "reasoning_tokens"}``, ``{"type": "error", "error": {"code",
"message"}}`` and finally ``{"type": "done", "finish_reason": "stop" | "tool_calls" |
"length" | "content_filter"}``. Buffered, it is one JSON object: ``{"id", "model",
"output": [{"type": "text" | "reasoning" | "tool_call", ...}], "usage": {...},
"finish_reason"}``. Errors are HTTP statuses with ``{"error": {"code", "message"}}``.

What lash-core does for every provider, so this module does not: the HTTP seam with
timeouts (:class:`~lash_core.providers.ProviderHttp`, which also takes an injected
``httpx.AsyncClient``: tests replay wire scripts through it), failure classification
(auth, rate limit, context overflow...), the retry ladder with ``Retry-After``
(:func:`~lash_core.providers.run_with_retries`), SSE parsing, building the response and
its stream events (:class:`~lash_core.providers.ResponseAssembler`), and keeping the key
out of every message (:class:`~lash_core.providers.Redactor`). What stays here: the
request body, the meaning of the answer's events, and usage normalized to lash's five
buckets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anyio
import httpx
from lash_core.errors import ProviderError
from lash_core.model import (
    Cleared,
    Deleted,
    Intact,
    LlmRequest,
    LlmResponse,
    Message,
    Part,
    PartKind,
    ProviderFailureKind,
    Role,
    Summarized,
    TerminalReason,
    TokenUsage,
)
from lash_core.providers import (
    ProviderHttp,
    Redactor,
    ResponseAssembler,
    Sleep,
    SseEvent,
    StreamCallback,
    classify_error_object,
    failure_error,
    provider_error,
    resolve_api_key,
    run_with_retries,
    stream_failure,
)

from {{ cookiecutter.package_name }}.settings import {{ cookiecutter.__class_prefix }}Settings

__all__ = ["PATH", "VENDOR", "{{ cookiecutter.__class_prefix }}Provider", "request_body", "usage_from"]

PATH = "v1/chat"
VENDOR = "{{ cookiecutter.plugin_name }}"

_FINISH_REASONS = {
    "stop": TerminalReason.STOP,
    "tool_calls": TerminalReason.TOOL_USE,
    "length": TerminalReason.OUTPUT_LIMIT,
    "content_filter": TerminalReason.CONTENT_FILTER,
}
_TEXT_KINDS = (PartKind.TEXT, PartKind.PROSE, PartKind.CODE, PartKind.OUTPUT, PartKind.ERROR)


class {{ cookiecutter.__class_prefix }}Provider:
    """Calls the API; see the module docs.

    ``client`` (optional) is the ``httpx.AsyncClient`` to send requests with: used as it is
    and never closed here (tests pass one over a wire-script transport); without it the
    provider makes its own on first use and closes it in :meth:`aclose`. ``sleep`` waits
    between retries (tests pass one that returns at once). ``environ`` is where the key
    variable is read (``os.environ`` by default).
    """

    def __init__(
        self,
        settings: {{ cookiecutter.__class_prefix }}Settings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = anyio.sleep,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else {{ cookiecutter.__class_prefix }}Settings()
        self._api_key = resolve_api_key(self.settings.api_key, self.settings.api_key_env, environ=environ)
        self._sleep = sleep
        self.http = ProviderHttp(
            base_url=self.settings.base_url,
            headers={"authorization": f"Bearer {self._api_key}"} if self._api_key else {},
            timeouts=self.settings.timeouts,
            client=client,
            redactor=Redactor([self._api_key]),
            vendor=VENDOR,
            auth_hint=self._key_advice(),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r})"

    def _key_advice(self) -> str:
        return (
            f'check the API key: set {self.settings.api_key_env}, or api_key = "$env:NAME" in the '
            "provider's settings"
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it (the runtime calls this on close)."""
        await self.http.aclose()

    async def complete(self, request: LlmRequest, on_event: StreamCallback | None = None) -> LlmResponse:
        """One model call: streamed when ``on_event`` is given, buffered otherwise, retried by
        the ladder of the settings. Raises :class:`~lash_core.errors.ProviderError`."""
        if self._api_key is None:
            raise provider_error(
                ProviderFailureKind.AUTH,
                f"no API key for {VENDOR}: {self._key_advice()}",
                code="missing_api_key",
            )
        streaming = on_event is not None
        body = request_body(request, stream=streaming, max_output_tokens=self.settings.max_output_tokens)

        async def attempt(callback: StreamCallback | None) -> LlmResponse:
            return await self._attempt(body, callback, streaming=streaming)

        return await run_with_retries(
            attempt, policy=self.settings.retry, on_event=on_event, sleep=self._sleep, label=VENDOR
        )

    async def _attempt(
        self, body: dict[str, Any], on_event: StreamCallback | None, *, streaming: bool
    ) -> LlmResponse:
        """One HTTP attempt: post, then read the event stream or the buffered body."""
        answer = _Answer(on_event, self.http.redact)
        async with self.http.post(PATH, body, stream=streaming) as reply:
            if streaming and reply.is_event_stream:
                events = reply.events()
                try:
                    async for event in events:
                        if await answer.event(event.data):
                            break
                finally:  # stopping at "done" leaves the event source open: close it now
                    close = getattr(events, "aclose", None)
                    if close is not None:
                        await close()
            else:
                await answer.body(await reply.read_body())
        return await answer.response()


# --- the request -------------------------------------------------------------------------


def _visible(part: Part) -> str:
    """What the model sees of a part: history pruning may have cleared or summarized it."""
    state = part.prune_state
    if isinstance(state, Cleared):
        return "[content cleared]"
    if isinstance(state, Deleted):
        return state.breadcrumb
    if isinstance(state, Summarized):
        return state.summary
    return part.content


def _wire_messages(message: Message) -> list[dict[str, Any]]:
    """The API messages for one history message."""
    if any(p.kind is PartKind.ATTACHMENT for p in message.parts):
        raise provider_error(
            ProviderFailureKind.VALIDATION,
            f"{VENDOR} takes text only and message {message.id} has an attachment; remove it or use a "
            "provider whose API carries attachments",
            code="unsupported_attachment",
        )
    text = "\n\n".join(t for t in (_visible(p) for p in message.parts if p.kind in _TEXT_KINDS) if t)
    if message.role is Role.ASSISTANT:
        out: dict[str, Any] = {"role": "assistant", "content": text}
        calls = [
            {
                "id": p.tool_call_id or "",
                "name": p.tool_name or "",
                "arguments": p.content if isinstance(p.prune_state, Intact) and p.content.strip() else "{}",
            }
            for p in message.parts
            if p.kind is PartKind.TOOL_CALL
        ]
        if calls:
            out["tool_calls"] = calls
        # Replay state the API gave with its reasoning goes back with the message it belongs to.
        replay = [
            p.reasoning_meta for p in message.parts if p.kind is PartKind.REASONING and p.reasoning_meta
        ]
        if replay:
            out["reasoning"] = replay
        return [out] if text or calls else []
    wire: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": p.tool_call_id or "", "content": _visible(p)}
        for p in message.parts
        if p.kind is PartKind.TOOL_RESULT
    ]
    if text:
        role = "system" if message.role is Role.SYSTEM else "user"
        wire.append({"role": role, "content": f"[event] {text}" if message.role is Role.EVENT else text})
    return wire


def request_body(
    request: LlmRequest, *, stream: bool, max_output_tokens: int | None = None
) -> dict[str, Any]:
    """The JSON body for ``request``. Raises a ``validation`` error (never retried) for what
    the API cannot carry, before anything is sent."""
    messages: list[dict[str, Any]] = []
    if request.system_prompt.strip():
        messages.append({"role": "system", "content": request.system_prompt})
    for message in request.messages:
        messages.extend(_wire_messages(message))
    body: dict[str, Any] = {"model": request.model.id, "messages": messages, "stream": stream}
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "parameters": t.input_schema}
            for t in request.tools
        ]
        body["tool_choice"] = request.tool_choice.value
    caps = [cap for cap in (request.max_output_tokens, max_output_tokens) if cap]
    if caps:
        body["max_tokens"] = min(caps)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.reasoning_effort:
        body["reasoning"] = {"effort": request.reasoning_effort}
    return body


# --- the answer --------------------------------------------------------------------------


def usage_from(data: Mapping[str, Any]) -> TokenUsage:
    """The API's usage in lash's buckets: ``prompt_tokens`` counts the cached tokens too,
    lash's ``input_tokens`` does not; reasoning tokens are part of the output."""
    prompt = int(data.get("prompt_tokens") or 0)
    cached = int(data.get("cached_tokens") or 0)
    output = int(data.get("completion_tokens") or 0)
    reasoning = int(data.get("reasoning_tokens") or 0)
    return TokenUsage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=output,
        cache_read_input_tokens=cached,
        reasoning_output_tokens=min(reasoning, output),
    )


class _Answer:
    """One attempt's answer, from stream events or a buffered body; the
    :class:`ResponseAssembler` reports the stream events as pieces arrive."""

    def __init__(self, on_event: StreamCallback | None, redact: Redactor) -> None:
        self.out = ResponseAssembler(on_event)
        self.redact = redact
        self.finish_reason: str | None = None
        self.response_id: str | None = None
        self.model: str | None = None

    def _broken(self, message: str, code: str) -> ProviderError:
        return failure_error(stream_failure(f"{VENDOR} {message}", code=code, redact=self.redact))

    async def event(self, data: str) -> bool:
        """Take one stream event; True once the stream is done."""
        try:
            event = json.loads(data)
        except ValueError:
            raise self._broken(
                f"sent a stream event that is not JSON: {data[:120]!r}", "malformed_event"
            ) from None
        if not isinstance(event, dict):
            raise self._broken(
                f"sent a stream event that is not an object: {data[:120]!r}", "malformed_event"
            )
        kind = event.get("type")
        if kind == "text":
            await self.out.text("text", str(event.get("delta") or ""))
        elif kind == "reasoning":
            await self.out.reasoning("reasoning", str(event.get("delta") or ""))
            if event.get("signature"):
                self.out.set_meta("reasoning", {"signature": event["signature"]}, kind="reasoning")
        elif kind == "tool_call":
            key = ("tool_call", event.get("index", 0))
            await self.out.tool_call(key, call_id=event.get("id"), name=event.get("name"))
            await self.out.tool_arguments(key, str(event.get("arguments") or ""))
        elif kind == "usage":
            await self.out.report_usage(usage_from(event))
        elif kind == "error":
            raise failure_error(
                classify_error_object(event.get("error", event), vendor=VENDOR, redact=self.redact)
            )
        elif kind == "done":
            self.finish_reason = str(event.get("finish_reason") or "stop")
            return True
        # Unknown event types are skipped: APIs add events without notice.
        return False

    async def body(self, payload: Any) -> None:
        """Take a buffered answer (a JSON object, or the events of a stream sent anyway)."""
        if isinstance(payload, list):
            for sse in payload:
                if isinstance(sse, SseEvent) and await self.event(sse.data):
                    return
            return
        if not isinstance(payload, dict):
            raise self._broken("answered with a body that is not a JSON object", "malformed_response")
        self.response_id, self.model = payload.get("id"), payload.get("model")
        for index, item in enumerate(payload.get("output") or []):
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "text":
                await self.out.text(("text", index), str(item.get("text") or ""))
            elif kind == "reasoning":
                await self.out.reasoning(("reasoning", index), str(item.get("text") or ""))
                if item.get("signature"):
                    self.out.set_meta(
                        ("reasoning", index), {"signature": item["signature"]}, kind="reasoning"
                    )
            elif kind == "tool_call":
                self.out.set_tool_call(
                    ("tool_call", index),
                    call_id=item.get("id"),
                    name=item.get("name"),
                    arguments=str(item.get("arguments") or "{}"),
                )
        if isinstance(payload.get("usage"), dict):
            await self.out.report_usage(usage_from(payload["usage"]))
        self.finish_reason = str(payload.get("finish_reason") or "stop")

    async def response(self) -> LlmResponse:
        """The final response. A stream that ended before ``done`` was cut: a retryable failure."""
        if self.finish_reason is None:
            raise self._broken('ended the stream before its "done" event', "stream_cut")
        await self.out.finish_tool_calls()
        reason = _FINISH_REASONS.get(self.finish_reason, TerminalReason.UNKNOWN)
        if reason is TerminalReason.STOP and self.out.has_tool_calls:
            reason = TerminalReason.TOOL_USE
        return LlmResponse(
            self.out.parts(),
            self.out.usage,
            reason,
            model=self.model,
            response_id=self.response_id,
            provider_finish_reason=self.finish_reason,
        )
