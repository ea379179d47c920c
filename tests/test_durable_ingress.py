"""Pending turn input on a durable store: idempotent submission, draining next-turn input,
active-turn ingress claimed at checkpoints, deferral of input a turn missed, and the
``turn_input.*`` traces.

Every test runs on asyncio and on trio (the ``anyio_backend`` fixture).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from lash_core import tool
from lash_core.builtin import jsonl_trace
from lash_core.drain import claimed_turn_id
from lash_core.errors import SourceKeyConflict
from lash_core.hooks import hookimpl
from lash_core.model import (
    AssembledTurn,
    AssistantMessage,
    AttachmentItem,
    Finished,
    InlineAttachment,
    InvalidInput,
    MaxTurns,
    Message,
    Role,
    Stopped,
    SuccessOutcome,
    SwitchAgentFrameControl,
    TextItem,
    ToolCallOutput,
    TurnInput,
)
from lash_core.session import Session, Turn
from lash_core.store.inputs import (
    ActiveTurn,
    InputBoundary,
    NextTurn,
    PendingInput,
    PendingInputState,
)
from lash_core.testing import (
    DurableMemoryStore,
    FakeClock,
    Reply,
    ScriptedProvider,
    call,
    reply_text,
    reply_tool_calls,
)
from lash_core.testing.durable import durable_runtime

GUARD_SECONDS = 10


def texts(messages: tuple[Message, ...] | list[Message]) -> list[str]:
    """The texts of ``messages``."""
    return [m.text for m in messages]


def user_texts(messages: tuple[Message, ...] | list[Message]) -> list[str]:
    """The texts of the user messages among ``messages``."""
    return [m.text for m in messages if m.role is Role.USER]


async def stored_state(store: DurableMemoryStore, pending: PendingInput) -> PendingInputState:
    """The state the store holds for ``pending`` now."""
    found = await store.get_input(pending.session_id, pending.input_id)
    assert found is not None
    return found.state


async def committed_texts(store: DurableMemoryStore, session_id: str) -> list[str]:
    """The texts of every committed message of the session."""
    record = await store.load_session(session_id)
    return [] if record is None else texts([node.message for node in record.nodes])


async def run_held(turn: Turn, held: Reply, during: Any) -> AssembledTurn:
    """Run ``turn``; once ``held`` (a gated reply) has started, await ``during()`` and then
    open the gate. Returns the turn's result."""
    box: list[AssembledTurn] = []

    async def run() -> None:
        box.append(await turn.run())

    assert held.gate is not None
    async with anyio.create_task_group() as group:
        group.start_soon(run)
        with anyio.fail_after(GUARD_SECONDS):
            await held.started.wait()
            await during()
        held.gate.set()
    return box[0]


@tool
async def work(item: str) -> str:
    """Do a piece of work."""
    return f"did {item}"


@tool
async def handoff() -> ToolCallOutput:
    """Continue in a fresh agent frame."""
    return ToolCallOutput(
        SuccessOutcome("switching"), control=SwitchAgentFrameControl(frame_id="f2", task="continue here")
    )


# -- submission --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_resubmitting_a_source_key_with_the_same_content_returns_the_same_record() -> None:
    """submit() with a source key already used for the same content returns the existing record."""
    store = DurableMemoryStore(FakeClock())
    async with durable_runtime(ScriptedProvider(), store) as rt:
        session = await rt.session("s1")
        first = await session.submit("hello", source_key="msg-1")
        again = await session.submit("hello", source_key="msg-1")
        assert again == first
        assert [p.input_id for p in await store.list_pending_inputs("s1")] == [first.input_id]


@pytest.mark.anyio
async def test_resubmitting_a_source_key_with_other_content_raises_source_key_conflict() -> None:
    """submit() reusing a source key for changed content raises SourceKeyConflict naming the key."""
    store = DurableMemoryStore(FakeClock())
    async with durable_runtime(ScriptedProvider(), store) as rt:
        session = await rt.session("s1")
        await session.submit("hello", source_key="msg-1")
        with pytest.raises(SourceKeyConflict) as caught:
            await session.submit("hello, edited", source_key="msg-1")
        assert caught.value.key == "msg-1"
        assert "'msg-1'" in str(caught.value)
        assert len(await store.list_pending_inputs("s1")) == 1


@pytest.mark.anyio
async def test_submit_with_active_ingress_and_no_running_turn_waits_for_the_next_turn() -> None:
    """submit(ingress="active_turn") on an idle session records a next-turn input."""
    store = DurableMemoryStore(FakeClock())
    async with durable_runtime(ScriptedProvider(), store) as rt:
        session = await rt.session("s1")
        pending = await session.submit("hello", ingress="active_turn")
        assert pending.ingress == NextTurn()
        assert pending.state is PendingInputState.DEFERRED_NEXT_TURN


# -- drain ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_drain_runs_pending_inputs_merged_into_one_turn_in_submission_order() -> None:
    """drain() merges the pending inputs into one turn, items in submission order, and completes them."""
    store = DurableMemoryStore(FakeClock())
    provider = ScriptedProvider([reply_text("all three")])
    async with durable_runtime(provider, store) as rt:
        session = await rt.session("s1")
        submitted = [await session.submit(text) for text in ("first", "second", "third")]

        turns = await session.drain()

        assert len(turns) == 1
        assert turns[0].turn_id == claimed_turn_id([p.input_id for p in submitted])
        assert turns[0].turn_id.startswith(f"input-{submitted[0].input_id}-and-2-")
        assert turns[0].outcome == Finished(AssistantMessage("all three"))
        user = turns[0].messages[0]
        assert [part.content for part in user.parts] == ["first", "second", "third"]
        assert provider.calls == 1
        assert [await stored_state(store, p) for p in submitted] == [PendingInputState.COMPLETED] * 3
        assert await store.list_pending_inputs("s1") == []
        assert await store.load_lease("s1") is None


@pytest.mark.anyio
async def test_second_drain_finds_nothing() -> None:
    """A drain after everything was served runs no turn and calls no model."""
    store = DurableMemoryStore(FakeClock())
    provider = ScriptedProvider([reply_text("done")])
    async with durable_runtime(provider, store) as rt:
        session = await rt.session("s1")
        await session.submit("job")
        assert len(await session.drain()) == 1

        assert await session.drain() == []
        assert provider.calls == 1


@pytest.mark.anyio
async def test_drain_while_another_worker_holds_the_lease_returns_nothing() -> None:
    """drain() on a session whose lease another runtime holds returns [] and leaves the input pending."""
    store = DurableMemoryStore(FakeClock())
    gate = anyio.Event()
    provider_a = ScriptedProvider([reply_text("a", gate=gate)])
    provider_b = ScriptedProvider([reply_text("b")])
    async with (
        durable_runtime(provider_a, store, owner_id="worker-a") as rt_a,
        durable_runtime(provider_b, store, owner_id="worker-b") as rt_b,
    ):
        session_a = await rt_a.session("s1")
        session_b = await rt_b.session("s1")
        pending = await session_b.submit("queued")

        async def drain_b() -> None:
            assert await session_b.drain() == []

        await run_held(session_a.turn("foreground"), provider_a.replies[0], drain_b)

        assert provider_b.calls == 0
        assert await store.list_pending_inputs("s1") == [pending]
        assert [t.outcome for t in await session_b.drain()] == [Finished(AssistantMessage("b"))]


@pytest.mark.anyio
async def test_drain_with_max_turns_leaves_later_claims_pending() -> None:
    """drain(max_turns=1) runs one turn; input submitted after that claim waits for the next drain."""
    store = DurableMemoryStore(FakeClock())
    holder: list[Session] = []

    async def submit_more() -> None:
        await holder[0].submit("second")

    gate = anyio.Event()
    provider = ScriptedProvider([reply_text("one", gate=gate), reply_text("two")])
    async with durable_runtime(provider, store) as rt:
        session = await rt.session("s1")
        holder.append(session)
        await session.submit("first")
        box: list[list[AssembledTurn]] = []

        async def drain_one() -> None:
            box.append(await session.drain(max_turns=1))

        async with anyio.create_task_group() as group:
            group.start_soon(drain_one)
            with anyio.fail_after(GUARD_SECONDS):
                await provider.replies[0].started.wait()
                await submit_more()
            gate.set()

        assert [user_texts(t.messages) for t in box[0]] == [["first"]]
        assert [user_texts(t.messages) for t in await session.drain()] == [["second"]]


@pytest.mark.anyio
async def test_drained_input_the_worker_cannot_use_is_settled_once() -> None:
    """An input the draining worker rejects as invalid is settled by that turn's commit, not re-run by every drain."""
    store = DurableMemoryStore(FakeClock())
    attachment = AttachmentItem(InlineAttachment(b"x" * 2_000, "text/plain"))
    async with (
        durable_runtime(ScriptedProvider(), store, owner_id="front") as front,
        durable_runtime(
            ScriptedProvider(), store, owner_id="worker", config={"max_attachment_bytes": 1_000}
        ) as worker,
    ):
        session = await front.session("s1")
        pending = await session.submit(TurnInput(items=(TextItem("see attached"), attachment)))

        turns = await worker.drain("s1")

        assert [t.outcome for t in turns] == [Stopped(InvalidInput())]
        assert await stored_state(store, pending) is PendingInputState.COMPLETED
        assert await worker.drain("s1") == []


# -- active-turn ingress ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_active_input_is_claimed_at_the_next_checkpoint_and_seen_by_the_model() -> None:
    """An active-turn input submitted during the model call is accepted at the next checkpoint; the model answers with it in view."""
    store = DurableMemoryStore(FakeClock())
    provider = ScriptedProvider([reply_text("first answer", gate=anyio.Event()), reply_text("second answer")])
    held = provider.replies[0]
    async with durable_runtime(provider, store) as rt:
        session = await rt.session("s1")
        turn = session.turn("question")
        submitted: list[PendingInput] = []

        async def submit_more() -> None:
            submitted.append(await session.submit("more", ingress="active_turn"))

        result = await run_held(turn, held, submit_more)

        assert submitted[0].ingress == ActiveTurn(turn.turn_id, InputBoundary.AFTER_WORK)
        assert submitted[0].state is PendingInputState.PENDING_ACTIVE
        assert result.outcome == Finished(AssistantMessage("second answer"))
        assert user_texts(provider.requests[-1].messages) == ["question", "more"]
        assert await stored_state(store, submitted[0]) is PendingInputState.COMPLETED
        assert await committed_texts(store, "s1") == ["question", "first answer", "more", "second answer"]


@pytest.mark.anyio
async def test_active_input_from_another_worker_reaches_the_running_turn_through_the_store() -> None:
    """Another runtime submitting ActiveTurn(turn id) feeds the turn running on the first runtime."""
    store = DurableMemoryStore(FakeClock())
    provider_a = ScriptedProvider([reply_tool_calls(call("work", {"item": "x"}), gate=anyio.Event()), "done"])
    held = provider_a.replies[0]
    async with (
        durable_runtime(provider_a, store, owner_id="worker-a", tools=[work]) as rt_a,
        durable_runtime(ScriptedProvider(), store, owner_id="worker-b") as rt_b,
    ):
        session_a = await rt_a.session("s1")
        session_b = await rt_b.session("s1")
        turn = session_a.turn("start")

        async def submit_elsewhere() -> None:
            await session_b.submit("also y", ingress=ActiveTurn(turn.turn_id))

        result = await run_held(turn, held, submit_elsewhere)

        assert result.outcome == Finished(AssistantMessage("done"))
        # The after-work checkpoint delivered it: the second model call sees it after the tool result.
        assert provider_a.requests[1].messages[-1].text == "also y"
        assert await store.list_pending_inputs("s1") == []


@pytest.mark.anyio
async def test_before_completion_input_missed_by_a_turn_ending_early_is_deferred_to_the_next_drain() -> None:
    """A before_completion input on a turn that stops at max_turns is not delivered, is deferred by the commit, and runs at the next drain."""
    store = DurableMemoryStore(FakeClock())
    provider = ScriptedProvider(
        [
            reply_tool_calls(call("work", {"item": "a"}), gate=anyio.Event()),
            reply_tool_calls(call("work", {"item": "b"})),
            reply_text("later served"),
        ]
    )
    held = provider.replies[0]
    async with durable_runtime(provider, store, tools=[work], config={"max_turns": 2}) as rt:
        session = await rt.session("s1")
        submitted: list[PendingInput] = []

        async def submit_late() -> None:
            submitted.append(
                await session.submit(
                    "at the end", ingress="active_turn", min_boundary=InputBoundary.BEFORE_COMPLETION
                )
            )

        result = await run_held(session.turn("go"), held, submit_late)

        assert result.outcome == Stopped(MaxTurns())
        assert "at the end" not in user_texts(provider.requests[1].messages)
        deferred = await store.get_input("s1", submitted[0].input_id)
        assert deferred is not None
        assert (deferred.state, deferred.ingress) == (PendingInputState.DEFERRED_NEXT_TURN, NextTurn())

        turns = await session.drain()

        assert [user_texts(t.messages) for t in turns] == [["at the end"]]
        assert await stored_state(store, submitted[0]) is PendingInputState.COMPLETED


@pytest.mark.anyio
async def test_active_input_submitted_after_the_last_checkpoint_is_deferred_to_the_next_drain() -> None:
    """An active input submitted after the turn's last checkpoint (from a finalize_turn hook) is deferred and served by the next drain."""
    store = DurableMemoryStore(FakeClock())
    holder: dict[str, Any] = {}

    class LateSubmitter:
        lash_plugin_name = "late-submitter"

        @hookimpl
        async def finalize_turn(self, ctx: Any, turn: Any) -> None:
            if "late" not in holder:
                holder["late"] = await holder["session"].submit("late input", ingress="active_turn")

    provider = ScriptedProvider([reply_text("answer"), reply_text("late answer")])
    async with durable_runtime(provider, store, plugins=[LateSubmitter()]) as rt:
        session = await rt.session("s1")
        holder["session"] = session
        turn = session.turn("question")

        result = await turn.run()

        late: PendingInput = holder["late"]
        assert late.ingress == ActiveTurn(turn.turn_id, InputBoundary.AFTER_WORK)
        assert result.outcome == Finished(AssistantMessage("answer"))
        assert await stored_state(store, late) is PendingInputState.DEFERRED_NEXT_TURN

        turns = await session.drain()

        assert [t.outcome for t in turns] == [Finished(AssistantMessage("late answer"))]
        assert await stored_state(store, late) is PendingInputState.COMPLETED


@pytest.mark.anyio
async def test_active_input_submitted_after_the_commit_is_served_by_the_next_drain() -> None:
    """An active input submitted after the turn committed (from a turn_persisted hook) is stored
    as a next-turn input and served by the next drain."""
    store = DurableMemoryStore(FakeClock())
    holder: dict[str, Any] = {}

    class PostCommitSubmitter:
        lash_plugin_name = "post-commit-submitter"

        @hookimpl
        async def turn_persisted(self, ctx: Any, turn: Any) -> None:
            if "late" not in holder:
                holder["late"] = await holder["session"].submit("after commit", ingress="active_turn")

    provider = ScriptedProvider([reply_text("answer"), reply_text("late answer")])
    async with durable_runtime(provider, store, plugins=[PostCommitSubmitter()]) as rt:
        session = await rt.session("s1")
        holder["session"] = session
        await session.turn("question").run()

        late: PendingInput = holder["late"]
        assert (late.state, late.ingress) == (PendingInputState.DEFERRED_NEXT_TURN, NextTurn())

        turns = await session.drain()

        assert [t.outcome for t in turns] == [Finished(AssistantMessage("late answer"))]
        assert await stored_state(store, late) is PendingInputState.COMPLETED


@pytest.mark.anyio
async def test_active_input_submitted_in_a_follow_on_agent_frame_is_not_lost() -> None:
    """An active input submitted while the follow-on agent frame runs is delivered to it (or deferred), never stranded."""
    store = DurableMemoryStore(FakeClock())
    provider = ScriptedProvider(
        [reply_tool_calls(call("handoff")), reply_text("in f2", gate=anyio.Event()), "with more", "later"]
    )
    held = provider.replies[1]
    async with durable_runtime(provider, store, tools=[handoff]) as rt:
        session = await rt.session("s1")
        submitted: list[PendingInput] = []

        async def submit_more() -> None:
            submitted.append(await session.submit("more", ingress="active_turn"))

        await run_held(session.turn("go"), held, submit_more)
        await session.drain()

        assert await stored_state(store, submitted[0]) is PendingInputState.COMPLETED


# -- traces --------------------------------------------------------------------------------


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON records of a trace file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def named(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The custom records called ``name``."""
    return [r for r in records if r["type"] == "custom" and r.get("name") == name]


@pytest.mark.anyio
async def test_drain_traces_the_claim_and_its_completion_with_the_claim_id(tmp_path: Path) -> None:
    """A drained turn writes turn_input.claimed (claim id, input ids) and turn_input.completed naming the same claim."""
    store = DurableMemoryStore(FakeClock())
    config = {"trace_sinks": [{"type": "jsonl", "settings": {"directory": str(tmp_path)}}]}
    async with durable_runtime(ScriptedProvider(["ok"]), store, plugins=[jsonl_trace], config=config) as rt:
        session = await rt.session("s1")
        submitted = [await session.submit(text) for text in ("a", "b")]
        await session.drain()

    records = read_records(tmp_path / "s1.jsonl")
    [claimed] = named(records, "turn_input.claimed")
    [completed] = named(records, "turn_input.completed")
    assert claimed["claim_id"].startswith("claim_")
    assert claimed["input_ids"] == [p.input_id for p in submitted]
    assert completed["claim_ids"] == [claimed["claim_id"]]
    assert completed["input_ids"] == claimed["input_ids"]
    assert completed["turn_id"] == claimed["turn_id"] == claimed_turn_id(claimed["input_ids"])
    assert records.index(claimed) < records.index(completed)


@pytest.mark.anyio
async def test_checkpoint_claim_is_traced_with_its_checkpoint_and_completed_with_the_turn(
    tmp_path: Path,
) -> None:
    """An active input accepted at a checkpoint writes turn_input.claimed with the checkpoint; the commit's turn_input.completed names it."""
    store = DurableMemoryStore(FakeClock())
    config = {"trace_sinks": [{"type": "jsonl", "settings": {"directory": str(tmp_path)}}]}
    provider = ScriptedProvider([reply_text("first", gate=anyio.Event()), reply_text("second")])
    held = provider.replies[0]
    async with durable_runtime(provider, store, plugins=[jsonl_trace], config=config) as rt:
        session = await rt.session("s1")
        turn = session.turn("question")
        submitted: list[PendingInput] = []

        async def submit_more() -> None:
            submitted.append(await session.submit("more", ingress="active_turn"))

        await run_held(turn, held, submit_more)

    records = read_records(tmp_path / "s1.jsonl")
    [claimed] = named(records, "turn_input.claimed")
    [completed] = named(records, "turn_input.completed")
    assert claimed["turn_id"] == turn.turn_id
    assert claimed["checkpoint"] == "before_completion"
    assert claimed["input_ids"] == [submitted[0].input_id]
    assert completed["claim_ids"] == [claimed["claim_id"]]
