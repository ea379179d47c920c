"""The examples in docs/ run and print what they promise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_streamed_tool_turn_example_prints_activities_outcome_and_usage(tmp_path: Path) -> None:
    """docs/examples/streamed_tool_turn.py streams a tool turn and prints outcome and usage."""
    script = ROOT / "docs" / "examples" / "streamed_tool_turn.py"
    env = {**os.environ, "LASH_DATA_DIR": str(tmp_path)}  # its traces go here, not to the home directory
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True, env=env
    )
    lines = done.stdout.splitlines()
    activities = [json.loads(line.split(" ", 1)[1]) for line in lines if line.startswith("activity ")]
    kinds = [a["event"]["type"] for a in activities]
    assert kinds[0] == "model_request_started"
    assert kinds.index("tool_call_started") < kinds.index("tool_call_completed")
    completed = next(a for a in activities if a["event"]["type"] == "tool_call_completed")
    assert completed["event"]["output"]["outcome"] == {"type": "success", "value": 42}
    outcome = json.loads(next(line for line in lines if line.startswith("outcome ")).split(" ", 1)[1])
    assert outcome == {
        "type": "finished",
        "finish": {"type": "assistant_message", "text": "tool add returned: 42"},
    }
    usage = json.loads(next(line for line in lines if line.startswith("usage ")).split(" ", 1)[1])
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
