"""Turn-phase hooks: called during turns and session lifecycle; implementations may be async.

Context objects (``TurnHookContext``, ``ToolHookContext``, ...) are defined in
``lash_core.hooks``; directives (``AbortTurn``, ``EnqueueMessages``, ``EmitEvent``,
``SwitchAgentFrame``, ``ReplaceToolArgs``, ``ShortCircuitTool``, ``ReplaceToolResult``) in
``lash_core.hooks.directives``.
"""

from __future__ import annotations

from typing import Any

from lash_hookspecs import calling, hookspec

HOOKS: tuple[str, ...] = (
    "transform_context",
    "prepare_turn",
    "prompt_contributions",
    "filter_tool_catalog",
    "before_tool_call",
    "after_tool_call",
    "checkpoint",
    "finalize_turn",
    "turn_persisted",
    "session_restored",
    "session_config_changed",
    "session_command",
    "snapshot_state",
    "restore_state",
)


@hookspec
@calling("pipeline", may_be_async=True)
def transform_context(ctx: Any, context: Any) -> Any:
    """Rewrite what the model will see this turn (the prompt view), never the stored history.

    When: every turn, after the input is normalized and before ``prepare_turn``.
    Args: ``ctx`` is a ``TurnHookContext``; ``context`` is a ``PromptContext`` (messages
        to send, extra prompt contributions) as left by the previous implementation.
    Returns: a new ``PromptContext``, or ``None`` to pass ``context`` on unchanged.
    Calling: pipeline: each implementation receives the previous one's output.
    Async: yes, ``async def`` is allowed.
    Errors: an exception stops the turn with a ``HookError`` naming the plugin and the
        hook; nothing is committed.
    """


@hookspec
@calling("collect", may_be_async=True)
def prepare_turn(ctx: Any) -> Any:
    """Inspect the turn before the model is called; abort it, add messages or emit events.

    When: every turn, after ``transform_context`` and before the prompt is built.
    Args: ``ctx`` is a ``TurnHookContext`` (session id, turn id, input, history, policy,
        live plugin inputs, a direct-completion client).
    Returns: ``None``, a directive, or a list of directives: ``AbortTurn(code, message)``
        ends the turn ``Stopped(PluginAbort)`` with the user message committed (the last
        abort wins); ``EnqueueMessages`` adds user or system messages to this turn's
        prompt; ``EmitEvent`` emits a ``plugin_runtime`` activity;
        ``SwitchAgentFrame(frame_id, initial_messages, reason="compaction")`` runs this turn
        in a new agent frame: the current frame is superseded, the model sees only the seed
        messages, the user message and messages added here, and the frame switch is
        committed with the turn (the old frame's messages stay in the store; the last switch
        wins, an abort drops it; an empty or current ``frame_id`` changes nothing). Tool
        directives are refused.
    Calling: collect: every implementation runs, in order; directives apply in order.
    Async: yes.
    Errors: an exception, a directive this hook may not return, or a ``SwitchAgentFrame``
        naming an earlier frame of the session, stops the turn with a ``HookError`` naming
        the plugin and the hook; nothing is committed.
    """


@hookspec
@calling("collect", may_be_async=True)
def prompt_contributions(ctx: Any) -> Any:
    """Contribute text to the system prompt.

    When: every turn, while the prompt is built.
    Args: ``ctx`` is a ``TurnHookContext``.
    Returns: ``None``, a ``PromptContribution``, or a list of them. Contributions are
        de-duplicated and ordered by ``(slot, priority)``; one naming ``tools`` is dropped
        unless one of those tools is in the catalog.
    Calling: collect: every implementation runs.
    Async: yes.
    Errors: an exception stops the turn with a ``HookError``; nothing is committed.
    """


@hookspec
@calling("collect", may_be_async=True)
def filter_tool_catalog(ctx: Any, tools: Any) -> Any:
    """Remove tools from this turn's catalog (catalog membership is availability).

    When: every turn, while the prompt is built, before tools are offered to the model.
    Args: ``ctx`` is a ``TurnHookContext``; ``tools`` is the tuple of ``ToolSpec`` the
        model would be offered.
    Returns: ``None`` or an iterable of tool names to remove; removals of all
        implementations are unioned.
    Calling: collect: every implementation runs.
    Async: yes.
    Errors: an exception stops the turn with a ``HookError``; nothing is committed.
    """


@hookspec
@calling("collect", may_be_async=True)
def before_tool_call(ctx: Any) -> Any:
    """Inspect or change a tool call before it runs.

    When: for every tool call the model makes, after its arguments were parsed and
        validated, before the tool runs.
    Args: ``ctx`` is a ``ToolHookContext`` (tool name, call id, parsed arguments, turn).
    Returns: ``None`` or a directive: ``ReplaceToolArgs(args)`` (the last one wins),
        ``ShortCircuitTool(output)`` (skip the tool, use ``output``), ``AbortTurn`` (the
        call gets an error result), ``EmitEvent``.
    Calling: collect: every implementation runs.
    Async: yes.
    Errors: an exception, or an ``EnqueueMessages`` directive, gives the call an error
        result naming the plugin; the turn goes on.
    """


@hookspec
@calling("collect", may_be_async=True)
def after_tool_call(ctx: Any) -> Any:
    """Inspect or replace a tool result before the model sees it.

    When: for every tool call, after the tool ran (or was short-circuited).
    Args: ``ctx`` is a ``ToolResultHookContext`` (the call, its full output, duration).
    Returns: ``None`` or a directive: ``ReplaceToolResult(output)`` (the last one wins),
        ``EnqueueMessages`` (delivered at the next checkpoint), ``EmitEvent``.
    Calling: collect: every implementation runs.
    Async: yes.
    Errors: an exception replaces the result with an error result naming the plugin;
        the turn goes on.
    """


@hookspec
@calling("collect", may_be_async=True)
def checkpoint(ctx: Any) -> Any:
    """Deliver messages into a running turn at a checkpoint.

    When: at every checkpoint of a turn: after each tool round (``after_work``) and
        before the turn completes (``before_completion``).
    Args: ``ctx`` is a ``CheckpointHookContext`` (checkpoint kind, history, turn).
    Returns: ``None`` or directives: ``EnqueueMessages`` (the model is called again with
        them in view), ``AbortTurn`` (the turn stops ``Stopped(PluginAbort)``),
        ``EmitEvent``.
    Calling: collect: every implementation runs.
    Async: yes.
    Errors: an exception stops the turn ``Stopped(RuntimeError)`` with an issue naming
        the plugin and the hook; the turn still commits.
    """


@hookspec
@calling("collect", may_be_async=True)
def finalize_turn(ctx: Any, turn: Any) -> Any:
    """See the turn's result before it is committed; add messages to the commit.

    When: every turn, after the outcome is known and before the atomic commit.
    Args: ``ctx`` is a ``TurnHookContext``; ``turn`` is a ``TurnSummary`` (outcome,
        assistant output, usage, tool calls, issues).
    Returns: ``None`` or directives: ``EnqueueMessages`` (committed with the turn),
        ``EmitEvent``. ``AbortTurn`` is refused.
    Calling: collect: every implementation runs.
    Async: yes.
    Errors: an exception raises a ``HookError`` naming the plugin and the hook to the
        host; nothing is committed.
    """


@hookspec
@calling("observe", may_be_async=True)
def turn_persisted(ctx: Any, turn: Any) -> None:
    """Observe a committed turn.

    When: after the turn's atomic commit succeeded.
    Args: ``ctx`` is a ``SessionHookContext``; ``turn`` is the ``AssembledTurn``.
    Returns: nothing; results are ignored.
    Calling: observe: every implementation runs.
    Async: yes.
    Errors: an exception is logged with the plugin's name and isolated; the committed
        turn is untouched and the host still gets its result.
    """


@hookspec
@calling("observe", may_be_async=True)
def session_restored(ctx: Any) -> None:
    """Observe a session being opened from its store.

    When: when ``runtime.session(id)`` opens a session that has committed turns, after
        ``restore_state``.
    Args: ``ctx`` is a ``SessionHookContext`` (session id, history, policy).
    Returns: nothing.
    Calling: observe: every implementation runs.
    Async: yes.
    Errors: an exception is logged with the plugin's name and isolated.
    """


@hookspec
@calling("observe", may_be_async=True)
def session_config_changed(ctx: Any, previous: Any, current: Any) -> None:
    """Observe a change of a session's policy (model, provider, limits, prompt).

    When: after ``session.configure(...)`` changed the session's policy.
    Args: ``ctx`` is a ``SessionHookContext``; ``previous`` and ``current`` are
        ``SessionPolicy`` values.
    Returns: nothing.
    Calling: observe: every implementation runs.
    Async: yes.
    Errors: an exception is logged with the plugin's name and isolated.
    """


@hookspec
@calling("observe", may_be_async=True)
def session_command(ctx: Any, command: Any) -> None:
    """Observe a queued session command being applied between turns.

    When: while a drain (``session.drain()``, ``runtime.drain(id)``, a worker) applies a
        session command from the session's queued work, before the commit that settles it;
        ``refresh_tool_catalog`` is the cue to rebuild tool lists a plugin caches,
        ``reset_session`` opens a fresh, empty agent frame after the observers ran.
    Args: ``ctx`` is a ``SessionHookContext``; ``command`` is a ``RefreshToolCatalog`` or
        ``ResetSession`` (``lash_core.store.queued_work``), each with its ``reason``.
    Returns: nothing.
    Calling: observe: every implementation runs.
    Async: yes.
    Errors: an exception is logged with the plugin's name and isolated; the command is
        still settled (a broken observer cannot block the session's queue).
    """


@hookspec
@calling("collect", may_be_async=False)
def snapshot_state(session_id: str) -> Any:
    """Return this plugin's per-session state, to be committed with the turn.

    When: every turn, just before the atomic commit.
    Args: ``session_id`` names the session.
    Returns: JSON-compatible data (dicts, lists, strings, numbers, booleans, None) or
        ``None`` for no state. Each plugin's value is stored under its plugin name in the
        same atomic commit as the turn.
    Calling: collect: every implementation runs; results are kept per plugin.
    Async: no; it must be quick and must not do I/O.
    Errors: an exception raises a ``HookError`` naming the plugin; nothing is committed.
    """


@hookspec
@calling("observe", may_be_async=False)
def restore_state(session_id: str, state: Any) -> None:
    """Receive this plugin's per-session state when a session is opened.

    When: when ``runtime.session(id)`` opens a session, before its first turn, with what
        ``snapshot_state`` returned in the last committed turn.
    Args: ``session_id`` names the session; ``state`` is this plugin's own snapshot, or
        ``None`` when it has none.
    Returns: nothing.
    Calling: observe: every implementation runs, each with its own state.
    Async: no.
    Errors: an exception is logged with the plugin's name and isolated; the plugin
        starts with empty state.
    """
