"""Settings of the compaction plugin (the ``[plugins.compaction]`` table)."""

from __future__ import annotations

from attrs import field, frozen

__all__ = ["DEFAULT_INSTRUCTIONS", "DEFAULT_THRESHOLD", "SUMMARY_HEADER", "CompactionSettings"]

DEFAULT_THRESHOLD = 0.8
"""Compact when the last prompt used more than this share of the model's context window."""

DEFAULT_INSTRUCTIONS = (
    "Summarize the conversation above for a fresh context that will replace it: the summary is all "
    "that remains of it. Keep the user's goals and constraints, the decisions made and why, the "
    "current state of the work (files, commands, results, errors), open questions and the next "
    "steps. Be concise and concrete; write notes for yourself, not a reply to the user."
)
"""What the model is asked, after the conversation, to write the summary."""

SUMMARY_HEADER = "Summary of the earlier conversation (compacted to save context):"
"""The first line of the message that seeds the new frame, above the summary."""


def _check_threshold(_: object, __: object, value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"threshold must be a share of the context window in (0, 1], got {value}")


def _check_tokens(_: object, __: object, value: int | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"max_summary_tokens must be positive, got {value}")


@frozen
class CompactionSettings:
    """How and when the context is compacted.

    ``threshold``: compact before a turn when the previous prompt used more than this share
    of the model's ``context_window_tokens`` (0 < threshold <= 1). ``instructions``: the
    request for the summary, sent after the conversation. ``max_summary_tokens``: the
    output limit of the summary call (``None``: the provider's default).
    """

    threshold: float = field(default=DEFAULT_THRESHOLD, validator=_check_threshold)
    instructions: str = DEFAULT_INSTRUCTIONS
    max_summary_tokens: int | None = field(default=None, validator=_check_tokens)
