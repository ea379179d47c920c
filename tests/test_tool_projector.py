"""Rendering tool results and fitting them into the model-visible budget."""

from __future__ import annotations

import re

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lash_core.model.tools import (
    CancelledOutcome,
    FailureOutcome,
    SuccessOutcome,
    ToolCallOutput,
    ToolFailure,
    ToolFailureClass,
)
from lash_core.tools import BudgetProjector, ToolInvocation, ToolResultProjector, render_output

CALL = ToolInvocation(call_id="c1", name="read", args={})
MARKER = re.compile(
    r"\[\.\.\. (\d+) lines? \((\d+) bytes\) cut by lash: the full output is stored with the session \.\.\.\]"
)


def size(text: str) -> int:
    """UTF-8 size of ``text``."""
    return len(text.encode("utf-8"))


def lines(text: str) -> int:
    """Lines of ``text``, a trailing newline not starting another."""
    return len(text.splitlines())


def test_render_string_verbatim() -> None:
    """A string success is shown as is."""
    assert render_output(ToolCallOutput(SuccessOutcome("héllo\n"))) == "héllo\n"


def test_render_value_as_json() -> None:
    """Other values are JSON, non-ASCII kept."""
    assert render_output(ToolCallOutput(SuccessOutcome({"a": [1, "é"]}))) == '{"a": [1, "é"]}'


def test_render_none_as_null() -> None:
    """A success without value renders as JSON null."""
    assert render_output(ToolCallOutput(SuccessOutcome())) == "null"


def test_render_failure() -> None:
    """A failure shows its code and message."""
    failure = ToolFailure(ToolFailureClass.EXECUTION, "not_found", "no such file: a.txt")
    assert render_output(ToolCallOutput(FailureOutcome(failure))) == "error [not_found]: no such file: a.txt"


def test_render_cancelled() -> None:
    """A cancelled call shows its reason."""
    assert render_output(ToolCallOutput(CancelledOutcome("turn cancelled"))) == "cancelled: turn cancelled"


def test_projector_implements_protocol() -> None:
    """BudgetProjector is a ToolResultProjector."""
    assert isinstance(BudgetProjector(), ToolResultProjector)


def test_fast_path_returns_same_object() -> None:
    """Text within budget is returned unchanged, without a copy."""
    text = "line\n" * 400
    assert BudgetProjector().fit(text) is text


def test_fast_path_non_ascii_within_budget() -> None:
    """Non-ASCII text within the byte budget is unchanged."""
    text = "é" * 8000  # 16000 bytes
    assert BudgetProjector().fit(text) is text


def test_project_renders_then_fits() -> None:
    """``project`` renders the output and applies the budget."""
    output = ToolCallOutput(SuccessOutcome({"k": "v"}))
    assert BudgetProjector().project(CALL, output) == '{"k": "v"}'


def test_line_budget_keeps_head_and_tail() -> None:
    """Too many lines: head and tail lines around one marker line."""
    text = "".join(f"line {i}\n" for i in range(1000))
    result = BudgetProjector(max_lines=11).fit(text)
    assert result.splitlines() == [
        *(f"line {i}" for i in range(5)),
        "[... 990 lines (8810 bytes) cut by lash: the full output is stored with the session ...]",
        *(f"line {i}" for i in range(995, 1000)),
    ]


def test_line_budget_includes_marker() -> None:
    """The result, marker included, has at most ``max_lines`` lines."""
    result = BudgetProjector(max_lines=50).fit("x\n" * 500)
    assert lines(result) == 50


def test_trailing_newline_is_kept() -> None:
    """The cut result ends with a newline when the output did."""
    assert BudgetProjector(max_lines=3).fit("a\nb\nc\nd\n").endswith("\nd\n")


def test_byte_budget() -> None:
    """Too many bytes in few lines: the result, marker included, fits the byte budget."""
    text = "\n".join("y" * 99 for _ in range(100))
    result = BudgetProjector(limit_bytes=1000).fit(text)
    assert size(result) <= 1000 and MARKER.search(result)


def test_marker_counts_what_was_cut() -> None:
    """The marker's counts add up with what is shown."""
    text = "\n".join(f"{i:03d}" + "z" * 96 for i in range(100))
    result = BudgetProjector(limit_bytes=1000).fit(text)
    match = MARKER.search(result)
    assert match is not None
    shown = result.replace(match.group(0), "").split("\n")
    shown_lines = [line for line in shown if line]
    assert int(match.group(1)) + len(shown_lines) == 100
    assert int(match.group(2)) + size("\n".join(shown_lines)) == size(text)


def test_head_fraction_favours_head() -> None:
    """``head_fraction=1`` keeps only the head."""
    result = BudgetProjector(max_lines=4, head_fraction=1.0).fit("a\nb\nc\nd\ne\nf")
    assert (
        result
        == "a\nb\nc\n[... 3 lines (5 bytes) cut by lash: the full output is stored with the session ...]"
    )


def test_head_fraction_zero_keeps_tail() -> None:
    """``head_fraction=0`` keeps only the tail."""
    result = BudgetProjector(max_lines=3, head_fraction=0.0).fit("a\nb\nc\nd")
    assert result.endswith("...]\nc\nd")


def test_single_huge_line_is_cut() -> None:
    """One enormous line keeps a prefix and a suffix of itself."""
    text = "<" + "x" * 100_000 + ">"
    result = BudgetProjector().fit(text)
    assert size(result) <= 16384 and result.startswith("<xxx") and result.endswith("xxx>")
    assert "1 line (" in result


def test_huge_middle_line_is_dropped() -> None:
    """An enormous line between short ones is cut whole."""
    text = "first\n" + "x" * 50_000 + "\nlast"
    result = BudgetProjector().fit(text)
    assert result.splitlines()[0] == "first" and result.splitlines()[2] == "last"


def test_unicode_boundary_is_respected() -> None:
    """Cutting a line of multi-byte characters never splits one."""
    text = "€" * 20_000  # 3 bytes each, one line
    result = BudgetProjector(limit_bytes=1000).fit(text)
    assert size(result) <= 1000 and set(MARKER.sub("", result)) == {"€", "\n"}


def test_emoji_boundary_with_odd_budget() -> None:
    """Four-byte characters with a budget that is not a multiple of four stay whole."""
    result = BudgetProjector(limit_bytes=301).fit("😀" * 1000)
    assert result.encode("utf-8").decode("utf-8") == result and size(result) <= 301


def test_lone_surrogates_do_not_crash() -> None:
    """Text carrying lone surrogates is cut without an encoding error."""
    text = "\udcff" * 10_000
    result = BudgetProjector(limit_bytes=300).fit(text)
    assert MARKER.search(result)


def test_budget_limits_are_checked() -> None:
    """A byte budget too small to hold the marker is refused."""
    with pytest.raises(ValueError, match="limit_bytes"):
        BudgetProjector(limit_bytes=10)


def test_projector_is_frozen() -> None:
    """The projector's settings cannot change after construction."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        BudgetProjector().limit_bytes = 1  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(["a", "é", "€", "😀", "\n", " "]), max_size=3000),
    limit=st.integers(256, 1200),
    max_lines=st.integers(2, 40),
    head_fraction=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
)
def test_result_always_within_budget(text: str, limit: int, max_lines: int, head_fraction: float) -> None:
    """Any text comes back within both budgets, as a head and a tail of the original."""
    result = BudgetProjector(limit, max_lines, head_fraction).fit(text)
    assert size(result) <= limit and lines(result) <= max_lines
    match = MARKER.search(result)
    if match is None:
        assert result == text
    else:
        head, tail = result[: match.start()], result[match.end() :]
        assert text.startswith(head.removesuffix("\n")) and text.endswith(tail.removeprefix("\n"))
