"""Context compaction for lash: summarize a long context into a new agent frame before a turn."""

from lash_plugin_compaction.plugin import (
    EVENT_NAME,
    FRAME_REASON,
    LASH_PLUGIN_API,
    PLUGIN_NAME,
    USAGE_SOURCE,
    CompactionPlugin,
    compaction_frame_id,
    prompt_tokens,
)
from lash_plugin_compaction.settings import (
    DEFAULT_INSTRUCTIONS,
    DEFAULT_THRESHOLD,
    SUMMARY_HEADER,
    CompactionSettings,
)

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "DEFAULT_THRESHOLD",
    "EVENT_NAME",
    "FRAME_REASON",
    "LASH_PLUGIN_API",
    "PLUGIN_NAME",
    "SUMMARY_HEADER",
    "USAGE_SOURCE",
    "CompactionPlugin",
    "CompactionSettings",
    "compaction_frame_id",
    "prompt_tokens",
]
