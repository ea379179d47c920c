"""A guard that makes real network access from tests fail loudly.

Loopback addresses (127.0.0.0/8, ::1, localhost) stay reachable, so tests may talk to
servers they start themselves.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

__all__ = ["NetworkBlocked", "block_network"]


class NetworkBlocked(RuntimeError):
    """A test tried to reach the network."""


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _refuse(what: str) -> NetworkBlocked:
    return NetworkBlocked(
        f"a test tried to reach {what}; tests never call real APIs: replay a wire script through "
        "httpx.MockTransport (lash_core.testing) or use a loopback server"
    )


@contextmanager
def block_network() -> Iterator[None]:
    """Within the block, httpx requests and socket connections to non-loopback hosts raise
    :class:`NetworkBlocked`."""
    original_async = httpx.AsyncHTTPTransport.handle_async_request
    original_sync = httpx.HTTPTransport.handle_request
    original_connect = socket.socket.connect
    original_create = socket.create_connection

    async def guarded_async(self: Any, request: httpx.Request) -> httpx.Response:
        if not _is_loopback(request.url.host):
            raise _refuse(str(request.url))
        return await original_async(self, request)

    def guarded_sync(self: Any, request: httpx.Request) -> httpx.Response:
        if not _is_loopback(request.url.host):
            raise _refuse(str(request.url))
        return original_sync(self, request)

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(str(address[0])):
            raise _refuse(f"{address[0]}:{address[1]}")
        return original_connect(self, address)

    def guarded_create(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if not _is_loopback(str(address[0])):
            raise _refuse(f"{address[0]}:{address[1]}")
        return original_create(address, *args, **kwargs)

    httpx.AsyncHTTPTransport.handle_async_request = guarded_async  # type: ignore[method-assign]
    httpx.HTTPTransport.handle_request = guarded_sync  # type: ignore[method-assign]
    socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
    socket.create_connection = guarded_create
    try:
        yield
    finally:
        httpx.AsyncHTTPTransport.handle_async_request = original_async  # type: ignore[method-assign]
        httpx.HTTPTransport.handle_request = original_sync  # type: ignore[method-assign]
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.create_connection = original_create
