"""``lash-postgres-schema`` (and ``lash postgres-schema``): create, upgrade or check the store's tables."""

from __future__ import annotations

import click

from lash_core.errors import LashError
from lash_store_postgres.schema import SCHEMA_VERSION, ensure_schema
from lash_store_postgres.settings import DSN_ENV, describe_dsn, resolve_dsn

__all__ = ["main", "postgres_schema"]


@click.command("postgres-schema")
@click.option(
    "--dsn",
    default=None,
    metavar="DSN",
    help=f"PostgreSQL connection string or $env:NAME (default: the {DSN_ENV} environment variable).",
)
@click.option("--schema", default="lash", show_default=True, help="The PostgreSQL schema of the lash tables.")
def postgres_schema(dsn: str | None, schema: str) -> None:
    """Create the lash store's tables in a PostgreSQL schema, or upgrade them, or check that
    they are at this package's version. Safe to run again and from several machines at once."""
    try:
        conninfo = resolve_dsn(dsn)
        status = ensure_schema(conninfo, schema)
    except LashError as exc:
        raise click.ClickException(str(exc)) from exc
    where = describe_dsn(conninfo)
    messages = {
        "created": f"created the lash store tables (schema version {SCHEMA_VERSION}) in schema {schema!r} at {where}",
        "upgraded": f"upgraded schema {schema!r} at {where} to lash store schema version {SCHEMA_VERSION}",
        "current": f"schema {schema!r} at {where} is at lash store schema version {SCHEMA_VERSION}: nothing to do",
    }
    click.echo(messages[status])


def main() -> None:
    """Entry point of the ``lash-postgres-schema`` console script."""
    postgres_schema(prog_name="lash-postgres-schema")
