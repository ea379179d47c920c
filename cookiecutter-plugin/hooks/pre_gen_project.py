"""Refuse names that would generate a broken plugin, before anything is written.

Cookiecutter renders this file with the answers, so the checks see the final names.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

# Each answer as JSON in a raw, single-quoted string (``tojson`` escapes single quotes), so
# this file is valid Python before and after rendering, whatever the answers contain; the
# formatter must leave the quotes alone.
# fmt: off
KIND = json.loads(r'{{ cookiecutter.kind|tojson }}')
DIST_NAME = json.loads(r'{{ cookiecutter.dist_name|tojson }}')
PACKAGE_NAME = json.loads(r'{{ cookiecutter.package_name|tojson }}')
ENTRY_POINT_NAME = json.loads(r'{{ cookiecutter.entry_point_name|tojson }}')
CLASS_PREFIX = json.loads(r'{{ cookiecutter.__class_prefix|tojson }}')
PLUGIN_NAME = json.loads(r'{{ cookiecutter.plugin_name|tojson }}')
DESCRIPTION = json.loads(r'{{ cookiecutter.description|tojson }}')
AUTHOR = json.loads(r'{{ cookiecutter.author|tojson }}')
# fmt: on

KINDS = ("tool", "provider", "store", "protocol", "hooks")
# PEP 508 distribution names: letters, digits, '.', '_' and '-', starting and ending alphanumeric.
DIST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
# Entry-point names end up as plugin names, registered names, settings tables and (for a tool)
# the tool's function name: keep them lower-case identifiers.
ENTRY_POINT_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def problems() -> list[str]:
    """What is wrong with the answers (empty: nothing)."""
    found = []
    if KIND not in KINDS:
        found.append(f"kind {KIND!r} is not one of {', '.join(KINDS)}")
    if not CLASS_PREFIX.isidentifier():
        found.append(
            f"plugin_name {PLUGIN_NAME!r} must start with a letter: class names are made from it "
            f"(got {CLASS_PREFIX!r})"
        )
    if not DIST_RE.match(DIST_NAME):
        found.append(
            f"dist_name {DIST_NAME!r} is not a valid distribution name (letters, digits, '.', '_', '-')"
        )
    if not PACKAGE_NAME.isidentifier() or keyword.iskeyword(PACKAGE_NAME) or not PACKAGE_NAME.islower():
        found.append(f"package_name {PACKAGE_NAME!r} is not a lower-case Python identifier")
    if PACKAGE_NAME in ("lash", "lash_core", "lash_hookspecs") or PACKAGE_NAME.startswith("lash_core"):
        found.append(f"package_name {PACKAGE_NAME!r} would shadow lash's own packages")
    if not ENTRY_POINT_RE.match(ENTRY_POINT_NAME) or keyword.iskeyword(ENTRY_POINT_NAME):
        found.append(
            f"entry_point_name {ENTRY_POINT_NAME!r} must be a lower-case identifier of at most 64 "
            "characters (letters, digits, '_'), starting with a letter"
        )
    # The answers are written into docstrings, TOML strings and Markdown as they are.
    for name, value in (("plugin_name", PLUGIN_NAME), ("description", DESCRIPTION), ("author", AUTHOR)):
        if not value.strip() or any(c in value for c in '"\\\n'):
            found.append(f"{name} must be one non-empty line without double quotes or backslashes")
    return found


def main() -> int:
    """Print every problem and fail, or succeed silently."""
    found = problems()
    for problem in found:
        print(f"lash plugin template: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
