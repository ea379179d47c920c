"""Entry point of the compaction plugin (``compaction`` in the ``lash`` group).

Before a turn (``prepare_turn``), when the previous prompt used more than ``threshold`` of the
model's context window, :class:`CompactionPlugin` asks the session's model for a summary of the
current agent frame (a direct completion whose usage is recorded under the source
``compaction``) and returns a ``SwitchAgentFrame`` directive: the kernel supersedes the current
frame and runs the turn in a new frame ``<session>:frame:compaction:<turn>`` seeded with the
summary. The model then sees the summary and the new user message only; the earlier messages
stay in the store, in the superseded frame.

The entry point loads the module-level :data:`plugin` instance, whose settings come from the
configuration's ``[plugins.compaction]`` table (read in ``register_tools``, which registers no
tool). Hosts composing a runtime in code can pass ``CompactionPlugin(CompactionSettings(...))``.
"""

from __future__ import annotations

from typing import Any

from lash_core.errors import ProviderError
from lash_core.hooks.context import TurnHookContext
from lash_core.hooks.directives import EmitEvent, SwitchAgentFrame
from lash_core.model import Message, Part, PartKind, Role, TokenUsage
from lash_hookspecs import hookimpl
from lash_plugin_compaction.settings import SUMMARY_HEADER, CompactionSettings

__all__ = [
    "EVENT_NAME",
    "FRAME_REASON",
    "LASH_PLUGIN_API",
    "PLUGIN_NAME",
    "SUMMARY_SYSTEM_PROMPT",
    "USAGE_SOURCE",
    "CompactionPlugin",
    "compaction_frame_id",
    "plugin",
    "prompt_tokens",
]

LASH_PLUGIN_API = ">=1.0,<2"
"""The lash plugin API versions this plugin works with."""

PLUGIN_NAME = "compaction"
"""The plugin's name (its entry point and its settings table)."""
USAGE_SOURCE = "compaction"
"""The ledger source the summary calls are recorded under."""
FRAME_REASON = "compaction"
"""The reason the new frame's record names."""
EVENT_NAME = "context_compacted"
SUMMARY_SYSTEM_PROMPT = (
    "You summarize an agent's conversation so that the agent can continue the work from the summary "
    "alone. Be faithful: never invent facts, files or results."
)


def prompt_tokens(usage: TokenUsage) -> int:
    """The prompt size a model call reported: uncached, cache-read and cache-write input tokens."""
    return usage.input_tokens + usage.cache_read_input_tokens + usage.cache_write_input_tokens


def compaction_frame_id(session_id: str, turn_id: str) -> str:
    """The id of the frame compaction opens in ``turn_id``: derived from the turn, so a turn re-run
    after a crash opens the same frame and its commit stays idempotent."""
    return f"{session_id}:frame:compaction:{turn_id}"


class CompactionPlugin:
    """Compacts a session's context into a summary-seeded agent frame (see the module docs)."""

    LASH_PLUGIN_API = LASH_PLUGIN_API
    lash_plugin_name = PLUGIN_NAME

    def __init__(self, settings: CompactionSettings | None = None) -> None:
        """``settings`` given here are used as they are; without them the plugin reads its
        ``[plugins.compaction]`` table when a runtime is composed (defaults when absent)."""
        self.settings = settings if settings is not None else CompactionSettings()
        self._fixed = settings is not None

    @hookimpl
    def register_tools(self, register: Any) -> None:
        """Read the plugin's settings from the configuration (no tool is registered)."""
        if not self._fixed:
            self.settings = register.settings(CompactionSettings)

    def oversized_prompt(self, ctx: TurnHookContext) -> int | None:
        """The last prompt's size in tokens when it used more than ``threshold`` of the model's
        context window and the current frame has history to compact; else ``None``."""
        usage = ctx.last_prompt_usage
        if usage is None or not ctx.history:
            return None
        used = prompt_tokens(usage)
        return used if used > self.settings.threshold * ctx.policy.model.context_window_tokens else None

    @hookimpl
    async def prepare_turn(self, ctx: TurnHookContext) -> list[Any] | None:
        """Summarize the current frame and switch to a frame seeded with the summary, when the
        last prompt was over the threshold. A failed or empty summary leaves the context as it is
        (a ``compaction`` status event says why)."""
        used = self.oversized_prompt(ctx)
        if used is None:
            return None
        settings = self.settings
        request = (
            *(_without_attachments(m) for m in ctx.history),
            _text_message(Role.USER, settings.instructions),
        )
        try:
            response = await ctx.completions.complete(
                request,
                source=USAGE_SOURCE,
                system_prompt=SUMMARY_SYSTEM_PROMPT,
                max_output_tokens=settings.max_summary_tokens,
            )
        except ProviderError as exc:
            return [EmitEvent.status(PLUGIN_NAME, "context not compacted", f"the summary call failed: {exc}")]
        summary = response.text.strip()
        if not summary:
            return [
                EmitEvent.status(PLUGIN_NAME, "context not compacted", "the model returned an empty summary")
            ]
        frame_id = compaction_frame_id(ctx.session_id, ctx.turn_id)
        seed = _text_message(Role.USER, f"{SUMMARY_HEADER}\n\n{summary}")
        payload = {
            "frame_id": frame_id,
            "summarized_messages": len(ctx.history),
            "prompt_tokens": used,
            "context_window_tokens": ctx.policy.model.context_window_tokens,
            "threshold": settings.threshold,
            "summary_output_tokens": response.usage.output_tokens,
        }
        return [
            SwitchAgentFrame(frame_id, (seed,), reason=FRAME_REASON),
            EmitEvent.custom(EVENT_NAME, payload),
        ]


def _text_message(role: Role, text: str) -> Message:
    """A one-part text message (the kernel gives it its id when it is committed)."""
    return Message("compaction", role, (Part("compaction.p0", PartKind.TEXT, text),))


def _without_attachments(message: Message) -> Message:
    """``message`` with attachment parts replaced by a line naming them: the summary call sends
    no attachment bytes."""
    if not any(part.kind is PartKind.ATTACHMENT for part in message.parts):
        return message
    parts = tuple(
        Part(part.id, PartKind.TEXT, f"[attachment: {_describe(part)}]")
        if part.kind is PartKind.ATTACHMENT
        else part
        for part in message.parts
    )
    return Message(message.id, message.role, parts, message.origin)


def _describe(part: Part) -> str:
    ref = part.attachment
    if ref is None:
        return "unnamed"
    return f"{ref.name or ref.attachment_id} ({ref.media_type})"


plugin = CompactionPlugin()
"""The instance the ``compaction`` entry point loads."""
