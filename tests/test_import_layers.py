"""The package's layers, and what importing one module costs.

The layers, each importing only from itself and the ones it names (``docs/architecture.md``):

* the ground floor: ``events``, ``errors``, ``messages``, ``chat_stream``, ``transcript``,
  ``config``, ``journal_settings`` and ``ui_settings`` (settings as data), ``request_record``,
  ``redis_client`` and ``throttled_log`` (shared by the server and the journal) and ``_lazy``;
  and ``sse/``, which imports nothing of aichatflow outside itself, so it can be used alone
  the way httpx-sse is;
* ``providers/``: upstream APIs → ``ChatEvent`` (no stream engine, no dialect, no server);
* ``dialects/``: ``ChatEvent`` → bytes; ``stream/``: the engine, which writes dialects;
* ``store/``: stored conversations (only the ground floor below it);
* ``journal/``: runs that outlive their connection, streamed by the engine into a journal;
* ``server/``, then ``cli``.

An import from a higher layer is what made ``import aichatflow.sse.decode`` load Starlette and
the engine; the package ``__init__`` files load lazily (``aichatflow/_lazy.py``) for the same
reason. Imports are read from the source (every ``import``, in functions and under
``TYPE_CHECKING`` too), and the costs are measured in fresh interpreters.
"""

from __future__ import annotations

import ast
import functools
import gc
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import aichatflow

SRC = Path(aichatflow.__file__).parent
GROUND = {
    "events",
    "errors",
    "error_codes",
    "redaction",
    "messages",
    "chat_stream",
    "transcript",
    "config",
    "journal_settings",
    "ui_settings",
    "request_record",
    "redis_client",
    "throttled_log",
    "_lazy",
}
MAY_IMPORT = {
    "ground": {"ground"},
    "sse": {"sse"},
    "providers": {"ground", "sse", "providers"},
    "dialects": {"ground", "sse", "dialects"},
    "stream": {"ground", "sse", "dialects", "stream"},
    "store": {"ground", "store"},
    "journal": {"ground", "sse", "dialects", "stream", "journal"},
    "server": {"ground", "sse", "providers", "dialects", "stream", "journal", "store", "server"},
    "cli": {
        *("ground", "sse", "providers", "dialects", "stream", "journal", "store", "server"),
        "cli",
    },
}


def _module_name(path: Path) -> str:
    parts = ["aichatflow", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str | None:
    """The layer of an ``aichatflow`` module; None for the root facade and ``__main__``."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    top = parts[1]
    if top in GROUND:
        return "ground"
    if top in ("cli", "__main__"):
        return "cli"
    return top if top in MAY_IMPORT else "unknown"


def _imports(path: Path) -> set[str]:
    """Every aichatflow module ``path`` imports (``from x import name`` counts as ``x.name``
    when that is a module, else as ``x``)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                as_file = SRC.joinpath(*candidate.split(".")[1:])
                is_module = as_file.with_suffix(".py").is_file() or as_file.is_dir()
                found.add(candidate if is_module else target)
    return {m for m in found if m == "aichatflow" or m.startswith("aichatflow.")}


@functools.cache
def _edges() -> list[tuple[str, str]]:
    """(importer, imported) for every import in the package, parsed once per session."""
    # Python 3.11.7 raises a spurious SystemError ("AST constructor recursion depth mismatch",
    # CPython gh-106905, fixed in 3.11.8) when a garbage collection inside ast.parse runs a
    # finalizer that formats a traceback, itself with ast.parse: earlier tests leave leaked
    # sockets whose ResourceWarnings pytest formats that way. Collect them before parsing.
    gc.collect()
    return sorted(
        (_module_name(path), target) for path in SRC.rglob("*.py") for target in _imports(path)
    )


def test_every_module_has_a_layer() -> None:
    unknown = {m for m, _ in _edges() if _layer(m) == "unknown"}
    assert not unknown, f"add these to a layer in this test and docs/architecture.md: {unknown}"


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    wrong = []
    for importer, target in _edges():
        mine, theirs = _layer(importer), _layer(target)
        if mine is None or mine == "sse":  # the root facade; sse has its own test below
            continue
        if theirs is None or theirs not in MAY_IMPORT[mine]:
            wrong.append(f"{importer} ({mine}) imports {target} ({theirs})")
    assert not wrong, "\n".join(wrong)


def test_sse_imports_nothing_of_aichatflow_outside_itself() -> None:
    leaks = {
        (importer, target)
        for importer, target in _edges()
        if _layer(importer) == "sse" and _layer(target) != "sse"
    }
    assert not leaks, leaks


def test_the_layer_scan_sees_imports() -> None:
    """The scan itself: relative, nested and ``from package import module`` imports."""
    edges = set(_edges())
    assert ("aichatflow.server.app", "aichatflow.providers.build") in edges
    assert ("aichatflow.stream", "aichatflow.chat_stream") in edges  # under TYPE_CHECKING
    assert ("aichatflow.cli", "aichatflow.server.workers") in edges  # inside a function
    assert ("aichatflow.providers.local", "aichatflow.providers.local._model") in edges


LAZY_PACKAGES = [
    "aichatflow",
    "aichatflow.stream",
    "aichatflow.dialects",
    "aichatflow.server",
    "aichatflow.store",
    "aichatflow.providers",
    "aichatflow.providers.openai_compat",
    "aichatflow.providers.anthropic",
    "aichatflow.providers.gemini",
    "aichatflow.providers.ollama",
    "aichatflow.providers.local",
]


def _type_checking_imports(path: Path) -> dict[str, list[str]]:
    """module → names of the relative imports under ``if TYPE_CHECKING:``."""
    out: dict[str, list[str]] = {}
    gc.collect()  # see _edges
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                if isinstance(imp, ast.ImportFrom) and imp.level:
                    module = "." * imp.level + (imp.module or "")
                    out[module] = [alias.name for alias in imp.names]
    return out


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_lazy_names_are_what_type_checkers_see(name: str) -> None:
    """What mypy reads (the ``TYPE_CHECKING`` imports) is what runs (``_EXPORTS``), and every
    name of ``__all__`` is the defining module's own object."""
    package = importlib.import_module(name)
    assert package.__file__ is not None
    assert _type_checking_imports(Path(package.__file__)) == package._EXPORTS
    for module, names in package._EXPORTS.items():
        defining = importlib.import_module(module, name)
        for attr in names:
            assert getattr(package, attr) is getattr(defining, attr), (name, attr)
    for attr in package.__all__:
        assert hasattr(package, attr), (name, attr)
        assert attr in dir(package)
    with pytest.raises(AttributeError, match="no attribute 'Absent'"):
        package.Absent  # noqa: B018


HEAVY = ("starlette", "uvicorn", "aiohttp", "pydantic", "click")


def _loaded_after(statement: str) -> set[str]:
    """Top-level packages and aichatflow modules in ``sys.modules`` after ``statement`` runs in
    a fresh interpreter."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    modules = json.loads(run.stdout)
    return {m.split(".")[0] for m in modules} | {m for m in modules if m.startswith("aichatflow")}


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        ("import aichatflow.events", HEAVY),
        ("import aichatflow.sse.decode", HEAVY),
        ("import aichatflow.chat_stream", HEAVY),
        ("import aichatflow", HEAVY),
        ("import aichatflow.messages", ("starlette", "uvicorn", "aiohttp", "click")),
        ("import aichatflow.config", ("starlette", "aiohttp", "aichatflow.providers")),
        (
            "from aichatflow.providers.openai_compat import OpenAICompatProvider",
            ("starlette", "uvicorn", "click", "aichatflow.stream", "aichatflow.dialects"),
        ),
        (
            "from aichatflow.config import Settings\n"
            "from aichatflow.providers.build import build_registry\n"
            "build_registry(Settings.load(env={}), env={})",
            ("starlette", "aiohttp", "aichatflow.stream", "aichatflow.server"),
        ),
        ("from aichatflow import EventStreamResponse", ("aiohttp", "aichatflow.providers")),
        ("from aichatflow.server import create_app", ("sqlalchemy", "alembic")),
    ],
)
def test_an_import_loads_only_what_it_needs(statement: str, absent: tuple[str, ...]) -> None:
    unwanted = sorted(_loaded_after(statement) & set(absent))
    assert not unwanted, f"{statement!r} loaded {unwanted}"


def test_the_import_probe_sees_what_loads() -> None:
    """The measurement itself: loading the stream engine does show Starlette."""
    assert {"starlette", "aichatflow.stream.engine"} <= _loaded_after(
        "from aichatflow import EventStreamResponse"
    )
