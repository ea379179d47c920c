"""Keep the files of the chosen kind and drop the others.

The template holds every kind under ``_kinds/<kind>/``, laid out like the project itself;
the chosen kind's tree is merged into the project and ``_kinds/`` removed.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

# The answer as JSON in a raw, single-quoted string (``tojson`` escapes single quotes): valid
# Python before and after rendering; the formatter must leave the quotes alone.
KIND = json.loads(r'{{ cookiecutter.kind|tojson }}')  # fmt: skip


def merge(source: Path, target: Path) -> None:
    """Move every file under ``source`` to the same relative place under ``target``."""
    for path in sorted(source.rglob("*")):
        if path.is_file():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), destination)


def main() -> int:
    """Merge ``_kinds/<kind>`` into the project (the current directory)."""
    project = Path.cwd()
    kinds = project / "_kinds"
    chosen = kinds / KIND
    if not chosen.is_dir():
        print(f"lash plugin template: no files for kind {KIND!r}", file=sys.stderr)
        return 1
    merge(chosen, project)
    shutil.rmtree(kinds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
