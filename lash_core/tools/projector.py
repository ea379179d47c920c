"""What the model sees of a tool result: rendering and the size budget.

:func:`render_output` turns a :class:`ToolCallOutput` into text. :class:`BudgetProjector`
keeps that text within a byte and a line budget by cutting the middle out; the full
output is stored with the session either way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from attrs import Factory, define, field, frozen
from attrs.validators import ge, le

from lash_core.model.tools import CancelledOutcome, FailureOutcome, SuccessOutcome, ToolCallOutput
from lash_core.tools.contract import ToolInvocation

__all__ = ["MIN_LIMIT_BYTES", "BudgetProjector", "render_output"]

MIN_LIMIT_BYTES = 256
"""The smallest byte budget: room for the cut marker and some content."""

_ENCODING = "utf-8"
_ERRORS = "surrogatepass"  # tool text may carry lone surrogates (e.g. surrogateescape-decoded bytes)


def render_output(output: ToolCallOutput) -> str:
    """The text of a tool result.

    Success: a string verbatim, any other value as JSON (non-JSON values via ``str``).
    Failure: ``error [<code>]: <message>``. Cancelled: ``cancelled: <reason>``.
    """
    outcome = output.outcome
    if isinstance(outcome, SuccessOutcome):
        if isinstance(outcome.value, str):
            return outcome.value
        return json.dumps(outcome.value, ensure_ascii=False, default=str)
    if isinstance(outcome, FailureOutcome):
        return f"error [{outcome.failure.code}]: {outcome.failure.message}"
    if isinstance(outcome, CancelledOutcome):
        return f"cancelled: {outcome.reason}"
    raise TypeError(f"unknown tool outcome {outcome!r}")


def cut_marker(lines: int, nbytes: int) -> str:
    """The line that stands for the cut middle of an output."""
    unit = "line" if lines == 1 else "lines"
    return (
        f"[... {lines} {unit} ({nbytes} bytes) cut by lash: the full output is stored with the session ...]"
    )


@frozen
class BudgetProjector:
    """Keeps tool results within ``limit_bytes`` UTF-8 bytes and ``max_lines`` lines.

    A result within both budgets is returned unchanged (the same string object). A
    larger one keeps a head and a tail with one marker line in between (see
    :func:`cut_marker`); the result, **marker included**, is within both budgets.
    ``head_fraction`` of each budget goes to the head, the rest (plus what the head did
    not use) to the tail. Whole lines are kept; when not even one line fits on a side,
    that side keeps part of its nearest line, so a single enormous line is cut too. Cuts
    never split a UTF-8 character. A trailing newline counts as ending the last line,
    not as starting an empty one.
    """

    limit_bytes: int = field(default=16384, validator=ge(MIN_LIMIT_BYTES))
    max_lines: int = field(default=400, validator=ge(2))
    head_fraction: float = field(default=0.5, validator=[ge(0.0), le(1.0)])

    def project(self, call: ToolInvocation, output: ToolCallOutput) -> str:
        """The model-visible text of ``output``: rendered, then fitted to the budget."""
        return self.fit(render_output(output))

    def fit(self, text: str) -> str:
        """``text`` if it is within both budgets, otherwise its head and tail around a marker."""
        if len(text) <= self.limit_bytes and _line_count(text) <= self.max_lines:
            if len(text) * 4 <= self.limit_bytes or text.isascii() or _size(text) <= self.limit_bytes:
                return text
        return self._cut(text)

    def _cut(self, text: str) -> str:
        trailing = "\n" if text.endswith("\n") else ""
        body = text[: len(text) - len(trailing)]
        total_lines = _line_count(text)
        total_bytes = len(text) if text.isascii() else _size(text)
        marker_room = len(cut_marker(max(total_lines, 2), total_bytes))  # the real counts have no more digits
        bytes_left = self.limit_bytes - marker_room - len(trailing)
        lines_left = self.max_lines - 1

        head = _keep_head(body, int(lines_left * self.head_fraction), int(bytes_left * self.head_fraction))
        tail = _keep_tail(body, head.boundary, lines_left - head.lines, bytes_left - head.cost)

        # Cut bytes are those of the lines not shown whole, each with its newline; the head's
        # last newline is shown (before the marker), the one before the tail is cut.
        shown = (head.cost if head.whole else max(head.cost - 1, 0)) + max(tail.cost - 1, 0) + len(trailing)
        marker = cut_marker(total_lines - head.whole - tail.whole, total_bytes - shown)
        return "\n".join([*head.pieces, marker, *tail.pieces]) + trailing


@define
class _Kept:
    """What one side (head or tail) keeps of the text.

    ``cost`` counts the kept bytes plus one newline (the separator next to the marker):
    exactly what the side adds to the result. ``boundary`` is the body index the other
    side must not reach back over (for the head: where its kept text ends).
    """

    pieces: list[str] = Factory(list)
    whole: int = 0
    cost: int = 0
    boundary: int = 0

    @property
    def lines(self) -> int:
        """Lines this side adds to the result."""
        return max(self.whole, 1) if self.pieces else 0

    def keep(self, piece: str, size: int, whole: int) -> None:
        """Keep ``piece`` of ``size`` bytes holding ``whole`` complete lines."""
        self.pieces = [piece]
        self.whole = whole
        self.cost = size + 1


def _keep_head(body: str, max_lines: int, max_bytes: int) -> _Kept:
    """The first whole lines of ``body`` that fit, else a prefix of its first line."""
    kept = _Kept()
    whole, size, stop = 0, 0, 0
    for start, end in _forward(body):
        if whole >= max_lines:
            break
        line_size = _size_within(body, start, end, max_bytes - size - 1 - (whole > 0))
        if line_size is None:
            break
        whole, size, stop = whole + 1, size + line_size + (whole > 0), end
    if whole:
        kept.keep(body[:stop], size, whole)
        kept.boundary = stop + 1
    elif max_lines >= 1 and max_bytes >= 2:
        first_end = body.find("\n")
        if first_end == -1:
            first_end = len(body)
        piece = _prefix(body[: min(first_end, max_bytes - 1)], max_bytes - 1)
        if piece:
            kept.keep(piece, _size(piece), 0)
            kept.boundary = len(piece)
    return kept


def _keep_tail(body: str, boundary: int, max_lines: int, max_bytes: int) -> _Kept:
    """The last whole lines of ``body`` from ``boundary`` on that fit, else a suffix of its last line."""
    kept = _Kept()
    whole, size, first = 0, 0, len(body)
    for start, end in _backward(body):
        if start < boundary or whole >= max_lines:
            break
        line_size = _size_within(body, start, end, max_bytes - size - 1 - (whole > 0))
        if line_size is None:
            break
        whole, size, first = whole + 1, size + line_size + (whole > 0), start
    if whole:
        kept.keep(body[first:], size, whole)
    elif max_lines >= 1 and max_bytes >= 2:
        low = max(body.rfind("\n") + 1, boundary, len(body) - (max_bytes - 1))
        piece = _suffix(body[low:], max_bytes - 1)
        if piece:
            kept.keep(piece, _size(piece), 0)
    return kept


def _size_within(body: str, start: int, end: int, room: int) -> int | None:
    """The UTF-8 size of ``body[start:end]`` if it is at most ``room`` bytes, else None."""
    if end - start > room:  # every character is at least one byte
        return None
    size = _size(body[start:end])
    return size if size <= room else None


def _line_count(text: str) -> int:
    """Lines of ``text``; a trailing newline ends the last line rather than starting one."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def _size(text: str) -> int:
    return len(text.encode(_ENCODING, _ERRORS))


def _forward(body: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each line of ``body``, first to last."""
    start = 0
    while True:
        end = body.find("\n", start)
        if end == -1:
            yield start, len(body)
            return
        yield start, end
        start = end + 1


def _backward(body: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each line of ``body``, last to first."""
    end = len(body)
    while True:
        start = body.rfind("\n", 0, end) + 1
        yield start, end
        if start == 0:
            return
        end = start - 1


def _prefix(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-8 bytes."""
    data = text.encode(_ENCODING, _ERRORS)
    if len(data) <= limit:
        return text
    cut = limit
    while cut > 0 and data[cut] & 0xC0 == 0x80:  # never split a character
        cut -= 1
    return data[:cut].decode(_ENCODING, _ERRORS)


def _suffix(text: str, limit: int) -> str:
    """The longest suffix of ``text`` within ``limit`` UTF-8 bytes."""
    data = text.encode(_ENCODING, _ERRORS)
    if len(data) <= limit:
        return text
    cut = len(data) - limit
    while cut < len(data) and data[cut] & 0xC0 == 0x80:
        cut += 1
    return data[cut:].decode(_ENCODING, _ERRORS)
