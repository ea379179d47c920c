"""Meta-tests of the hook specifications: documented, consistent, and each one tested."""

from __future__ import annotations

import ast
import functools
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import lash_hookspecs
from lash_hookspecs import registration, turn_phases

SECTIONS = ("When", "Args", "Returns", "Calling", "Async", "Errors")
SECTION_RE = re.compile(rf"^\s*({'|'.join(SECTIONS)}):", re.MULTILINE)
TESTS_DIR = Path(__file__).parent


def declared_specs(module: ModuleType) -> dict[str, object]:
    """Every function of ``module`` carrying pluggy's ``lash`` spec marker."""
    marker = f"{lash_hookspecs.PROJECT_NAME}_spec"
    return {
        name: fn
        for name, fn in vars(module).items()
        if inspect.isfunction(fn) and getattr(fn, marker, None) is not None
    }


DECLARED = {**declared_specs(registration), **declared_specs(turn_phases)}
LISTED = (*lash_hookspecs.REGISTRATION_HOOKS, *lash_hookspecs.TURN_PHASE_HOOKS)
ALL_HOOKS = sorted(set(DECLARED) | set(LISTED))


def sections(doc: str) -> dict[str, str]:
    """The docstring's ``Name:`` sections, each mapped to its text."""
    matches = list(SECTION_RE.finditer(doc))
    found = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(doc)
        found[match.group(1)] = doc[match.end() : end].strip()
    return found


def spec(name: str) -> object:
    """The spec function ``name``; fails the test when no module declares it."""
    if name not in DECLARED:
        pytest.fail(f"hook {name!r} is listed in HOOKS but no @hookspec function declares it")
    return DECLARED[name]


def test_specs_found() -> None:
    """The modules declare the expected number of specs (guards the discovery itself)."""
    assert len(declared_specs(registration)) == 7
    assert len(declared_specs(turn_phases)) == 14


def test_declared_specs_are_listed() -> None:
    """Every declared spec is listed in REGISTRATION_HOOKS or TURN_PHASE_HOOKS, and vice versa."""
    assert set(declared_specs(registration)) == set(lash_hookspecs.REGISTRATION_HOOKS)
    assert set(declared_specs(turn_phases)) == set(lash_hookspecs.TURN_PHASE_HOOKS)
    assert len(LISTED) == len(set(LISTED)), "a hook is listed twice"


@pytest.mark.parametrize("name", ALL_HOOKS)
def test_spec_docstring_has_every_section(name: str) -> None:
    """A spec's docstring has the When/Args/Returns/Calling/Async/Errors sections, each non-empty."""
    doc = inspect.getdoc(spec(name)) or ""
    found = sections(doc)
    missing = [section for section in SECTIONS if section not in found]
    assert not missing, f"hookspec {name!r} lacks docstring sections: {missing}"
    empty = [section for section in SECTIONS if not found[section]]
    assert not empty, f"hookspec {name!r} has empty docstring sections: {empty}"


@pytest.mark.parametrize("name", ALL_HOOKS)
def test_spec_calling_section_names_convention(name: str) -> None:
    """The ``Calling:`` section starts by naming the spec's ``lash_calling`` convention."""
    fn = spec(name)
    convention = getattr(fn, "lash_calling", None)
    assert convention in lash_hookspecs.CALLING_CONVENTIONS, f"{name!r} has no valid lash_calling"
    calling = sections(inspect.getdoc(fn) or "").get("Calling", "")
    first_word = re.match(r"[a-z_]+", calling)
    assert first_word is not None and first_word.group(0) == convention, (
        f"hookspec {name!r}: Calling section {calling!r} does not name its convention {convention!r}"
    )


@pytest.mark.parametrize("name", ALL_HOOKS)
def test_spec_async_section_matches_flag(name: str) -> None:
    """The ``Async:`` section says yes exactly when ``lash_async`` allows async implementations."""
    fn = spec(name)
    may_be_async = getattr(fn, "lash_async", None)
    assert isinstance(may_be_async, bool), f"{name!r} has no lash_async flag"
    answer = sections(inspect.getdoc(fn) or "").get("Async", "")
    assert answer.lower().startswith("yes" if may_be_async else "no"), (
        f"hookspec {name!r}: Async section {answer!r} contradicts lash_async={may_be_async}"
    )


def test_registration_hooks_are_sync_register_convention() -> None:
    """Registration specs use the ``register`` convention and are synchronous."""
    for name in lash_hookspecs.REGISTRATION_HOOKS:
        fn = spec(name)
        assert getattr(fn, "lash_calling", None) == "register", name
        assert getattr(fn, "lash_async", None) is False, name


def test_functions_defined_under_tests() -> None:
    """The ast scan finds this very module's functions (guards the discovery itself)."""
    assert "test_functions_defined_under_tests" in defined_function_names()


@functools.cache
def defined_function_names() -> frozenset[str]:
    """Names of every function defined in a Python file under ``tests/``."""
    names: set[str] = set()
    for path in TESTS_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
    return frozenset(names)


@pytest.mark.parametrize("name", ALL_HOOKS)
def test_every_hook_has_a_test(name: str) -> None:
    """A test function named ``test_hook_<name>`` exists somewhere under ``tests/``."""
    assert f"test_hook_{name}" in defined_function_names(), f"no test named test_hook_{name} under tests/"
