"""Building the system prompt from the session policy, contributions and the turn's layer.

The prompt is a list of slots. Slot ``base`` holds the session's system prompt (or the
turn layer's template); contributions land in their slots; a turn layer may replace or
clear slots. ``base`` renders first, then the other slots by name, each slot's
contributions by priority; empty slots are skipped. Contributions that name tools are
dropped unless one of those tools is in the catalog. Identical contributions count once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache

from lash_core.model import PromptContribution, PromptLayer

__all__ = ["build_system_prompt", "prompt_hash"]


def build_system_prompt(
    base: str,
    contributions: Iterable[PromptContribution],
    layers: Iterable[PromptLayer | None],
    catalog: frozenset[str],
) -> str:
    """Render the system prompt (see the module docs for the rules)."""
    slots: dict[str, list[tuple[int, str]]] = {"base": [(0, base)] if base else []}
    seen: set[tuple[str, int, str]] = set()
    all_contributions = list(contributions)
    replace: dict[str, str] = {}
    clear: set[str] = set()
    for layer in layers:
        if layer is None:
            continue
        if layer.template is not None:
            slots["base"] = [(0, layer.template)] if layer.template else []
        all_contributions.extend(layer.contributions)
        replace.update(layer.replace_slots)
        clear.update(layer.clear_slots)
    for contribution in all_contributions:
        if contribution.tools and not catalog.intersection(contribution.tools):
            continue
        key = (contribution.slot, contribution.priority, contribution.content.strip())
        if key in seen or not key[2]:
            continue
        seen.add(key)
        slots.setdefault(contribution.slot, []).append((contribution.priority, contribution.content.strip()))
    for slot, text in replace.items():
        slots[slot] = [(0, text)]
    for slot in clear:
        slots.pop(slot, None)
    ordered = ["base", *sorted(s for s in slots if s != "base")]
    sections = []
    for slot in ordered:
        entries = slots.get(slot)
        if entries:
            sections.append("\n\n".join(text for _, text in sorted(entries, key=lambda e: e[0])))
    return "\n\n".join(sections)


@lru_cache(maxsize=256)
def prompt_hash(system_prompt: str) -> str:
    """sha256 of the rendered system prompt (cached: prompts rarely change between turns)."""
    return hashlib.sha256(system_prompt.encode()).hexdigest()
