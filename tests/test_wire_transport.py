"""Wire scripts: the file format, replay through httpx, the corpus loader and the recorder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from lash_core.testing.wire import (
    SCHEMA,
    WireExchange,
    WireMismatch,
    WireRecorder,
    WireScript,
    WireScriptError,
    WireTransport,
    load_corpus,
    load_script,
    load_scripts,
    sse_frame,
)

CORPUS = (
    Path(__file__).resolve().parents[1] / "plugins" / "lash-provider-openai" / "tests" / "fixtures" / "wire"
)


def _script(*events: dict[str, Any], request: dict[str, Any] | None = None) -> WireScript:
    return WireScript("test", [WireExchange(request or {}, list(events))])


async def _post(
    transport: httpx.AsyncBaseTransport, body: Any = None, path: str = "/v1/chat"
) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport, base_url="https://api.example.test") as client:
        response = await client.post(
            path, json=body or {"model": "m"}, headers={"authorization": "Bearer sk-x"}
        )
        await response.aread()
        return response


def test_load_script_validates_the_format(tmp_path: Path) -> None:
    """Bad scripts fail with the file and field named."""
    good = {"schema": SCHEMA, "name": "n", "exchanges": [{"request": {}, "events": [{"type": "end"}]}]}
    assert load_script(good).name == "n"
    cases = [
        ({**good, "schema": "other"}, "schema"),
        ({**good, "extra": 1}, "unknown keys"),
        ({**good, "exchanges": []}, "non-empty"),
        ({**good, "exchanges": [{"request": {}, "events": [{"type": "nope"}]}]}, "unknown event type"),
        ({**good, "exchanges": [{"request": {}, "events": [{"type": "end", "x": 1}]}]}, "unknown keys"),
        (
            {
                **good,
                "exchanges": [
                    {"request": {}, "events": [{"type": "end", "at_ms": 5}, {"type": "end", "at_ms": 1}]}
                ],
            },
            "never decreasing",
        ),
        (
            {**good, "exchanges": [{"request": {"body": {"a": {"like": 1}}}, "events": [{"type": "end"}]}]},
            "matcher",
        ),
        ({**good, "exchanges": [{"request": {}, "events": [{"type": "chunk"}]}]}, "exactly one"),
    ]
    for data, message in cases:
        with pytest.raises(WireScriptError, match=message):
            load_script(data)
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(WireScriptError, match=r"broken\.json"):
        load_script(path)


def test_load_scripts_reads_a_directory(tmp_path: Path) -> None:
    """Every JSON file in a directory loads, keyed by stem."""
    data = {"schema": SCHEMA, "name": "a", "exchanges": [{"request": {}, "events": [{"type": "end"}]}]}
    (tmp_path / "first.json").write_text(json.dumps(data))
    assert list(load_scripts(tmp_path)) == ["first"]


@pytest.mark.anyio
async def test_replay_produces_the_scripted_bytes() -> None:
    """Status, headers, SSE frames and raw chunks (text and hex) come out as written."""
    script = _script(
        {"type": "status", "status": 200, "headers": {"x-request-id": "r1"}},
        {"type": "sse", "data": {"a": 1}, "event": "delta"},
        {"type": "chunk", "hex": "c3"},
        {"type": "chunk", "text": "\u00a9 done"},
        {"type": "end"},
    )
    response = await _post(WireTransport(script))
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "r1"
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == b'event: delta\ndata: {"a":1}\n\n' + b"\xc3" + "\u00a9 done".encode()


def test_sse_frame_splits_multiline_data() -> None:
    """Multi-line data becomes one ``data:`` line per line."""
    assert sse_frame("a\nb") == b"data: a\ndata: b\n\n"


@pytest.mark.anyio
async def test_an_http_error_event_is_a_whole_response() -> None:
    """``http_error`` gives status, headers and a JSON body."""
    script = _script({"type": "http_error", "status": 429, "headers": {"retry-after": "3"}, "body": {"e": 1}})
    response = await _post(WireTransport(script))
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    assert response.json() == {"e": 1}


@pytest.mark.anyio
async def test_transport_errors_and_disconnects() -> None:
    """A transport error before the response and a disconnect mid-body raise httpx errors."""
    with pytest.raises(httpx.ConnectError, match="refused"):
        await _post(WireTransport(_script({"type": "transport_error", "message": "refused"})))
    broken = _script(
        {"type": "status", "status": 200}, {"type": "chunk", "text": "x"}, {"type": "disconnect"}
    )
    with pytest.raises(httpx.RemoteProtocolError):
        await _post(WireTransport(broken))


@pytest.mark.anyio
async def test_at_ms_drives_an_injected_sleep() -> None:
    """With a sleep, the transport waits the gaps between ``at_ms`` times."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    script = _script(
        {"type": "status", "status": 200, "at_ms": 100},
        {"type": "chunk", "text": "a", "at_ms": 100},
        {"type": "chunk", "text": "b", "at_ms": 350},
        {"type": "end", "at_ms": 400},
    )
    response = await _post(WireTransport(script, sleep=sleep))
    assert response.content == b"ab"
    assert waits == [0.1, 0.25, 0.05]


@pytest.mark.anyio
async def test_a_finite_stall_just_delays() -> None:
    """A ``stall`` with ``ms`` pauses the body that long, then continues."""
    script = _script(
        {"type": "status", "status": 200}, {"type": "stall", "ms": 1}, {"type": "chunk", "text": "x"}
    )
    assert (await _post(WireTransport(script))).content == b"x"


@pytest.mark.anyio
async def test_requests_are_matched() -> None:
    """Method, path, body and header matchers must all hold, or the test fails with the differences."""
    request = {
        "method": "POST",
        "path": "/v1/chat",
        "body": {
            "model": {"equals": "m"},
            "messages": {"min_len": 2},
            "messages[0].role": {"equals": "system"},
            "messages[1].content": {"contains": "hello"},
            "tools": {"present": False},
            "flags": {"contains": "a"},
        },
        "headers": {"authorization": {"present": True}},
    }
    body = {
        "model": "m",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "well hello"}],
        "flags": ["a", "b"],
    }
    ok = _script({"type": "status", "status": 204}, request=request)
    assert (await _post(WireTransport(ok), body)).status_code == 204
    with pytest.raises(WireMismatch) as caught:
        await _post(WireTransport(ok), {"model": "other", "messages": [], "tools": []}, path="/v2/x")
    text = str(caught.value)
    for fragment in (
        "path",
        "body.model",
        "body.messages: expected at least 2",
        "body.tools: expected absent",
    ):
        assert fragment in text


@pytest.mark.anyio
async def test_running_out_of_exchanges_fails_loudly() -> None:
    """One request too many is a WireMismatch; unused exchanges fail ``assert_done``."""
    transport = WireTransport(_script({"type": "status", "status": 200}))
    await _post(transport)
    with pytest.raises(WireMismatch, match="every scripted exchange was used"):
        await _post(transport)
    spare = WireTransport(_script({"type": "status", "status": 200}))
    with pytest.raises(WireMismatch, match="never requested"):
        spare.assert_done()


@pytest.mark.anyio
async def test_bodies_and_requests_are_kept() -> None:
    """The transport keeps every request and its parsed JSON body."""
    transport = WireTransport(_script({"type": "status", "status": 200}))
    await _post(transport, {"model": "m", "x": 1})
    assert transport.bodies == [{"model": "m", "x": 1}]
    assert transport.requests[0].url.path == "/v1/chat"
    assert transport.remaining == 0


def test_the_corpus_loader_reads_the_shared_layout() -> None:
    """Corpus cases load with their request, status, body, expectations and endpoint."""
    cases = load_corpus(CORPUS, "openai-")
    assert len(cases) == 10
    text = next(c for c in cases if c.name == "openai-chat-stream-text")
    assert text.streaming and text.status == 200 and text.endpoint == "/v1/chat/completions"
    assert text.expected["text"] == "The capital of Mexico is Mexico City."
    error = next(c for c in cases if c.name == "openai-error-404-model-not-found")
    assert not error.streaming and error.status == 404


@pytest.mark.anyio
async def test_a_corpus_case_replays_byte_for_byte_in_chunks() -> None:
    """``to_script(chunk_size=...)`` replays the exact recorded body, split into chunks."""
    case = next(c for c in load_corpus(CORPUS, "openai-responses-stream-reasoning-summary"))
    script = case.to_script(chunk_size=5)
    assert sum(1 for e in script.exchanges[0].events if e["type"] == "chunk") > 1000
    response = await _post(WireTransport(script), {"model": case.request["model"]}, path=case.endpoint)
    assert response.content == case.body


@pytest.mark.anyio
async def test_the_recorder_redacts_credentials_and_replays(tmp_path: Path) -> None:
    """A recorded exchange has no credentials left, and replays to the same body otherwise."""
    secret_body = (
        sse_frame({"echo": "Bearer sk-x", "access_token": "tok-123456"})
        + sse_frame({"text": "hi", "org": "org-SECRET"})
        + b"data: [DONE]\n\n"
    )

    def live(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream", "set-cookie": "session=abc", "x-request-id": "r1"},
            content=secret_body,
        )

    recorder = WireRecorder(httpx.MockTransport(live), secrets=["org-SECRET"])
    live_response = await _post(recorder, {"model": "m", "stream": True, "messages": ["private user text"]})
    assert live_response.content == secret_body
    path = recorder.save(tmp_path / "recorded.json", "recorded")
    saved = path.read_text()
    for secret in ("sk-x", "tok-123456", "org-SECRET", "session=abc", "private user text"):
        assert secret not in saved
    script = load_script(path)
    exchange = script.exchanges[0]
    assert exchange.request["body"] == {"model": {"equals": "m"}, "stream": {"equals": True}}
    assert exchange.events[0]["headers"]["set-cookie"] == "[REDACTED]"
    replayed = await _post(WireTransport(script), {"model": "m", "stream": True})
    assert b'"text":"hi"' in replayed.content and replayed.content.endswith(b"data: [DONE]\n\n")


@pytest.mark.anyio
async def test_the_recorder_refuses_binary_bodies() -> None:
    """A body that is not UTF-8 cannot be recorded."""
    recorder = WireRecorder(httpx.MockTransport(lambda request: httpx.Response(200, content=b"\xff\xfe")))
    with pytest.raises(WireScriptError, match="not UTF-8"):
        await _post(recorder)
