"""Creating, checking and upgrading the store's schema; the schema command."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from lash_store_postgres import SCHEMA_VERSION, PostgresStore, ensure_schema, schema
from lash_store_postgres.cli import postgres_schema

from lash_core.errors import SchemaVersionError

Sql = Callable[..., list[tuple[object, ...]]]


def _recorded_version(sql: Sql) -> int:
    return int(sql("SELECT version FROM {s}.schema_versions WHERE component = 'lash-store-postgres'")[0][0])  # type: ignore[call-overload]


def test_ensure_schema_creates_then_finds_it_current(postgres_dsn: str, pg_schema: str, sql: Sql) -> None:
    """The first run creates the tables at the current version; later runs change nothing."""
    assert ensure_schema(postgres_dsn, pg_schema) == "created"
    assert _recorded_version(sql) == SCHEMA_VERSION
    assert ensure_schema(postgres_dsn, pg_schema) == "current"
    assert ensure_schema(postgres_dsn, pg_schema) == "current"
    tables = {r[0] for r in sql("SELECT tablename FROM pg_tables WHERE schemaname = %s", (pg_schema,))}
    assert {"sessions", "nodes", "leases", "inputs", "work_batches", "attachments", "turn_commits"} <= tables


def test_concurrent_ensure_schema_creates_once(postgres_dsn: str, pg_schema: str) -> None:
    """Workers racing to create the schema are serialized by the advisory lock: one creates it."""
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(ensure_schema(postgres_dsn, pg_schema))
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == ["created", "current", "current", "current"]


@pytest.mark.anyio
async def test_open_refuses_a_newer_schema_version(
    postgres_dsn: str, make_store: Callable[..., PostgresStore], sql: Sql
) -> None:
    """A schema written by a newer package is refused, naming both versions and the upgrade to make."""
    store = make_store()
    await store.open()
    await store.close()
    sql("UPDATE {s}.schema_versions SET version = 99")
    with pytest.raises(SchemaVersionError, match=rf"version 99.*version {SCHEMA_VERSION}.*pip install -U"):
        await make_store().open()
    with pytest.raises(SchemaVersionError, match="version 99"):
        ensure_schema(postgres_dsn, store.settings.schema)


@pytest.mark.anyio
async def test_open_refuses_an_older_schema_without_upgrade_path(
    make_store: Callable[..., PostgresStore], sql: Sql
) -> None:
    """An older version with no upgrade path is refused with the drop-and-recreate instructions."""
    store = make_store()
    await store.open()
    await store.close()
    sql("UPDATE {s}.schema_versions SET version = 0")
    with pytest.raises(SchemaVersionError, match=rf"version 0.*version {SCHEMA_VERSION}.*DROP SCHEMA"):
        await make_store().open()


@pytest.mark.anyio
async def test_open_points_to_the_command_when_an_upgrade_exists(
    make_store: Callable[..., PostgresStore],
    postgres_dsn: str,
    pg_schema: str,
    sql: Sql,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With an upgrade path, open() refuses the old version and the schema command upgrades it."""
    assert ensure_schema(postgres_dsn, pg_schema) == "created"
    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(
        schema, "_UPGRADES", {SCHEMA_VERSION: ("ALTER TABLE {s}.sessions ADD COLUMN upgrade_note text",)}
    )
    with pytest.raises(SchemaVersionError, match="lash-postgres-schema"):
        await make_store().open()
    assert ensure_schema(postgres_dsn, pg_schema) == "upgraded"
    assert _recorded_version(sql) == SCHEMA_VERSION + 1
    assert sql("SELECT upgrade_note FROM {s}.sessions") == []
    store = make_store()
    await store.open()
    await store.close()


@pytest.mark.anyio
async def test_open_without_create_schema_refuses_an_empty_schema(
    make_store: Callable[..., PostgresStore],
) -> None:
    """create_schema = false leaves an empty database alone and says which command creates the tables."""
    with pytest.raises(SchemaVersionError, match="lash-postgres-schema"):
        await make_store(create_schema=False).open()


def test_a_schema_holding_foreign_tables_is_refused(postgres_dsn: str, pg_schema: str, sql: Sql) -> None:
    """A schema with tables but no lash version record is not taken over."""
    sql(f'CREATE SCHEMA "{pg_schema}"')
    sql("CREATE TABLE {s}.customers (id int)")
    with pytest.raises(SchemaVersionError, match="not a lash store"):
        ensure_schema(postgres_dsn, pg_schema)


def test_the_schema_command_creates_and_checks(postgres_dsn: str, pg_schema: str, sql: Sql) -> None:
    """`lash-postgres-schema` creates the tables, then reports them current; a bad version exits 1."""
    runner = CliRunner()
    first = runner.invoke(postgres_schema, ["--dsn", postgres_dsn, "--schema", pg_schema])
    assert first.exit_code == 0, first.output
    assert f"created the lash store tables (schema version {SCHEMA_VERSION})" in first.output
    again = runner.invoke(postgres_schema, ["--dsn", postgres_dsn, "--schema", pg_schema])
    assert again.exit_code == 0 and "nothing to do" in again.output
    sql("UPDATE {s}.schema_versions SET version = 42")
    refused = runner.invoke(postgres_schema, ["--dsn", postgres_dsn, "--schema", pg_schema])
    assert refused.exit_code == 1 and "version 42" in refused.output


def test_the_schema_command_reads_the_dsn_from_the_environment(
    postgres_dsn: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --dsn the command uses LASH_POSTGRES_DSN, and says what to set when it is missing."""
    runner = CliRunner()
    monkeypatch.delenv("LASH_POSTGRES_DSN", raising=False)
    missing = runner.invoke(postgres_schema, ["--schema", pg_schema])
    assert missing.exit_code == 1 and "LASH_POSTGRES_DSN" in missing.output
    monkeypatch.setenv("LASH_POSTGRES_DSN", postgres_dsn)
    found = runner.invoke(postgres_schema, ["--schema", pg_schema])
    assert found.exit_code == 0 and "created" in found.output
