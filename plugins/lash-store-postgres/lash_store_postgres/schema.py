"""The store's tables, their version, and the command that creates or upgrades them.

Every table lives in one PostgreSQL schema (``lash`` unless configured), keyed by
session id, shared by every worker:

* ``schema_versions``: ``component`` -> ``version`` (this package records
  :data:`COMPONENT` at :data:`SCHEMA_VERSION`);
* ``sessions`` (head: revision, counters, the head JSON), ``nodes`` (the append-only
  history, one row per message), ``usage_deltas`` (per turn, per source and model),
  ``turn_commits`` (turn id -> commit hash and recorded result, for idempotent retries);
* ``leases`` (one row per session: holder, tokens, expiry on the database clock; the
  row outlives releases so fencing tokens only grow);
* ``inputs`` (pending turn input) and ``work_batches`` (queued work), both with claim
  columns fenced by lease generation, ordered by the shared ``enqueue_seq`` sequence;
* ``attachments`` (content-addressed bytes held per session);
* ``effect_journal`` (effect outcomes journaled by the ``postgres-journal`` effect host,
  keyed by turn scope and replay key).

:func:`ensure_schema` creates the tables under a transaction-scoped advisory lock, so
any number of workers may race to create them. A recorded version other than
:data:`SCHEMA_VERSION` is never used: an older one is upgraded by :func:`ensure_schema`
when an upgrade path exists, a newer one needs a newer ``lash-store-postgres``.
"""

from __future__ import annotations

from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from lash_core.errors import SchemaVersionError
from lash_store_postgres.errors import PostgresUnavailable
from lash_store_postgres.settings import describe_dsn, quote_schema, resolve_dsn

__all__ = [
    "COMPONENT",
    "SCHEMA_VERSION",
    "SchemaStatus",
    "ensure_schema",
    "mismatch_error",
    "prepare_schema",
    "read_version",
    "schema_ddl",
]

COMPONENT = "lash-store-postgres"
SCHEMA_VERSION = 1

SchemaStatus = Literal["created", "current", "upgraded"]

_TABLES = """
CREATE TABLE {s}.schema_versions (
    component text PRIMARY KEY,
    version integer NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE {s}.enqueue_seq;
CREATE TABLE {s}.sessions (
    session_id text PRIMARY KEY,
    head_revision bigint NOT NULL,
    turn_count bigint NOT NULL,
    node_count bigint NOT NULL,
    created_at_ms bigint NOT NULL,
    updated_at_ms bigint NOT NULL,
    head_json text NOT NULL
);
CREATE INDEX sessions_by_update ON {s}.sessions (updated_at_ms DESC, session_id);
CREATE TABLE {s}.nodes (
    session_id text NOT NULL,
    seq bigint NOT NULL,
    turn_id text NOT NULL,
    frame_id text NOT NULL,
    node_json text NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE {s}.usage_deltas (
    session_id text NOT NULL,
    turn_id text NOT NULL,
    idx integer NOT NULL,
    source text NOT NULL,
    model text NOT NULL,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cache_read_input_tokens bigint NOT NULL,
    cache_write_input_tokens bigint NOT NULL,
    reasoning_output_tokens bigint NOT NULL,
    committed_at_ms bigint NOT NULL,
    PRIMARY KEY (session_id, turn_id, idx)
);
CREATE TABLE {s}.turn_commits (
    session_id text NOT NULL,
    turn_id text NOT NULL,
    commit_hash text NOT NULL,
    result_json text NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, turn_id)
);
CREATE TABLE {s}.leases (
    session_id text PRIMARY KEY,
    owner_id text,
    owner_incarnation text,
    owner_liveness_json text,
    lease_token text,
    fencing_token bigint NOT NULL,
    claimed_at_ms bigint,
    expires_at_ms bigint
);
CREATE TABLE {s}.inputs (
    session_id text NOT NULL,
    input_id text NOT NULL,
    enqueue_seq bigint NOT NULL,
    source_key text,
    ingress_json text NOT NULL,
    active_turn_id text,
    min_boundary text,
    state text NOT NULL CHECK (
        state IN ('pending_active', 'accepted', 'deferred_next_turn', 'completed', 'cancelled')
    ),
    input_json text NOT NULL,
    content_digest text NOT NULL,
    enqueued_at_ms bigint NOT NULL,
    claim_id text,
    claim_token text,
    claim_owner_json text,
    claim_generation bigint,
    claimed_at_ms bigint,
    claim_fencing_token bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, input_id),
    UNIQUE (session_id, source_key)
);
CREATE INDEX inputs_in_order ON {s}.inputs (session_id, enqueue_seq);
CREATE INDEX inputs_deferred ON {s}.inputs (session_id) WHERE state = 'deferred_next_turn';
CREATE TABLE {s}.work_batches (
    session_id text NOT NULL,
    batch_id text NOT NULL,
    enqueue_seq bigint NOT NULL,
    work_class text NOT NULL CHECK (work_class IN ('session_command', 'turn_work')),
    delivery text NOT NULL,
    slot text NOT NULL,
    merge_key text,
    available_at_ms bigint NOT NULL,
    enqueued_at_ms bigint NOT NULL,
    source_key text,
    state text NOT NULL CHECK (state IN ('pending', 'completed', 'cancelled')),
    items_json text NOT NULL,
    claim_id text,
    claim_token text,
    claim_owner_json text,
    claim_generation bigint,
    claimed_at_ms bigint,
    claim_fencing_token bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, batch_id),
    UNIQUE (session_id, source_key)
);
CREATE INDEX work_pending_in_order ON {s}.work_batches (session_id, enqueue_seq) WHERE state = 'pending';
CREATE TABLE {s}.attachments (
    session_id text NOT NULL,
    attachment_id text NOT NULL,
    media_type text NOT NULL,
    size bigint NOT NULL,
    name text,
    data bytea NOT NULL,
    intent_at_ms bigint NOT NULL,
    committed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (session_id, attachment_id)
);
CREATE INDEX attachments_uncommitted ON {s}.attachments (intent_at_ms) WHERE NOT committed;
CREATE TABLE {s}.effect_journal (
    scope_id text NOT NULL,
    replay_key text NOT NULL,
    session_id text NOT NULL,
    kind text NOT NULL,
    fingerprint text NOT NULL,
    status text NOT NULL CHECK (status IN ('completed', 'failed')),
    result_json text,
    error_json text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope_id, replay_key)
);
CREATE INDEX effect_journal_by_session ON {s}.effect_journal (session_id);
"""

# Upgrade steps: _UPGRADES[v] turns a schema at version v into version v + 1.
_UPGRADES: dict[int, tuple[str, ...]] = {}


def schema_ddl(schema: str = "lash") -> str:
    """The ``CREATE`` statements of every table of the store in ``schema``."""
    return _TABLES.replace("{s}", quote_schema(schema))


def _lock_key(schema: str) -> str:
    return f"{COMPONENT}:schema:{schema}"


def read_version(cur: psycopg.Cursor[Any], schema: str) -> int | None:
    """The recorded version of this store in ``schema``; ``None`` when the schema holds no
    version table (a :class:`SchemaVersionError` when it holds other tables: it is not ours)."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (f"{quote_schema(schema)}.schema_versions",))
    row = cur.fetchone()
    if row is None or not _first(row):
        cur.execute(
            "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'S')",
            (schema,),
        )
        found = cur.fetchone()
        if found is not None and int(_first(found)) > 0:
            raise SchemaVersionError(
                f"PostgreSQL schema {schema!r} already holds tables but no lash schema_versions table, so "
                'it is not a lash store: configure another schema (schema = "..." in [store.settings]) '
                "or drop that one"
            )
        return None
    cur.execute(
        f"SELECT version FROM {quote_schema(schema)}.schema_versions WHERE component = %s",
        (COMPONENT,),
    )
    row = cur.fetchone()
    if row is None:
        raise SchemaVersionError(
            f"PostgreSQL schema {schema!r} has a schema_versions table without a {COMPONENT!r} row: it was "
            "not created by lash-store-postgres; configure another schema or drop that one"
        )
    return int(_first(row))


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def mismatch_error(schema: str, found: int, where: str) -> SchemaVersionError:
    """The error for a schema recorded at ``found`` instead of :data:`SCHEMA_VERSION`."""
    if found > SCHEMA_VERSION:
        fix = (
            "it was written by a newer lash-store-postgres: upgrade this package "
            "(pip install -U lash-store-postgres) on every worker"
        )
    elif all(v in _UPGRADES for v in range(found, SCHEMA_VERSION)):
        fix = f"upgrade it with `lash-postgres-schema --dsn ... --schema {schema}` (stop the workers first)"
    else:
        fix = (
            f"there is no upgrade path from version {found}: export what you need, drop the schema "
            f"(DROP SCHEMA {quote_schema(schema)} CASCADE) and create it again with "
            f"`lash-postgres-schema --schema {schema}`"
        )
    return SchemaVersionError(
        f"PostgreSQL schema {schema!r} at {where} holds lash store schema version {found}, but this "
        f"lash-store-postgres uses version {SCHEMA_VERSION}; {fix}"
    )


def prepare_schema(
    cur: psycopg.Cursor[Any], schema: str, *, create: bool, upgrade: bool, where: str
) -> SchemaStatus:
    """Within an open transaction: take the schema's advisory lock, then create the tables when
    there are none (``create``), upgrade an older version (``upgrade``), or check the version.
    Raises :class:`SchemaVersionError` when the schema cannot be used as it is."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_lock_key(schema),))
    found = read_version(cur, schema)
    if found is None:
        if not create:
            raise SchemaVersionError(
                f"PostgreSQL schema {schema!r} at {where} has no lash store tables: create them with "
                f"`lash-postgres-schema --schema {schema}` or set create_schema = true in [store.settings]"
            )
        quoted = quote_schema(schema)
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        cur.execute(schema_ddl(schema))
        cur.execute(
            f"INSERT INTO {quoted}.schema_versions (component, version) VALUES (%s, %s)",
            (COMPONENT, SCHEMA_VERSION),
        )
        return "created"
    if found == SCHEMA_VERSION:
        return "current"
    if not upgrade or found > SCHEMA_VERSION or any(v not in _UPGRADES for v in range(found, SCHEMA_VERSION)):
        raise mismatch_error(schema, found, where)
    quoted = quote_schema(schema)
    for version in range(found, SCHEMA_VERSION):
        for statement in _UPGRADES[version]:
            cur.execute(statement.replace("{s}", quoted))
    cur.execute(
        f"UPDATE {quoted}.schema_versions SET version = %s, installed_at = now() WHERE component = %s",
        (SCHEMA_VERSION, COMPONENT),
    )
    return "upgraded"


def ensure_schema(
    dsn: str | None = None, schema: str = "lash", *, connect_timeout_s: float = 10.0
) -> SchemaStatus:
    """Create the store's tables in ``schema`` (or upgrade them, or check they are current).

    ``dsn`` is a connection string, a ``$env:NAME`` reference, or ``None`` for
    ``LASH_POSTGRES_DSN``. Safe to run from many workers at once (an advisory lock
    serializes it) and to run again (idempotent). Returns ``"created"``, ``"upgraded"``
    or ``"current"``; raises :class:`SchemaVersionError` naming both versions when the
    recorded version cannot be used, and
    :class:`~lash_store_postgres.errors.PostgresUnavailable` when the server is out of reach.
    """
    conninfo = resolve_dsn(dsn)
    quote_schema(schema)
    where = describe_dsn(conninfo)
    try:
        conn = psycopg.connect(
            conninfo, autocommit=True, connect_timeout=max(2, round(connect_timeout_s)), row_factory=dict_row
        )
    except psycopg.OperationalError as exc:
        raise PostgresUnavailable(
            f"cannot reach PostgreSQL at {where}: {str(exc).strip()}; check the dsn (or LASH_POSTGRES_DSN) "
            "and that the server is running"
        ) from exc
    with conn, conn.transaction(), conn.cursor() as cur:
        return prepare_schema(cur, schema, create=True, upgrade=True, where=where)
