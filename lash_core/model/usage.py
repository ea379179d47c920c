"""Token usage, the per-session token ledger and the usage report.

``TokenUsage`` has five buckets. ``reasoning_output_tokens`` is a *subset* of
``output_tokens`` and so is not counted again in :attr:`TokenUsage.total_tokens`.
"""

from __future__ import annotations

from collections.abc import Iterable

from attrs import field, frozen

from lash_core.errors import UsageDecreaseError
from lash_core.model._record import Record

__all__ = [
    "TokenLedger",
    "TokenLedgerEntry",
    "TokenUsage",
    "UsageReport",
    "diff_token_ledgers",
]


@frozen(repr=False)
class TokenUsage(Record):
    """Token counts of one or more model calls, in five buckets."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    reasoning_output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input (uncached, cache read, cache write) plus output; reasoning is inside output."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_write_input_tokens
        )

    @property
    def is_zero(self) -> bool:
        """True when every bucket is zero."""
        return not (
            self.input_tokens
            or self.output_tokens
            or self.cache_read_input_tokens
            or self.cache_write_input_tokens
            or self.reasoning_output_tokens
        )

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cache_write_input_tokens + other.cache_write_input_tokens,
            self.reasoning_output_tokens + other.reasoning_output_tokens,
        )

    def __sub__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens - other.input_tokens,
            self.output_tokens - other.output_tokens,
            self.cache_read_input_tokens - other.cache_read_input_tokens,
            self.cache_write_input_tokens - other.cache_write_input_tokens,
            self.reasoning_output_tokens - other.reasoning_output_tokens,
        )

    def has_negative_bucket(self) -> bool:
        """True when any bucket is below zero (a decrease, when this is a difference)."""
        return (
            self.input_tokens < 0
            or self.output_tokens < 0
            or self.cache_read_input_tokens < 0
            or self.cache_write_input_tokens < 0
            or self.reasoning_output_tokens < 0
        )


ZERO_USAGE = TokenUsage()


@frozen(repr=False)
class TokenLedgerEntry(Record):
    """Accumulated usage for one ``(source, model)`` pair. Sources are open labels
    (``turn``, ``compaction``, ``subagent``, ``child``...)."""

    source: str
    model: str
    usage: TokenUsage


@frozen(repr=False)
class TokenLedger(Record):
    """A session's usage, one entry per ``(source, model)``, in first-seen order."""

    entries: tuple[TokenLedgerEntry, ...] = ()

    def add(self, source: str, model: str, usage: TokenUsage) -> TokenLedger:
        """Return a ledger with ``usage`` added to the ``(source, model)`` entry."""
        return self.merge((TokenLedgerEntry(source, model, usage),))

    def merge(self, deltas: Iterable[TokenLedgerEntry]) -> TokenLedger:
        """Return a ledger with every delta entry added (zero deltas change nothing)."""
        entries: list[TokenLedgerEntry] | None = None
        for delta in deltas:
            if delta.usage.is_zero:
                continue
            if entries is None:
                entries = list(self.entries)
            for index, entry in enumerate(entries):
                if entry.source == delta.source and entry.model == delta.model:
                    entries[index] = TokenLedgerEntry(entry.source, entry.model, entry.usage + delta.usage)
                    break
            else:
                entries.append(delta)
        return self if entries is None else TokenLedger(tuple(entries))

    def usage_for(self, source: str, model: str) -> TokenUsage:
        """The usage recorded for one ``(source, model)`` pair (zero when absent)."""
        for entry in self.entries:
            if entry.source == source and entry.model == model:
                return entry.usage
        return ZERO_USAGE

    def report(self) -> UsageReport:
        """Summarise the ledger by source, by model and in total."""
        by_source: dict[str, TokenUsage] = {}
        by_model: dict[str, TokenUsage] = {}
        total = ZERO_USAGE
        for entry in self.entries:
            by_source[entry.source] = by_source.get(entry.source, ZERO_USAGE) + entry.usage
            by_model[entry.model] = by_model.get(entry.model, ZERO_USAGE) + entry.usage
            total = total + entry.usage
        return UsageReport(
            entry_count=len(self.entries),
            usage=total,
            total_tokens=total.total_tokens,
            by_source=by_source,
            by_model=by_model,
            by_source_model=self.entries,
        )


@frozen(repr=False)
class UsageReport(Record):
    """Session usage: totals, by source, by model and by ``(source, model)``."""

    entry_count: int
    usage: TokenUsage
    total_tokens: int
    by_source: dict[str, TokenUsage] = field(factory=dict)
    by_model: dict[str, TokenUsage] = field(factory=dict)
    by_source_model: tuple[TokenLedgerEntry, ...] = ()


def diff_token_ledgers(before: TokenLedger, after: TokenLedger) -> TokenLedger:
    """Usage added between two ledgers; zero rows are omitted.

    Raises :class:`UsageDecreaseError` when any bucket of any entry decreased, since a
    ledger only ever grows.
    """
    delta = TokenLedger()
    seen: set[tuple[str, str]] = set()
    for entry in after.entries:
        seen.add((entry.source, entry.model))
        change = entry.usage - before.usage_for(entry.source, entry.model)
        if change.has_negative_bucket():
            raise UsageDecreaseError(
                f"usage for source {entry.source!r}, model {entry.model!r} decreased: {change}"
            )
        delta = delta.add(entry.source, entry.model, change)
    for entry in before.entries:
        if (entry.source, entry.model) not in seen and not entry.usage.is_zero:
            raise UsageDecreaseError(
                f"usage entry for source {entry.source!r}, model {entry.model!r} disappeared"
            )
    return delta
