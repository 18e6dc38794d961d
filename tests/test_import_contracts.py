"""Import contracts between the packages (what import-linter's forbidden contracts would check, without the
dependency): every module under sthlib/, store/, api/, worker/, cli/ and migrations/ is parsed (ast, nothing is
imported), function-level and TYPE_CHECKING imports included, and a forbidden module reached directly or through a
chain of project modules is reported with file:line for every link. Subprocess checks then import the real entry
points and look at sys.modules: the API process must not load torch and friends, the worker's Celery app not the API.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections import deque
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sthlib", "store", "broker", "api", "worker", "cli", "migrations")
SERVICES = ("fastapi", "starlette", "sqlalchemy", "alembic", "celery", "psycopg", "redis", "kombu", "httpx", "uvicorn")

# (package, forbidden modules (a name covers its submodules), why)
CONTRACTS = {
    "sthlib is a library: no web, database or queue stack, no service package": (
        "sthlib", (*SERVICES, "api", "store", "broker", "worker", "cli", "migrations")),
    "the broker's sender and reader serve the API and the worker, knowing neither (nor torch)": (
        "broker", ("api", "worker", "cli", "migrations", "torch", "torchvision", "foolbox", "fastapi", "sqlalchemy")),
    "the API only sends task names to the worker": ("api", ("worker",)),
    "the worker does not import the API": ("worker", ("api",)),
    "store is below the services (and finds migrations/ by location, never by import)": (
        "store", ("api", "worker", "broker", "cli", "fastapi", "celery", "migrations")),
}  # fmt: skip


@dataclass(frozen=True)
class Import:
    importer: str  # the module whose code imports
    target: str  # the module imported, absolute
    file: str  # relative to the repository root
    line: int

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The absolute module names an import statement (or importlib.import_module / __import__ with a literal) names;
    `from a import b` names a.b too, which counts when a.b is a module."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolved against the importing module's package
            package = module.split(".") if is_package else module.split(".")[:-1]
            base = package[: len(package) - (node.level - 1)]
            stem = ".".join([*base, *([node.module] if node.module else [])])
        else:
            stem = node.module or ""
        return [stem, *(f"{stem}.{alias.name}" for alias in node.names if alias.name != "*")]
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
            return [node.args[0].value]
    return []


@cache
def import_graph() -> dict[str, list[Import]]:
    """Every project module and the imports in its code, wherever they sit (module level, functions, TYPE_CHECKING)."""
    files = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)
    graph: dict[str, list[Import]] = {}
    for path in files:
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[module] = [Import(module, target, str(path.relative_to(ROOT)), node.lineno)
                         for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom | ast.Call)
                         for target in _targets(node, module, path.name == "__init__.py") if target]  # fmt: skip
    return graph


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _project_modules(target: str, graph: dict[str, list[Import]]) -> list[str]:
    """The project modules importing `target` runs: the packages on its way down and itself."""
    parts = target.split(".")
    return [m for m in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if m in graph]


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    """Each module of `package` that reaches a forbidden module, directly or through other project modules (the
    shortest chain), as 'file:line importer -> imported' links."""
    graph = import_graph()
    found: dict[tuple[str, str], list[Import]] = {}
    for start in sorted(m for m in graph if _within(m, (package,))):
        chains: dict[str, list[Import]] = {start: []}
        queue = deque([start])
        while queue:
            module = queue.popleft()
            for link in graph[module]:
                chain = [*chains[module], link]
                if _within(link.target, forbidden):
                    key = (chain[0].where(), link.target.split(".")[0])
                    if key not in found or len(chain) < len(found[key]):
                        found[key] = chain
                    continue
                for nxt in _project_modules(link.target, graph):
                    if nxt not in chains and not _within(nxt, (package,)):  # through other packages only
                        chains[nxt] = chain
                        queue.append(nxt)
    return [" -> ".join([f"{c[0].where()} {c[0].importer} imports {c[0].target}",
                         *(f"{link.where()} {link.importer} imports {link.target}" for link in c[1:])])
            for _, c in sorted(found.items())]  # fmt: skip


def test_every_package_is_parsed():
    graph = import_graph()
    for package in PACKAGES:
        assert package in graph, f"{package}/__init__.py not found"
        assert sum(_within(m, (package,)) for m in graph) > 1, f"{package}/ has no modules besides __init__"
    # the parser sees what it has to: a plain, a relative, a function-level and a dynamic import
    tree = ast.parse("import a.b\nfrom .c import d\ndef f():\n    from x import y\nimportlib.import_module('z')\n")
    names = [t for node in ast.walk(tree) for t in _targets(node, "p.m", is_package=False)]
    assert {"a.b", "p.c", "p.c.d", "x", "x.y", "z"} <= set(names), names


@pytest.mark.parametrize("contract", CONTRACTS)
def test_import_contract(contract):
    package, forbidden = CONTRACTS[contract]
    found = violations(package, forbidden)
    assert not found, f"{contract}: {package} must not import {', '.join(forbidden)}:\n" + "\n".join(found)


# A subprocess imports `entry` with a finder in front of sys.meta_path that records, for the first import of each
# module under `watched`, which modules were executing at the time (the importer chain), then prints what loaded.
PROBE = textwrap.dedent("""
    import json, sys

    watched, entry, build = json.loads(sys.argv[1])
    pulled = {}

    def under(name):
        return any(name == w or name.startswith(w + ".") for w in watched)

    class Recorder:
        def find_spec(self, name, path=None, target=None):
            if under(name) and name not in pulled:
                frame, chain = sys._getframe(1), []
                while frame is not None:
                    importer = frame.f_globals.get("__name__", "?")
                    if "importlib" not in frame.f_code.co_filename and (not chain or chain[-1] != importer):
                        chain.append(importer)
                    frame = frame.f_back
                pulled[name] = chain
            return None

    sys.meta_path.insert(0, Recorder())
    __import__(entry)
    if build:
        exec(build)
    loaded = sorted(m for m in sys.modules if under(m))
    print(json.dumps({m: pulled.get(m, ["?"]) for m in loaded}))
""")


def probe(entry: str, watched: tuple[str, ...], tmp_path: Path, build: str = "") -> dict[str, list[str]]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "STH_DATA_DIR": str(tmp_path / "data"),
           "STH_DATABASE_URL": f"sqlite:///{tmp_path / 'sth.db'}", "STH_BROKER_URL": f"filesystem://{tmp_path / 'q'}",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps([watched, entry, build])], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _explain(pulled: dict[str, list[str]]) -> str:
    """Each way into the watched modules: the first watched module and the importers above it, innermost first."""
    entries = {m: chain for m, chain in pulled.items() if chain != ["?"] and (not chain or chain[0] not in pulled)}
    if not entries:  # put into sys.modules without a search (extension submodules): name them
        return ", ".join(sorted(pulled))
    return "\n".join(f"{m} <- " + " <- ".join(chain) for m, chain in sorted(entries.items()))


HEAVY = ("torch", "torchvision", "foolbox", "matplotlib", "celery.worker")


def test_the_api_process_loads_no_torch_and_no_celery_worker(tmp_path):
    # create_app() without the lifespan touches no database: engines connect lazily, the broker is a folder
    pulled = probe("api.main", HEAVY, tmp_path, build="import api.main; api.main.create_app(migrate_on_start=False)")
    assert list(pulled) == [], "importing api.main and building the app loaded:\n" + _explain(pulled)


def test_the_worker_app_loads_no_api_module(tmp_path):
    pulled = probe("worker.app", ("api",), tmp_path)
    assert list(pulled) == [], "importing worker.app loaded:\n" + _explain(pulled)
