"""Memory-store details and the pure parts of the store contract (lease helpers, records, codec)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lash_core.errors import ClaimSuperseded, DecodeError, SourceKeyConflict, StoreClosed
from lash_core.model import TurnInput
from lash_core.store import (
    ActiveTurn,
    AgentFrameTask,
    AttachmentStore,
    ClaimInfo,
    DeliveryPolicy,
    InputBoundary,
    InputClaim,
    InputIngress,
    LeaseAcquired,
    LeaseOwner,
    LeaseTimings,
    LocalProcessLiveness,
    MemoryStore,
    MemoryStoreData,
    NextTurn,
    PendingInput,
    PendingInputDraft,
    PendingInputState,
    ProcessWake,
    QueuedWorkBatch,
    QueuedWorkDraft,
    QueuedWorkStore,
    RefreshToolCatalog,
    SessionCommitStore,
    SessionLeaseStore,
    SessionStore,
    SlotPolicy,
    StoreMaintenance,
    TurnInputStore,
    WorkClass,
    WorkItem,
    WorkPayload,
    current_process_liveness,
    holder_proven_dead,
    read_process_start,
    work_class,
)
from lash_core.store.codec import canonical_json, decode, encode, input_content_digest
from lash_core.testing import FakeClock
from lash_core.testing.conformance._store_support import make_commit

pytestmark = pytest.mark.anyio

HERE = LocalProcessLiveness("host-1", "boot-1", 4242, 777)


def local(liveness: LocalProcessLiveness | None, name: str = "holder") -> LeaseOwner:
    """An owner with the given liveness."""
    return LeaseOwner(name, "1", liveness)


# -- lease helpers (pure) ---------------------------------------------------------------


def test_holder_with_changed_start_time_is_dead() -> None:
    """Same host and boot, and the pid now shows another start time: a reused pid, the holder is dead."""
    assert holder_proven_dead(local(HERE), local(HERE, "me"), read_start=lambda pid: 999)


def test_holder_whose_pid_is_gone_is_dead() -> None:
    """Same host and boot, and no such pid: dead."""
    assert holder_proven_dead(local(HERE), local(HERE, "me"), read_start=lambda pid: None)


def test_holder_with_matching_start_time_is_alive() -> None:
    """The pid runs with the recorded start time: not proven dead."""
    assert not holder_proven_dead(local(HERE), local(HERE, "me"), read_start=lambda pid: 777)


@pytest.mark.parametrize(
    "claimant",
    [
        LocalProcessLiveness("host-2", "boot-1", 1, 1),
        LocalProcessLiveness("host-1", "boot-2", 1, 1),
        None,
    ],
)
def test_other_machines_boots_and_opaque_claimants_prove_nothing(
    claimant: LocalProcessLiveness | None,
) -> None:
    """Only a claimant on the same host and boot can judge a holder's pid."""
    assert not holder_proven_dead(local(HERE), local(claimant, "me"), read_start=lambda pid: None)


def test_opaque_holders_are_never_proven_dead() -> None:
    """A holder without liveness must be waited out."""
    assert not holder_proven_dead(local(None), local(HERE, "me"), read_start=lambda pid: None)


def test_read_process_start_parses_names_with_parentheses(tmp_path: Path) -> None:
    """The start time is field 22 even when the command name holds spaces and parentheses."""
    (tmp_path / "12").mkdir()
    fields = " ".join(str(n) for n in range(3, 22))  # fields 3..21
    (tmp_path / "12" / "stat").write_text(f"12 (odd) name) {fields} 123456 0 0\n")
    assert read_process_start(12, proc_root=tmp_path) == 123456
    assert read_process_start(13, proc_root=tmp_path) is None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_current_process_liveness_describes_this_process() -> None:
    """This process's liveness names its pid and the start time /proc reports."""
    liveness = current_process_liveness()
    assert liveness is not None and liveness.pid == os.getpid()
    assert liveness.process_start == read_process_start(os.getpid())
    assert not holder_proven_dead(local(liveness), local(liveness, "me"))


def test_lease_timings_default_to_30_and_10_seconds() -> None:
    """The defaults are a 30 s TTL renewed every 10 s."""
    assert (LeaseTimings().ttl_ms, LeaseTimings().renew_interval_ms) == (30_000, 10_000)


def test_lease_timings_must_survive_two_missed_renewals() -> None:
    """A TTL under three renew intervals is refused with what to change."""
    with pytest.raises(ValueError, match="at least 3 x renew_interval_ms"):
        LeaseTimings(ttl_ms=20_000, renew_interval_ms=10_000)
    with pytest.raises(ValueError, match="at least 1 ms"):
        LeaseTimings(ttl_ms=0, renew_interval_ms=0)
    assert LeaseTimings(ttl_ms=3, renew_interval_ms=1).ttl_ms == 3


# -- contract records ----------------------------------------------------------------------


def test_checkpoints_admit_inputs_by_boundary() -> None:
    """after_work admits only after_work inputs; before_completion admits both."""
    after, before = InputBoundary.AFTER_WORK, InputBoundary.BEFORE_COMPLETION
    assert after.admits(after) and not after.admits(before)
    assert before.admits(after) and before.admits(before)


def test_work_class_refuses_mixed_and_empty_batches() -> None:
    """A batch is all commands or all turn work."""
    assert work_class([RefreshToolCatalog()]) is WorkClass.SESSION_COMMAND
    assert work_class([AgentFrameTask("f", "t"), ProcessWake("p", "w")]) is WorkClass.TURN_WORK
    with pytest.raises(ValueError, match="separate batches"):
        work_class([RefreshToolCatalog(), AgentFrameTask("f", "t")])
    with pytest.raises(ValueError):
        work_class([])


def test_turn_commit_refuses_inconsistent_durable_fields() -> None:
    """release without a fence, and another session's work or fence, are refused at construction."""
    with pytest.raises(ValueError, match="needs the lease fence"):
        make_commit("s1", "t1", release_lease=True)
    with pytest.raises(ValueError, match="only enqueue work for that session"):
        make_commit("s1", "t1", enqueue_work=(QueuedWorkDraft("s2", (RefreshToolCatalog(),)),))


def test_durable_fields_default_to_a_plain_commit() -> None:
    """A TurnCommit built the way the runner builds it has no lease, claims, deferral or outbox."""
    commit = make_commit("s1", "t1")
    assert commit.lease is None and not commit.release_lease
    assert commit.completed_input_claims == () and commit.completed_work_claims == ()
    assert commit.defer_active_inputs_of_turn is None and commit.enqueue_work == ()


def test_memory_store_implements_every_facet() -> None:
    """MemoryStore satisfies the whole contract and each facet protocol."""
    store = MemoryStore()
    for facet in (
        SessionStore,
        SessionCommitStore,
        SessionLeaseStore,
        TurnInputStore,
        QueuedWorkStore,
        AttachmentStore,
        StoreMaintenance,
    ):
        assert isinstance(store, facet), facet.__name__


def test_store_errors_say_what_to_do() -> None:
    """Store error messages name the key or claim and the remedy."""
    conflict = SourceKeyConflict("s1", "msg-1")
    assert conflict.key == "msg-1" and "new source key" in str(conflict)
    superseded = ClaimSuperseded("input", "claim-1", "gone")
    assert superseded.claim_id == "claim-1" and "reopen the session" in str(superseded)
    assert "await store.open()" in str(StoreClosed("sqlite"))


# -- codec ------------------------------------------------------------------------------------

OWNER = LeaseOwner("w", "1", HERE)
CLAIM = ClaimInfo("c1", OWNER, 3, 2, 1_000)


@pytest.mark.parametrize(
    ("value", "as_type"),
    [
        (ActiveTurn("t1", InputBoundary.BEFORE_COMPLETION), InputIngress),
        (NextTurn(), InputIngress),
        (ProcessWake("p", "w", {"seq": 1}), WorkPayload),
        (
            PendingInput(
                "in-1",
                "s1",
                4,
                ActiveTurn("t1"),
                PendingInputState.ACCEPTED,
                9,
                TurnInput.text("x"),
                "k",
                CLAIM,
            ),
            PendingInput,
        ),
        (
            QueuedWorkBatch(
                "b1",
                "s1",
                5,
                WorkClass.TURN_WORK,
                (WorkItem("b1:0", AgentFrameTask("f", "go", {"mode": "x"})),),
                DeliveryPolicy.AFTER_CURRENT_TURN_COMMIT,
                SlotPolicy.EXCLUSIVE,
                0,
                7,
                merge_key="g",
                claim=CLAIM,
            ),
            QueuedWorkBatch,
        ),
        (QueuedWorkDraft("s1", (RefreshToolCatalog("x"), RefreshToolCatalog("y"))), QueuedWorkDraft),
    ],
)
def test_store_records_round_trip_through_json(value: object, as_type: object) -> None:
    """Every store record and union reads back equal from its JSON form."""
    assert decode(encode(value), as_type) == value


def test_union_variants_carry_their_tag() -> None:
    """Union variants are written with their snake_case tag under ``type``."""
    assert encode(NextTurn()) == {"type": "next_turn"}
    assert encode(RefreshToolCatalog("r")) == {"type": "refresh_tool_catalog", "reason": "r"}


def test_unknown_tags_are_decode_errors() -> None:
    """An unknown tag is a DecodeError listing the known ones."""
    with pytest.raises(DecodeError, match="reset_session"):
        decode({"type": "nope"}, WorkPayload)


def test_input_digest_tracks_content_not_key_order() -> None:
    """The content digest is equal for equal content and differs for another ingress."""
    text = TurnInput.text("hi")
    assert input_content_digest(NextTurn(), text) == input_content_digest(NextTurn(), TurnInput.text("hi"))
    assert input_content_digest(NextTurn(), text) != input_content_digest(ActiveTurn("t"), text)
    assert canonical_json({"b": 1, "a": 2}) == '{"a":2,"b":1}'


# -- memory store specifics --------------------------------------------------------------------


async def test_default_construction_uses_the_system_clock() -> None:
    """MemoryStore() works without a clock and stamps real time."""
    store = MemoryStore()
    claim = await store.try_claim_lease("s1", LeaseOwner("w", "1"))
    assert isinstance(claim, LeaseAcquired) and claim.lease.claimed_at_ms > 1_600_000_000_000


async def test_handles_over_one_data_share_everything(fake_clock: FakeClock) -> None:
    """A second store object over the same data sees the first one's commits."""
    first = MemoryStore(fake_clock)
    second = MemoryStore(fake_clock, data=first.data)
    await first.commit(make_commit("s1", "t1"))
    assert (await second.load_head("s1")) == (await first.load_head("s1"))
    assert isinstance(first.data, MemoryStoreData)


async def test_closed_memory_store_stays_readable() -> None:
    """close() keeps the data: a runtime closing its store does not lose sessions."""
    store = MemoryStore()
    await store.commit(make_commit("s1", "t1"))
    await store.close()
    assert await store.load_head("s1") is not None
    await store.open()


async def test_bad_limits_and_ttls_are_refused(fake_clock: FakeClock) -> None:
    """A ttl or claim limit below 1 is a ValueError."""
    store = MemoryStore(fake_clock)
    with pytest.raises(ValueError, match="ttl_ms"):
        await store.try_claim_lease("s1", LeaseOwner("w", "1"), ttl_ms=0)
    claim = await store.try_claim_lease("s1", LeaseOwner("w", "1"))
    assert isinstance(claim, LeaseAcquired)
    with pytest.raises(ValueError, match="max_inputs"):
        await store.claim_next_turn_inputs(claim.lease.fence, max_inputs=0)


async def test_deleting_a_session_keeps_its_fencing_counter(fake_clock: FakeClock) -> None:
    """A session id reused after delete_session still gets a greater fencing token."""
    store = MemoryStore(fake_clock)
    first = await store.try_claim_lease("s1", LeaseOwner("w", "1"))
    assert isinstance(first, LeaseAcquired)
    await store.commit(make_commit("s1", "t1", lease=first.lease.fence))
    assert await store.delete_session("s1")
    second = await store.try_claim_lease("s1", LeaseOwner("w", "1"))
    assert isinstance(second, LeaseAcquired) and second.lease.fencing_token > first.lease.fencing_token


async def test_shared_blobs_outlive_one_sessions_delete(fake_clock: FakeClock) -> None:
    """Two sessions holding the same bytes: deleting one keeps the other's attachment."""
    store = MemoryStore(fake_clock)
    ref = await store.put_attachment("s1", b"same", "text/plain", None)
    await store.put_attachment("s2", b"same", "text/plain", None)
    await store.delete_session("s1")
    assert await store.get_attachment("s2", ref.attachment_id) == b"same"
    await store.delete_session("s2")
    assert store.data.blobs == {}


async def test_gc_honours_the_grace_period_on_the_store_clock(fake_clock: FakeClock) -> None:
    """An uncommitted attachment survives GC until it is older than the grace period."""
    store = MemoryStore(fake_clock)
    ref = await store.put_attachment("s1", b"draft", "text/plain", None)
    assert (await store.gc_attachments(grace_ms=10_000)).deleted == 0
    fake_clock.advance(11)
    report = await store.gc_attachments(grace_ms=10_000)
    assert (report.deleted, report.retained) == (1, 0)
    with pytest.raises(KeyError, match="holds no attachment"):
        await store.get_attachment("s1", ref.attachment_id)


async def test_claims_record_the_claimant_and_generation(fake_clock: FakeClock) -> None:
    """A claim's rows carry the claimant, the lease generation and the claim time."""
    store = MemoryStore(fake_clock)
    owner = LeaseOwner("w", "1")
    lease = await store.try_claim_lease("s1", owner)
    assert isinstance(lease, LeaseAcquired)
    await store.enqueue_input(PendingInputDraft("s1", TurnInput.text("x")))
    claim = await store.claim_next_turn_inputs(lease.lease.fence)
    assert isinstance(claim, InputClaim)
    info = claim.inputs[0].claim
    assert info == ClaimInfo(claim.claim_id, owner, lease.lease.fencing_token, 1, fake_clock.now_ms())
