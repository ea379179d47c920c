"""Entry point of the plan-mode plugin (``plan_mode`` in the ``lash`` group).

:class:`PlanModePlugin` keeps one plan per session:

* ``register_tools`` registers the ``update_plan`` tool, which replaces the session's plan
  (keyed by the tool context's session id) with the steps the model sends;
* ``after_tool_call`` adopts the plan from the tool's result (so a tool result replayed from
  an effect journal, where the tool did not run again, still updates the plan) and, when the
  plan changed, emits the ``plugin_runtime`` event ``plan_updated``;
* ``prompt_contributions`` shows the current plan in the system prompt (slot ``plan``);
* ``snapshot_state`` / ``restore_state`` commit the plan with every turn and hand it back
  when the session is opened again, by this runtime or another one over the same store.

The entry point loads the module-level :data:`plugin` instance; hosts composing a runtime in
code can pass their own ``PlanModePlugin()`` instead (keep the name ``plan_mode``, under
which its state is committed).
"""

from __future__ import annotations

from typing import Any

from lash_core import tool
from lash_core.hooks.context import ToolResultHookContext, TurnHookContext
from lash_core.hooks.directives import EmitEvent
from lash_core.model import (
    FailureOutcome,
    PromptContribution,
    SuccessOutcome,
    ToolCallOutput,
    ToolFailure,
    ToolFailureClass,
)
from lash_core.tools.contract import ToolContext
from lash_core.tools.decorator import FunctionTool
from lash_hookspecs import hookimpl
from lash_plugin_plan_mode.plan import Plan, PlanStep, plan_problem

__all__ = [
    "EVENT_NAME",
    "LASH_PLUGIN_API",
    "PLUGIN_NAME",
    "PROMPT_SLOT",
    "TOOL_NAME",
    "PlanModePlugin",
    "plugin",
]

LASH_PLUGIN_API = ">=1.0,<2"
"""The lash plugin API versions this plugin works with."""

PLUGIN_NAME = "plan_mode"
"""The plugin's name (its entry point); its per-session state is committed under it."""
TOOL_NAME = "update_plan"
EVENT_NAME = "plan_updated"
PROMPT_SLOT = "plan"


class PlanModePlugin:
    """The ``update_plan`` tool and the per-session plans it maintains (see the module docs)."""

    LASH_PLUGIN_API = LASH_PLUGIN_API
    lash_plugin_name = PLUGIN_NAME

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}
        """The current plan of each session that has one, by session id."""
        self.tool: FunctionTool[..., ToolCallOutput] = self._make_tool()

    def plan(self, session_id: str) -> Plan | None:
        """The current plan of ``session_id``, or ``None`` when it has none."""
        return self.plans.get(session_id)

    def _make_tool(self) -> FunctionTool[..., ToolCallOutput]:
        plugin = self

        @tool(name=TOOL_NAME, sequential=True)
        def update_plan(
            plan: list[PlanStep], context: ToolContext, explanation: str | None = None
        ) -> ToolCallOutput:
            """Create or update your task plan: send the full list of steps, each with its status.

            Use it for work that takes several steps. Keep exactly one step in_progress while
            you work, mark steps completed as you finish them, and send the whole plan every
            time (it replaces the previous one; an empty list clears it).

            Args:
                plan: Every step of the plan, in order.
                explanation: Why the plan changed, in a sentence (optional).
            """
            return plugin.update(context.session_id, tuple(plan), explanation)

        return update_plan

    def update(self, session_id: str, steps: tuple[PlanStep, ...], explanation: str | None) -> ToolCallOutput:
        """Replace the plan of ``session_id``; the tool's result, or an ``invalid_plan`` failure."""
        problem = plan_problem(steps)
        if problem is not None:
            failure = ToolFailure(ToolFailureClass.INVALID_REQUEST, "invalid_plan", f"{TOOL_NAME}: {problem}")
            return ToolCallOutput(FailureOutcome(failure))
        steps = tuple(PlanStep(step.step.strip(), step.status) for step in steps)
        if explanation is not None:
            explanation = explanation.strip() or None
        current = self.plans.get(session_id)
        changed = steps != (current.steps if current else ())
        revision = (current.revision if current else 0) + (1 if changed else 0)
        plan = Plan(steps, explanation, revision)
        self._adopt(session_id, plan)
        return ToolCallOutput(SuccessOutcome({"updated": changed, **plan.to_json()}))

    def _adopt(self, session_id: str, plan: Plan) -> None:
        if plan.steps:
            self.plans[session_id] = plan
        else:
            self.plans.pop(session_id, None)

    @hookimpl
    def register_tools(self, register: Any) -> None:
        """Register the ``update_plan`` tool."""
        register(self.tool)

    @hookimpl
    def after_tool_call(self, ctx: ToolResultHookContext) -> EmitEvent | None:
        """Adopt the plan an ``update_plan`` call produced; emit ``plan_updated`` when it changed."""
        if ctx.tool_name != TOOL_NAME or not isinstance(ctx.output.outcome, SuccessOutcome):
            return None
        value = ctx.output.outcome.value
        try:
            plan = Plan.from_json(value)
        except ValueError:
            return None  # not this tool's result (a plugin short-circuited the call)
        session_id = ctx.turn.session_id
        self._adopt(session_id, plan)
        if not value.get("updated"):
            return None
        return EmitEvent.custom(
            EVENT_NAME, {"session_id": session_id, **plan.to_json(), "counts": plan.counts()}
        )

    @hookimpl
    def prompt_contributions(self, ctx: TurnHookContext) -> PromptContribution | None:
        """Show the session's current plan in the system prompt (slot ``plan``), when it has one."""
        plan = self.plans.get(ctx.session_id)
        if plan is None:
            return None
        return PromptContribution(PROMPT_SLOT, plan.render())

    @hookimpl
    def snapshot_state(self, session_id: str) -> dict[str, Any] | None:
        """The session's plan as JSON data, committed with the turn (``None`` without a plan)."""
        plan = self.plans.get(session_id)
        return plan.to_json() if plan is not None else None

    @hookimpl
    def restore_state(self, session_id: str, state: Any) -> None:
        """Take back the session's committed plan (none when ``state`` is ``None``)."""
        self.plans.pop(session_id, None)
        if state is not None:
            self._adopt(session_id, Plan.from_json(state))


plugin = PlanModePlugin()
"""The instance the ``plan_mode`` entry point loads."""
