"""Turn input validation: invalid input stops the turn and changes nothing in the session."""

from __future__ import annotations

import hashlib

import anyio
import pytest

from lash_core.model import (
    AssembledTurn,
    AttachmentItem,
    ErrorEvent,
    InlineAttachment,
    InvalidInput,
    PartKind,
    Role,
    RuntimeErrorStop,
    Stopped,
    TextItem,
    TurnActivity,
    TurnInput,
)
from lash_core.session import collect_into
from lash_core.testing import ScriptedProvider, reply_text, scripted_runtime
from lash_core.turn.input import InvalidTurnInput

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17


def attachment(data: bytes, media_type: str, name: str | None = None) -> AttachmentItem:
    """An inline attachment item."""
    return AttachmentItem(InlineAttachment(data, media_type, name))


INVALID_INPUTS = {
    "empty item list": (TurnInput(items=()), "no items"),
    "unknown media type": (
        TurnInput(items=(TextItem("look"), attachment(b"abc", "application/x-lash-bogus"))),
        "item 1: unknown media type 'application/x-lash-bogus'",
    ),
    "oversize attachment": (
        TurnInput(items=(attachment(b"x" * 65, "text/plain"),)),
        "item 0: attachment is 65 bytes, over the limit of 64 bytes",
    ),
    "png magic mismatch": (
        TurnInput(items=(attachment(b"GIF89a not a png", "image/png"),)),
        "item 0: the bytes do not match the declared media type image/png",
    ),
    "non-UTF-8 text": (
        TurnInput(items=(attachment(b"ok \xff\xfe broken", "text/plain"),)),
        "item 0: text/plain attachment is not valid UTF-8",
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(INVALID_INPUTS), ids=list(INVALID_INPUTS))
async def test_invalid_input_stops_the_turn_and_changes_nothing(case: str) -> None:
    """Invalid input ends Stopped(InvalidInput) with an explanatory issue, leaving the session as it was."""
    turn_input, expected = INVALID_INPUTS[case]
    provider = ScriptedProvider([reply_text("first answer")])
    async with scripted_runtime(provider, config={"max_attachment_bytes": 64}) as rt:
        session = await rt.session("s1")
        await session.turn("first").run()
        head, history, usage = session.head_revision, session.history, session.usage_report()
        stored_before = await rt.store.load_session("s1")

        result = await session.turn(turn_input).run()

        assert result.outcome == Stopped(InvalidInput())
        assert [issue.code for issue in result.errors] == ["invalid_turn_input"]
        assert expected in result.errors[0].message
        assert result.head_revision == head
        assert session.head_revision == head
        assert session.history == history
        assert session.usage_report() == usage
        assert await rt.store.load_session("s1") == stored_before
        assert provider.calls == 1
        assert not session.is_running


@pytest.mark.anyio
async def test_invalid_input_reports_an_error_activity() -> None:
    """An invalid input emits an error activity with code invalid_turn_input."""
    activities: list[TurnActivity] = []
    async with scripted_runtime(ScriptedProvider()) as rt:
        session = await rt.session("s1")
        await session.turn(TurnInput(items=()), sink=collect_into(activities)).run()
    events = [a.event for a in activities]
    assert len(events) == 1
    assert isinstance(events[0], ErrorEvent)
    assert events[0].code == "invalid_turn_input"
    assert "no items" in events[0].message


@pytest.mark.anyio
async def test_invalid_item_stores_none_of_the_valid_attachments() -> None:
    """When one item is invalid, the valid attachments before it are not stored either."""
    turn_input = TurnInput(
        items=(attachment(PNG, "image/png"), attachment(b"abc", "application/x-lash-bogus"))
    )
    async with scripted_runtime(ScriptedProvider()) as rt:
        session = await rt.session("s1")
        result = await session.turn(turn_input).run()
        assert result.outcome == Stopped(InvalidInput())
        with pytest.raises(KeyError):
            await rt.store.get_attachment("s1", hashlib.sha256(PNG).hexdigest())
        assert await rt.store.load_session("s1") is None


@pytest.mark.anyio
async def test_valid_image_is_stored_content_addressed_and_referenced() -> None:
    """A valid image is stored under its sha256 and the committed user message refers to it."""
    digest = hashlib.sha256(PNG).hexdigest()
    provider = ScriptedProvider([reply_text("a tiny image")])
    turn_input = TurnInput(items=(TextItem("what is this?"), attachment(PNG, "image/png", "pixel.png")))
    async with scripted_runtime(provider) as rt:
        session = await rt.session("s1")
        result = await session.turn(turn_input).run()

        user = result.messages[0]
        assert user.role is Role.USER
        assert [p.kind for p in user.parts] == [PartKind.TEXT, PartKind.ATTACHMENT]
        ref = user.parts[1].attachment
        assert ref is not None
        assert ref.attachment_id == digest
        assert (ref.media_type, ref.size, ref.name) == ("image/png", len(PNG), "pixel.png")
        assert await rt.store.get_attachment("s1", digest) == PNG
        assert session.history[0] == user
        assert provider.requests[0].messages[-1].parts[1].attachment == ref


@pytest.mark.anyio
async def test_submitted_attachment_is_held_to_the_configured_size_limit() -> None:
    """An attachment submitted to a running turn is refused when over max_attachment_bytes."""
    gate = anyio.Event()
    first = reply_text("first", gate=gate)
    provider = ScriptedProvider([first, reply_text("second")])
    oversize = TurnInput(items=(attachment(b"x" * 65, "text/plain"),))
    results: list[AssembledTurn] = []
    async with scripted_runtime(provider, config={"max_attachment_bytes": 64}) as rt:
        session = await rt.session("s1")
        turn = session.turn("hello")

        async def run() -> None:
            results.append(await turn.run())

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await first.started.wait()
            with pytest.raises(InvalidTurnInput, match="over the limit of 64 bytes"):
                turn.submit(oversize)
            gate.set()
    sizes = [p.attachment.size for m in session.history for p in m.parts if p.attachment is not None]
    assert sizes == []
    assert results[0].outcome != Stopped(RuntimeErrorStop())
