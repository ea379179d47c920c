"""The lash testing kit: test-double providers, a fake clock, runtime composition for
tests, a network guard. It is also a pytest plugin (entry point ``pytest11``)."""

from lash_core.testing.clock import FakeClock
from lash_core.testing.durable import DurableMemoryStore, durable_memory_plugin
from lash_core.testing.effects import (
    RecordingEffectController,
    RecordingEffectHost,
    SimulatedCrash,
    recording_host_plugin,
)
from lash_core.testing.network import NetworkBlocked, block_network
from lash_core.testing.providers import (
    FunctionProvider,
    Reply,
    ScriptedProvider,
    call,
    reply_error,
    reply_text,
    reply_tool_calls,
)
from lash_core.testing.runtime import provider_plugin, scripted_runtime, tools_plugin

__all__ = [
    "FakeClock",
    "FunctionProvider",
    "NetworkBlocked",
    "Reply",
    "ScriptedProvider",
    "block_network",
    "call",
    "provider_plugin",
    "reply_error",
    "reply_text",
    "reply_tool_calls",
    "scripted_runtime",
    "tools_plugin",
    "RecordingEffectController",
    "RecordingEffectHost",
    "SimulatedCrash",
    "recording_host_plugin",
    "DurableMemoryStore",
    "durable_memory_plugin",
]
