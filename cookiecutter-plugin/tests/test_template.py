"""The plugin template tests itself: every kind renders, installs next to lash-core and passes
its own tests, and ``lash plugins`` lists it.

Each kind is rendered with ``cookiecutter --no-input`` (only ``kind`` given: the other answers
are the template's defaults). The quick tests read the rendered trees: names, files, metadata,
the plugin API range, lint. The slow ones install the five rendered plugins, with their
``test`` extras, into one fresh virtual environment together with this working tree's
lash-hookspecs, lash-core and lash-protocol-standard (plain path installs: pip builds wheels,
as it would from PyPI; the other dependencies come from the registry or pip's cache), run each
plugin's own test suite there, and read what that environment's ``lash plugins`` prints.

One environment serves every kind (creating and filling one costs most of the time); each
plugin is still installed as a distribution of its own and tested on its own. The
environment is made with ``--without-pip`` and filled by this interpreter's pip through
``pip --python``, which skips bootstrapping a second pip into it. Build isolation stays on:
nothing is installed with ``--no-build-isolation``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from lash_core.plugins.api import PLUGIN_API_VERSION
from lash_core.testing.conformance.provider import PROVIDER_SCENARIOS
from lash_core.testing.wire import load_scripts

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "cookiecutter-plugin"

KINDS = ("tool", "provider", "store", "protocol", "hooks")

# What each kind renders to with the default answers, and what `lash plugins` must list for it.
EXPECTED: dict[str, dict[str, Any]] = {
    "tool": {
        "dist": "lash-tool-word-count",
        "package": "lash_tool_word_count",
        "entry_point": "word_count",
        "hooks": ["register_tools"],
        "registered": {"tools": ["word_count"]},
        "files": ["tool.py", "settings.py"],
        "tests": ["test_tool.py"],
    },
    "provider": {
        "dist": "lash-provider-acme-chat",
        "package": "lash_provider_acme_chat",
        "entry_point": "acme_chat",
        "hooks": ["register_providers"],
        "registered": {"providers": ["acme_chat"]},
        "files": ["provider.py", "settings.py"],
        "tests": ["test_conformance.py", "test_provider.py"],
    },
    "store": {
        "dist": "lash-store-shared-memory",
        "package": "lash_store_shared_memory",
        "entry_point": "shared_memory",
        "hooks": ["register_stores"],
        "registered": {"stores": ["shared_memory"]},
        "files": ["store.py", "settings.py"],
        "tests": ["test_conformance.py", "test_store.py"],
    },
    "protocol": {
        "dist": "lash-protocol-bounded-tools",
        "package": "lash_protocol_bounded_tools",
        "entry_point": "bounded_tools",
        "hooks": ["register_protocols"],
        "registered": {"protocols": ["bounded_tools"]},
        "files": ["protocol.py", "settings.py"],
        "tests": ["test_protocol.py"],
    },
    "hooks": {
        "dist": "lash-hooks-turn-budget",
        "package": "lash_hooks_turn_budget",
        "entry_point": "turn_budget",
        "hooks": ["prepare_turn", "restore_state", "snapshot_state", "turn_persisted"],
        "registered": {},
        "files": ["state.py"],
        "tests": ["test_hooks.py"],
    },
}

COMMON_FILES = [
    ".github/workflows/publish.yml",
    ".github/workflows/tests.yml",
    ".gitignore",
    "CHANGELOG.md",
    "LICENSE",
    "README.md",
    "pyproject.toml",
    "tests/conftest.py",
    "tests/test_plugin.py",
]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for child processes: nothing that points at this virtual environment
    or filters lash's plugins."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")
        and not key.startswith(("LASH_", "PYTEST_", "COV_"))
    }
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


class Job:
    """A child process whose output goes to files (so several can run at once)."""

    def __init__(self, args: list[Any], *, cwd: Path | None, log: Path, env: Mapping[str, str]) -> None:
        self.args = [str(arg) for arg in args]
        self.stdout_path, self.stderr_path = log.with_suffix(".out"), log.with_suffix(".err")
        with self.stdout_path.open("w") as stdout, self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                self.args, cwd=cwd, env=clean_env(env), stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL
            )

    def wait(self, timeout: float = 600) -> tuple[int, str, str]:
        """The exit code, stdout and stderr (the process is killed after ``timeout`` seconds)."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = -9
        return code, self.stdout_path.read_text(), self.stderr_path.read_text()

    def output(self, timeout: float = 600) -> str:
        """Stdout; the test fails with the whole output when the process failed."""
        code, out, err = self.wait(timeout)
        if code != 0:
            pytest.fail(
                f"{' '.join(self.args)} exited {code}\n--- stdout\n{out[-6000:]}\n--- stderr\n{err[-6000:]}"
            )
        return out


def run(args: list[Any], *, log: Path, cwd: Path | None = None, timeout: float = 600, **env: str) -> str:
    """Run a command to its end; fail the test with its output when it fails. Returns stdout."""
    return Job(args, cwd=cwd, log=log, env=env).output(timeout)


def start_render(output: Path, *answers: str) -> Job:
    """Start ``cookiecutter --no-input`` of the template into ``output`` with ``key=value`` answers."""
    output.mkdir(parents=True, exist_ok=True)
    config = output / "cookiecutter-config.yaml"
    config.write_text(
        f"replay_dir: {output / 'replay'}\ncookiecutters_dir: {output / 'cookiecutters'}\n", encoding="utf-8"
    )
    args = [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", output, TEMPLATE, *answers]
    return Job(args, cwd=output, log=output / "cookiecutter", env={"COOKIECUTTER_CONFIG": str(config)})


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every kind rendered with the default answers (all at once): kind -> project directory."""
    output = tmp_path_factory.mktemp("rendered")
    jobs = {kind: start_render(output / kind, f"kind={kind}") for kind in KINDS}
    for job in jobs.values():
        job.output(timeout=120)
    return {kind: output / kind / EXPECTED[kind]["dist"] for kind in KINDS}


def assigned_string(path: Path, name: str) -> str:
    """The string a module assigns to ``name`` at top level."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            assert isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            return node.value.value
    raise AssertionError(f"{path} assigns no {name}")


# --- the rendered trees ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_kind_renders_its_files_and_only_them(kind: str, rendered: dict[str, Path]) -> None:
    """The common files, the kind's modules and tests; no other kind's, nothing unrendered."""
    project, expected = rendered[kind], EXPECTED[kind]
    package = f"src/{expected['package']}"
    files = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    wanted = [
        *COMMON_FILES,
        *(f"{package}/{name}" for name in ("__init__.py", "plugin.py", "py.typed", *expected["files"])),
        *(f"tests/{name}" for name in expected["tests"]),
    ]
    if kind == "provider":
        wanted += [f"tests/fixtures/conformance/{scenario}.json" for scenario in PROVIDER_SCENARIOS]
    assert files == sorted(wanted)
    for path in project.rglob("*"):
        if path.is_file():
            assert "cookiecutter" not in path.read_text(encoding="utf-8"), f"{path} is not fully rendered"
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@pytest.mark.parametrize("kind", KINDS)
def test_the_metadata_names_the_entry_point_and_lash_core(kind: str, rendered: dict[str, Path]) -> None:
    """pyproject.toml: the distribution, the ``lash`` entry point, a lash-core range that admits
    this lash-core, and a plugin API range in the plugin module that admits this kernel's."""
    project, expected = rendered[kind], EXPECTED[kind]
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["name"] == expected["dist"]
    assert meta["entry-points"] == {"lash": {expected["entry_point"]: f"{expected['package']}.plugin"}}
    (core,) = [Requirement(r) for r in meta["dependencies"] if Requirement(r).name == "lash-core"]
    assert core.specifier.contains(version("lash-core")), f"{core} excludes this lash-core"
    assert any(r.startswith("httpx") for r in meta["dependencies"]) == (kind == "provider")
    plugin_module = project / "src" / expected["package"] / "plugin.py"
    assert PLUGIN_API_VERSION in SpecifierSet(assigned_string(plugin_module, "LASH_PLUGIN_API"))
    assert assigned_string(plugin_module, "lash_plugin_name") == expected["entry_point"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_rendered_plugin_is_lint_clean(kind: str, rendered: dict[str, Path]) -> None:
    """ruff, with the rendered project's own configuration, finds nothing to fix or reformat."""
    project = rendered[kind]
    log = project.parent / "ruff"
    run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=project, log=log)
    run([sys.executable, "-m", "ruff", "format", "--no-cache", "--check", "."], cwd=project, log=log)


def test_the_provider_wire_scripts_cover_every_scenario(rendered: dict[str, Path]) -> None:
    """One valid wire script per conformance scenario of this lash-core."""
    scripts = load_scripts(rendered["provider"] / "tests" / "fixtures" / "conformance")
    assert sorted(scripts) == sorted(PROVIDER_SCENARIOS)


def test_names_derive_from_the_answers(tmp_path: Path) -> None:
    """The plugin name gives the entry point, classes and key variable; a given distribution
    name gives the package; the licence is the one chosen."""
    start_render(
        tmp_path,
        "kind=provider",
        "plugin_name=Weather Now",
        "dist_name=acme-weather",
        "license=MIT",
        "author=Ada Lovelace",
    ).output(timeout=120)
    project = tmp_path / "acme-weather"
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["entry-points"] == {"lash": {"weather_now": "acme_weather.plugin"}}
    assert meta["license"] == "MIT" and meta["authors"][0]["name"] == "Ada Lovelace"
    settings = (project / "src" / "acme_weather" / "settings.py").read_text(encoding="utf-8")
    assert "class WeatherNowSettings:" in settings and '"WEATHER_NOW_API_KEY"' in settings
    licence = (project / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License\n") and "Ada Lovelace" in licence


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [
        ("plugin_name=3 Tools", "must start with a letter"),
        ('description=say "hi"', "without double quotes"),
        ("dist_name=-bad-", "not a valid distribution name"),
    ],
)
def test_bad_answers_are_refused(tmp_path: Path, answer: str, complaint: str) -> None:
    """The pre-generation hook refuses names that would generate a broken plugin."""
    code, _, err = start_render(tmp_path, "kind=tool", answer).wait(timeout=120)
    assert code != 0
    assert complaint in err
    assert not [p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith("lash-")]


# --- installed in a fresh virtual environment -------------------------------------------------


@pytest.fixture(scope="module")
def fresh_venv(rendered: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment holding lash (from this working tree) and the five plugins."""
    where = tmp_path_factory.mktemp("venv")
    venv = where / "env"
    run([sys.executable, "-m", "venv", "--without-pip", venv], log=where / "venv")
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python"]
    run(
        [
            *pip,
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            ROOT / "hookspecs",
            ROOT,
            ROOT / "plugins" / "lash-protocol-standard",
            *(f"{rendered[kind]}[test]" for kind in KINDS),
        ],
        log=where / "pip",
        timeout=1200,
    )
    return venv


@pytest.fixture(scope="module")
def own_test_runs(rendered: dict[str, Path], fresh_venv: Path) -> dict[str, tuple[Job, Job]]:
    """Each plugin's test suite, and where its package is imported from, run in the fresh
    environment from the plugin's directory (all kinds at once)."""
    python = fresh_venv / "bin" / "python"
    runs = {}
    for kind in KINDS:
        project, package = rendered[kind], EXPECTED[kind]["package"]
        logs = project.parent
        where = Job(
            [python, "-c", f"import {package} as p; print(p.__file__)"],
            cwd=project,
            log=logs / "where",
            env={},
        )
        tests = Job(
            [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project, log=logs / "pytest", env={}
        )
        runs[kind] = (where, tests)
    for where, tests in runs.values():
        where.wait()
        tests.wait()
    return runs


@pytest.fixture(scope="module")
def lash_plugins(fresh_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """What the fresh environment's ``lash plugins`` prints, by plugin name."""
    cwd = tmp_path_factory.mktemp("cwd")
    out = run([fresh_venv / "bin" / "lash", "plugins"], cwd=cwd, log=cwd / "lash-plugins")
    return {entry["name"]: entry for entry in json.loads(out)}


@pytest.mark.parametrize("kind", KINDS)
def test_the_installed_plugin_passes_its_own_tests(
    kind: str, fresh_venv: Path, own_test_runs: dict[str, tuple[Job, Job]]
) -> None:
    """The plugin's test suite passes against the installed plugin (the ``src`` layout keeps the
    source tree off ``sys.path``), with lash-core installed from this working tree."""
    where, tests = own_test_runs[kind]
    assert Path(where.output().strip()).is_relative_to(fresh_venv)
    out = tests.output()
    assert " passed" in out and " failed" not in out and " error" not in out, out


@pytest.mark.parametrize("kind", KINDS)
def test_lash_plugins_lists_the_plugin(kind: str, lash_plugins: dict[str, dict[str, Any]]) -> None:
    """``lash plugins`` in the fresh environment lists the plugin, its distribution and version,
    its hooks and what it registered, without an error."""
    expected = EXPECTED[kind]
    entry = lash_plugins[expected["entry_point"]]
    assert "error" not in entry, entry["error"]
    assert entry["distribution"] == expected["dist"]
    assert entry["version"] == "0.1.0"
    assert entry["module"] == f"{expected['package']}.plugin"
    assert entry["hooks"] == expected["hooks"]
    assert entry["registered"] == expected["registered"]
