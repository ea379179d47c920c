"""SQLite specifics: schema version and corrupt-file refusal, two connections on one file,
reopening, pragmas, settings, plugin registration and commit cost."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from lash_store_sqlite import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    SqliteDurability,
    SqliteStore,
    SqliteStoreSettings,
    default_database_path,
)

from lash_core import Runtime
from lash_core.effects import DurabilityTier
from lash_core.errors import (
    ConfigError,
    HeadConflict,
    LeaseLost,
    SchemaVersionError,
    StoreClosed,
    StoreCorrupt,
    StoreError,
)
from lash_core.store import LeaseAcquired, LeaseBusy, WorkBoundary
from lash_core.testing import FakeClock
from lash_core.testing.conformance._store_support import (
    add_input,
    add_work,
    make_commit,
    owner,
    task,
)

pytestmark = pytest.mark.anyio


def store_at(path: Path, clock: FakeClock | None = None, **settings: object) -> SqliteStore:
    """An unopened store over ``path``."""
    return SqliteStore(SqliteStoreSettings(path=str(path), **settings), clock=clock)  # type: ignore[arg-type]


async def make_lash_file(path: Path) -> None:
    """Create a lash database with one committed session."""
    store = store_at(path)
    await store.open()
    await store.commit(make_commit("s1", "t1"))
    await store.close()


def snapshot(path: Path) -> bytes:
    """The file's bytes."""
    return path.read_bytes()


async def test_new_file_and_directory_get_the_schema(tmp_path: Path) -> None:
    """A missing file (in a missing directory) is created with the schema and the lash markers."""
    path = tmp_path / "deep" / "dir" / "sessions.db"
    store = store_at(path)
    await store.open()
    assert await store.database.pragma("application_id") == APPLICATION_ID
    assert await store.database.pragma("user_version") == SCHEMA_VERSION
    await store.close()
    assert path.exists()


async def test_empty_file_gets_the_schema(tmp_path: Path) -> None:
    """A zero-byte file is a new database: it gets the schema."""
    path = tmp_path / "sessions.db"
    path.touch()
    await make_lash_file(path)
    store = store_at(path)
    await store.open()
    assert (await store.load_head("s1")) is not None
    await store.close()


async def test_other_schema_version_is_refused_naming_both_versions(tmp_path: Path) -> None:
    """A lash file of another schema version raises SchemaVersionError and is left untouched."""
    path = tmp_path / "sessions.db"
    await make_lash_file(path)
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 99")
    raw.close()
    before = snapshot(path)
    with pytest.raises(SchemaVersionError) as caught:
        await store_at(path).open()
    message = str(caught.value)
    assert "version 99" in message and f"version {SCHEMA_VERSION}" in message
    assert "upgrade lash-store-sqlite" in message and "no migrations" in message
    assert snapshot(path) == before


async def test_text_file_is_refused_untouched(tmp_path: Path) -> None:
    """A file that is not SQLite at all raises StoreCorrupt and keeps its bytes."""
    path = tmp_path / "notes.db"
    path.write_text("my notes, not a database\n" * 100)
    before = snapshot(path)
    with pytest.raises(StoreCorrupt, match="not a SQLite database"):
        await store_at(path).open()
    assert snapshot(path) == before


async def test_other_applications_database_is_refused_untouched(tmp_path: Path) -> None:
    """A SQLite database of another application raises StoreCorrupt naming its tables."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        raw.execute("INSERT INTO invoices (total) VALUES (12.5)")
    raw.close()
    before = snapshot(path)
    with pytest.raises(StoreCorrupt, match="invoices"):
        await store_at(path).open()
    assert snapshot(path) == before
    assert not (tmp_path / "other.db-wal").exists()


async def test_damaged_lash_file_is_refused_untouched(tmp_path: Path) -> None:
    """A lash file whose first page is garbage raises StoreCorrupt and keeps its bytes."""
    path = tmp_path / "sessions.db"
    await make_lash_file(path)
    data = bytearray(snapshot(path))
    data[100:4096] = b"\xff" * (4096 - 100)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorrupt):
        await store_at(path).open()
    assert snapshot(path) == bytes(data)


async def test_lash_file_missing_tables_is_refused(tmp_path: Path) -> None:
    """A file marked as lash's but lacking tables raises StoreCorrupt naming them."""
    path = tmp_path / "sessions.db"
    await make_lash_file(path)
    with sqlite3.connect(path) as raw:
        raw.execute("DROP TABLE nodes")
    raw.close()
    with pytest.raises(StoreCorrupt, match="nodes"):
        await store_at(path).open()


async def test_wal_and_synchronous_settings_are_applied(tmp_path: Path) -> None:
    """The connection runs in WAL mode with the configured synchronous level and busy timeout."""
    full = store_at(tmp_path / "full.db", busy_timeout_ms=1234)
    normal = store_at(tmp_path / "normal.db", durability=SqliteDurability.NORMAL)
    for store in (full, normal):
        await store.open()
    assert await full.database.pragma("journal_mode") == "wal"
    assert await full.database.pragma("synchronous") == 2  # FULL
    assert await full.database.pragma("busy_timeout") == 1234
    assert await normal.database.pragma("synchronous") == 1  # NORMAL
    for store in (full, normal):
        await store.close()


async def test_memory_store_is_inline_and_file_store_durable(tmp_path: Path) -> None:
    """``:memory:`` declares the inline tier, a file the durable tier."""
    assert SqliteStore(SqliteStoreSettings(path=":memory:")).durability is DurabilityTier.INLINE
    assert store_at(tmp_path / "s.db").durability is DurabilityTier.DURABLE


async def test_closed_store_raises_store_closed(tmp_path: Path) -> None:
    """Using a store before open() or after close() raises StoreClosed."""
    store = store_at(tmp_path / "s.db")
    with pytest.raises(StoreClosed):
        await store.load_head("s1")
    await store.open()
    await store.close()
    with pytest.raises(StoreClosed):
        await store.commit(make_commit("s1", "t1"))


async def test_two_connections_interleave_commits_and_leases(tmp_path: Path, fake_clock: FakeClock) -> None:
    """Two store objects on one file see each other's commits, leases and claims; fences hold."""
    path = tmp_path / "sessions.db"
    a, b = store_at(path, fake_clock), store_at(path, fake_clock)
    await a.open()
    await b.open()
    try:
        held = await a.try_claim_lease("s1", owner("worker-a"), ttl_ms=30_000)
        assert isinstance(held, LeaseAcquired)
        busy = await b.try_claim_lease("s1", owner("worker-b"), ttl_ms=30_000)
        assert isinstance(busy, LeaseBusy) and busy.holder.fence == held.lease.fence
        await add_input(a, "s1", "queued")
        claim = await a.claim_next_turn_inputs(held.lease.fence)
        assert claim is not None
        assert list(await b.list_pending_inputs("s1")) == []  # live-claimed through a's lease
        await a.commit(make_commit("s1", "t1", lease=held.lease.fence, completed_input_claims=(claim.ref,)))
        head = await b.load_head("s1")
        assert head is not None and head.head_revision == 1
        with pytest.raises(HeadConflict):
            await b.commit(make_commit("s1", "t2", expected=0))
        fake_clock.advance(31)
        taken = await b.try_claim_lease("s1", owner("worker-b"), ttl_ms=30_000)
        assert isinstance(taken, LeaseAcquired)
        assert taken.lease.fencing_token > held.lease.fencing_token
        with pytest.raises(LeaseLost):
            await a.commit(make_commit("s1", "t2", expected=1, lease=held.lease.fence))
        await add_work(a, "s1", task("from a"))
        work = await b.claim_ready_work(taken.lease.fence, WorkBoundary.IDLE)
        assert work is not None
        done = await b.commit(
            make_commit("s1", "t2", expected=1, lease=taken.lease.fence, completed_work_claims=(work.ref,))
        )
        assert done.head_revision == 2
        record = await a.load_session("s1")
        assert record is not None and [n.turn_id for n in record.nodes] == ["t1", "t1", "t2", "t2"]
        assert list(await a.list_work("s1")) == []
    finally:
        await a.close()
        await b.close()


async def test_reopen_keeps_sessions_history_and_fencing(tmp_path: Path, fake_clock: FakeClock) -> None:
    """A new store object on the file finds every session, the history in order and the fencing counter."""
    path = tmp_path / "sessions.db"
    store = store_at(path, fake_clock)
    await store.open()
    lease = await store.try_claim_lease("s1", owner(), ttl_ms=30_000)
    assert isinstance(lease, LeaseAcquired)
    for n in range(3):
        await store.commit(make_commit("s1", f"t{n}", expected=n, lease=lease.lease.fence))
    await store.commit(make_commit("s2", "t0"))
    await store.release_lease(lease.lease.fence)
    await store.close()

    again = store_at(path, fake_clock)
    await again.open()
    record = await again.load_session("s1")
    assert record is not None and record.head.head_revision == 3
    assert [n.turn_id for n in record.nodes] == ["t0", "t0", "t1", "t1", "t2", "t2"]
    assert {s.session_id for s in await again.list_sessions()} == {"s1", "s2"}
    after = await again.try_claim_lease("s1", owner("worker-b"), ttl_ms=30_000)
    assert isinstance(after, LeaseAcquired) and after.lease.fencing_token > lease.lease.fencing_token
    await again.close()


async def test_commit_cost_does_not_grow_with_history(tmp_path: Path) -> None:
    """A commit runs the same SQL after 3 turns as after 60: it never reads or rewrites old nodes."""
    store = store_at(tmp_path / "s.db", durability=SqliteDurability.NORMAL)
    await store.open()
    statements: list[str] = []

    async def traced_commit(n: int) -> list[str]:
        statements.clear()
        await store.database.set_trace(statements.append)
        await store.commit(make_commit("s1", f"t{n}", expected=n))
        await store.database.set_trace(None)
        return list(statements)

    for n in range(3):
        await store.commit(make_commit("s1", f"t{n}", expected=n))
    early = await traced_commit(3)
    for n in range(4, 60):
        await store.commit(make_commit("s1", f"t{n}", expected=n))
    late = await traced_commit(60)
    assert len(early) == len(late)
    assert not any("FROM nodes" in s for s in late)
    assert sum("INSERT INTO nodes" in s for s in late) == 2
    await store.close()


def test_default_path_follows_xdg_data_home(tmp_path: Path) -> None:
    """The default database is ``$XDG_DATA_HOME/lash/sessions.db``, else under ~/.local/share."""
    assert default_database_path({"XDG_DATA_HOME": str(tmp_path)}) == str(tmp_path / "lash" / "sessions.db")
    assert default_database_path({}).endswith(str(Path(".local") / "share" / "lash" / "sessions.db"))


def test_settings_validate_their_values() -> None:
    """A negative busy timeout or an empty path is refused."""
    with pytest.raises(ValueError, match="busy_timeout_ms"):
        SqliteStoreSettings(path="x.db", busy_timeout_ms=-1)
    with pytest.raises(ValueError, match="path"):
        SqliteStoreSettings(path="")


async def test_plugin_is_discovered_and_configured(tmp_path: Path) -> None:
    """The entry point registers the ``sqlite`` store and ``sqlite-journal`` host; settings are structured."""
    path = tmp_path / "sessions.db"
    config = {
        "model": {"id": "echo-model"},
        "store": {"type": "sqlite", "settings": {"path": str(path), "durability": "normal"}},
        "effect_host": {"type": "sqlite-journal", "settings": {"path": str(path)}},
    }
    async with Runtime(config) as runtime:
        report = {entry["name"]: entry for entry in runtime.plugins_report()}
        assert report["sqlite"]["registered"] == {"stores": ["sqlite"], "effect_hosts": ["sqlite-journal"]}
        assert report["sqlite"]["distribution"] == "lash-store-sqlite"
        assert isinstance(runtime.store, SqliteStore)
        assert runtime.store.settings.durability is SqliteDurability.NORMAL
        assert runtime.effect_host.durability is DurabilityTier.DURABLE
    assert path.exists()
    bad = {**config, "store": {"type": "sqlite", "settings": {"path": str(path), "durability": "fast"}}}
    with pytest.raises(ConfigError, match="durability"):
        async with Runtime(bad):
            pass


async def test_unusable_location_is_a_store_error_not_corruption(tmp_path: Path) -> None:
    """A path below a regular file cannot be created: StoreError naming the location."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="writable location") as caught:
        await store_at(blocker / "sessions.db").open()
    assert not isinstance(caught.value, StoreCorrupt)


_WORKER = """
import os, sys
import anyio
from lash_core.store import LeaseAcquired, LeaseOwner
from lash_core.testing.conformance._store_support import make_commit
from lash_store_sqlite import SqliteStore, SqliteStoreSettings

async def main(path, rounds):
    store = SqliteStore(SqliteStoreSettings(path=path, durability="normal"))
    await store.open()
    me = LeaseOwner(f"worker-{os.getpid()}", "1")
    done = 0
    while done < rounds:
        claim = await store.try_claim_lease("shared", me, ttl_ms=30_000)
        if not isinstance(claim, LeaseAcquired):
            await anyio.sleep(0.001)
            continue
        head = await store.load_head("shared")
        expected = head.head_revision if head is not None else 0
        turn = f"{me.owner_id}-{done}"
        await store.commit(make_commit("shared", turn, expected=expected, lease=claim.lease.fence,
                                       release_lease=True))
        await store.commit(make_commit(f"own-{os.getpid()}", turn, expected=done))
        done += 1
    await store.close()

anyio.run(main, sys.argv[1], int(sys.argv[2]))
"""


def test_several_processes_share_one_file(tmp_path: Path) -> None:
    """Three processes taking turns under the lease on one session (and committing their own
    sessions) lose no commit: revisions and histories add up."""
    path = tmp_path / "sessions.db"
    anyio.run(make_lash_file, path)  # create the schema once, before the race
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    rounds = 10
    command = [sys.executable, str(script), str(path), str(rounds)]
    procs = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE) for _ in range(3)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()

    async def check() -> None:
        store = store_at(path)
        await store.open()
        shared = await store.load_session("shared")
        assert shared is not None and shared.head.head_revision == 3 * rounds
        assert shared.head.node_count == len(shared.nodes) == 6 * rounds
        assert len({n.turn_id for n in shared.nodes}) == 3 * rounds
        own = [s for s in await store.list_sessions() if s.session_id.startswith("own-")]
        assert sorted(s.head_revision for s in own) == [rounds] * 3
        assert await store.load_lease("shared") is None
        await store.close()

    anyio.run(check)


def test_home_is_expanded_in_the_path() -> None:
    """A ``~`` in ``path`` names the user's home directory; ``:memory:`` stays as it is."""
    store = SqliteStore(SqliteStoreSettings(path="~/lash-test/sessions.db"))
    assert store.database.path == str(Path.home() / "lash-test" / "sessions.db")
    assert SqliteStore(SqliteStoreSettings(path=":memory:")).database.path == ":memory:"


async def test_concurrent_first_opens_create_the_schema_once(tmp_path: Path) -> None:
    """Many connections opening a new file at once all succeed and share one schema."""
    path = tmp_path / "sessions.db"
    stores = [store_at(path) for _ in range(8)]
    async with anyio.create_task_group() as group:
        for store in stores:
            group.start_soon(store.open)
    for n, store in enumerate(stores):
        await store.commit(make_commit(f"s{n}", "t1"))
    assert len(await stores[0].list_sessions()) == 8
    for store in stores:
        await store.close()
