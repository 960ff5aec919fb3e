"""The package's architecture, checked from the source: import layering, no cycles, no duplicate public
names, no private imports across modules, and the light modules that must load without torch.

Every module of ``cxrlib`` is parsed with :mod:`ast` (nothing is imported). An import counts wherever it
is written: at the top of a module or inside a function. ``from cxrlib.pkg import name`` is an edge to the
module that *defines* ``name``: the submodule ``cxrlib.pkg.name`` if there is one, else the module whose
top level defines it (following the package's re-exports, including the lazy exports of every package,
:func:`cxrlib.core.exports.lazy_exports`, by looking the name up among the package's modules). The implicit
import of a parent package (``import cxrlib.a.b`` runs ``cxrlib/a/__init__.py``) is not an edge: a package whose
``__init__`` re-exports its submodules would otherwise always be a cycle.
"""
from __future__ import annotations

import ast
import json
import pkgutil
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cxrlib"

# Public names that several modules define on purpose, each the same protocol in a different place.
SHARED_PROTOCOL_NAMES = {
    "main", "add_arguments", "run",  # command-line entry points (cxrlib.cli dispatches to them)
    "load_metadata", "frontal",  # the per-data-source protocol of cxrlib.data loaders
}


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    defines: set[str] = field(default_factory=set)  # top-level def/class/assignment names
    reexports: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (module, name) it imports


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve_from(module: Module, node: ast.ImportFrom) -> str | None:
    """The absolute module name of ``from <...> import`` (relative imports resolved)."""
    if node.level == 0:
        return node.module
    base = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _parse_package() -> dict[str, Module]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module = Module(_module_name(path), path, path.name == "__init__.py", tree)
        module.defines = _top_level_names(tree)
        modules[module.name] = module
    for module in modules.values():
        for node in module.tree.body:
            if isinstance(node, ast.ImportFrom):
                source = _resolve_from(module, node)
                for alias in node.names:
                    module.reexports[alias.asname or alias.name] = (source, alias.name)
    return modules


MODULES = _parse_package()


def _defining_module(package: str, name: str, seen: frozenset = frozenset()) -> str:
    """The module that defines ``name`` imported from ``package`` (see the module docstring)."""
    if f"{package}.{name}" in MODULES:
        return f"{package}.{name}"
    module = MODULES.get(package)
    if module is None or (package, name) in seen:
        return package
    if name in module.defines:
        return package
    if name in module.reexports:
        source, original = module.reexports[name]
        if source and source.startswith("cxrlib"):
            return _defining_module(source, original, seen | {(package, name)})
        return package
    if module.is_package:  # lazy re-export: the one submodule that defines the name at top level
        owners = [m.name for m in MODULES.values()
                  if m.name.startswith(package + ".") and name in m.defines and not m.is_package]
        if len(owners) == 1:
            return owners[0]
    return package


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    name: str | None  # the imported name of ``from ... import name``
    line: int


def _edges() -> list[Edge]:
    edges = []
    for module in MODULES.values():
        for node in ast.walk(module.tree):  # inside functions too
            if isinstance(node, ast.Import):
                edges += [Edge(module.name, a.name, None, node.lineno) for a in node.names
                          if a.name == "cxrlib" or a.name.startswith("cxrlib.")]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve_from(module, node)
                if not source or not (source == "cxrlib" or source.startswith("cxrlib.")):
                    continue
                for alias in node.names:
                    edges.append(Edge(module.name, _defining_module(source, alias.name), alias.name, node.lineno))
    return edges


EDGES = _edges()


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in EDGES:
        if edge.imported != edge.importer:
            graph[edge.importer].add(edge.imported)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(set(graph) | {n for targets in graph.values() for n in targets}):
        if node not in index:
            visit(node)
    return components


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# ------------------------------------------------------------------------------ the checker itself


def test_the_parser_sees_the_package():
    """The checks below are only as good as the graph: known edges of the layout must be in it."""
    assert {"cxrlib.core.io", "cxrlib.images.tasks", "cxrlib.training.ssl.methods", "cxrlib.cli"} <= set(MODULES)
    pairs = {(e.importer, e.imported) for e in EDGES}
    assert ("cxrlib.images.tasks", "cxrlib.data.root") in pairs  # a top-level from-import
    # `from cxrlib.models import get_spec`, inside a function, resolves through the lazy exports to its module
    assert ("cxrlib.training.common", "cxrlib.models.registry") in pairs
    # an import inside a function body counts
    inner = [e for e in EDGES if e.importer == "cxrlib.cli" and _under(e.imported, "cxrlib.book.build")]
    assert inner


def test_cycle_finder_finds_a_cycle_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# ------------------------------------------------------------------------------------- the checks


def test_no_import_cycles():
    cycles = _cycles(_graph())
    detail = []
    for component in cycles:
        members = set(component)
        detail += [f"{e.importer}:{e.line} imports {e.imported}" for e in EDGES
                   if e.importer in members and e.imported in members and e.importer != e.imported]
    assert not cycles, "import cycles:\n" + "\n".join(detail)


# Violations found in the working tree (library code is not edited by the test suite's owner): each is
# an xfail(strict=True) case below, so that it shows in every run and its fix turns the case red.


def _public_owners() -> dict[str, list[str]]:
    owners: dict[str, list[str]] = defaultdict(list)
    for module in MODULES.values():
        for node in module.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                owners[node.name].append(module.name)
    return owners


def test_public_names_are_defined_once():
    duplicated = {name: where for name, where in _public_owners().items() if len(where) > 1}
    unexpected = {name: where for name, where in duplicated.items()
                  if name not in SHARED_PROTOCOL_NAMES}
    assert not unexpected, f"public names defined in several modules: {unexpected}"
    # the allow-list stays short and true: every name on it really is a shared protocol
    assert SHARED_PROTOCOL_NAMES <= set(duplicated), f"stale allow-list entries: {SHARED_PROTOCOL_NAMES - set(duplicated)}"


_CONSTANT = re.compile(r"_?[A-Z][A-Z0-9_]*")
_TYPE_ALIAS = re.compile(r"_?[A-Z][A-Za-z0-9]*")


def _is_constant(target: ast.expr, value: ast.expr) -> bool:
    """An UPPER_CASE name, or a CamelCase type alias written as a union (``PathLike = str | os.PathLike``)."""
    if not isinstance(target, ast.Name):
        return False
    if _CONSTANT.fullmatch(target.id):
        return True
    return bool(_TYPE_ALIAS.fullmatch(target.id)) and isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr)


def _constants_defined_twice(trees: dict[str, ast.Module]) -> dict[str, list[str]]:
    """Module-level constants (UPPER_CASE names, private ones too) that several modules assign with the
    same value: ``name = value`` -> the modules. One fact written twice drifts apart on the first edit
    of one copy; the lowest layer that needs it defines it and the others import it. (A name shared
    with *different* values, such as a per-module ``DATASET``, is not a duplicate.)"""
    owners: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, tree in trees.items():
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if _is_constant(target, node.value):
                        key = (f"{target.id} = {ast.unparse(node.value)}", ast.dump(node.value))
                        if name not in owners[key]:
                            owners[key].append(name)
    return {key[0]: where for key, where in owners.items() if len(where) > 1}


def test_module_constants_are_defined_once():
    twice = _constants_defined_twice({m.name: m.tree for m in MODULES.values()})
    assert not twice, "module-level constants defined in several modules (define once, import):\n" + "\n".join(
        f"{constant}: {', '.join(where)}" for constant, where in twice.items())


def test_the_constant_check_catches_a_constant_written_twice():
    modules = {name: ast.parse(source) for name, source in {
        "a": 'REPO = Path(__file__).parents[2]\nDATASET = "nih"\n_MARK = "x.json"\nlower = 1\n'
             'PathLike = str | os.PathLike\nFrame = pd.DataFrame\n',
        "b": 'REPO = Path(__file__).parents[2]\nDATASET = "covid"\n_MARK: str = "x.json"\nlower = 1\n'
             'PathLike = str | os.PathLike\nFrame = pd.DataFrame\n',
        "c": "from a import REPO\n"}.items()}
    assert _constants_defined_twice(modules) == {"REPO = Path(__file__).parents[2]": ["a", "b"],
                                                 "_MARK = 'x.json'": ["a", "b"],
                                                 "PathLike = str | os.PathLike": ["a", "b"]}


def test_no_private_name_is_imported_from_another_module():
    offenders = [f"{e.importer}:{e.line} imports {e.name} (from {e.imported})" for e in EDGES
                 if e.name and e.name.startswith("_") and not e.name.startswith("__") and e.imported != e.importer]
    assert not offenders, "\n".join(offenders)


LOWER = ("cxrlib.images", "cxrlib.models", "cxrlib.training", "cxrlib.chapters", "cxrlib.book")
LAYER_RULES = {
    # rule: (which importers it applies to, which imported modules it forbids them)
    "core imports nothing of cxrlib": (lambda m: _under(m, "cxrlib.core"), lambda t: not _under(t, "cxrlib.core")),
    "data does not import higher layers": (lambda m: _under(m, "cxrlib.data"), lambda t: _under(t, *LOWER)),
    "stats does not import higher layers": (lambda m: _under(m, "cxrlib.stats"), lambda t: _under(t, *LOWER)),
    "published does not import higher layers": (lambda m: _under(m, "cxrlib.published"), lambda t: _under(t, *LOWER)),
    "only chapters and the CLI import chapters": (
        lambda m: not _under(m, "cxrlib.chapters", "cxrlib.cli"), lambda t: _under(t, "cxrlib.chapters")),
    "training does not import chapters or the book build": (
        lambda m: _under(m, "cxrlib.training"), lambda t: _under(t, "cxrlib.chapters", "cxrlib.book.build")),
}


@pytest.mark.parametrize("rule", LAYER_RULES)
def test_layering(rule):
    importers, forbidden = LAYER_RULES[rule]
    offenders = [f"{e.importer}:{e.line} imports {e.imported}" for e in EDGES
                 if importers(e.importer) and forbidden(e.imported)]
    assert not offenders, "\n".join(offenders)


def test_layer_rules_catch_a_violation():
    """Each rule rejects one made-up edge that breaks it (so a rule cannot be vacuous)."""
    broken = {
        "core imports nothing of cxrlib": ("cxrlib.core.io", "cxrlib.data.root"),
        "data does not import higher layers": ("cxrlib.data.nih", "cxrlib.images.tasks"),
        "stats does not import higher layers": ("cxrlib.stats.metrics", "cxrlib.training.probe"),
        "published does not import higher layers": ("cxrlib.published", "cxrlib.book.artifacts"),
        "only chapters and the CLI import chapters": ("cxrlib.training.finetune", "cxrlib.chapters.plots"),
        "training does not import chapters or the book build": ("cxrlib.training.probe", "cxrlib.book.build"),
    }
    assert set(broken) == set(LAYER_RULES)
    for rule, (importer, imported) in broken.items():
        importers, forbidden = LAYER_RULES[rule]
        assert importers(importer) and forbidden(imported), rule
    importers, forbidden = LAYER_RULES["only chapters and the CLI import chapters"]
    assert not importers("cxrlib.cli") and not importers("cxrlib.chapters.finetune")


# -------------------------------------------------------------------- modules that load without torch

HEAVY = ("torch", "timm", "lightning", "lightly", "torchvision")


def _data_modules() -> list[str]:
    import cxrlib.data

    return sorted(info.name for info in pkgutil.walk_packages(cxrlib.data.__path__, "cxrlib.data.")
                  if not info.name.endswith("__main__"))  # __main__ runs the download CLI


LIGHT_MODULES = sorted({
    "cxrlib.core.io", "cxrlib.core.config", "cxrlib.core.params", "cxrlib.core.runs", "cxrlib.published",
    "cxrlib.published.align", "cxrlib.data", *_data_modules(),
    "cxrlib.stats", "cxrlib.stats.metrics", "cxrlib.stats.bootstrap", "cxrlib.stats.delong_auc", "cxrlib.stats.agreement",
    "cxrlib.stats.checks", "cxrlib.stats.multiplicity", "cxrlib.stats.evaluate", "cxrlib.stats.simulate",
    "cxrlib.images.tasks", "cxrlib.images.task_tables", "cxrlib.images.preprocess", "cxrlib.book.artifacts", "cxrlib.book.build",
    "cxrlib.models.registry", "cxrlib.training.probe", "cxrlib.chapters.label_noise",
    "cxrlib.stats.localisation", "cxrlib.explain.boxes", "cxrlib.federated.ledger", "cxrlib.federated.partition",
    "cxrlib.training.sweeps", "cxrlib.training.sweeps.sweep_file", "cxrlib.training.sweeps.storage",
    "cxrlib.training.sweeps.workers", "cxrlib.training.sweeps.results", "cxrlib.training.sweeps.cli",
})


def test_light_module_list_covers_the_data_package():
    assert {"cxrlib.data.download", "cxrlib.data.download.runner", "cxrlib.data.pool", "cxrlib.data.nih"} <= set(LIGHT_MODULES)
    assert all(m in MODULES for m in LIGHT_MODULES)


def _heavy_after_import(module: str) -> list[str]:
    """The heavy packages in ``sys.modules`` after importing ``module`` in a fresh interpreter."""
    code = (f"import sys, json, {module}\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def light_imports() -> dict[str, list[str]]:
    """Every light module imported in turn in ONE fresh interpreter: module -> the heavy packages in
    ``sys.modules`` after importing it. Empty for a module means its whole import closure is light (all of
    it is loaded by then); a module after the first heavy one is checked again on its own."""
    code = (f"import importlib, json, sys\nseen = {{}}\nfor name in {LIGHT_MODULES!r}:\n"
            f"    importlib.import_module(name)\n"
            f"    seen[name] = sorted(m for m in {HEAVY!r} if m in sys.modules)\nprint(json.dumps(seen))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_light_module_does_not_import_torch(module, light_imports):
    assert light_imports[module] == [] or _heavy_after_import(module) == []


def test_the_torch_probe_sees_torch():
    assert "torch" in _heavy_after_import("cxrlib.training.losses")


# ------------------------------------------------------------------------ registries and look-ups
# A registry is a module-level table that rows or names are looked up in: every table passed to
# cxrlib.core.config.lookup, and every table a parameter rule names (``in:module:NAME``, the words of
# cxrlib.core.params.REGISTRIES).

_RULE_PLACE = re.compile(r"(cxrlib(?:\.\w+)+):([A-Z][A-Z0-9_]*)\b")


def _imported_names(module: Module) -> dict[str, tuple[str, str | None]]:
    """Local name -> (module, name) of every import in a module (``name`` None for a module import)."""
    names: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom):
            source = _resolve_from(module, node) or ""
            for alias in node.names:
                imported = f"{source}.{alias.name}"
                names[alias.asname or alias.name] = (imported, None) if imported in MODULES else (source, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = (alias.name, None)
    return names


def _table_of(module: Module, node: ast.AST, imported: dict) -> tuple[str, str] | None:
    """(defining module, NAME) of a table expression ``NAME`` or ``module.NAME``; None for anything else."""
    if isinstance(node, ast.Name) and node.id.lstrip("_").isupper():
        source, name = imported.get(node.id, (module.name, node.id))
        return (_defining_module(source, name), name) if name else None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr.isupper():
        source, name = imported.get(node.value.id, (None, None))
        if source and name is None:
            return _defining_module(source, node.attr), node.attr
    return None


def _registries() -> dict[tuple[str, str], list[str]]:
    """(module, NAME) of every registry -> where it is looked up."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module in MODULES.values():
        imported = _imported_names(module)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lookup" and node.args:
                table = _table_of(module, node.args[0], imported)
                if table and not table[1].startswith("_"):
                    found[table].append(f"{module.name}:{node.lineno}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                for place in _RULE_PLACE.finditer(node.value):
                    found[place.groups()].append(f"{module.name}:{node.lineno} (rule)")
            elif isinstance(node, ast.JoinedStr):  # f"in:{__name__}:NAME": a rule naming a table of its own module
                for value, after in zip(node.values, node.values[1:]):
                    if (isinstance(value, ast.FormattedValue) and getattr(value.value, "id", None) == "__name__"
                            and isinstance(after, ast.Constant) and re.match(r":[A-Z]", str(after.value))):
                        found[(module.name, str(after.value)[1:].split()[0])].append(f"{module.name}:{node.lineno} (rule)")
    return dict(found)


REGISTRIES = _registries()


def test_the_registry_finder_sees_the_registries():
    names = {name for _, name in REGISTRIES}
    assert {"REGISTRY", "TASKS", "POLICIES", "OPTIMIZERS", "SSL_METHODS", "HEADS", "PROGRESS_MODES", "STEPS",
            "LOSS_NORMALIZATIONS", "SOURCES"} <= names
    assert ("cxrlib.images.preprocess", "STEPS") in REGISTRIES  # named by an f-string rule of its own module
    assert all(module in MODULES for module, _ in REGISTRIES)


def test_no_two_registries_share_a_name():
    """A registry's name is its own: no other module defines a top-level name spelt the same (METHODS,
    VARIANTS and SPLITS were each two or three different tables)."""
    clashes = {}
    for module, name in REGISTRIES:
        assert name in MODULES[module].defines, f"{module}.{name} is looked up but not defined there"
        others = sorted(m.name for m in MODULES.values() if name in m.defines and m.name != module)
        if others:
            clashes[f"{module}.{name}"] = others
    assert not clashes, f"registries whose name other modules also define: {clashes}"


# Module-level tables that are read with a computed key, but are not registries: plain data whose keys
# come from the data or from code, never from a user (a missing key is a bug, and KeyError says so).
DATA_TABLES = {
    "DISPLAY_NAMES": "NIH finding -> display name; keys from the metadata file",
    "PADCHEST_ROWS": "document 001's Table 2 rows for PadChest; keys from the document's table",
    "TABLE3_PADCHEST": "document 001's Table 3 labels for PadChest; keys from the document's table",
    "BADGES": "status word -> badge colour; status words computed by the book registry",
    "STATE_WORDS": "Optuna trial state -> word; keys from Optuna's enum",
    "CONFUSION_METRICS": "stats.inference checks all requested names at once (one message) before reading",
}


def _module_tables(module: Module) -> set[str]:
    """Public upper-case names bound at top level to a dict, a mapping or a dict comprehension."""
    tables = set()
    for node in module.tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            annotation = ast.unparse(node.annotation) if isinstance(node, ast.AnnAssign) else ""
            is_table = (isinstance(node.value, (ast.Dict, ast.DictComp)) or "dict" in annotation or "Mapping" in annotation
                        or isinstance(node.value, ast.Call) and ast.unparse(node.value.func) == "MappingProxyType")
            tables |= {t.id for t in targets if is_table and isinstance(t, ast.Name) and t.id.isupper()
                       and not t.id.startswith("_")}
    return tables


def test_tables_are_read_through_lookup():
    """No table is indexed with a computed key (``TABLE[name]`` raises a bare KeyError: 'clasroom'): a
    registry is read with cxrlib.core.config.lookup (or a getter built on it), which names the known keys
    and the closest one; ``.get`` is for tolerant membership. DATA_TABLES lists the exceptions."""
    tables = {(m.name, name) for m in MODULES.values() for name in _module_tables(m)}
    offenders = []
    for module in MODULES.values():
        imported = _imported_names(module)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and not isinstance(node.slice, ast.Constant):
                table = _table_of(module, node.value, imported)
                if table in tables and table[1] not in DATA_TABLES:
                    offenders.append(f"{module.name}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "read these through cxrlib.core.config.lookup:\n" + "\n".join(offenders)
    assert set(DATA_TABLES) <= {name for _, name in tables}, "stale DATA_TABLES entries"


def test_the_lookup_checks_catch_a_violation():
    module = Module("cxrlib.x", PACKAGE / "x.py", False, ast.parse(
        "from cxrlib.images.preprocess import PIPELINES\ndef f(name):\n    return PIPELINES[name]\n"))
    node = next(n for n in ast.walk(module.tree) if isinstance(n, ast.Subscript))
    assert _table_of(module, node.value, _imported_names(module)) == ("cxrlib.images.preprocess", "PIPELINES")
