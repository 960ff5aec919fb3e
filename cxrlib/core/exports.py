"""A package's public names, loaded on first use.

Every package of ``cxrlib`` lists its public functions and classes by submodule, e.g. ``cxrlib.stats`` names
:func:`~cxrlib.stats.delong_test` under ``delong_auc``, and hands that table to :func:`lazy_exports`. ``from
cxrlib.stats import delong_test`` then imports ``cxrlib.stats.delong_auc`` and nothing else: importing one
name (or one submodule) never loads its siblings, so light modules stay free of torch and a package's
``__init__`` cannot create an import cycle. ``__all__`` is the package's API (the book's API reference is
generated from it); ``dir()`` lists the names before they are loaded.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]
                 ) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` of ``package``, whose public names are ``exports``: submodule
    (relative to the package) -> the names it defines.

    A name is imported from its submodule on first access and then kept in the package's namespace; a submodule's
    name imports the submodule (``cxrlib.training.ssl.runs`` after ``from cxrlib.training import ssl``); any other
    name raises ``AttributeError``. A name listed under two submodules is an error. Use at the end of a package's
    ``__init__``::

        __all__, __getattr__, __dir__ = lazy_exports(__name__, {"delong_auc": ["delong", "delong_test"]})
    """
    owner: dict[str, str] = {}
    for module, names in exports.items():
        for name in names:
            if name in owner:
                raise ValueError(f"{package}: {name!r} is exported from both .{owner[name]} and .{module}")
            owner[name] = module
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> object:
        module = owner.get(name)
        if module is None:
            if not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}") is not None:
                return importlib.import_module(f"{package}.{name}")
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(owner))

    return sorted(owner), __getattr__, __dir__
