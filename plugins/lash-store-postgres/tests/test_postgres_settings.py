"""Settings: where the connection string comes from, validation, and redaction in messages."""

from __future__ import annotations

import pytest
from lash_store_postgres import PostgresSettings, resolve_dsn
from lash_store_postgres.settings import describe_dsn

from lash_core.errors import ConfigError


def test_a_plain_dsn_is_used_as_it_is() -> None:
    """A connection string in the settings wins over the environment."""
    assert resolve_dsn("postgresql://a@h/db") == "postgresql://a@h/db"


def test_an_env_reference_reads_that_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``$env:NAME`` reads NAME; an unset NAME says what to export."""
    monkeypatch.setenv("MY_PG", "postgresql://b@h/db")
    assert resolve_dsn("$env:MY_PG") == "postgresql://b@h/db"
    monkeypatch.delenv("MY_PG")
    with pytest.raises(ConfigError, match="export MY_PG="):
        resolve_dsn("$env:MY_PG")


def test_without_a_dsn_the_environment_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """No dsn falls back to LASH_POSTGRES_DSN; with neither, the error names both fixes."""
    monkeypatch.setenv("LASH_POSTGRES_DSN", "postgresql://c@h/db")
    assert resolve_dsn(None) == "postgresql://c@h/db"
    monkeypatch.delenv("LASH_POSTGRES_DSN")
    with pytest.raises(ConfigError, match=r"dsn = .*LASH_POSTGRES_DSN"):
        resolve_dsn(None)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"min_pool_size": 5, "max_pool_size": 2}, "min_pool_size"),
        ({"max_pool_size": 0}, "max_pool_size"),
        ({"pool_timeout_s": 0}, "pool_timeout_s"),
        ({"lock_timeout_ms": -1}, "lock_timeout_ms"),
        ({"schema": ""}, "schema"),
    ],
)
def test_invalid_settings_name_the_key(options: dict[str, object], key: str) -> None:
    """Each invalid value is a ConfigError naming its key."""
    with pytest.raises(ConfigError, match=key):
        PostgresSettings(**options)  # type: ignore[arg-type]


def test_messages_never_show_the_password() -> None:
    """Connection descriptions keep user, host, port and database, never the password."""
    described = describe_dsn("postgresql://lash:s3cret@db.internal:6543/agents")
    assert described == "lash@db.internal:6543/agents" and "s3cret" not in described
    assert "s3cret" not in describe_dsn("host=db password=s3cret dbname=x")
