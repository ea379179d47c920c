"""Plan mode for lash: a per-session ``update_plan`` tool whose plan the model sees in its prompt."""

from lash_plugin_plan_mode.plan import MAX_STEPS, Plan, PlanStep, StepStatus
from lash_plugin_plan_mode.plugin import (
    EVENT_NAME,
    LASH_PLUGIN_API,
    PLUGIN_NAME,
    PROMPT_SLOT,
    TOOL_NAME,
    PlanModePlugin,
)

__all__ = [
    "EVENT_NAME",
    "LASH_PLUGIN_API",
    "MAX_STEPS",
    "PLUGIN_NAME",
    "PROMPT_SLOT",
    "TOOL_NAME",
    "Plan",
    "PlanModePlugin",
    "PlanStep",
    "StepStatus",
]
