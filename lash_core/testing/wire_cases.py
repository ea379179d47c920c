"""Provider test cases over wire scripts: the shared recorded corpus and the helpers that
replay cases and scripts through a provider's real HTTP and parsing code.

* :func:`load_corpus` / :func:`load_corpus_case` read the corpus layout (``request.json``,
  ``response.sse|json``, ``status.txt``, ``expected.json``, ``source.txt``);
  :meth:`CorpusCase.to_script` makes a case a script;
* :class:`CorpusReplay` replays cases through a provider and keeps the stream events;
  :func:`check_corpus_response`, :func:`check_corpus_stream`, :func:`check_corpus_error`
  and :func:`check_stream_events` assert what every provider's replay must give;
* :class:`WireCall` runs one call of a provider (built by a subclass from the settings a
  test passes) over a script, keeping the stream events and the retry ladder's waits;
  :func:`raises_provider_error` awaits a call that must fail.

The public names are exported by :mod:`lash_core.testing.wire`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
from attrs import define, field

from lash_core import model
from lash_core.errors import ProviderError
from lash_core.providers import Provider
from lash_core.testing.wire_script import WireExchange, WireScript, WireTransport, load_script

_CORPUS_ERROR_KINDS = {400: model.ProviderFailureKind.VALIDATION, 404: model.ProviderFailureKind.UNSUPPORTED}


@define
class CorpusCase:
    """One recorded case of the shared wire corpus."""

    name: str
    path: Path
    request: dict[str, Any]
    status: int
    body: bytes
    streaming: bool
    expected: dict[str, Any]
    endpoint: str

    def to_script(self, *, chunk_size: int | None = None, match: Iterable[str] = ("model",)) -> WireScript:
        """The case as a one-exchange script; ``chunk_size`` splits the body into chunks of
        that many bytes (splitting UTF-8 sequences); ``match`` lists request body fields that
        must equal the recorded request's."""
        body_match = {key: {"equals": self.request[key]} for key in match if key in self.request}
        content_type = "text/event-stream; charset=utf-8" if self.streaming else "application/json"
        events: list[dict[str, Any]] = [
            {"type": "status", "status": self.status, "headers": {"content-type": content_type}}
        ]
        size = chunk_size or max(1, len(self.body))
        for start in range(0, len(self.body), size):
            events.append({"type": "chunk", "hex": self.body[start : start + size].hex()})
        events.append({"type": "end"})
        request = {"method": "POST", "path": self.endpoint, "body": body_match}
        return WireScript(self.name, [WireExchange(request, events)], expect=self.expected)


def load_corpus_case(directory: str | Path) -> CorpusCase:
    """Read one corpus case directory (see the module docs for the layout)."""
    root = Path(directory)
    sse = root / "response.sse"
    body_file = sse if sse.exists() else root / "response.json"
    source = (root / "source.txt").read_text(encoding="utf-8") if (root / "source.txt").exists() else ""
    match = re.search(r"recorded request: POST https?://[^/\s]+(\S+)", source)
    return CorpusCase(
        name=root.name,
        path=root,
        request=json.loads((root / "request.json").read_text(encoding="utf-8")),
        status=int((root / "status.txt").read_text(encoding="utf-8").strip()),
        body=body_file.read_bytes(),
        streaming=sse.exists(),
        expected=json.loads((root / "expected.json").read_text(encoding="utf-8")),
        endpoint=match.group(1) if match else "",
    )


def load_corpus(root: str | Path, prefix: str = "") -> list[CorpusCase]:
    """Every case directory under ``root`` whose name starts with ``prefix``, by name."""
    return [
        load_corpus_case(d)
        for d in sorted(Path(root).iterdir())
        if d.is_dir() and d.name.startswith(prefix) and (d / "expected.json").exists()
    ]


# --- replaying cases ----------------------------------------------------------------------

CaseRun = tuple[model.LlmResponse, list[model.LlmStreamEvent], WireTransport]
"""What a replayed case gives: the response, the stream events and the transport."""


def corpus_request(case: CorpusCase) -> model.LlmRequest:
    """The request a case is replayed with: one user message, the recorded request's model
    (the script matches the model only, never the text)."""
    text = model.Part("m1.p0", model.PartKind.TEXT, "replayed question")
    message = model.Message("m1", model.Role.USER, (text,))
    return model.LlmRequest(
        model=model.ModelSpec(case.request["model"]), system_prompt="", messages=(message,)
    )


def _case_script(case: CorpusCase, chunk_size: int | None) -> WireScript:
    return case.to_script(chunk_size=chunk_size)


@define
class CorpusReplay:
    """Replays corpus cases through a provider's real HTTP and parsing code.

    ``provider(case, client)`` builds the provider under test on the replaying client;
    ``script(case, chunk_size)`` makes a case a script (default: :meth:`CorpusCase.to_script`).
    """

    provider: Callable[[CorpusCase, httpx.AsyncClient], Provider]
    script: Callable[[CorpusCase, int | None], WireScript] = field(default=_case_script)

    async def run(self, case: CorpusCase, *, stream: bool, chunk_size: int | None = None) -> CaseRun:
        """Replay ``case`` (its body split into ``chunk_size``-byte chunks when given); the
        call streams when ``stream``. Every scripted exchange must have been requested."""
        transport = WireTransport(self.script(case, chunk_size))
        events: list[model.LlmStreamEvent] = []

        async def on_event(event: model.LlmStreamEvent) -> None:
            events.append(event)

        async with httpx.AsyncClient(transport=transport) as client:
            provider = self.provider(case, client)
            response = await provider.complete(corpus_request(case), on_event if stream else None)
        transport.assert_done()
        return response, events, transport

    async def check_buffered_matches_streamed(self, case: CorpusCase) -> None:
        """A non-streaming call served the same (streamed) body yields the same final response,
        and reports no stream events."""
        streamed, _, _ = await self.run(case, stream=True)
        buffered, events, _ = await self.run(case, stream=False)
        assert buffered == streamed
        assert events == []

    async def failure(self, case: CorpusCase) -> model.ProviderFailure:
        """Replay a recorded HTTP error (buffered): the classified failure, after checking what
        every provider must say of it (:func:`check_corpus_error`)."""
        _, failure = await raises_provider_error(self.run(case, stream=False))
        check_corpus_error(case, failure)
        return failure


def check_corpus_response(case: CorpusCase, response: model.LlmResponse) -> None:
    """What every provider's response to a successful case must say: the text, the tool calls
    (ids, names, arguments), the finish reason, model and response id as recorded in
    ``expected.json``, and a terminal reason of tool use or stop. Usage is vendor-specific."""
    expected = case.expected
    assert response.text == expected["text"]
    calls = [(c.call_id, c.name, json.loads(c.arguments)) for c in response.tool_calls]
    assert calls == [(t["id"], t["name"], t["arguments"]) for t in expected["tool_calls"]]
    assert response.provider_finish_reason == expected["finish_reason"]
    assert response.model == expected["model"]
    assert response.response_id == expected["response_id"]
    stop = model.TerminalReason.TOOL_USE if calls else model.TerminalReason.STOP
    assert response.terminal_reason is stop


def check_corpus_error(case: CorpusCase, failure: model.ProviderFailure) -> None:
    """What every provider's failure for a recorded HTTP error must say: the status, the
    vendor's message, not retryable, and ``validation`` (400) or ``unsupported`` (404)."""
    assert failure.status == case.expected["http_status"]
    assert case.expected["error"]["message"] in failure.message
    assert failure.retryable is False
    assert failure.kind is _CORPUS_ERROR_KINDS[case.status]


def check_corpus_stream(case: CorpusCase, run: CaseRun) -> None:
    """A streamed case was requested with ``stream: true`` and its events add up to the
    response (:func:`check_stream_events`); a buffered one was requested without ``stream``."""
    response, events, transport = run
    if case.streaming:
        check_stream_events(response, events)
        assert transport.bodies[0]["stream"] is True
    else:
        assert "stream" not in transport.bodies[0]


def check_stream_events(response: model.LlmResponse, events: list[model.LlmStreamEvent]) -> None:
    """The stream events add up to the response: text and reasoning deltas to its text and
    reasoning, tool-call starts (indexed in order) and argument deltas to its tool calls, and
    the last usage event is its usage."""
    assert "".join(e.text for e in events if isinstance(e, model.StreamTextDelta)) == response.text
    reasoning = "".join(p.text for p in response.parts if isinstance(p, model.LlmReasoningPart))
    assert "".join(e.text for e in events if isinstance(e, model.StreamReasoningDelta)) == reasoning
    starts = [e for e in events if isinstance(e, model.StreamToolCallStart)]
    assert [(s.index, s.call_id, s.name) for s in starts] == [
        (i, c.call_id, c.name) for i, c in enumerate(response.tool_calls)
    ]
    for index, call in enumerate(response.tool_calls):
        deltas = [e for e in events if isinstance(e, model.StreamToolCallDelta) and e.index == index]
        assert "".join(e.arguments for e in deltas) == call.arguments
    usage = [e.usage for e in events if isinstance(e, model.StreamUsage)]
    assert usage and usage[-1] == response.usage


# --- one call over a script ---------------------------------------------------------------


async def raises_provider_error(call: Awaitable[Any]) -> tuple[ProviderError, model.ProviderFailure]:
    """Await ``call``, which must raise a :class:`ProviderError` carrying a classified
    :class:`~lash_core.model.ProviderFailure`; returns both."""
    try:
        await call
    except ProviderError as exc:
        failure = exc.failure
        assert isinstance(failure, model.ProviderFailure)
        return exc, failure
    raise AssertionError("the call did not raise ProviderError")


class WireCall:
    """Runs one provider call over a script and keeps events, waits and requests.

    A subclass builds the provider in :meth:`provider` from the settings a test passes
    (``api_key`` defaults to ``key``) on the replaying client, with :meth:`sleep` as the
    retry ladder's sleep (it records the waits and returns at once). ``scripts`` is the
    directory of the scripts a test names (``<name>.json``). ``events`` are the stream
    events, ``waits`` the ladder's sleeps, ``transport`` the last replaying transport.
    """

    def __init__(self, request: model.LlmRequest, *, key: str, scripts: str | Path | None = None) -> None:
        self.request = request
        self.key = key
        self.scripts = None if scripts is None else Path(scripts)
        self.events: list[model.LlmStreamEvent] = []
        self.waits: list[float] = []
        self.transport: WireTransport | None = None

    def provider(self, settings: dict[str, Any], client: httpx.AsyncClient) -> Provider:
        """The provider under test, built from ``settings`` on ``client``."""
        raise NotImplementedError

    async def on_event(self, event: model.LlmStreamEvent) -> None:
        """Keep a stream event."""
        self.events.append(event)

    async def sleep(self, seconds: float) -> None:
        """Record a wait of the retry ladder (without waiting)."""
        self.waits.append(seconds)

    async def run(
        self, script: WireScript | str, *, stream: bool = True, **settings: Any
    ) -> model.LlmResponse:
        """Call the provider over ``script`` (or the script of that name in ``scripts``)."""
        if isinstance(script, str):
            if self.scripts is None:
                raise ValueError(f"script {script!r} is named, but this call has no scripts directory")
            script = load_script(self.scripts / f"{script}.json")
        self.transport = WireTransport(script)
        settings.setdefault("api_key", self.key)
        async with httpx.AsyncClient(transport=self.transport) as client:
            provider = self.provider(settings, client)
            return await provider.complete(self.request, self.on_event if stream else None)

    async def fail(self, script: WireScript | str, **settings: Any) -> model.ProviderFailure:
        """Like :meth:`run` for a call that must fail; the key appears nowhere in the failure."""
        error, failure = await raises_provider_error(self.run(script, **settings))
        assert self.key not in str(error) and self.key not in (failure.raw or "")
        return failure
