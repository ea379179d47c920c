"""Draining a session: session commands, pending input, queued turn work, the frame handoff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from lash_core import hookimpl, tool
from lash_core.builtin import jsonl_trace
from lash_core.drain import claimed_turn_id
from lash_core.model import (
    AgentFrameSwitch,
    Cancelled,
    FrameStatus,
    JsonObjectOutput,
    Message,
    QueuedWorkStarted,
    Role,
    Stopped,
    SuccessOutcome,
    SwitchAgentFrameControl,
    ToolCallOutput,
    TurnActivity,
    TurnContext,
    TurnInput,
)
from lash_core.session import collect_into
from lash_core.store.contract import CommitResult, TurnCommit
from lash_core.store.leases import LeaseFence
from lash_core.store.queued_work import (
    AgentFrameTask,
    DeliveryPolicy,
    ProcessWake,
    QueuedWorkDraft,
    RefreshToolCatalog,
    ResetSession,
    WorkState,
)
from lash_core.testing import FakeClock, ScriptedProvider, call, reply_text, reply_tool_calls
from lash_core.testing.durable import DurableMemoryStore, ProcessCrash, durable_runtime, raised
from lash_core.turn.claims import handoff_draft

pytestmark = pytest.mark.anyio


def request_texts(messages: tuple[Message, ...]) -> list[str]:
    """The text of each message of a model request."""
    return [m.text for m in messages]


async def state_of(store: DurableMemoryStore, draft: QueuedWorkDraft) -> WorkState:
    """The state of the batch enqueued from ``draft`` (which has a source key): enqueueing it
    again answers with the stored batch, terminal ones included."""
    assert draft.source_key is not None
    return (await store.enqueue_work(draft)).state


def trace_records(directory: Path, session_id: str) -> list[dict[str, Any]]:
    """The JSONL trace records of a session."""
    lines = (directory / f"{session_id}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def named(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The custom trace records called ``name``."""
    return [r for r in records if r["type"] == "custom" and r.get("name") == name]


async def test_hook_session_command() -> None:
    """A drain tells session_command observers of each queued command, before running pending input."""
    heard: list[tuple[str, Any, int]] = []
    provider = ScriptedProvider([reply_text("answer")])

    class Observer:
        lash_plugin_name = "observer"

        @hookimpl
        async def session_command(self, ctx: Any, command: Any) -> None:
            heard.append((ctx.session_id, command, provider.calls))

    store = DurableMemoryStore(FakeClock())
    async with durable_runtime(provider, store, plugins=[Observer()]) as rt:
        session = await rt.session("s1")
        await session.submit("hello")
        await store.enqueue_work(QueuedWorkDraft("s1", (RefreshToolCatalog("new tools"),)))
        turns = await session.drain()
    assert heard == [("s1", RefreshToolCatalog("new tools"), 0)]
    assert [t.assistant_output.safe_text for t in turns] == ["answer"]


async def test_a_failing_command_observer_does_not_block_the_queue() -> None:
    """An observer raising is isolated: the command is settled and the input behind it runs."""

    class Broken:
        lash_plugin_name = "broken"

        @hookimpl
        async def session_command(self, ctx: Any, command: Any) -> None:
            raise RuntimeError("cannot refresh")

    store = DurableMemoryStore(FakeClock())
    async with durable_runtime(ScriptedProvider([reply_text("ok")]), store, plugins=[Broken()]) as rt:
        session = await rt.session("s1")
        refresh = QueuedWorkDraft("s1", (RefreshToolCatalog(),), source_key="refresh-1")
        await store.enqueue_work(refresh)
        await session.submit("hello")
        turns = await session.drain()
        assert len(turns) == 1
        assert await state_of(store, refresh) is WorkState.COMPLETED


async def test_reset_session_opens_an_empty_frame_and_records_no_turn() -> None:
    """A reset command settles in a commit that opens a fresh frame; the turn count stays."""
    provider = ScriptedProvider([reply_text("one"), reply_text("two")])
    store = DurableMemoryStore(FakeClock())
    async with durable_runtime(provider, store) as rt:
        session = await rt.session("s1")
        await session.turn("first").run()
        old_frame = session.current_frame_id
        reset = QueuedWorkDraft("s1", (ResetSession("start over"),), source_key="reset-1")
        await store.enqueue_work(reset)
        assert await session.drain() == []
        assert await state_of(store, reset) is WorkState.COMPLETED
        assert session.current_frame_id != old_frame and session.history == ()
        assert session.turn_count == 1
        head = await store.load_head("s1")
        assert head is not None and head.turn_count == 1 and head.head_revision == 2
        statuses = {f.frame_id: f.status for f in head.frames}
        assert statuses == {old_frame: FrameStatus.SUPERSEDED, session.current_frame_id: FrameStatus.ACTIVE}
        await session.turn("second").run()
    assert request_texts(provider.requests[1].messages) == ["second"]
    record = await store.load_session("s1")
    assert record is not None and [n.message.text for n in record.nodes][:2] == ["first", "one"]


async def test_commands_are_traced_as_claimed_and_completed(tmp_path: Path) -> None:
    """A command writes queued_work.claimed and queued_work.completed with its claim and batch ids."""
    store = DurableMemoryStore(FakeClock())
    config = {"trace_sinks": [{"type": "jsonl", "settings": {"directory": str(tmp_path)}}]}
    async with durable_runtime(ScriptedProvider(), store, plugins=[jsonl_trace], config=config) as rt:
        batch = await store.enqueue_work(QueuedWorkDraft("s1", (RefreshToolCatalog(),)))
        await rt.drain("s1")
    records = trace_records(tmp_path, "s1")
    [claimed] = named(records, "queued_work.claimed")
    [completed] = named(records, "queued_work.completed")
    assert claimed["batch_ids"] == completed["batch_ids"] == [batch.batch_id]
    assert completed["claim_ids"] == [claimed["claim_id"]]
    assert completed["commands"] == ["refresh_tool_catalog"]


async def test_agent_frame_task_work_runs_as_a_turn_and_is_completed_in_its_commit(tmp_path: Path) -> None:
    """Turn work with a task runs as a turn whose input is the task; its batch completes in the commit."""
    provider = ScriptedProvider([reply_text("task done")])
    store = DurableMemoryStore(FakeClock())
    config = {"trace_sinks": [{"type": "jsonl", "settings": {"directory": str(tmp_path)}}]}
    activities: list[TurnActivity] = []
    async with durable_runtime(provider, store, plugins=[jsonl_trace], config=config) as rt:
        session = await rt.session("s1")
        task = AgentFrameTask(session.current_frame_id, "summarise the notes", {"mode": "brief"})
        draft = QueuedWorkDraft("s1", (task,), source_key="task-1")
        batch = await store.enqueue_work(draft)
        [turn] = await session.drain(sink=collect_into(activities))
        assert turn.turn_id == claimed_turn_id([batch.batch_id], prefix="work")
        assert await state_of(store, draft) is WorkState.COMPLETED
    assert request_texts(provider.requests[0].messages) == ["summarise the notes"]
    started = [a.event for a in activities if isinstance(getattr(a, "event", None), QueuedWorkStarted)]
    assert [(s.boundary, s.batch_ids) for s in started] == [("idle", (batch.batch_id,))]
    [completed] = named(trace_records(tmp_path, "s1"), "queued_work.completed")
    assert completed["batch_ids"] == [batch.batch_id] and completed["turn_id"] == turn.turn_id


async def test_process_wake_is_an_event_message_the_model_sees() -> None:
    """A process wake becomes an event message of the turn; no empty user message is added."""
    provider = ScriptedProvider([reply_text("noted")])
    store = DurableMemoryStore(FakeClock())
    async with durable_runtime(provider, store) as rt:
        session = await rt.session("s1")
        wake = ProcessWake("build-7", "w1", {"status": "passed"})
        await store.enqueue_work(QueuedWorkDraft("s1", (wake,)))
        [turn] = await session.drain()
    [sent] = provider.requests[0].messages
    assert sent.role is Role.EVENT
    assert "build-7" in sent.text and '"status": "passed"' in sent.text
    assert [m.role for m in turn.messages] == [Role.EVENT, Role.ASSISTANT]


async def test_pending_input_runs_before_turn_work() -> None:
    """Next-turn input is served before queued turn work; after-commit work gets a turn of its own."""
    provider = ScriptedProvider([reply_text("for input"), reply_text("for work")])
    store = DurableMemoryStore(FakeClock())
    async with durable_runtime(provider, store) as rt:
        session = await rt.session("s1")
        task = AgentFrameTask(session.current_frame_id, "work")
        await store.enqueue_work(
            QueuedWorkDraft("s1", (task,), delivery=DeliveryPolicy.AFTER_CURRENT_TURN_COMMIT)
        )
        await session.submit("input")
        turns = await session.drain()
    assert [request_texts(r.messages)[-1] for r in provider.requests] == ["input", "work"]
    assert len(turns) == 2


async def test_earliest_boundary_work_joins_the_turn_of_pending_input() -> None:
    """Turn work for the earliest safe boundary is taken at the checkpoint of the input's turn."""
    provider = ScriptedProvider([reply_text("for input"), reply_text("for both")])
    store = DurableMemoryStore(FakeClock())
    async with durable_runtime(provider, store) as rt:
        session = await rt.session("s1")
        await store.enqueue_work(QueuedWorkDraft("s1", (AgentFrameTask(session.current_frame_id, "work"),)))
        await session.submit("input")
        [turn] = await session.drain()
    assert request_texts(provider.requests[1].messages) == ["input", "for input", "work"]
    assert [m.text for m in turn.messages] == ["input", "for input", "work", "for both"]


async def test_work_waiting_for_a_later_time_is_not_run() -> None:
    """Work available only later stays pending through a drain."""
    clock = FakeClock()
    store = DurableMemoryStore(clock)
    async with durable_runtime(ScriptedProvider([reply_text("later")]), store, clock=clock) as rt:
        draft = QueuedWorkDraft(
            "s1",
            (AgentFrameTask("s1:frame:initial", "later"),),
            source_key="later-1",
            delivery=DeliveryPolicy.AFTER_CURRENT_TURN_COMMIT,
            available_at_ms=clock.now_ms() + 60_000,
        )
        await store.enqueue_work(draft)
        assert await rt.drain("s1") == []
        assert await state_of(store, draft) is WorkState.PENDING
        clock.advance(61.0)
        assert len(await rt.drain("s1")) == 1


# -- the durable frame handoff ------------------------------------------------------------


@tool
async def handoff() -> ToolCallOutput:
    """Continue in a fresh agent frame."""
    return ToolCallOutput(
        SuccessOutcome("switching"),
        control=SwitchAgentFrameControl(frame_id="f2", task="continue here"),
    )


class DiesAfterSwitchStore(DurableMemoryStore):
    """A handle on shared data whose process dies just after committing a frame switch."""

    def __init__(self, clock: FakeClock, shared: DurableMemoryStore) -> None:
        super().__init__(clock, data=shared.data)
        self.dead = False

    async def commit(self, commit: TurnCommit) -> CommitResult:
        result = await super().commit(commit)
        if isinstance(commit.outcome, AgentFrameSwitch):
            self.dead = True
            raise ProcessCrash("died after the switch commit")
        return result

    async def release_lease(self, fence: LeaseFence) -> bool:
        return False if self.dead else await super().release_lease(fence)


async def test_a_drained_frame_switch_hands_over_through_a_completed_outbox_batch() -> None:
    """A claim-originated switch commits a handoff batch that the follow-on frame claims and completes."""
    provider = ScriptedProvider([reply_tool_calls(call("handoff")), reply_text("done in f2")])
    store = DurableMemoryStore(FakeClock())
    async with durable_runtime(provider, store, tools=[handoff]) as rt:
        session = await rt.session("s1")
        pending = await session.submit("start")
        [turn] = await session.drain()
        assert turn.turn_id == f"input-{pending.input_id}:agent-frame:1"
        assert session.current_frame_id == "f2"
        handoff_batch = handoff_draft(
            "s1", f"input-{pending.input_id}", AgentFrameSwitch("f2", "continue here"), None
        )
        assert await state_of(store, handoff_batch) is WorkState.COMPLETED
        assert await session.drain() == []
    assert request_texts(provider.requests[1].messages) == ["continue here"]


async def test_a_worker_dying_after_a_switch_commit_leaves_the_follow_on_frame_to_the_next_worker() -> None:
    """The follow-on frame of a worker that died after its switch commit is run by the next worker."""
    clock = FakeClock()
    shared = DurableMemoryStore(clock)
    dying = DiesAfterSwitchStore(clock, shared)
    provider_a = ScriptedProvider([reply_tool_calls(call("handoff"))])
    provider_b = ScriptedProvider([reply_text("done in f2")])
    async with (
        durable_runtime(provider_a, dying, owner_id="worker-a", tools=[handoff]) as rt_a,
        durable_runtime(provider_b, shared, owner_id="worker-b", tools=[handoff]) as rt_b,
    ):
        session_a = await rt_a.session("s1")
        pending = await session_a.submit("start")
        with pytest.raises(BaseException) as caught:
            await session_a.drain()
        assert raised(caught.value, ProcessCrash)
        clock.advance(31.0)  # past the dead worker's lease
        [turn] = await rt_b.drain("s1")
        assert turn.assistant_output.safe_text == "done in f2"
        handoff_batch = handoff_draft(
            "s1", f"input-{pending.input_id}", AgentFrameSwitch("f2", "continue here"), None
        )
        assert await state_of(shared, handoff_batch) is WorkState.COMPLETED
        assert await rt_b.drain("s1") == []
    assert request_texts(provider_b.requests[0].messages) == ["continue here"]
    record = await shared.load_session("s1")
    assert record is not None and record.head.current_frame_id == "f2"
    assert [n.message.text for n in record.nodes if n.frame_id == "f2"] == ["continue here", "done in f2"]


async def test_merged_pending_inputs_keep_their_turn_context() -> None:
    """A pending input's turn context (here an output spec) reaches the model call of the merged turn."""
    provider = ScriptedProvider([reply_text('{"ok": true}')])
    store = DurableMemoryStore(FakeClock())
    async with durable_runtime(provider, store) as rt:
        session = await rt.session("s1")
        await session.submit("plain")
        await session.submit(TurnInput.text("as json", context=TurnContext(output_spec=JsonObjectOutput())))
        await session.drain()
    assert provider.requests[0].output_spec == JsonObjectOutput()


# -- queued work delivered at a running turn's checkpoint ------------------------------------


def wake_enqueuer(store: DurableMemoryStore, draft: QueuedWorkDraft) -> Any:
    """A tool that enqueues ``draft`` (a background process waking the session) when called."""

    @tool
    async def start_build() -> str:
        """Start a build in the background."""
        await store.enqueue_work(draft)
        return "build started"

    return start_build


async def test_a_process_wake_reaches_the_running_turn_at_its_next_checkpoint() -> None:
    """Work enqueued while a turn runs is claimed at the checkpoint after the tool round and completed in the commit."""
    store = DurableMemoryStore(FakeClock())
    wake = QueuedWorkDraft("s1", (ProcessWake("build-7", "w1", {"status": "passed"}),), source_key="wake-1")
    provider = ScriptedProvider([reply_tool_calls(call("start_build")), reply_text("the build passed")])
    activities: list[TurnActivity] = []
    async with durable_runtime(provider, store, tools=[wake_enqueuer(store, wake)]) as rt:
        session = await rt.session("s1")
        result = await session.turn("build it", sink=collect_into(activities)).run()
        assert await state_of(store, wake) is WorkState.COMPLETED
        assert await session.drain() == []  # nothing left to run as a turn of its own
    second = provider.requests[1].messages
    assert second[-1].role is Role.EVENT and "build-7" in second[-1].text
    assert [m.role for m in result.messages][-2:] == [Role.EVENT, Role.ASSISTANT]
    started = [a.event for a in activities if isinstance(getattr(a, "event", None), QueuedWorkStarted)]
    assert [s.boundary for s in started] == ["active_turn_checkpoint"]
    assert "build-7" in started[0].causes[0]


async def test_work_claimed_at_a_checkpoint_is_completed_when_the_turn_is_cancelled() -> None:
    """A cancelled turn still completes the work its checkpoint claimed (the event is in its history)."""
    store = DurableMemoryStore(FakeClock())
    wake = QueuedWorkDraft("s1", (ProcessWake("build-7", "w1"),), source_key="wake-2")
    held = reply_text("never", gate=anyio.Event())
    provider = ScriptedProvider([reply_tool_calls(call("start_build")), held])
    async with durable_runtime(provider, store, tools=[wake_enqueuer(store, wake)]) as rt:
        session = await rt.session("s1")
        turn = session.turn("build it")
        results: list[Any] = []

        async def run() -> None:
            results.append(await turn.run())

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            with anyio.fail_after(10):
                await held.started.wait()
            turn.cancel()
        assert results[0].outcome == Stopped(Cancelled())
        assert await state_of(store, wake) is WorkState.COMPLETED


async def test_work_for_after_the_turn_waits_for_the_commit() -> None:
    """Work with after-commit delivery is not taken at a checkpoint; a drain runs it afterwards."""
    store = DurableMemoryStore(FakeClock())
    later = QueuedWorkDraft(
        "s1",
        (ProcessWake("build-7", "w1"),),
        source_key="wake-3",
        delivery=DeliveryPolicy.AFTER_CURRENT_TURN_COMMIT,
    )
    provider = ScriptedProvider(
        [reply_tool_calls(call("start_build")), reply_text("started"), reply_text("saw the wake")]
    )
    async with durable_runtime(provider, store, tools=[wake_enqueuer(store, later)]) as rt:
        session = await rt.session("s1")
        await session.turn("build it").run()
        assert await state_of(store, later) is WorkState.PENDING
        [turn] = await session.drain()
        assert await state_of(store, later) is WorkState.COMPLETED
    assert turn.messages[0].role is Role.EVENT
