"""Parsing OpenAI Responses answers (SSE events or one response object) into an LlmResponse.

Output items are kept in ``output_index`` order: ``reasoning`` (summary text streamed as
reasoning, parts joined by a blank line; id, summary and encrypted content kept as replay
state), ``message`` (text streamed; item id and ``phase`` kept as response metadata) and
``function_call`` (arguments streamed; ``call_id`` is the tool-call id, the ``fc_`` item
id is replay state). ``*.done`` events reconcile what the deltas assembled.

Message phases: a ``commentary`` message is the model narrating its work and a
``final_answer`` message is the answer. When a response has both, only the final answer
is prose: the commentary is kept (with its id and phase, for replay) as an invisible
text part, never streamed. Commentary is therefore withheld while the response streams
and released as prose at the end only when no final answer came.
``response.completed`` / ``response.incomplete`` end the stream with the usage and status;
``response.failed`` and ``error`` fail the attempt (retried when transient); a stream
without a terminal event is a retryable ``stream`` failure.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lash_core.model import TerminalReason
from lash_core.providers import Redactor, StreamCallback, StreamParser, failure_error, stream_failure
from lash_provider_openai._common import normalize_usage

__all__ = ["ResponsesParser"]

_TERMINAL = ("response.completed", "response.incomplete", "response.done")


def _texts(content: Any, kind: str) -> str:
    if not isinstance(content, list):
        return ""
    return "".join(str(c.get("text") or "") for c in content if isinstance(c, dict) and c.get("type") == kind)


class ResponsesParser(StreamParser):
    """Feeds Responses events (or a whole response object) into a :class:`ResponseAssembler`;
    ``finish_reason`` is the response's ``status``."""

    end_marker: ClassVar[str] = "response.completed"
    not_an_object: ClassVar[str] = "a stream event is not a JSON object"

    def __init__(
        self, on_event: StreamCallback | None, *, redact: Redactor, vendor: str, expose_reasoning: bool = True
    ) -> None:
        super().__init__(on_event, redact=redact, vendor=vendor, expose_reasoning=expose_reasoning)
        self._summaries: dict[int, list[str]] = {}
        self.incomplete_reason: str | None = None
        self.refusal: list[str] = []
        self._phases: dict[tuple[str, int], str] = {}

    async def _added(self, index: int, item: dict[str, Any]) -> None:
        key = ("out", index)
        kind = item.get("type")
        if kind == "function_call":
            await self.assembler.tool_call(key, call_id=item.get("call_id"), name=item.get("name"))
            self.assembler.set_tool_call(key, replay={"item_id": item.get("id")})
        elif kind == "message":
            phase = item.get("phase")
            self.assembler.set_meta(key, {"id": item.get("id"), "phase": phase}, kind="text")
            if isinstance(phase, str) and key not in self._phases:
                self._phases[key] = phase
                if phase == "commentary":
                    self.assembler.withhold(key)
        elif kind == "reasoning":
            self._reasoning_meta(key, item)

    def _reasoning_meta(self, key: tuple[str, int], item: dict[str, Any]) -> None:
        summary = [str(s.get("text") or "") for s in item.get("summary") or () if isinstance(s, dict)]
        meta = {"type": "reasoning", "id": item.get("id"), "summary": summary}
        if item.get("encrypted_content"):
            meta["encrypted_content"] = item["encrypted_content"]
        self.assembler.set_meta(key, meta, kind="reasoning")

    async def _done(self, index: int, item: dict[str, Any]) -> None:
        key = ("out", index)
        kind = item.get("type")
        if kind == "function_call":
            await self._added(index, item)
            arguments = item.get("arguments")
            self.assembler.set_tool_call(
                key,
                call_id=item.get("call_id"),
                name=item.get("name"),
                arguments=arguments if isinstance(arguments, str) else None,
                replay={"item_id": item.get("id")},
            )
        elif kind == "message":
            await self._added(index, item)
            text = _texts(item.get("content"), "output_text")
            if text:
                await self.assembler.reconcile_text(key, text)
            refusal = _texts(item.get("content"), "refusal")
            if refusal and not self.refusal:
                self.refusal.append(refusal)
        elif kind == "reasoning":
            self._reasoning_meta(key, item)
            summary = "\n\n".join(self.assembler.meta(key)["summary"])
            if summary and self._expose:
                await self.assembler.reconcile_text(key, summary, reasoning=True)

    async def handle(self, kind: str, data: dict[str, Any]) -> None:
        """One stream event, by type."""
        index = data.get("output_index", 0)
        key = ("out", index)
        if kind in ("response.created", "response.in_progress"):
            self.header(data.get("response"))
        elif kind == "response.output_item.added" and isinstance(data.get("item"), dict):
            await self._added(index, data["item"])
        elif kind == "response.output_item.done" and isinstance(data.get("item"), dict):
            await self._done(index, data["item"])
        elif kind == "response.output_text.delta":
            await self.assembler.text(key, str(data.get("delta") or ""))
        elif kind == "response.refusal.delta":
            self.refusal.append(str(data.get("delta") or ""))
        elif kind == "response.function_call_arguments.delta":
            await self.assembler.tool_arguments(key, str(data.get("delta") or ""))
        elif (
            kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")
            and self._expose
        ):
            part = data.get("summary_index", 0)
            seen = self._summaries.setdefault(index, [])
            if kind.endswith("summary_text.delta") and part not in seen:
                if seen:
                    await self.assembler.reasoning(key, "\n\n")
                seen.append(part)
            await self.assembler.reasoning(key, str(data.get("delta") or ""))
        elif kind in _TERMINAL:
            await self.finish(data.get("response") or {})
        elif kind == "response.failed":
            response = data.get("response") or {}
            self.header(response)
            error = response.get("error") or {"message": "the response failed without an error object"}
            raise self.vendor_error(error)
        elif kind == "error":
            raise self.vendor_error(data)

    async def finish(self, response: dict[str, Any]) -> None:
        """The terminal response object: status, usage and any output not streamed."""
        self.terminal = True
        self.header(response)
        self.finish_reason = response.get("status") or self.finish_reason
        details = response.get("incomplete_details")
        if isinstance(details, dict):
            self.incomplete_reason = details.get("reason")
        if not self.assembler.has_output:
            for index, item in enumerate(response.get("output") or ()):
                if isinstance(item, dict):
                    await self._done(index, item)
        await self._settle_commentary()
        if isinstance(response.get("usage"), dict):
            await self.assembler.report_usage(normalize_usage(response["usage"]))

    async def _settle_commentary(self) -> None:
        """Commentary is prose unless the response has final-answer text, then invisible."""
        final = any(
            phase == "final_answer" and self.assembler.content(key) for key, phase in self._phases.items()
        )
        for key, phase in self._phases.items():
            if phase == "commentary":
                await self.assembler.release(key, visible=not final)

    async def feed_body(self, response: Any) -> None:
        """A whole (buffered) response object."""
        if not isinstance(response, dict):
            raise failure_error(
                stream_failure("the response is not a JSON object", code="malformed_response")
            )
        if response.get("error") and response.get("status") in (None, "failed"):
            raise self.vendor_error(response["error"])
        await self.finish(response)

    def end_of_stream(self, data: str) -> bool | None:
        """``[DONE]`` ends the stream once the response is terminal."""
        return self.terminal if data == "[DONE]" else None

    def terminal_reason(self) -> tuple[TerminalReason, str | None]:
        """The terminal reason of the status (an incomplete or cancelled response, a refusal)."""
        if self.finish_reason == "incomplete":
            reason = self.incomplete_reason or "unknown"
            if reason in ("max_output_tokens", "max_tokens"):
                return TerminalReason.OUTPUT_LIMIT, None
            if reason == "content_filter":
                return TerminalReason.CONTENT_FILTER, "the provider's content filter stopped the answer"
            return TerminalReason.PROVIDER_ERROR, f"the response is incomplete: {reason}"
        if self.finish_reason == "cancelled":
            return TerminalReason.CANCELLED, None
        if self.refusal:
            return TerminalReason.CONTENT_FILTER, f"the model refused: {''.join(self.refusal)}"
        return (TerminalReason.TOOL_USE if self.assembler.has_tool_calls else TerminalReason.STOP), None
