"""Turning a :class:`~lash_core.model.TurnInput` into the turn's user message.

Inline attachment bytes are checked (known media type, size limit, bytes that match
the declared type) and stored content-addressed; the message refers to them by id.
Problems raise :class:`InvalidTurnInput`, which ends the turn ``Stopped(InvalidInput)``.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable

from lash_core.model import (
    AttachmentItem,
    AttachmentRef,
    InlineAttachment,
    Message,
    Part,
    PartKind,
    Role,
    StoredAttachment,
    TextItem,
    TurnInput,
)

__all__ = ["DEFAULT_MAX_ATTACHMENT_BYTES", "InvalidTurnInput", "normalize_input", "validate_input"]

DEFAULT_MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024

_EXTRA_MEDIA_TYPES = {"application/json", "text/markdown", "image/webp", "text/csv", "application/x-ndjson"}
_KNOWN_MEDIA_TYPES = frozenset(mimetypes.types_map.values()) | _EXTRA_MEDIA_TYPES

_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}

PutAttachment = Callable[[bytes, str, str | None], Awaitable[AttachmentRef]]


class InvalidTurnInput(ValueError):
    """The turn input cannot be used; the message says what was wrong."""


def _check_bytes(data: bytes, media_type: str, index: int) -> None:
    if media_type == "image/webp":
        if not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            raise InvalidTurnInput(f"item {index}: the bytes are not a WEBP image (declared {media_type})")
        return
    magic = _MAGIC.get(media_type)
    if magic is not None and not data.startswith(magic):
        raise InvalidTurnInput(f"item {index}: the bytes do not match the declared media type {media_type}")
    if media_type.startswith("text/") or media_type == "application/json":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidTurnInput(
                f"item {index}: {media_type} attachment is not valid UTF-8 ({exc.reason} at byte {exc.start})"
            ) from None


def validate_input(
    turn_input: TurnInput,
    *,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    allow_empty: bool = False,
) -> None:
    """Check the input without storing anything.

    Raises :class:`InvalidTurnInput` for an empty item list (unless ``allow_empty``), an
    unknown media type, an oversize attachment or bytes that do not decode as declared.
    """
    if not turn_input.items and not allow_empty:
        raise InvalidTurnInput("the turn input has no items; give at least one text or attachment item")
    for index, item in enumerate(turn_input.items):
        if isinstance(item, AttachmentItem) and isinstance(item.source, InlineAttachment):
            source = item.source
            if source.media_type not in _KNOWN_MEDIA_TYPES:
                raise InvalidTurnInput(
                    f"item {index}: unknown media type {source.media_type!r}; use a registered type such as "
                    "image/png, image/jpeg, application/pdf or text/plain"
                )
            if len(source.data) > max_attachment_bytes:
                raise InvalidTurnInput(
                    f"item {index}: attachment is {len(source.data)} bytes, over the limit of "
                    f"{max_attachment_bytes} bytes"
                )
            if not source.data:
                raise InvalidTurnInput(f"item {index}: attachment has no bytes")
            _check_bytes(source.data, source.media_type, index)
        elif not isinstance(item, TextItem | AttachmentItem):
            raise InvalidTurnInput(f"item {index}: {type(item).__name__} is not a turn input item")


async def normalize_input(
    turn_input: TurnInput,
    message_id: str,
    put_attachment: PutAttachment,
    *,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    allow_empty: bool = False,
) -> Message:
    """Check the input (:func:`validate_input`) and build the user message, storing
    attachments first."""
    validate_input(turn_input, max_attachment_bytes=max_attachment_bytes, allow_empty=allow_empty)
    parts: list[Part] = []
    for item in turn_input.items:
        part_id = f"{message_id}.p{len(parts)}"
        if isinstance(item, TextItem):
            if item.text:
                parts.append(Part(part_id, PartKind.TEXT, item.text))
            continue
        attachment = item.source
        if isinstance(attachment, InlineAttachment):
            ref = await put_attachment(attachment.data, attachment.media_type, attachment.name)
        elif isinstance(attachment, StoredAttachment):
            ref = attachment.ref
        else:  # pragma: no cover - the union is closed
            raise InvalidTurnInput(f"unsupported attachment source {type(attachment).__name__}")
        parts.append(Part(part_id, PartKind.ATTACHMENT, attachment=ref))
    if not parts:
        parts.append(Part(f"{message_id}.p0", PartKind.TEXT, ""))
    return Message(message_id, Role.USER, tuple(parts))
