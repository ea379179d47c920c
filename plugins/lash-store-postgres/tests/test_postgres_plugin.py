"""The plugin: found through its entry point, composed from configuration, running real turns."""

from __future__ import annotations

from typing import Any

import pytest
from lash_store_postgres import PostgresStore
from lash_store_postgres import plugin as postgres_plugin

from lash_core import Runtime
from lash_core.effects import DurabilityTier
from lash_core.errors import ConfigError
from lash_core.testing import ScriptedProvider
from lash_core.testing.runtime import scripted_runtime

pytestmark = pytest.mark.anyio


async def test_the_plugin_is_discovered_through_its_entry_point() -> None:
    """`lash plugins` lists the postgres store, the postgres-journal host and the postgres-schema command."""
    async with Runtime({}) as runtime:
        report = {entry["name"]: entry for entry in runtime.plugins_report()}
    assert report["postgres"]["distribution"] == "lash-store-postgres"
    assert report["postgres"]["registered"] == {
        "stores": ["postgres"],
        "effect_hosts": ["postgres-journal"],
        "commands": ["postgres-schema"],
    }


def _config(dsn: str, schema: str) -> dict[str, Any]:
    return {"store": {"type": "postgres", "settings": {"dsn": dsn, "schema": schema, "max_pool_size": 3}}}


async def test_a_runtime_persists_turns_across_restarts(postgres_dsn: str, pg_schema: str) -> None:
    """Turns run on the postgres store survive a new runtime; submitted input is drained durably."""
    provider = ScriptedProvider(["first answer", "second answer"])
    async with scripted_runtime(
        provider, config=_config(postgres_dsn, pg_schema), plugins=[postgres_plugin]
    ) as runtime:
        assert isinstance(runtime.store, PostgresStore)
        assert runtime.store.durability is DurabilityTier.DURABLE
        session = await runtime.session("pg-runtime")
        result = await session.turn("hello").run()
        assert result.assistant_output.raw_text == "first answer"
        await session.submit("later, please", source_key="msg-2")
    async with scripted_runtime(
        provider, config=_config(postgres_dsn, pg_schema), plugins=[postgres_plugin]
    ) as runtime:
        drained = await runtime.drain("pg-runtime")
        assert [t.assistant_output.raw_text for t in drained] == ["second answer"]
        record = await runtime.store.load_session("pg-runtime")
        assert record is not None and record.head.turn_count == 2 and record.head.head_revision == 2
        assert [s.session_id for s in await runtime.store.list_sessions()] == ["pg-runtime"]
        assert list(await runtime.store.list_pending_inputs("pg-runtime")) == []


async def test_bad_settings_name_the_key() -> None:
    """Invalid settings fail composing the runtime with the key and the fix."""
    config = {
        "store": {"type": "postgres", "settings": {"dsn": "postgresql://x@127.0.0.1/db", "max_pool_size": 0}}
    }
    runtime = scripted_runtime(ScriptedProvider(), config=config, plugins=[postgres_plugin])
    with pytest.raises(ConfigError, match="max_pool_size"):
        await runtime.open()
