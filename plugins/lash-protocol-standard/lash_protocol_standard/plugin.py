"""Entry point of the ``standard`` protocol plugin."""

from __future__ import annotations

from typing import Any

from lash_hookspecs import hookimpl
from lash_protocol_standard.protocol import StandardProtocol


@hookimpl
def register_protocols(register: Any) -> None:
    """Register the ``standard`` protocol."""
    register("standard", lambda settings=None: StandardProtocol(), description="native tool-calling loop")
