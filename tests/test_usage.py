"""Token usage arithmetic, the per-session token ledger, its report and ledger diffs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lash_core.errors import UsageDecreaseError
from lash_core.model import TokenLedger, TokenLedgerEntry, TokenUsage, UsageReport, diff_token_ledgers

FULL = TokenUsage(
    input_tokens=100,
    output_tokens=40,
    cache_read_input_tokens=900,
    cache_write_input_tokens=50,
    reasoning_output_tokens=30,
)
SMALL = TokenUsage(1, 2, 3, 4, 1)

# -- TokenUsage --------------------------------------------------------------------------------


def test_total_tokens_sums_input_cache_and_output() -> None:
    """``total_tokens`` is input + output + cache read + cache write."""
    assert FULL.total_tokens == 100 + 40 + 900 + 50


def test_reasoning_tokens_are_not_added_to_the_total() -> None:
    """Reasoning is a subset of output, so it does not change the total."""
    assert TokenUsage(output_tokens=10, reasoning_output_tokens=10).total_tokens == 10


def test_reasoning_only_usage_has_zero_total() -> None:
    """A usage with only reasoning tokens has a total of zero (yet is not zero usage)."""
    usage = TokenUsage(reasoning_output_tokens=5)
    assert usage.total_tokens == 0
    assert not usage.is_zero


def test_default_usage_is_zero() -> None:
    """A default usage is zero in every bucket."""
    assert TokenUsage().is_zero
    assert TokenUsage().total_tokens == 0


@pytest.mark.parametrize(
    "usage",
    [
        TokenUsage(input_tokens=1),
        TokenUsage(output_tokens=1),
        TokenUsage(cache_read_input_tokens=1),
        TokenUsage(cache_write_input_tokens=1),
        TokenUsage(reasoning_output_tokens=1),
    ],
    ids=["input", "output", "cache_read", "cache_write", "reasoning"],
)
def test_any_nonzero_bucket_makes_usage_nonzero(usage: TokenUsage) -> None:
    """A single non-zero bucket is enough for ``is_zero`` to be false."""
    assert not usage.is_zero


def test_addition_is_bucket_wise() -> None:
    """Adding usages adds each of the five buckets."""
    assert FULL + SMALL == TokenUsage(101, 42, 903, 54, 31)


def test_subtraction_is_bucket_wise() -> None:
    """Subtracting usages subtracts each of the five buckets."""
    assert FULL - SMALL == TokenUsage(99, 38, 897, 46, 29)


def test_subtraction_may_go_negative() -> None:
    """A difference can have negative buckets, which ``has_negative_bucket`` reports."""
    difference = SMALL - FULL
    assert difference.input_tokens == -99
    assert difference.has_negative_bucket()


@pytest.mark.parametrize(
    "usage",
    [
        TokenUsage(input_tokens=-1),
        TokenUsage(output_tokens=-1),
        TokenUsage(cache_read_input_tokens=-1),
        TokenUsage(cache_write_input_tokens=-1),
        TokenUsage(reasoning_output_tokens=-1),
    ],
    ids=["input", "output", "cache_read", "cache_write", "reasoning"],
)
def test_each_negative_bucket_is_detected(usage: TokenUsage) -> None:
    """Any single negative bucket is a negative bucket."""
    assert usage.has_negative_bucket()


def test_non_negative_usage_has_no_negative_bucket() -> None:
    """Usage with all buckets at or above zero has no negative bucket."""
    assert not FULL.has_negative_bucket()
    assert not TokenUsage().has_negative_bucket()


USAGES = st.builds(
    TokenUsage,
    *[st.integers(min_value=0, max_value=10**9)] * 5,
)


@settings(max_examples=50, database=None)
@given(a=USAGES, b=USAGES)
def test_adding_then_subtracting_gives_back_the_usage(a: TokenUsage, b: TokenUsage) -> None:
    """``(a + b) - b == a`` for any usages."""
    assert (a + b) - b == a


@settings(max_examples=50, database=None)
@given(a=USAGES, b=USAGES)
def test_total_of_a_sum_is_the_sum_of_totals(a: TokenUsage, b: TokenUsage) -> None:
    """``total_tokens`` is additive."""
    assert (a + b).total_tokens == a.total_tokens + b.total_tokens


# -- TokenLedger.add / merge / usage_for -------------------------------------------------------


def test_add_to_empty_ledger_creates_an_entry() -> None:
    """The first usage of a (source, model) pair creates its entry."""
    ledger = TokenLedger().add("turn", "big", SMALL)
    assert ledger.entries == (TokenLedgerEntry("turn", "big", SMALL),)


def test_add_accumulates_the_same_source_and_model() -> None:
    """Usage added twice to one pair is summed in one entry."""
    ledger = TokenLedger().add("turn", "big", SMALL).add("turn", "big", FULL)
    assert ledger.entries == (TokenLedgerEntry("turn", "big", SMALL + FULL),)


def test_add_keeps_pairs_apart() -> None:
    """Different sources or models get separate entries, in first-seen order."""
    ledger = (
        TokenLedger()
        .add("turn", "big", SMALL)
        .add("turn", "small", SMALL)
        .add("compaction", "big", FULL)
        .add("turn", "big", SMALL)
    )
    assert ledger.entries == (
        TokenLedgerEntry("turn", "big", SMALL + SMALL),
        TokenLedgerEntry("turn", "small", SMALL),
        TokenLedgerEntry("compaction", "big", FULL),
    )


def test_add_zero_usage_changes_nothing() -> None:
    """Adding zero usage creates no entry and returns the same ledger."""
    ledger = TokenLedger().add("turn", "big", SMALL)
    assert ledger.add("child", "big", TokenUsage()) is ledger


def test_add_does_not_mutate_the_ledger() -> None:
    """A ledger is immutable: ``add`` returns a new one."""
    ledger = TokenLedger().add("turn", "big", SMALL)
    ledger.add("turn", "big", FULL)
    assert ledger.entries == (TokenLedgerEntry("turn", "big", SMALL),)


def test_merge_adds_every_delta() -> None:
    """Merging entries adds each one, accumulating existing pairs and appending new ones."""
    ledger = TokenLedger().add("turn", "big", SMALL)
    merged = ledger.merge(
        [
            TokenLedgerEntry("turn", "big", FULL),
            TokenLedgerEntry("subagent", "small", SMALL),
            TokenLedgerEntry("subagent", "small", SMALL),
        ]
    )
    assert merged.entries == (
        TokenLedgerEntry("turn", "big", SMALL + FULL),
        TokenLedgerEntry("subagent", "small", SMALL + SMALL),
    )


def test_merge_skips_zero_deltas() -> None:
    """Zero delta entries do not create entries."""
    assert TokenLedger().merge([TokenLedgerEntry("turn", "big", TokenUsage())]) == TokenLedger()


def test_usage_for_returns_the_entry_usage() -> None:
    """``usage_for`` returns what was recorded for a pair."""
    ledger = TokenLedger().add("turn", "big", SMALL).add("turn", "small", FULL)
    assert ledger.usage_for("turn", "small") == FULL


def test_usage_for_missing_pair_is_zero() -> None:
    """An unknown pair has zero usage."""
    assert TokenLedger().add("turn", "big", SMALL).usage_for("turn", "small") == TokenUsage()


# -- report ------------------------------------------------------------------------------------

LEDGER = (
    TokenLedger()
    .add("turn", "big", TokenUsage(input_tokens=10, output_tokens=2))
    .add("turn", "small", TokenUsage(input_tokens=1, output_tokens=1, reasoning_output_tokens=1))
    .add("compaction", "big", TokenUsage(cache_read_input_tokens=100))
)


def test_report_totals_every_entry() -> None:
    """The report's usage is the sum of every entry, and ``total_tokens`` its total."""
    report = LEDGER.report()
    assert report.usage == TokenUsage(
        input_tokens=11, output_tokens=3, cache_read_input_tokens=100, reasoning_output_tokens=1
    )
    assert report.total_tokens == 114
    assert report.entry_count == 3


def test_report_by_source_sums_across_models() -> None:
    """``by_source`` sums each source's usage over its models."""
    assert LEDGER.report().by_source == {
        "turn": TokenUsage(input_tokens=11, output_tokens=3, reasoning_output_tokens=1),
        "compaction": TokenUsage(cache_read_input_tokens=100),
    }


def test_report_by_model_sums_across_sources() -> None:
    """``by_model`` sums each model's usage over its sources."""
    assert LEDGER.report().by_model == {
        "big": TokenUsage(input_tokens=10, output_tokens=2, cache_read_input_tokens=100),
        "small": TokenUsage(input_tokens=1, output_tokens=1, reasoning_output_tokens=1),
    }


def test_report_by_source_model_is_the_entries() -> None:
    """``by_source_model`` lists the ledger entries in order."""
    assert LEDGER.report().by_source_model == LEDGER.entries


def test_report_of_empty_ledger_is_zero() -> None:
    """An empty ledger reports zero everywhere."""
    assert TokenLedger().report() == UsageReport(entry_count=0, usage=TokenUsage(), total_tokens=0)


# -- diff_token_ledgers ------------------------------------------------------------------------


def test_diff_returns_the_added_usage() -> None:
    """The diff of a grown entry is what was added to it."""
    before = TokenLedger().add("turn", "big", SMALL)
    after = before.add("turn", "big", FULL)
    assert diff_token_ledgers(before, after).entries == (TokenLedgerEntry("turn", "big", FULL),)


def test_diff_includes_new_entries_whole() -> None:
    """An entry that is new in ``after`` appears in the diff with all its usage."""
    before = TokenLedger().add("turn", "big", SMALL)
    after = before.add("subagent", "small", FULL)
    assert diff_token_ledgers(before, after).entries == (TokenLedgerEntry("subagent", "small", FULL),)


def test_diff_omits_unchanged_entries() -> None:
    """Entries with no added usage are not in the diff."""
    before = TokenLedger().add("turn", "big", SMALL).add("compaction", "big", SMALL)
    after = before.add("compaction", "big", FULL)
    assert diff_token_ledgers(before, after).entries == (TokenLedgerEntry("compaction", "big", FULL),)


def test_diff_of_identical_ledgers_is_empty() -> None:
    """Nothing added means an empty diff."""
    assert diff_token_ledgers(LEDGER, LEDGER) == TokenLedger()


def test_diff_raises_when_a_bucket_decreases() -> None:
    """A bucket that shrank is refused even when the entry's total grew."""
    before = TokenLedger().add("turn", "big", TokenUsage(input_tokens=10, cache_read_input_tokens=5))
    after = TokenLedger().add("turn", "big", TokenUsage(input_tokens=100, cache_read_input_tokens=4))
    with pytest.raises(UsageDecreaseError, match=r"source 'turn', model 'big' decreased"):
        diff_token_ledgers(before, after)


def test_diff_raises_when_reasoning_decreases() -> None:
    """Reasoning tokens are checked too, although they are not in the total."""
    before = TokenLedger().add("turn", "big", TokenUsage(output_tokens=5, reasoning_output_tokens=3))
    after = TokenLedger().add("turn", "big", TokenUsage(output_tokens=5, reasoning_output_tokens=2))
    with pytest.raises(UsageDecreaseError):
        diff_token_ledgers(before, after)


def test_diff_raises_when_an_entry_disappears() -> None:
    """An entry present before and missing after is a decrease."""
    before = TokenLedger().add("turn", "big", SMALL).add("child", "small", SMALL)
    after = TokenLedger().add("turn", "big", SMALL)
    with pytest.raises(UsageDecreaseError, match=r"source 'child', model 'small' disappeared"):
        diff_token_ledgers(before, after)


def test_diff_allows_a_zero_entry_to_disappear() -> None:
    """A zero-usage entry that is gone loses nothing, so it is not a decrease."""
    before = TokenLedger((TokenLedgerEntry("turn", "big", TokenUsage()),))
    assert diff_token_ledgers(before, TokenLedger()) == TokenLedger()


PAIRS = st.tuples(st.sampled_from(["turn", "compaction", "child"]), st.sampled_from(["big", "small"]))
LEDGERS = st.lists(st.tuples(PAIRS, USAGES), max_size=6).map(
    lambda rows: TokenLedger().merge(
        TokenLedgerEntry(source, model, usage) for (source, model), usage in rows
    )
)
DELTAS = st.lists(st.tuples(PAIRS, USAGES), max_size=6).map(
    lambda rows: [TokenLedgerEntry(source, model, usage) for (source, model), usage in rows]
)


@settings(max_examples=50, database=None)
@given(before=LEDGERS, deltas=DELTAS)
def test_merging_the_diff_into_before_gives_after(
    before: TokenLedger, deltas: list[TokenLedgerEntry]
) -> None:
    """For a ledger that only grew, ``before`` merged with the diff has ``after``'s usage."""
    after = before.merge(deltas)
    rebuilt = before.merge(diff_token_ledgers(before, after).entries)
    assert {(e.source, e.model): e.usage for e in rebuilt.entries} == {
        (e.source, e.model): e.usage for e in after.entries
    }


@settings(max_examples=50, database=None)
@given(before=LEDGERS, deltas=DELTAS)
def test_diff_never_holds_zero_rows(before: TokenLedger, deltas: list[TokenLedgerEntry]) -> None:
    """Every entry of a diff carries some usage."""
    diff = diff_token_ledgers(before, before.merge(deltas))
    assert all(not entry.usage.is_zero for entry in diff.entries)
