"""An API key never leaks: turns (one answered, one refused) run with a sentinel key through
the real CLI, config composition, provider, SQLite store and JSONL traces; every output, trace
file and the database are searched for it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from lash_core.cli import main

SENTINEL = "sk-lash-sentinel-7f3a9c1e5b2d4680"


def _sse(events: list[dict]) -> bytes:
    return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"


class _FakeOpenAI(BaseHTTPRequestHandler):
    """Answers like OpenAI: a streamed reply for the sentinel key, a 401 quoting the key otherwise
    (as the real API does), so redaction of error bodies is exercised too."""

    refuse = False

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        if _FakeOpenAI.refuse:
            body = json.dumps(
                {
                    "error": {
                        "message": f"Incorrect API key provided: {SENTINEL}.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                        "param": None,
                    }
                }
            ).encode()
            self.send_response(401)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        chunk = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-test", "choices": []}
        events = [
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hello"}}]},
            {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {**chunk, "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}},
        ]
        body = _sse(events)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def fake_openai() -> Iterator[str]:
    """A loopback server speaking the Chat Completions API."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        _FakeOpenAI.refuse = False


def test_the_api_key_appears_in_no_output_trace_or_database(fake_openai: str, tmp_path: Path) -> None:
    """A sentinel key used by a successful and a failing turn is found nowhere afterwards."""
    data = tmp_path / "data"
    config = tmp_path / "lash.toml"
    config.write_text(
        f"""
[model]
id = "gpt-test"

[providers.default]
type = "openai"
settings = {{ api_key = "$env:LASH_SENTINEL_KEY", base_url = "{fake_openai}", retry = {{ max_attempts = 1 }} }}

[store]
type = "sqlite"
settings = {{ path = "{data / "sessions.db"}" }}

[[trace_sinks]]
type = "jsonl"
settings = {{ directory = "{data / "traces"}" }}
""",
        encoding="utf-8",
    )
    env = {"LASH_SENTINEL_KEY": SENTINEL, "LASH_DATA_DIR": str(data), "OPENAI_API_KEY": ""}
    runner = CliRunner()
    ok = runner.invoke(main, ["run", "--config", str(config), "--session", "s1", "--json", "hi"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "hello" in ok.output
    _FakeOpenAI.refuse = True
    failed = runner.invoke(main, ["run", "--config", str(config), "--session", "s1", "hi again"], env=env)
    assert failed.exit_code == 1, failed.output
    assert "Incorrect API key" in failed.output  # the vendor's message arrives, the key does not

    outputs = [ok.output, failed.output, ok.stderr if ok.stderr_bytes else "", failed.stderr or ""]
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in files) and any(p.name.startswith("sessions.db") for p in files)
    for text in outputs:
        assert SENTINEL not in text
    for path in files:
        assert SENTINEL.encode() not in path.read_bytes(), f"the key leaked into {path}"
