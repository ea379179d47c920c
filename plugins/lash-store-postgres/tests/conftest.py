"""PostgreSQL store tests: a real server, a fresh schema per test, asyncio and trio.

The server comes from ``LASH_TEST_POSTGRES_DSN`` (default
``postgresql://postgres@127.0.0.1:5432/test``). When it cannot be reached the tests
are skipped with that message, or fail with it when ``LASH_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from lash_store_postgres import PostgresSettings, PostgresStore

from lash_core.testing.services import service_missing

DEFAULT_TEST_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each anyio test on both backends (the store runs its queries on worker threads)."""
    return str(request.param)


def _server_missing(dsn: str, error: BaseException) -> None:
    service_missing(
        f"the PostgreSQL server is missing: none is reachable at LASH_TEST_POSTGRES_DSN={dsn!r} "
        f"({str(error).strip()}); start one (see shared/recipes/pg.sh) or point LASH_TEST_POSTGRES_DSN at one"
    )


@pytest.fixture(scope="session")
def _postgres_probe() -> tuple[str, BaseException | None]:
    dsn = os.environ.get("LASH_TEST_POSTGRES_DSN") or DEFAULT_TEST_DSN
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return dsn, exc
    return dsn, None


@pytest.fixture
def postgres_dsn(_postgres_probe: tuple[str, BaseException | None]) -> str:
    """The test server's connection string (skips or fails the test when it is unreachable)."""
    dsn, error = _postgres_probe
    if error is not None:
        _server_missing(dsn, error)
    return dsn


@pytest.fixture
def pg_schema(postgres_dsn: str) -> Iterator[str]:
    """A fresh, unique schema name; the schema is dropped after the test."""
    name = f"lash_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def make_store(postgres_dsn: str, pg_schema: str) -> Callable[..., PostgresStore]:
    """``make_store(**settings)``: an unopened store over the test schema."""

    def make(**overrides: object) -> PostgresStore:
        options: dict[str, object] = {
            "dsn": postgres_dsn,
            "schema": pg_schema,
            "min_pool_size": 1,
            "max_pool_size": 4,
            "connect_timeout_s": 5.0,
        }
        options.update(overrides)
        return PostgresStore(PostgresSettings(**options))  # type: ignore[arg-type]

    return make


@pytest.fixture
def sql(postgres_dsn: str, pg_schema: str) -> Callable[..., list[tuple[object, ...]]]:
    """``sql(query, params)``: run one statement on its own autocommit connection; ``{s}`` is the
    quoted test schema; returns the rows (empty for statements without any)."""

    def run(query: str, params: tuple[object, ...] | None = None) -> list[tuple[object, ...]]:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            cur = conn.execute(query.replace("{s}", f'"{pg_schema}"'), params)
            return list(cur.fetchall()) if cur.description else []

    return run
