"""Tests that need a real component (a database server, a local model) skip when it is
missing on a developer's machine, and fail in CI, where ``.ci/run`` sets
``LASH_REQUIRE_SERVICES=1`` and the component must be there."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["REQUIRE_SERVICES_ENV", "service_missing"]

REQUIRE_SERVICES_ENV = "LASH_REQUIRE_SERVICES"


def service_missing(reason: str) -> NoReturn:
    """Skip the current test because ``reason``; fail it instead when services are required."""
    if os.environ.get(REQUIRE_SERVICES_ENV) == "1":
        pytest.fail(f"{reason} (required here: {REQUIRE_SERVICES_ENV}=1)")
    pytest.skip(reason)
