"""Attachments reach providers: the runtime loads their bytes into the model request."""

from __future__ import annotations

import hashlib

import pytest

from lash_core.model import AttachmentItem, InlineAttachment, LlmRequest, TextItem, TurnInput
from lash_core.testing import FunctionProvider, scripted_runtime

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.mark.anyio
async def test_attachment_bytes_are_in_the_model_request() -> None:
    """An inline image is stored, referenced by id in the message, and its bytes ride in the request."""
    seen: list[LlmRequest] = []

    def answer(request: LlmRequest) -> str:
        seen.append(request)
        return "a picture"

    turn_input = TurnInput(
        items=(TextItem("what is this?"), AttachmentItem(InlineAttachment(PNG, "image/png")))
    )
    async with scripted_runtime(FunctionProvider(answer)) as rt:
        session = await rt.session("s1")
        await session.turn(turn_input).run()
    digest = hashlib.sha256(PNG).hexdigest()
    refs = [p.attachment for m in seen[0].messages for p in m.parts if p.attachment is not None]
    assert [r.attachment_id for r in refs] == [digest]
    assert seen[0].attachment_data == {digest: PNG}


@pytest.mark.anyio
async def test_later_turns_still_carry_earlier_attachment_bytes() -> None:
    """An attachment from an earlier turn is loaded again for a later model call that shows it."""
    seen: list[LlmRequest] = []

    def answer(request: LlmRequest) -> str:
        seen.append(request)
        return "ok"

    turn_input = TurnInput(items=(AttachmentItem(InlineAttachment(PNG, "image/png")),))
    async with scripted_runtime(FunctionProvider(answer)) as rt:
        session = await rt.session("s1")
        await session.turn(turn_input).run()
        await session.turn("and now?").run()
    assert list(seen[1].attachment_data.values()) == [PNG]
