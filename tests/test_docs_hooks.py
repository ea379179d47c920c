"""docs/hooks.md documents every hook specification exactly, and every example on it runs.

The specifications are discovered from the modules of ``lash_hookspecs`` by pluggy's
``lash_spec`` marker. Each must have a ``### <name>`` section under the heading of its family
(``## Registration hooks`` or ``## Turn-phase hooks``) holding: the signature, a bare fenced
block ``def <name>(<params>)`` matching ``inspect.signature`` of the spec; a ``**Calling:**``
line naming the spec's ``lash_calling`` convention and an ``**Async:**`` line saying yes or no
as ``lash_async`` says; and one ``python`` example implementing the hook and defining
``async def main()``, which is executed on asyncio. A ``###`` heading naming no spec fails.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest
from attrs import frozen

import lash_hookspecs

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "hooks.md"
MARKER = f"{lash_hookspecs.PROJECT_NAME}_spec"
FAMILY_HEADINGS = {
    "lash_hookspecs.registration": "Registration hooks",
    "lash_hookspecs.turn_phases": "Turn-phase hooks",
}
"""The ``##`` heading the sections of each hookspec module's specs belong under."""

FENCE = re.compile(r"^```(\S*)\s*$")
SIGNATURE = re.compile(r"^def (\w+)\((.*)\)$")
CALLING = re.compile(r"^- \*\*Calling:\*\* `(\w+)`", re.MULTILINE)
ASYNC = re.compile(r"^- \*\*Async:\*\* (yes|no)\b", re.MULTILINE)


# --------------------------------------------------------------------------- the specifications


def spec_modules() -> list[ModuleType]:
    """``lash_hookspecs`` and every module in it."""
    modules = [lash_hookspecs]
    for info in pkgutil.iter_modules(lash_hookspecs.__path__, f"{lash_hookspecs.__name__}."):
        modules.append(importlib.import_module(info.name))
    return modules


def discover_specs() -> dict[str, Any]:
    """Every function carrying pluggy's ``lash_spec`` marker, by name (defined in, not
    imported into, the module that declares it)."""
    found: dict[str, Any] = {}
    for module in spec_modules():
        for name, fn in vars(module).items():
            if inspect.isfunction(fn) and fn.__module__ == module.__name__ and hasattr(fn, MARKER):
                assert name not in found, f"hookspec {name!r} is declared twice"
                found[name] = fn
    return found


SPECS = discover_specs()
SPEC_NAMES = sorted(SPECS)


def spec_signature(fn: Callable[..., Any]) -> str:
    """``def <name>(<params>)`` as the spec declares it: parameter names in order."""
    prefixes = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    params = [prefixes.get(p.kind, "") + p.name for p in inspect.signature(fn).parameters.values()]
    return f"def {fn.__name__}({', '.join(params)})"


# --------------------------------------------------------------------------- the page


@frozen
class Block:
    """A fenced block: its info string, its text and the page line of its first text line."""

    info: str
    code: str
    line: int


@frozen
class Section:
    """A ``### <name>`` section: the ``##`` heading above it, its heading line, its text and blocks."""

    name: str
    family: str
    line: int
    body: str
    blocks: tuple[Block, ...]


@frozen
class Page:
    """The sections of the page by name, and the names headed more than once."""

    sections: dict[str, Section]
    duplicates: tuple[str, ...]


def parse_page(text: str) -> Page:
    """The ``###`` sections of a Markdown page (headings inside fenced blocks do not count)."""
    lines = text.splitlines()
    headings: list[tuple[str, str, int]] = []  # (name, family, index of the heading line)
    family = ""
    in_fence = False
    for index, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if line.startswith("## "):
            family = line[3:].strip()
            headings.append(("", family, index))  # a ## heading ends the section above it
        elif line.startswith("### "):
            headings.append((line[4:].strip(), family, index))
    sections: dict[str, Section] = {}
    duplicates: list[str] = []
    for position, (name, section_family, start) in enumerate(headings):
        if not name:
            continue
        end = headings[position + 1][2] if position + 1 < len(headings) else len(lines)
        body = lines[start + 1 : end]
        section = Section(name, section_family, start + 1, "\n".join(body), blocks_of(body, start + 2))
        if name in sections:
            duplicates.append(name)
        sections.setdefault(name, section)
    return Page(sections, tuple(duplicates))


def blocks_of(lines: list[str], first_line: int) -> tuple[Block, ...]:
    """The fenced blocks of ``lines``; ``first_line`` is the page line number of ``lines[0]``."""
    blocks = []
    opened: tuple[str, int] | None = None
    for index, line in enumerate(lines):
        match = FENCE.match(line)
        if match is None:
            continue
        if opened is None:
            opened = (match.group(1), index)
        else:
            info, start = opened
            blocks.append(Block(info, "\n".join(lines[start + 1 : index]), first_line + start + 1))
            opened = None
    return tuple(blocks)


@functools.cache
def page() -> Page:
    """The parsed hook reference."""
    return parse_page(DOC.read_text(encoding="utf-8"))


def section(name: str) -> Section:
    """The section of hook ``name``; fails the test when the page has none."""
    found = page().sections.get(name)
    if found is None:
        pytest.fail(f"{DOC.name} has no '### {name}' section for the hookspec {name!r}")
    return found


def example(name: str) -> Block:
    """The section's one ``python`` block, which must define ``async def main``."""
    blocks = [block for block in section(name).blocks if block.info == "python"]
    assert len(blocks) == 1, (
        f"{DOC.name}, '### {name}': expected exactly one ```python example, found {len(blocks)}"
    )
    return blocks[0]


# --------------------------------------------------------------------------- structure


def test_specs_are_discovered() -> None:
    """The marker scan finds every listed hook in both families (guards the discovery itself)."""
    listed = {*lash_hookspecs.REGISTRATION_HOOKS, *lash_hookspecs.TURN_PHASE_HOOKS}
    assert listed <= set(SPECS), f"discovery missed {sorted(listed - set(SPECS))}"
    modules = {fn.__module__ for fn in SPECS.values()}
    assert modules == set(FAMILY_HEADINGS), (
        f"hookspec modules {sorted(modules)} differ from the families this test knows "
        f"({sorted(FAMILY_HEADINGS)}): give the new module a heading in {DOC.name} and in FAMILY_HEADINGS"
    )


def test_page_parses() -> None:
    """The page has a section per hook, each headed once (guards the parser itself)."""
    assert len(page().sections) >= len(SPECS)
    assert not page().duplicates, f"{DOC.name} heads these sections twice: {list(page().duplicates)}"


def test_every_documented_hook_exists() -> None:
    """Every ``###`` section names a hook that a hookspec declares."""
    stale = {name: s.line for name, s in page().sections.items() if name not in SPECS}
    assert not stale, (
        f"{DOC.name} documents hooks no hookspec declares (name: line): {stale}; remove or rename them"
    )


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_section_is_under_its_family(name: str) -> None:
    """A hook's section sits under the ``##`` heading of its hookspec module's family."""
    expected = FAMILY_HEADINGS.get(SPECS[name].__module__)
    assert expected is not None, f"no family heading is known for {SPECS[name].__module__}"
    found = section(name)
    assert found.family == expected, (
        f"{DOC.name}:{found.line}: '### {name}' is under '## {found.family}', not '## {expected}'"
    )


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_section_signature_matches_spec(name: str) -> None:
    """The section's first fenced block is bare and holds exactly the spec's signature."""
    found = section(name)
    assert found.blocks, f"{DOC.name}:{found.line}: '### {name}' has no signature block"
    block = found.blocks[0]
    assert block.info == "", (
        f"{DOC.name}:{block.line}: the signature of {name!r} must be the section's first block, "
        f"fenced without a language (found ```{block.info})"
    )
    documented = block.code.strip()
    assert SIGNATURE.match(documented), (
        f"{DOC.name}:{block.line}: {documented!r} is not a 'def <name>(<params>)' line"
    )
    expected = spec_signature(SPECS[name])
    assert documented == expected, (
        f"{DOC.name}:{block.line}: documented signature {documented!r} differs from the spec's {expected!r}"
    )


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_section_states_calling_and_async(name: str) -> None:
    """The section names the spec's calling convention and says whether it may be async."""
    spec = SPECS[name]
    found = section(name)
    calling = CALLING.search(found.body)
    assert calling is not None, f"{DOC.name}:{found.line}: '### {name}' has no '- **Calling:** `...`' line"
    assert calling.group(1) == spec.lash_calling, (
        f"{DOC.name}: '### {name}' says calling {calling.group(1)!r}, the spec says {spec.lash_calling!r}"
    )
    answer = ASYNC.search(found.body)
    assert answer is not None, f"{DOC.name}:{found.line}: '### {name}' has no '- **Async:** yes|no' line"
    expected = "yes" if spec.lash_async else "no"
    assert answer.group(1) == expected, (
        f"{DOC.name}: '### {name}' says async {answer.group(1)!r}, the spec's lash_async says {expected!r}"
    )


# --------------------------------------------------------------------------- examples


def hook_implementations(tree: ast.Module, name: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Functions named ``name`` decorated with ``hookimpl`` (bare or called) anywhere in ``tree``."""

    def is_hookimpl(decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return (isinstance(target, ast.Name) and target.id == "hookimpl") or (
            isinstance(target, ast.Attribute) and target.attr == "hookimpl"
        )

    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name == name
        and any(is_hookimpl(d) for d in node.decorator_list)
    ]


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_example_runs(name: str) -> None:
    """The section's example implements the hook, asserts something, and its ``main`` runs on asyncio."""
    block = example(name)
    where = f"{DOC.name}:{block.line}"
    # Pad with blank lines so tracebacks and syntax errors point at the page's own line numbers.
    source = "\n" * (block.line - 1) + block.code + "\n"
    tree = ast.parse(source, filename=str(DOC))
    impls = hook_implementations(tree, name)
    assert impls, f"{where}: the example of {name!r} defines no @hookimpl function named {name!r}"
    if not SPECS[name].lash_async:
        assert not any(isinstance(f, ast.AsyncFunctionDef) for f in impls), (
            f"{where}: {name!r} may not be async, but the example implements it with async def"
        )
    assert any(isinstance(node, ast.Assert) for node in ast.walk(tree)), (
        f"{where}: the example asserts nothing"
    )
    namespace: dict[str, Any] = {"__name__": f"docs_hooks_{name}"}
    exec(compile(tree, str(DOC), "exec"), namespace)
    main = namespace.get("main")
    assert inspect.iscoroutinefunction(main), f"{where}: the example defines no 'async def main()'"
    anyio.run(main, backend="asyncio")
