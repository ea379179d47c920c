"""The lash data model: attrs classes, frozen where persisted, tagged unions by ``type``.

Every class is re-exported here; the converter in :mod:`lash_core.converter` owns how
they are written to and read from JSON.
"""

from __future__ import annotations

import attrs

from lash_core.model import tools as _tools
from lash_core.model.assembled import (
    AssembledTurn,
    AssistantOutput,
    ExecutionSummary,
    OutputState,
    TurnIssue,
)
from lash_core.model.events import *  # noqa: F403
from lash_core.model.events import __all__ as _events_all
from lash_core.model.frames import AgentFrameRecord, FrameStatus, initial_frame_id
from lash_core.model.input import *  # noqa: F403
from lash_core.model.input import __all__ as _input_all
from lash_core.model.llm import *  # noqa: F403
from lash_core.model.llm import __all__ as _llm_all
from lash_core.model.messages import *  # noqa: F403
from lash_core.model.messages import __all__ as _messages_all
from lash_core.model.outcome import *  # noqa: F403
from lash_core.model.outcome import __all__ as _outcome_all
from lash_core.model.outcome import outcome_status
from lash_core.model.policy import ModelSpec, SessionPolicy
from lash_core.model.tools import *  # noqa: F403
from lash_core.model.tools import __all__ as _tools_all
from lash_core.model.usage import *  # noqa: F403
from lash_core.model.usage import __all__ as _usage_all

attrs.resolve_types(
    _tools.SwitchAgentFrameControl,
    globalns={**vars(_tools), "Message": Message},  # noqa: F405
)

__all__ = sorted(
    [
        "AgentFrameRecord",
        "AssembledTurn",
        "AssistantOutput",
        "ExecutionSummary",
        "FrameStatus",
        "ModelSpec",
        "OutputState",
        "SessionPolicy",
        "TurnIssue",
        "initial_frame_id",
        "outcome_status",
        *_events_all,
        *_input_all,
        *_llm_all,
        *_messages_all,
        *_outcome_all,
        *_tools_all,
        *_usage_all,
    ]
)
