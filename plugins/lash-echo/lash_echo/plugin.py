"""Entry point of the echo provider plugin."""

from __future__ import annotations

from typing import Any

from lash_echo.provider import EchoProvider, EchoSettings
from lash_hookspecs import hookimpl


@hookimpl
def register_providers(register: Any) -> None:
    """Register the ``echo`` provider."""
    register(
        "echo", EchoProvider, settings=EchoSettings, description="offline echo provider for demos and tests"
    )
