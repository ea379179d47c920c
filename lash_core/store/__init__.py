"""Session stores: the contract, the commit hash and the in-memory store."""

from lash_core.store.commit_hash import turn_commit_hash
from lash_core.store.contract import (
    STORE_SCHEMA_VERSION,
    CommitResult,
    HistoryNode,
    SessionHead,
    SessionRecord,
    SessionStore,
    SessionSummary,
    TurnCommit,
)
from lash_core.store.memory import MemoryStore

__all__ = [
    "STORE_SCHEMA_VERSION",
    "CommitResult",
    "HistoryNode",
    "MemoryStore",
    "SessionHead",
    "SessionRecord",
    "SessionStore",
    "SessionSummary",
    "TurnCommit",
    "turn_commit_hash",
]
