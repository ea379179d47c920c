"""Provider wire scripts: recorded or written HTTP exchanges replayed through httpx.

A **wire script** is a JSON file that drives a provider's real HTTP and parsing code
without a network. Format (``schema: "lash.wire-script.v1"``; unknown keys are errors)::

    {
      "schema": "lash.wire-script.v1",
      "name": "openai-chat-rate-limit-then-success",
      "description": "what this script shows",
      "provenance": {"kind": "provider_documentation", "source": "https://...", "notes": "..."},
      "exchanges": [                      # one per HTTP attempt, in order
        {
          "request": {                    # what the provider must send (never credentials
            "method": "POST",             # or user text): method, exact path, body
            "path": "/v1/chat/completions",   # matchers by dotted path with [i] indices,
            "body": {"model": {"equals": "gpt-4o"}, "messages[0].role": {"present": true}},
            "headers": {"authorization": {"present": true}}
          },
          "events": [                     # the timeline; "at_ms" (optional, non-decreasing)
            {"at_ms": 0, "type": "status", "status": 200,
             "headers": {"content-type": "text/event-stream"}},
            {"type": "sse", "data": {"any": "json"}, "event": "optional name"},
            {"type": "chunk", "text": "raw text"},     # or "hex": "e2 80", "base64": "..."
            {"type": "disconnect", "message": "peer closed connection"},
            {"type": "stall", "ms": 500},               # no "ms": stall forever
            {"type": "end"}
          ]
        }
      ],
      "expect": {"text": "...", "terminal_reason": "stop", "usage": {...}}  # free JSON for the test
    }

Other events: ``{"type": "body", "text"|"json": ...}`` (a buffered body),
``{"type": "http_error", "status": 429, "headers": {...}, "body": ...}`` (a whole error
response) and ``{"type": "transport_error", "error": "connect"|"read"|"timeout",
"message": ...}`` (the connection fails, before or during the body). Body matchers are
``present`` (bool), ``equals``, ``contains`` (substring, list element or object key),
``min_len``; header matchers are ``present``, ``equals``, ``contains``.

:class:`WireTransport` (an ``httpx.MockTransport``) replays scripts; a request that does
not match fails the test with the differences. :func:`load_corpus` reads the shared
corpus layout (``request.json``, ``response.sse|json``, ``status.txt``,
``expected.json``, ``source.txt``) and turns cases into scripts; :class:`CorpusReplay`,
:class:`WireCall` and the ``check_*`` helpers run cases and scripts through a provider
and assert what every provider must give. :class:`WireRecorder` wraps a live transport and
writes new scripts with credentials redacted.

Import the kit's wire names from this module (its ``__all__`` is their one list); they are
defined in :mod:`~lash_core.testing.wire_script` (the format and the replay),
:mod:`~lash_core.testing.wire_cases` (the corpus and the provider-test helpers) and
:mod:`~lash_core.testing.wire_record` (recording).
"""

from __future__ import annotations

from lash_core.testing.wire_cases import (
    CaseRun,
    CorpusCase,
    CorpusReplay,
    WireCall,
    check_corpus_error,
    check_corpus_response,
    check_corpus_stream,
    check_stream_events,
    corpus_request,
    load_corpus,
    load_corpus_case,
    raises_provider_error,
)
from lash_core.testing.wire_record import WireRecorder, redact_text
from lash_core.testing.wire_script import (
    SCHEMA,
    WireExchange,
    WireMismatch,
    WireScript,
    WireScriptError,
    WireTransport,
    load_script,
    load_scripts,
    match_request,
    sse_frame,
)

__all__ = [
    "SCHEMA",
    "CaseRun",
    "CorpusCase",
    "CorpusReplay",
    "WireCall",
    "WireExchange",
    "WireMismatch",
    "WireRecorder",
    "WireScript",
    "WireScriptError",
    "WireTransport",
    "check_corpus_error",
    "check_corpus_response",
    "check_corpus_stream",
    "check_stream_events",
    "corpus_request",
    "load_corpus",
    "load_corpus_case",
    "load_script",
    "load_scripts",
    "match_request",
    "raises_provider_error",
    "redact_text",
    "sse_frame",
]
