"""The public API: every layer's package names its public functions and classes in ``__all__`` (loaded on first
use through :func:`cxrlib.core.exports.lazy_exports`), each importable from the package and documented; light
packages stay light when every name is used; the book's API reference lists every package."""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from cxrlib.core.exports import lazy_exports

REPO = Path(__file__).resolve().parents[1]

PACKAGES = ("cxrlib.core", "cxrlib.data", "cxrlib.data.download", "cxrlib.images", "cxrlib.models", "cxrlib.training",
            "cxrlib.training.ssl", "cxrlib.training.sweeps", "cxrlib.stats", "cxrlib.explain", "cxrlib.federated",
            "cxrlib.published", "cxrlib.book")
LIGHT_PACKAGES = ("cxrlib.core", "cxrlib.data", "cxrlib.data.download", "cxrlib.stats", "cxrlib.published")
HEAVY = ("torch", "timm", "lightning", "lightly", "torchvision")


def _constant_is_documented(package: types.ModuleType, name: str) -> bool:
    """A module-level value is documented by a ``#:`` comment right above its assignment or a string right after
    it (what Sphinx autodoc shows), in the package's ``__init__`` or one of its modules."""
    folder = Path(package.__file__).parent
    for path in [Path(package.__file__), *(folder / f"{m.name}.py" for m in pkgutil.iter_modules([str(folder)]))]:
        if not path.is_file():
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        body = ast.parse("\n".join(lines)).body
        for i, node in enumerate(body):
            if not isinstance(node, (ast.Assign, ast.AnnAssign)):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                comment = node.lineno >= 2 and lines[node.lineno - 2].lstrip().startswith("#:")
                after = body[i + 1] if i + 1 < len(body) else None
                string = (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                          and isinstance(after.value.value, str))
                return bool(comment or string)
    return False


def _own_doc(obj) -> str:
    """The object's own docstring: not a base class's, not the signature a dataclass writes when there is none."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if not doc or (isinstance(obj, type) and doc.startswith(f"{obj.__name__}(")):
        return ""
    return doc.strip()


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_is_importable_and_documented(name):
    package = importlib.import_module(name)
    assert package.__doc__, f"{name} has no docstring"
    exported = package.__all__
    assert exported and len(exported) == len(set(exported))
    problems = []
    for attr in exported:
        value = getattr(package, attr)  # loads it
        if isinstance(value, types.ModuleType):
            problems.append(f"{attr} is a module: a submodule of that name shadows the export")
        elif inspect.isclass(value) or inspect.isroutine(value):
            if not _own_doc(value):
                problems.append(f"{attr} has no docstring")
        elif not _constant_is_documented(package, attr):
            problems.append(f"{attr} has no '#:' comment or docstring")
    assert not problems, f"{name}: " + "; ".join(problems)


def test_the_documented_example_imports():
    from cxrlib.stats import delong_test
    from cxrlib.stats.delong_auc import delong_test as defined

    assert delong_test is defined
    result = delong_test([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], [0.1, 0.9, 0.2, 0.8])
    assert result.auc_a == 1.0 and result.auc_b == 0.5


@pytest.mark.parametrize("name", LIGHT_PACKAGES)
def test_a_light_package_loads_every_export_without_torch(name):
    code = (f"import sys, json, {name} as p\n"
            "[getattr(p, n) for n in p.__all__]\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_lazy_exports_load_on_first_use_and_refuse_what_they_do_not_name(tmp_path, monkeypatch):
    package = tmp_path / "lazypkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from cxrlib.core.exports import lazy_exports\n"
        "__all__, __getattr__, __dir__ = lazy_exports(__name__, {'one': ['f']})\n")
    (package / "one.py").write_text("def f():\n    return 1\n")
    (package / "two.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    lazy = importlib.import_module("lazypkg")
    assert lazy.__all__ == ["f"] and "f" in dir(lazy)
    assert "lazypkg.one" not in sys.modules
    assert lazy.f() == 1 and "lazypkg.one" in sys.modules
    assert lazy.two.LOADED  # a submodule's name imports the submodule
    with pytest.raises(AttributeError, match="has no attribute 'g'"):
        lazy.g  # noqa: B018
    with pytest.raises(ImportError):
        exec("from lazypkg import g", {})
    with pytest.raises(ValueError, match="'f' is exported from both .one and .two"):
        lazy_exports("lazypkg", {"one": ["f"], "two": ["f"]})


def test_the_api_reference_lists_every_package_and_is_linked():
    page = (REPO / "book" / "api.md").read_text(encoding="utf-8")
    assert [name for name in PACKAGES if f".. automodule:: {name}\n   :members:\n" not in page] == []
    assert re.search(r"^\s*- file: book/api\s*$", (REPO / "_toc.yml").read_text(encoding="utf-8"), flags=re.M)
    assert "](api.md)" in (REPO / "book" / "developers.md").read_text(encoding="utf-8")
