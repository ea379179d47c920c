"""llamacpp plugin tests run on asyncio and trio; the real-model tests share one loaded model."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from lash_provider_llamacpp import LlamaCppProvider, LlamaCppSettings, default_model_path

from lash_core.testing.services import service_missing


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each anyio test on both backends."""
    return str(request.param)


@pytest.fixture(scope="session")
def llama_cpp_installed() -> None:
    """llama-cpp-python is importable; the tests that need it are skipped (with the fix) when it
    is missing, and fail in CI."""
    if importlib.util.find_spec("llama_cpp") is None:
        service_missing("llama-cpp-python is not installed: run scripts/setup")


@pytest.fixture(scope="session")
def model_path(llama_cpp_installed: None) -> Path:
    """The SmolLM2 GGUF; the real-model tests are skipped (with the fix) when it or llama_cpp is
    missing, and fail in CI."""
    path = default_model_path()
    if path is None:
        service_missing("the SmolLM2 model is not installed: run scripts/setup")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def shared_provider(model_path: Path) -> Iterator[LlamaCppProvider]:
    """One provider (seeded, small context) shared by the direct provider tests."""
    provider = LlamaCppProvider(
        LlamaCppSettings(
            model_path=str(model_path), n_ctx=1024, seed=42, temperature=0.2, max_output_tokens=16
        )
    )
    yield provider
    anyio.run(provider.aclose)
