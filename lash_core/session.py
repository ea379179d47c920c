"""Sessions and turns: the host-facing API.

``session = await runtime.session("s1")`` opens (or creates) a session;
``await session.turn("hello").run()`` runs a turn and returns its
:class:`~lash_core.model.AssembledTurn`; ``async for activity in
session.turn(...).stream()`` streams its :class:`~lash_core.model.TurnActivity`.
A session runs one turn at a time: a second foreground turn raises
:class:`~lash_core.errors.SessionBusy`.
"""

from __future__ import annotations

import copy
import itertools
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import ObjectSendStream

from lash_core.drain import drain_session
from lash_core.effects import DurabilityTier
from lash_core.errors import HookError, LiveInputRejected, SessionBusy
from lash_core.hooks.context import SessionHookContext
from lash_core.leasing import LeaseGuard
from lash_core.model import (
    AgentFrameRecord,
    AssembledTurn,
    FrameStatus,
    Message,
    SessionPolicy,
    TokenLedger,
    TokenUsage,
    TurnActivity,
    TurnInput,
    UsageReport,
    initial_frame_id,
)
from lash_core.store.contract import SessionRecord, TurnCommit
from lash_core.store.inputs import (
    ActiveTurn,
    InputBoundary,
    InputIngress,
    NextTurn,
    PendingInput,
    PendingInputDraft,
)
from lash_core.turn.input import validate_input
from lash_core.turn.runner import TurnRunner

if TYPE_CHECKING:
    from lash_core.runtime import Runtime

__all__ = ["EventSink", "Session", "Turn", "TurnStream"]

EventSink = Callable[[TurnActivity], Awaitable[None]]

_TURN_ID_PREFIX = secrets.token_hex(8)
_turn_counter = itertools.count(1)


def new_turn_id() -> str:
    """A fresh turn id: a random per-process prefix and a counter (unique without a syscall per turn)."""
    return f"t{_TURN_ID_PREFIX}{next(_turn_counter):x}"


class Session:
    """A live handle on one session: its history (current agent frame), head and usage."""

    def __init__(
        self, core: Runtime, session_id: str, policy: SessionPolicy, record: SessionRecord | None
    ) -> None:
        self.core = core
        self.id = session_id
        self.policy = policy
        self._running: Turn | None = None
        self._load(record)

    def _load(self, record: SessionRecord | None) -> None:
        """Adopt a stored session (or start empty)."""
        core, session_id = self.core, self.id
        head = record.head if record else None
        self.head_revision = head.head_revision if head else 0
        self.current_frame_id = head.current_frame_id if head else initial_frame_id(session_id)
        self.frames: tuple[AgentFrameRecord, ...] = (
            head.frames
            if head and head.frames
            else (
                AgentFrameRecord(
                    self.current_frame_id, session_id, FrameStatus.ACTIVE, "initial", core.clock.now_ms()
                ),
            )
        )
        self.ledger = head.ledger if head else TokenLedger()
        self.plugin_state: dict[str, Any] = dict(head.plugin_state) if head else {}
        self.last_prompt_usage: TokenUsage | None = head.last_prompt_usage if head else None
        self.turn_count = head.turn_count if head else 0
        nodes = record.nodes if record else ()
        self._history: list[Message] = [n.message for n in nodes if n.frame_id == self.current_frame_id]
        self._history_view: tuple[Message, ...] | None = None
        self.attachment_ids: tuple[str, ...] = _attachment_ids(self._history)

    @property
    def history(self) -> tuple[Message, ...]:
        """The committed messages of the current agent frame (what the model sees next turn)."""
        if self._history_view is None:
            self._history_view = tuple(self._history)
        return self._history_view

    @property
    def is_running(self) -> bool:
        """True while a turn runs on this session."""
        return self._running is not None

    def turn(
        self,
        turn_input: TurnInput | str,
        *,
        turn_id: str | None = None,
        sink: EventSink | None = None,
    ) -> Turn:
        """A turn of this session (not started: call ``run()`` or ``stream()``).

        ``turn_id`` defaults to the input's ``trace_turn_id`` or a fresh id; re-running a
        turn id that was committed returns the recorded commit (idempotent).
        """
        if isinstance(turn_input, str):
            turn_input = TurnInput.text(turn_input)
        if self.core.store.durability is DurabilityTier.DURABLE:
            context = turn_input.context
            if turn_input.protocol_extension is not None:
                raise LiveInputRejected(
                    f"session {self.id!r} has a durable store, and a live protocol extension cannot be stored or "
                    "replayed; pass the option in protocol_turn_options instead"
                )
            if context is not None and context.plugin_inputs:
                names = ", ".join(sorted(context.plugin_inputs))
                raise LiveInputRejected(
                    f"session {self.id!r} has a durable store, and live plugin inputs ({names}) cannot be stored or "
                    "replayed; pass serializable data through protocol_turn_options or plugin settings"
                )
        resolved = turn_id or turn_input.trace_turn_id or new_turn_id()
        return Turn(self, turn_input, resolved, (sink,) if sink else ())

    def usage_report(self) -> UsageReport:
        """The session's usage: totals, by source, by model."""
        return self.ledger.report()

    def begin(self, turn: Turn) -> None:
        """Mark ``turn`` as the running turn (raises :class:`SessionBusy` when one runs)."""
        if self._running is not None:
            raise SessionBusy(self.id, f" (turn {self._running.turn_id!r})")
        self._running = turn

    def end(self, turn: Turn) -> None:
        """Clear the running turn."""
        if self._running is turn:
            self._running = None

    def snapshot_plugin_state(self) -> dict[str, Any]:
        """Every plugin's per-session state, to commit with the turn (``snapshot_state`` hooks)."""
        caller = self.core.caller
        if not caller.has("snapshot_state"):
            return self.plugin_state
        state = dict(self.plugin_state)
        for plugin, value in caller.collect_sync("snapshot_state", session_id=self.id):
            if value is None:
                state.pop(plugin, None)
            else:
                state[plugin] = _json_copy(plugin, value)
        return state

    def restore_plugin_state(self) -> None:
        """Hand every plugin its own committed state (``restore_state`` hooks)."""
        caller = self.core.caller
        if caller.has("restore_state"):
            caller.call_each_sync(
                "restore_state",
                lambda plugin: {"session_id": self.id, "state": copy.deepcopy(self.plugin_state.get(plugin))},
            )

    async def notify_restored(self) -> None:
        """Run ``session_restored`` observers."""
        if self.core.caller.has("session_restored"):
            ctx = SessionHookContext(self.id, self.history, self.policy)
            await self.core.caller.observe("session_restored", ctx=ctx)

    @property
    def is_durable(self) -> bool:
        """True when the session lives in a durable store (turns then hold the execution lease)."""
        return self.core.store.durability is DurabilityTier.DURABLE

    def lease_guard(self, on_lost: Callable[[], None] = lambda: None) -> LeaseGuard | None:
        """A guard for this session's execution lease, or ``None`` for a non-durable store."""
        if not self.is_durable:
            return None
        return LeaseGuard(self.core.store, self.id, self.core.lease_owner, self.core.lease_timings, on_lost)

    async def refresh(self, known_revision: int | None = None) -> bool:
        """Reload the session when another worker committed since this handle's last commit
        (so no stale history is extended); ``True`` when it reloaded. ``known_revision`` is
        the store's head revision if the caller read it just now under the session lease
        (the lease acquisition reports it): when it is this handle's, nothing is read."""
        if known_revision is not None and known_revision == self.head_revision:
            return False
        head = await self.core.store.load_head(self.id)
        if head is None or head.head_revision == self.head_revision:
            return False
        record = await self.core.store.load_session(self.id)
        self._load(record)
        self.restore_plugin_state()
        return True

    async def submit(
        self,
        turn_input: TurnInput | str,
        *,
        source_key: str | None = None,
        ingress: str | InputIngress = "next_turn",
        min_boundary: InputBoundary = InputBoundary.AFTER_WORK,
    ) -> PendingInput:
        """Admit input durably: it runs in the next turn (``ingress="next_turn"``), or is fed
        into the running turn at its next checkpoint (``"active_turn"``; when no turn runs
        it waits for the next one). ``source_key`` makes the submission idempotent: the same
        key and content return the existing record, the same key with other content is a
        :class:`~lash_core.errors.SourceKeyConflict`."""
        if isinstance(turn_input, str):
            turn_input = TurnInput.text(turn_input)
        validate_input(turn_input, max_attachment_bytes=self.core.max_attachment_bytes)
        if ingress == "next_turn":
            ingress = NextTurn()
        elif ingress == "active_turn":
            running = self._running
            ingress = ActiveTurn(running.current_turn_id, min_boundary) if running is not None else NextTurn()
        elif isinstance(ingress, str):
            raise ValueError(
                f"unknown ingress {ingress!r}: use 'next_turn', 'active_turn' or an InputIngress"
            )
        draft = PendingInputDraft(self.id, turn_input, ingress, source_key)
        return await self.core.store.enqueue_input(draft)

    async def drain(
        self, *, max_turns: int | None = None, sink: EventSink | None = None
    ) -> list[AssembledTurn]:
        """Run what is pending for this session under its execution lease: leading session
        commands, then pending input (a claim takes up to 64 inputs, merged into one turn in
        submission order), then queued turn work (see :mod:`lash_core.drain`). Returns the
        turns run; an empty list when nothing is pending or another worker holds the session."""
        return await drain_session(self, max_turns=max_turns, sink=sink)

    async def configure(self, policy: SessionPolicy) -> None:
        """Change the session's policy and tell ``session_config_changed`` observers."""
        previous, self.policy = self.policy, policy
        if previous != policy and self.core.caller.has("session_config_changed"):
            ctx = SessionHookContext(self.id, self.history, self.policy)
            await self.core.caller.observe(
                "session_config_changed", ctx=ctx, previous=previous, current=policy
            )

    def apply_commit(self, commit: TurnCommit, head_revision: int) -> None:
        """Adopt a committed turn: history, head revision, frames, usage, plugin state."""
        if commit.current_frame_id != self.current_frame_id:
            self._history = [n.message for n in commit.nodes if n.frame_id == commit.current_frame_id]
            self.attachment_ids = _attachment_ids(self._history)
        else:
            added = [n.message for n in commit.nodes]
            self._history.extend(added)
            new_ids = _attachment_ids(added)
            if new_ids:
                self.attachment_ids = tuple(dict.fromkeys((*self.attachment_ids, *new_ids)))
        self._history_view = None
        self.current_frame_id = commit.current_frame_id
        self.frames = commit.frames
        self.head_revision = head_revision
        self.ledger = self.ledger.merge(commit.usage_deltas)
        self.plugin_state = commit.plugin_state
        self.last_prompt_usage = commit.last_prompt_usage
        self.turn_count += commit.counts_as_turn


def _attachment_ids(messages: list[Message]) -> tuple[str, ...]:
    """The ids of the attachments ``messages`` refer to, first-seen order, no repeats."""
    ids = (p.attachment.attachment_id for m in messages for p in m.parts if p.attachment is not None)
    return tuple(dict.fromkeys(ids))


def _json_copy(plugin: str, value: Any) -> Any:
    """A copy of a plugin's state through JSON: later in-place changes by the plugin cannot
    alter what was committed, and state that a durable store could not write fails now."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise HookError(
            plugin,
            "snapshot_state",
            TypeError(f"the state must be JSON-compatible (dicts, lists, strings, numbers, booleans): {exc}"),
        ) from exc


class Turn:
    """One logical turn of a session. Run it once, with ``run()`` or ``stream()``."""

    def __init__(
        self, session: Session, turn_input: TurnInput, turn_id: str, sinks: tuple[EventSink, ...]
    ) -> None:
        self.session = session
        self.input = turn_input
        self.turn_id = turn_id
        self.sinks = sinks
        self.cancel_reason: str | None = None
        self._scope: anyio.CancelScope | None = None
        self._started = False
        self._active_inputs: list[TurnInput] = []
        self.current_turn_id = turn_id  # the physical turn running now (a follow-on frame has its own id)

    async def run(self) -> AssembledTurn:
        """Run the turn to its commit and return what it produced."""
        if self._started:
            raise RuntimeError(
                f"turn {self.turn_id!r} was already started; create a new turn with session.turn()"
            )
        self._started = True
        session = self.session
        session.begin(self)
        try:
            guard = session.lease_guard(on_lost=lambda: self.cancel("the session execution lease was lost"))
            if guard is None:
                return await TurnRunner(session, self).run()
            await guard.acquire()
            try:
                await session.refresh(guard.head_revision)
                return await TurnRunner(session, self, guard=guard).run()
            finally:
                await guard.release()
        finally:
            session.end(self)

    def mark_started(self) -> None:
        """Mark the turn as started by a runner other than :meth:`run` (a drain)."""
        self._started = True

    def stream(self) -> TurnStream:
        """Run the turn, yielding its activities as they happen; the result is on ``.result``."""
        return TurnStream(self)

    def cancel(self, reason: str = "cancelled by the host") -> None:
        """Cancel the turn: it stops at the next await and commits ``Stopped(Cancelled)``."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self._scope is not None:
            self._scope.cancel()

    def attach_scope(self, scope: anyio.CancelScope | None) -> None:
        """Called by the runner: the cancel scope of the running physical turn."""
        self._scope = scope
        if scope is not None and self.cancel_reason is not None:
            scope.cancel()

    def submit(self, turn_input: TurnInput | str) -> None:
        """Submit input to this running turn; the model sees it at the next checkpoint.

        Raises :class:`~lash_core.turn.input.InvalidTurnInput` at once when the input is
        invalid (the running turn is not affected).
        """
        if isinstance(turn_input, str):
            turn_input = TurnInput.text(turn_input)
        validate_input(turn_input, max_attachment_bytes=self.session.core.max_attachment_bytes)
        self._active_inputs.append(turn_input)

    def take_active_inputs(self) -> list[TurnInput]:
        """Called at checkpoints: the inputs submitted since the last one."""
        taken, self._active_inputs = self._active_inputs, []
        return taken

    def has_active_inputs(self) -> bool:
        """True when input was submitted since the last checkpoint."""
        return bool(self._active_inputs)


class TurnStream:
    """Async iterator over a turn's activities. Iterate it to the end, or use it as
    ``async with turn.stream() as activities:`` to leave early (the turn is then
    cancelled and commits ``Stopped(Cancelled)``)."""

    def __init__(self, turn: Turn, buffer: int = 100) -> None:
        self.turn = turn
        self.result: AssembledTurn | None = None
        self._buffer = buffer
        self._iterator: AsyncIterator[TurnActivity] | None = None

    def __aiter__(self) -> AsyncIterator[TurnActivity]:
        if self._iterator is None:
            self._iterator = self._iterate()
        return self._iterator

    async def __aenter__(self) -> TurnStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._iterator is not None:
            await self._iterator.aclose()  # type: ignore[attr-defined]

    async def _iterate(self) -> AsyncIterator[TurnActivity]:
        send, receive = anyio.create_memory_object_stream[TurnActivity](self._buffer)
        error: list[Exception] = []

        async def produce(stream: ObjectSendStream[TurnActivity]) -> None:
            async with stream:
                self.turn.sinks = (*self.turn.sinks, stream.send)
                try:
                    self.result = await self.turn.run()
                except Exception as exc:
                    error.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(produce, send)
            async with receive:
                try:
                    async for activity in receive:
                        yield activity
                except GeneratorExit:
                    # Left early (aclose): cancel the turn, which commits Stopped(Cancelled), and
                    # end normally so the task group does not wrap GeneratorExit in an exception group.
                    group.cancel_scope.cancel()
                    return
        if error:
            raise error[0]


def collect_into(activities: list[TurnActivity]) -> EventSink:
    """An event sink appending every activity to ``activities``."""

    async def sink(activity: TurnActivity) -> None:
        activities.append(activity)

    return sink
