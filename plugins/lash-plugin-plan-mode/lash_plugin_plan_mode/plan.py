"""The plan: its steps, their checks, its JSON form and how the model is shown it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from attrs import field, frozen

__all__ = ["MAX_STEPS", "STATUSES", "Plan", "PlanStep", "StepStatus", "plan_problem"]

StepStatus = Literal["pending", "in_progress", "completed"]
"""Where a step stands."""

STATUSES: tuple[str, ...] = ("pending", "in_progress", "completed")
MAX_STEPS = 100
"""The most steps a plan may have (keeps the prompt contribution bounded)."""


@frozen
class PlanStep:
    """One step of the plan."""

    step: Annotated[str, "What this step does, in a short sentence."]
    status: Annotated[StepStatus, "pending, in_progress (at most one step) or completed."]

    def to_json(self) -> dict[str, str]:
        """The step as JSON data."""
        return {"step": self.step, "status": self.status}


@frozen
class Plan:
    """A session's plan: its steps in order, the explanation of its last update and a revision
    counting its changes (1 for the first plan)."""

    steps: tuple[PlanStep, ...] = ()
    explanation: str | None = None
    revision: int = field(default=0)

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON data (what is committed and put in events)."""
        return {
            "steps": [step.to_json() for step in self.steps],
            "explanation": self.explanation,
            "revision": self.revision,
        }

    @classmethod
    def from_json(cls, data: Any) -> Plan:
        """Read a plan written by :meth:`to_json`; raises ``ValueError`` when it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise ValueError(f"not a plan: {data!r}")
        steps = []
        for item in data["steps"]:
            if not isinstance(item, dict) or not isinstance(item.get("step"), str):
                raise ValueError(f"not a plan step: {item!r}")
            if item.get("status") not in STATUSES:
                raise ValueError(f"unknown step status in {item!r}")
            steps.append(PlanStep(item["step"], item["status"]))
        explanation = data.get("explanation")
        revision = data.get("revision", 0)
        return cls(
            tuple(steps),
            explanation if isinstance(explanation, str) else None,
            revision if isinstance(revision, int) else 0,
        )

    def counts(self) -> dict[str, int]:
        """How many steps have each status."""
        return {status: sum(1 for step in self.steps if step.status == status) for status in STATUSES}

    def render(self) -> str:
        """The plan as the system prompt shows it."""
        lines = ["## Current plan", "Keep it up to date with `update_plan` as you work."]
        lines.extend(f"{index}. [{step.status}] {step.step}" for index, step in enumerate(self.steps, 1))
        if self.explanation:
            lines.append(f"Last update: {self.explanation}")
        return "\n".join(lines)


def plan_problem(steps: tuple[PlanStep, ...]) -> str | None:
    """Why ``steps`` is not a valid plan (for the model to act on), or ``None`` when it is."""
    if len(steps) > MAX_STEPS:
        return f"a plan has at most {MAX_STEPS} steps, got {len(steps)}; merge related steps"
    for index, step in enumerate(steps, 1):
        if not step.step.strip():
            return f"step {index} has no text; describe what the step does"
    running = [index for index, step in enumerate(steps, 1) if step.status == "in_progress"]
    if len(running) > 1:
        listed = ", ".join(str(index) for index in running)
        return (
            f"at most one step may be in_progress, got steps {listed}; mark the others pending or completed"
        )
    return None
