"""The store conformance suite's factory shape and the helpers its cases share."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from attrs import define

from lash_core.effects import DurabilityTier
from lash_core.model import (
    AgentFrameRecord,
    AssistantMessage,
    Finished,
    FrameStatus,
    Message,
    Part,
    PartKind,
    Role,
    TokenLedgerEntry,
    TokenUsage,
    TurnInput,
    initial_frame_id,
)
from lash_core.store import (
    ActiveTurn,
    AgentFrameTask,
    CommitResult,
    HistoryNode,
    InputBoundary,
    InputIngress,
    LeaseAcquired,
    LeaseOwner,
    NextTurn,
    PendingInput,
    PendingInputDraft,
    PendingInputState,
    QueuedWorkBatch,
    QueuedWorkDraft,
    SessionLease,
    SessionStore,
    TurnCommit,
    WorkPayload,
)

__all__ = [
    "LONG_TTL_MS",
    "StoreFactory",
    "acquire",
    "active",
    "add_input",
    "add_work",
    "commit",
    "make_commit",
    "new_session_id",
    "owner",
    "state_of",
    "task",
]

LONG_TTL_MS = 60_000


@define
class StoreFactory:
    """How the suite gets stores of one kind (return one from your ``store_factory`` fixture).

    ``make``: returns a new, *unopened* store object (sync or async) over the same data
    every time it is called; the data must be fresh and empty for each test (the fixture
    is function-scoped). Calling it again after a close is how the suite reopens a store;
    calling it while another object is open gives a second, concurrent handle.

    ``advance``: moves the store's clock forward by ``seconds`` (sync or async), e.g.
    ``fake_clock.advance``. ``None`` means the store reads its own clock (a database's):
    expiry cases then use leases of ``real_ttl_ms`` and wait real time, and cases that
    need time to move by a precise amount are skipped.

    ``durability``: the tier the store must declare (``None``: any tier).
    """

    make: Callable[[], SessionStore | Awaitable[SessionStore]]
    advance: Callable[[float], Any] | None = None
    durability: DurabilityTier | None = None
    real_ttl_ms: int = 400

    @property
    def clock_injectable(self) -> bool:
        """True when the suite can move the store's clock."""
        return self.advance is not None

    @property
    def short_ttl_ms(self) -> int:
        """The TTL of leases that a case lets expire."""
        return 30_000 if self.clock_injectable else self.real_ttl_ms

    async def new(self) -> SessionStore:
        """A new store object (unopened)."""
        store = self.make()
        if inspect.isawaitable(store):
            store = await store
        return store

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[SessionStore]:
        """An opened store, closed on exit."""
        store = await self.new()
        await store.open()
        try:
            yield store
        finally:
            with anyio.CancelScope(shield=True):
                await store.close()

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass on the store's clock (real time when it is not injectable)."""
        if self.advance is None:
            await anyio.sleep(seconds)
            return
        moved = self.advance(seconds)
        if inspect.isawaitable(moved):
            await moved

    async def expire(self) -> None:
        """Let a lease of :attr:`short_ttl_ms` expire."""
        await self.sleep(self.short_ttl_ms / 1000 + (0.001 if self.clock_injectable else 0.15))


def new_session_id() -> str:
    """A session id no other case uses."""
    return f"conformance-{uuid.uuid4().hex[:12]}"


def owner(name: str = "worker-a", incarnation: str = "1") -> LeaseOwner:
    """An opaque lease owner."""
    return LeaseOwner(name, incarnation)


async def acquire(
    store: SessionStore, session_id: str, who: LeaseOwner | None = None, ttl_ms: int = LONG_TTL_MS
) -> SessionLease:
    """Acquire the lease (the case fails when it is busy)."""
    claim = await store.try_claim_lease(session_id, who or owner(), ttl_ms=ttl_ms)
    assert isinstance(claim, LeaseAcquired), f"expected to acquire the lease, got {claim!r}"
    return claim.lease


def make_commit(
    session_id: str,
    turn_id: str,
    *,
    expected: int = 0,
    text: str | None = None,
    commit_hash: str | None = None,
    **extra: Any,
) -> TurnCommit:
    """A small turn commit: a user message and an answer in the initial frame."""
    frame_id = initial_frame_id(session_id)
    text = text if text is not None else f"answer of {turn_id}"
    user = Message(f"m:{turn_id}:0", Role.USER, (Part(f"m:{turn_id}:0.p0", PartKind.TEXT, f"ask {turn_id}"),))
    answer = Message(f"m:{turn_id}:1", Role.ASSISTANT, (Part(f"m:{turn_id}:1.p0", PartKind.PROSE, text),))
    frame = AgentFrameRecord(frame_id, session_id, FrameStatus.ACTIVE, "initial", 1_000)
    fields: dict[str, Any] = {
        "session_id": session_id,
        "turn_id": turn_id,
        "commit_hash": commit_hash or f"hash:{turn_id}:{text}",
        "expected_head_revision": expected,
        "nodes": (HistoryNode(frame_id, turn_id, user), HistoryNode(frame_id, turn_id, answer)),
        "current_frame_id": frame_id,
        "frames": (frame,),
        "outcome": Finished(AssistantMessage(text)),
        "usage_deltas": (TokenLedgerEntry("turn", "model-x", TokenUsage(input_tokens=10, output_tokens=3)),),
        "plugin_state": {"counter": {"turns": expected + 1}},
        "committed_at_ms": 2_000 + expected,
    }
    fields.update(extra)
    return TurnCommit(**fields)


async def commit(store: SessionStore, session_id: str, turn_id: str, **extra: Any) -> CommitResult:
    """Commit :func:`make_commit` on top of the session's current head."""
    head = await store.load_head(session_id)
    expected = head.head_revision if head is not None else 0
    return await store.commit(make_commit(session_id, turn_id, expected=expected, **extra))


async def add_input(
    store: SessionStore,
    session_id: str,
    text: str,
    ingress: InputIngress | None = None,
    source_key: str | None = None,
) -> PendingInput:
    """Enqueue a text input (next turn unless ``ingress`` says otherwise)."""
    draft = PendingInputDraft(session_id, TurnInput.text(text), ingress or NextTurn(), source_key)
    return await store.enqueue_input(draft)


async def state_of(store: SessionStore, session_id: str, input_id: str) -> PendingInputState:
    """The state of an input (the case fails when it is gone)."""
    row = await store.get_input(session_id, input_id)
    assert row is not None, f"input {input_id!r} is gone"
    return row.state


def active(turn_id: str, boundary: InputBoundary = InputBoundary.AFTER_WORK) -> ActiveTurn:
    """Active-turn ingress."""
    return ActiveTurn(turn_id, boundary)


def task(name: str) -> AgentFrameTask:
    """A turn-work payload."""
    return AgentFrameTask(frame_id="frame-x", task=name)


async def add_work(
    store: SessionStore, session_id: str, *payloads: WorkPayload, **options: Any
) -> QueuedWorkBatch:
    """Enqueue a batch."""
    return await store.enqueue_work(QueuedWorkDraft(session_id, payloads, **options))
