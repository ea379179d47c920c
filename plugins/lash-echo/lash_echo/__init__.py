"""An offline lash provider that echoes (for demos and end-to-end tests)."""

from lash_echo.provider import EchoProvider, EchoSettings

__all__ = ["EchoProvider", "EchoSettings"]
