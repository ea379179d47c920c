"""The provider passes lash's provider conformance suite over the wire scripts in
``tests/fixtures/conformance/`` (one per scenario, in this API's wire format)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lash_core.testing.conformance.provider import (
    PROVIDER_SCENARIOS,
    ConformanceSetup,
    ProviderConformance,
    ProviderTarget,
)
from lash_core.testing.wire import load_scripts

from {{ cookiecutter.package_name }} import {{ cookiecutter.__class_prefix }}Settings
from {{ cookiecutter.package_name }}.provider import {{ cookiecutter.__class_prefix }}Provider

SCRIPTS = Path(__file__).parent / "fixtures" / "conformance"


def make(setup: ConformanceSetup) -> {{ cookiecutter.__class_prefix }}Provider:
    """The provider on the suite's client (replaying the scenario's script), key, retries and sleep."""
    settings = {{ cookiecutter.__class_prefix }}Settings(api_key=setup.api_key, retry=setup.retry)
    return {{ cookiecutter.__class_prefix }}Provider(settings, client=setup.client, sleep=setup.sleep)


class Test{{ cookiecutter.__class_prefix }}Conformance(ProviderConformance):
    """Every scenario of the suite."""

    @pytest.fixture
    def provider_target(self) -> ProviderTarget:
        """The provider under test and its scripts."""
        return ProviderTarget(name="{{ cookiecutter.entry_point_name }}", make=make, scripts=load_scripts(SCRIPTS))


def test_every_scenario_has_a_script() -> None:
    """A new scenario in lash-core shows up here first: script it (or declare it unsupported)."""
    assert sorted(load_scripts(SCRIPTS)) == sorted(PROVIDER_SCENARIOS)
