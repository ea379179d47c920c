"""The vendor-independent half of a provider's response parser.

A vendor parser subclasses :class:`StreamParser` and says what its events mean
(:meth:`StreamParser.handle` for typed events, :meth:`StreamParser.feed_body` for a
buffered body, :meth:`StreamParser.terminal_reason`); the base reads the stream (JSON
events, the end-of-stream marker, closing the event source), raises the classified
failures (malformed events, vendor error objects, a stream that ended too early) and
builds the final :class:`~lash_core.model.LlmResponse` from its
:class:`~lash_core.providers.ResponseAssembler`, so the streamed and the buffered path
give the same response.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from lash_core.errors import ProviderError
from lash_core.model import LlmResponse, TerminalReason
from lash_core.providers._assemble import ResponseAssembler
from lash_core.providers._classify import classify_error_object, stream_failure
from lash_core.providers._contract import StreamCallback, failure_error
from lash_core.providers._secrets import Redactor

if TYPE_CHECKING:
    from lash_core.providers._sse import SseEvent

__all__ = ["StreamParser"]


class StreamParser:
    """Feeds a vendor's answer into a :class:`ResponseAssembler` (see the module docs).

    State every parser keeps: ``model``, ``response_id`` and ``finish_reason`` (the vendor's
    raw finish reason, stop reason or status) for the response; ``terminal`` once the
    vendor's end-of-answer event arrived; ``events``, the JSON events read. Subclasses set
    ``end_marker`` / ``end_code`` (what a complete stream ends with, and the failure code
    when it does not) and ``not_an_object`` (the message for an event that is not a JSON
    object; ``{vendor}`` is filled in).
    """

    end_marker: ClassVar[str] = "its terminal event"
    end_code: ClassVar[str] = "stream_ended_before_terminal"
    not_an_object: ClassVar[str] = "{vendor} sent a stream event that is not an object"

    def __init__(
        self, on_event: StreamCallback | None, *, redact: Redactor, vendor: str, expose_reasoning: bool = True
    ) -> None:
        self.assembler = ResponseAssembler(on_event)
        self._redact = redact
        self._vendor = vendor
        self._expose = expose_reasoning
        self.model: str | None = None
        self.response_id: str | None = None
        self.finish_reason: str | None = None
        self.terminal = False
        self.events = 0

    # --- what a vendor parser says -------------------------------------------------------

    async def handle(self, kind: str, data: dict[str, Any]) -> None:
        """One typed stream event (``kind``: the ``type`` field, else the SSE event name)."""
        raise NotImplementedError

    async def feed_body(self, body: Any) -> None:
        """A whole buffered (non-streamed) answer."""
        raise NotImplementedError

    def terminal_reason(self) -> tuple[TerminalReason, str | None]:
        """The terminal reason of the answer (and a diagnostic)."""
        raise NotImplementedError

    def end_of_stream(self, data: str) -> bool | None:
        """For an event whose data is an end-of-stream marker (e.g. ``[DONE]``): whether
        to stop reading; ``None`` (the default) for ordinary events."""
        return None

    async def feed_data(self, event: SseEvent, data: Any) -> bool:
        """One decoded event; True to stop reading. By default events are typed objects
        dispatched to :meth:`handle`, and reading stops once the answer is terminal."""
        if not isinstance(data, dict):
            raise failure_error(
                stream_failure(self.not_an_object.format(vendor=self._vendor), code="malformed_event")
            )
        await self.handle(str(data.get("type") or event.event), data)
        return self.terminal

    # --- the shared machinery -----------------------------------------------------------

    async def feed_events(self, events: AsyncIterator[SseEvent] | Iterable[SseEvent]) -> None:
        """Every event of a stream, until the end of the answer or of the body; an async
        source is closed either way."""
        if isinstance(events, AsyncIterator):
            try:
                async for event in events:
                    if await self._event(event):
                        return
            finally:
                close = getattr(events, "aclose", None)
                if close is not None:
                    await close()
        else:
            for event in events:
                if await self._event(event):
                    return

    async def _event(self, event: SseEvent) -> bool:
        text = event.data.strip()
        if not text:
            return False
        end = self.end_of_stream(text)
        if end is not None:
            return end
        self.events += 1
        try:
            data = json.loads(text)
        except ValueError:
            raise failure_error(
                stream_failure(
                    f"{self._vendor} sent a stream event that is not JSON: {text[:120]!r}",
                    code="malformed_event",
                    redact=self._redact,
                )
            ) from None
        return await self.feed_data(event, data)

    def header(self, source: Any) -> None:
        """Take the model and the response id from a response (or message) object; later
        values win."""
        if isinstance(source, Mapping):
            self.model = source.get("model") or self.model
            self.response_id = source.get("id") or self.response_id

    def vendor_error(self, error: Any) -> ProviderError:
        """The classified error for an error object the vendor sent in its answer."""
        plain = dict(error) if isinstance(error, Mapping) else error
        return failure_error(classify_error_object(plain, vendor=self._vendor, redact=self._redact))

    def ended_early(self, marker: str | None = None) -> ProviderError:
        """The retryable ``stream`` failure of a stream that ended before ``marker``
        (default: ``end_marker``)."""
        return failure_error(
            stream_failure(
                f"{self._vendor}'s stream ended before {marker or self.end_marker} (after {self.events} "
                "events); the partial answer was discarded",
                code=self.end_code,
            )
        )

    def check_termination(self) -> None:
        """Fail (retryably) when the stream ended before the end of the answer."""
        if not self.terminal:
            raise self.ended_early()

    async def response(self) -> LlmResponse:
        """The final response (tool calls whose start was never reported report it now)."""
        await self.assembler.finish_tool_calls()
        reason, diagnostic = self.terminal_reason()
        return LlmResponse(
            parts=self.assembler.parts(),
            usage=self.assembler.usage,
            terminal_reason=reason,
            model=self.model,
            response_id=self.response_id,
            provider_finish_reason=self.finish_reason,
            terminal_diagnostic=diagnostic,
        )
