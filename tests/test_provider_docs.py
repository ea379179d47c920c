"""The runnable example in docs/providers.md replays a wire script through the OpenAI provider."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_replay_example_in_the_provider_docs_runs() -> None:
    """The first Python block of docs/providers.md runs offline and prints the answer."""
    text = (ROOT / "docs" / "providers.md").read_text(encoding="utf-8")
    block = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    done = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "Hi! stop"
