"""The ``{{ cookiecutter.entry_point_name }}`` store in real turns: chosen in the configuration, sessions kept
across runtimes of one namespace and apart between namespaces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lash_core.config import structure_settings
from lash_core.testing import ScriptedProvider, reply_text, scripted_runtime

from {{ cookiecutter.package_name }} import {{ cookiecutter.__class_prefix }}Settings, {{ cookiecutter.__class_prefix }}Store, forget_namespace, plugin

NAME = "{{ cookiecutter.entry_point_name }}"


def store_config(namespace: str) -> dict[str, Any]:
    """The runtime configuration choosing this store."""
    return {"store": {"type": NAME, "settings": {"namespace": namespace}}}


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace of this test's own."""
    yield "tests"
    forget_namespace("tests")
    forget_namespace("tests-other")


@pytest.mark.anyio
async def test_sessions_outlive_the_runtime(namespace: str) -> None:
    """A second runtime over the same namespace continues the session the first one wrote."""
    provider = ScriptedProvider([reply_text("Hello!"), reply_text("You said hi.")])
    async with scripted_runtime(provider, plugins=[plugin], config=store_config(namespace)) as runtime:
        assert isinstance(runtime.store, {{ cookiecutter.__class_prefix }}Store)
        await (await runtime.session("s1")).turn("hi").run()

    async with scripted_runtime(provider, plugins=[plugin], config=store_config(namespace)) as runtime:
        session = await runtime.session("s1")
        assert [m.text for m in session.history] == ["hi", "Hello!"]
        await session.turn("what did I say?").run()
        summaries = await runtime.store.list_sessions()
    assert [(s.session_id, s.turn_count) for s in summaries] == [("s1", 2)]
    # the model saw the earlier turn
    assert [m.text for m in provider.requests[1].messages] == ["hi", "Hello!", "what did I say?"]


@pytest.mark.anyio
async def test_namespaces_keep_sessions_apart(namespace: str) -> None:
    """A store of another namespace does not see the session."""
    provider = ScriptedProvider([reply_text("Hello!")])
    async with scripted_runtime(provider, plugins=[plugin], config=store_config(namespace)) as runtime:
        await (await runtime.session("s1")).turn("hi").run()
    async with scripted_runtime(provider, plugins=[plugin], config=store_config("tests-other")) as runtime:
        assert await runtime.store.load_session("s1") is None


def test_settings_are_checked() -> None:
    """An empty namespace is refused, naming the key."""
    settings, problems = structure_settings({}, {{ cookiecutter.__class_prefix }}Settings, "store.settings")
    assert problems == [] and settings.namespace == "default"
    _, problems = structure_settings({"namespace": ""}, {{ cookiecutter.__class_prefix }}Settings, "store.settings")
    assert problems and "store.settings" in problems[0]
