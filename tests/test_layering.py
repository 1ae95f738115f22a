"""The package's layering (``docs/architecture.md``): folders by stage, each importing only earlier ones.

Read from the source (every ``import``, at module level, in functions and under ``TYPE_CHECKING``):
each folder imports only its own and earlier stages; the one exception are Jupyter display hooks
(``_repr_svg_``), which may import lazily from the interfaces. No module imports a ``_private`` name
of another, and no modules import each other in a circle. TensorFlow, rich and Sphinx stay in their
stages, and ``import searchgraph`` loads none of networkx, rich, NumPy and TensorFlow.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "searchgraph"

#: The stages in pipeline order: a module imports only from its own stage and earlier ones. ``base``
#: holds what every stage may use (``errors.py``, ``version.py``); the package root (``__init__``,
#: ``__main__``) re-exports and starts the command line, and nothing inside imports it.
STAGES = ("base", "loading", "graph", "analysis", "checks", "search", "render", "tf", "interfaces", "root")
#: Jupyter display hooks: allowed to import lazily from the interfaces.
DISPLAY_HOOKS = frozenset({"_repr_svg_", "_repr_html_", "_repr_png_", "_ipython_display_"})
#: Third-party packages that only some stages may import (at any level).
CONFINED = {"tensorflow": {"tf"}, "rich": {"interfaces"}, "sphinx": {"interfaces"},
            "docutils": {"interfaces"}}
#: ... with these modules as the documented exceptions: the RETURNN capture runs TensorFlow in its
#: worker subprocess (``python -m searchgraph.search.returnn``), importing it only there; so do the
#: RETURNN build (the oracle, ``returnn_build``), ``--returnn``'s verification (``returnn_verify``) and
#: the layout oracle's worker (``returnn_layouts``).
CONFINED_EXCEPTIONS = {("tensorflow", "searchgraph.search.returnn"),
                       ("tensorflow", "searchgraph.search.returnn_build"),
                       ("tensorflow", "searchgraph.search.returnn_verify"),
                       ("tensorflow", "searchgraph.search.returnn_layouts")}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  #: the module imported (a searchgraph module, or a top-level third-party name)
    names: tuple[str, ...]  #: for ``from X import a, b``
    line: int
    function: str | None  #: the enclosing function, None at module level
    type_only: bool  #: under ``if TYPE_CHECKING:``


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _resolve(importer: str, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _imports(module: str) -> list[Import]:
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    out: list[Import] = []

    def visit(node: ast.AST, function: str | None, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, function or child.name, type_only)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), function, True)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), function, type_only)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    out.append(Import(module, alias.name, (), child.lineno, function, type_only))
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(module, child.level, child.module)
                names = tuple(a.name for a in child.names)
                submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
                for sub in submodules:
                    out.append(Import(module, sub, (), child.lineno, function, type_only))
                rest = tuple(n for n in names if f"{target}.{n}" not in MODULES)
                if rest or not submodules:
                    out.append(Import(module, target, rest, child.lineno, function, type_only))
            else:
                visit(child, function, type_only)

    visit(tree, None, False)
    return out


ALL_IMPORTS = [imp for module in MODULES for imp in _imports(module)]
INTERNAL = [imp for imp in ALL_IMPORTS
            if imp.target == "searchgraph" or imp.target.startswith("searchgraph.")]


def stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "root"
    if parts[1] in ("errors", "version"):
        return "base"
    return parts[1]


def _where(imp: Import) -> str:
    return f"{MODULES[imp.importer].relative_to(ROOT)}:{imp.line}"


def test_every_module_has_a_stage() -> None:
    assert {stage(m) for m in MODULES} <= set(STAGES), sorted({stage(m) for m in MODULES} - set(STAGES))
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "errors.py", "version.py"], top


def test_each_stage_imports_only_earlier_stages() -> None:
    rank = {name: i for i, name in enumerate(STAGES)}
    wrong = []
    for imp in INTERNAL:
        have, want = stage(imp.importer), stage(imp.target)
        if rank[want] <= rank[have]:
            continue
        if imp.function in DISPLAY_HOOKS and want == "interfaces":
            continue  # Jupyter asks an earlier stage's object to draw itself
        wrong.append(f"{_where(imp)}: {have} imports {imp.target} ({want})")
    assert wrong == []


def test_nothing_imports_the_package_root() -> None:
    assert [_where(i) for i in INTERNAL if i.target == "searchgraph"] == []


def test_no_private_names_of_other_modules() -> None:
    wrong = [f"{_where(imp)}: {name} from {imp.target}" for imp in INTERNAL for name in imp.names
             if name.startswith("_") and not name.startswith("__") and imp.target != imp.importer]
    wrong += [f"{_where(imp)}: module {imp.target}" for imp in INTERNAL
              if any(p.startswith("_") and not p.startswith("__") for p in imp.target.split("."))]
    assert wrong == []


def _graph() -> dict[str, set[str]]:
    """module -> the modules importing it runs: the target, and the target's packages (their
    ``__init__`` runs first) except the importer's own."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in INTERNAL:
        if imp.function in DISPLAY_HOOKS or imp.target not in MODULES:
            continue
        parts = imp.target.split(".")
        own = {".".join(imp.importer.split(".")[:i]) for i in range(1, imp.importer.count(".") + 2)}
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in MODULES and name not in own and name != imp.importer:
                edges[imp.importer].add(name)
    return edges


def test_no_import_cycle() -> None:
    edges = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, path)
        path.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            walk(module, [])
    assert cycles == []


def test_layering_test_sees_imports() -> None:
    """The reader above finds what it must: lazy, TYPE_CHECKING and submodule imports, and hooks."""
    found = {(i.importer, i.target, i.function, i.type_only) for i in ALL_IMPORTS}
    assert ("searchgraph.analysis.model", "searchgraph.interfaces.notebook", "_repr_svg_", False) in found
    assert ("searchgraph.analysis.model", "networkx", None, True) in found
    assert ("searchgraph.checks", "searchgraph.checks.beams", None, False) in found
    assert stage("searchgraph.interfaces.cli") == "interfaces" and stage("searchgraph") == "root"
    assert len(_graph()["searchgraph.checks.pipeline"]) >= 4


@pytest.mark.parametrize("package", sorted(CONFINED))
def test_third_party_packages_stay_in_their_stages(package: str) -> None:
    wrong = [f"{_where(i)}: {i.target}" for i in ALL_IMPORTS
             if i.target.split(".")[0] == package and stage(i.importer) not in CONFINED[package]
             and (package, i.importer) not in CONFINED_EXCEPTIONS]
    assert wrong == []


def test_networkx_only_on_demand() -> None:
    """networkx (a quarter of a second to import) loads only when a networkx.DiGraph is asked for:
    imported inside functions, or for type hints only."""
    wrong = [_where(i) for i in ALL_IMPORTS
             if i.target.split(".")[0] == "networkx" and i.function is None and not i.type_only]
    assert wrong == []


def test_architecture_doc_names_the_order() -> None:
    """docs/architecture.md states this order (the drawing's first line of stages)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert " → ".join(STAGES[1:-1]) in text
    for name in STAGES[1:-1]:
        assert f"### `{name}/`" in text, name


def test_import_searchgraph_is_light() -> None:
    code = ("import sys, searchgraph; searchgraph.analyze; "
            "print(sorted(m for m in ('networkx', 'rich', 'numpy', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
