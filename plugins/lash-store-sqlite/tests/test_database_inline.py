"""Operations run on the event loop's thread: where they may, and that they never block it."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from lash_store_sqlite.database import SqliteDatabase, on_ram_file_system

SHM = Path("/dev/shm")


@pytest.fixture
def shm_path() -> Iterator[Path]:
    """A database path on /dev/shm (a RAM file system), removed afterwards."""
    if not (SHM.is_dir() and on_ram_file_system(str(SHM / "probe.db"))):
        pytest.skip("no /dev/shm RAM file system here")
    path = SHM / f"lash-inline-{uuid.uuid4().hex}.db"
    yield path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_ram_file_systems_are_recognised() -> None:
    """/dev/shm counts as a RAM file system; this checkout (on a disk) does not."""
    if SHM.is_dir():
        assert on_ram_file_system(str(SHM / "x.db"))
    assert not on_ram_file_system(str(Path(__file__).with_name("x.db")))


@pytest.mark.anyio
async def test_a_write_waiting_for_another_process_lock_does_not_block_the_loop(shm_path: Path) -> None:
    """With another connection holding the write lock, a write waits on a worker thread while the loop runs."""
    db = SqliteDatabase(str(shm_path))
    await db.open()
    try:
        await db.write(lambda conn: conn.execute("CREATE TABLE IF NOT EXISTS probe (n INTEGER)"))
        other = sqlite3.connect(str(shm_path), isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        ticks = 0
        done = anyio.Event()

        async def write() -> None:
            await db.write(lambda conn: conn.execute("INSERT INTO probe VALUES (1)"))
            done.set()

        async with anyio.create_task_group() as group:
            group.start_soon(write)
            while ticks < 20:  # the loop keeps running while the write waits for the lock
                await anyio.sleep(0.001)
                ticks += 1
            assert not done.is_set()
            other.execute("COMMIT")
            with anyio.fail_after(10):
                await done.wait()
        other.close()
        rows = await db.read(lambda conn: conn.execute("SELECT n FROM probe").fetchall())
        assert [tuple(r) for r in rows] == [(1,)]
    finally:
        await db.close()


@pytest.mark.anyio
async def test_an_inline_write_that_raises_rolls_back(shm_path: Path) -> None:
    """A write run on the loop's thread is still all or nothing."""
    db = SqliteDatabase(str(shm_path))
    await db.open()
    try:
        await db.write(lambda conn: conn.execute("CREATE TABLE IF NOT EXISTS probe (n INTEGER)"))

        def half(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO probe VALUES (1)")
            raise ValueError("stop here")

        with pytest.raises(ValueError, match="stop here"):
            await db.write(half)
        assert await db.peek(lambda conn: conn.execute("SELECT count(*) FROM probe").fetchone()[0]) == 0
    finally:
        await db.close()
