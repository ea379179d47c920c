"""The standard protocol of lash: the native tool-calling loop."""

from lash_protocol_standard.protocol import StandardProtocol

__all__ = ["StandardProtocol"]
