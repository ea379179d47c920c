"""Attachments and host-scheduled maintenance: vacuum, attachment GC, the pending-work scan.

Attachments are content-addressed (sha256 of the bytes) and held *per session*: a
session reads only attachments it put (guessing another session's hash finds nothing).
An attachment is *uncommitted* from ``put_attachment`` until a turn commit lists its id
in ``TurnCommit.attachment_ids``; :meth:`StoreMaintenance.gc_attachments` removes the
uncommitted ones older than a grace period (the bytes of a turn that never committed)
and keeps every committed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from attrs import frozen

from lash_core.model import AttachmentRef

__all__ = [
    "DEFAULT_ATTACHMENT_GRACE_MS",
    "AttachmentStore",
    "GcReport",
    "StoreMaintenance",
    "VacuumReport",
]

DEFAULT_ATTACHMENT_GRACE_MS = 24 * 60 * 60 * 1000


@frozen
class VacuumReport:
    """What ``vacuum()`` physically removed."""

    removed_inputs: int = 0
    removed_work_batches: int = 0


@frozen
class GcReport:
    """What ``gc_attachments()`` kept and removed (per-session attachment references)."""

    retained: int = 0
    deleted: int = 0


@runtime_checkable
class AttachmentStore(Protocol):
    """The attachment facet of a store."""

    async def put_attachment(
        self, session_id: str, data: bytes, media_type: str, name: str | None
    ) -> AttachmentRef:
        """Store bytes content-addressed for the session (uncommitted until a turn commit
        references the id); putting the same bytes again returns the same id."""
        ...

    async def get_attachment(self, session_id: str, attachment_id: str) -> bytes:
        """The bytes of an attachment this session holds; ``KeyError`` when it holds none
        (including when another session holds those bytes)."""
        ...


@runtime_checkable
class StoreMaintenance(Protocol):
    """Host-scheduled maintenance over every session of the store."""

    async def vacuum(self) -> VacuumReport:
        """Physically delete terminal pending inputs and terminal work batches (their source
        keys become free again)."""
        ...

    async def gc_attachments(self, *, grace_ms: int = DEFAULT_ATTACHMENT_GRACE_MS) -> GcReport:
        """Delete uncommitted attachments put more than ``grace_ms`` ago (store clock); keep
        every attachment a committed turn referenced."""
        ...

    async def list_sessions_with_pending_work(self) -> Sequence[str]:
        """Sessions a worker should pick up now: a deferred next-turn input or a ready work batch
        not under a live claim. Sorted by session id."""
        ...
