"""The database schema: tables, the schema version and how an existing file is checked.

A lash database is marked by ``PRAGMA application_id`` (:data:`APPLICATION_ID`, "lash")
and records its schema version in ``PRAGMA user_version``
(:data:`SCHEMA_VERSION`). There are no migrations: a file of another version is refused
with :class:`~lash_core.errors.SchemaVersionError`, a file that is not a lash database
(or is damaged) with :class:`~lash_core.errors.StoreCorrupt`; neither is ever written.
A new, empty file gets the schema in one transaction.
"""

from __future__ import annotations

import sqlite3

from lash_core.errors import SchemaVersionError, StoreCorrupt

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "TABLES", "create_schema", "inspect_database"]

APPLICATION_ID = 0x6C617368  # "lash"
SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE lash_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    head_revision INTEGER NOT NULL,
    turn_count INTEGER NOT NULL,
    node_count INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    head_json TEXT NOT NULL
);
CREATE INDEX sessions_by_update ON sessions (updated_at_ms);
CREATE TABLE nodes (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    frame_id TEXT NOT NULL,
    turn_id TEXT NOT NULL,
    message_json TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE TABLE turn_commits (
    session_id TEXT NOT NULL,
    turn_id TEXT NOT NULL,
    commit_hash TEXT NOT NULL,
    result_json TEXT NOT NULL,
    committed_at_ms INTEGER NOT NULL,
    PRIMARY KEY (session_id, turn_id)
) WITHOUT ROWID;
CREATE TABLE leases (
    session_id TEXT PRIMARY KEY,
    fencing_token INTEGER NOT NULL,
    lease_token TEXT,
    owner_json TEXT,
    claimed_at_ms INTEGER,
    expires_at_ms INTEGER
);
CREATE TABLE inputs (
    enqueue_seq INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    input_id TEXT NOT NULL,
    source_key TEXT,
    content_digest TEXT NOT NULL,
    state TEXT NOT NULL,
    active_turn_id TEXT,
    min_boundary TEXT,
    ingress_json TEXT NOT NULL,
    input_json TEXT NOT NULL,
    enqueued_at_ms INTEGER NOT NULL,
    claim_id TEXT,
    claim_token TEXT,
    claim_owner_json TEXT,
    claim_generation INTEGER,
    claim_fencing_token INTEGER NOT NULL DEFAULT 0,
    claimed_at_ms INTEGER,
    UNIQUE (session_id, input_id),
    UNIQUE (session_id, source_key)
);
CREATE INDEX inputs_by_session_state ON inputs (session_id, state, enqueue_seq);
CREATE INDEX inputs_by_state ON inputs (state, session_id);
CREATE TABLE work_batches (
    enqueue_seq INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    source_key TEXT,
    work_class TEXT NOT NULL,
    delivery TEXT NOT NULL,
    slot TEXT NOT NULL,
    merge_key TEXT,
    available_at_ms INTEGER NOT NULL,
    enqueued_at_ms INTEGER NOT NULL,
    items_json TEXT NOT NULL,
    state TEXT NOT NULL,
    claim_id TEXT,
    claim_token TEXT,
    claim_owner_json TEXT,
    claim_generation INTEGER,
    claim_fencing_token INTEGER NOT NULL DEFAULT 0,
    claimed_at_ms INTEGER,
    UNIQUE (session_id, batch_id),
    UNIQUE (session_id, source_key)
);
CREATE INDEX work_by_session_state ON work_batches (session_id, state, enqueue_seq);
CREATE INDEX work_by_state ON work_batches (state, available_at_ms, session_id);
CREATE TABLE blobs (
    attachment_id TEXT PRIMARY KEY,
    data BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE attachments (
    session_id TEXT NOT NULL,
    attachment_id TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    name TEXT,
    intent_at_ms INTEGER NOT NULL,
    committed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, attachment_id)
) WITHOUT ROWID;
CREATE INDEX attachments_by_blob ON attachments (attachment_id);
CREATE TABLE effect_journal (
    scope_id TEXT NOT NULL,
    replay_key TEXT NOT NULL,
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('completed', 'failed')),
    result_json TEXT,
    error_json TEXT,
    recorded_at_ms INTEGER NOT NULL,
    PRIMARY KEY (scope_id, replay_key)
) WITHOUT ROWID;
CREATE INDEX effect_journal_by_session ON effect_journal (session_id);
"""

TABLES = frozenset(
    {
        "lash_meta",
        "counters",
        "sessions",
        "nodes",
        "turn_commits",
        "leases",
        "inputs",
        "work_batches",
        "blobs",
        "attachments",
        "effect_journal",
    }
)
"""The tables of schema version :data:`SCHEMA_VERSION`."""


def inspect_database(conn: sqlite3.Connection, where: str) -> bool:
    """Check an opened database without writing to it; ``True`` when it is new and empty.

    Raises :class:`SchemaVersionError` for a lash database of another schema version and
    :class:`StoreCorrupt` for a database that is not lash's or lacks lash tables.
    """
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if application_id == 0 and version == 0 and not names:
        return True
    if application_id != APPLICATION_ID:
        raise StoreCorrupt(
            f"{where} is a SQLite database of another application (application_id {application_id:#x}, "
            f"tables: {', '.join(sorted(names)) or 'none'}), not a lash session store; it was left "
            "untouched: point the store's `path` at a new file or at an existing lash database"
        )
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} has lash SQLite schema version {version}, but this lash-store-sqlite reads and "
            f"writes version {SCHEMA_VERSION}; there are no migrations and the file was left untouched: "
            + (
                "upgrade lash-store-sqlite to a release that writes that version"
                if version > SCHEMA_VERSION
                else "keep using the older lash-store-sqlite release for it"
            )
            + ", or point `path` at a new file"
        )
    missing = TABLES - names
    if missing:
        raise StoreCorrupt(
            f"{where} is marked as a lash database (schema version {version}) but lacks the tables "
            f"{', '.join(sorted(missing))}; it is damaged and was left untouched: restore it from a backup "
            "or point `path` at a new file"
        )
    return False


def create_schema(conn: sqlite3.Connection, created_at_ms: int) -> None:
    """Create every table and mark the file (call inside a write transaction)."""
    for statement in _DDL.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO lash_meta (key, value) VALUES ('format', 'lash-store-sqlite')")
    conn.execute("INSERT INTO counters (name, value) VALUES ('enqueue_seq', 0)")
    conn.execute("INSERT INTO lash_meta (key, value) VALUES ('created_at_ms', ?)", (str(created_at_ms),))
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
