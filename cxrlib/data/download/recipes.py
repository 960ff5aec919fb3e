"""The recipe table as ``cxrlib download`` sees it, derived from the data-root table.

The recipes themselves live in the rows of :data:`cxrlib.data.root.SOURCES` (``recipe`` and
``alternatives`` of each :class:`~cxrlib.data.root.DatasetSource`); :data:`RECIPES` only indexes them by
recipe key, in table order, and :func:`source_of` leads from a recipe key back to its row.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from cxrlib.data.recipe_types import Recipe
from cxrlib.core.config import lookup
from cxrlib.data.root import SOURCES, DatasetSource, get_source


def _index() -> tuple[dict[str, Recipe], dict[str, str]]:
    recipes: dict[str, Recipe] = {}
    owners: dict[str, str] = {}
    for source in SOURCES.values():
        for recipe in source.recipes():
            if recipe.key in recipes:
                raise ValueError(f"recipe key {recipe.key!r} is used by {owners[recipe.key]!r} and {source.key!r}")
            recipes[recipe.key] = recipe
            owners[recipe.key] = source.key
    return recipes, owners


_RECIPES, _OWNERS = _index()
RECIPES: Mapping[str, Recipe] = MappingProxyType(_RECIPES)
"""Every recipe of every :data:`~cxrlib.data.root.SOURCES` row by recipe key, in table order (read-only)."""


def source_of(key: str) -> DatasetSource:
    """The data-set row whose ``recipe`` or ``alternatives`` hold the recipe named ``key``."""
    return get_source(lookup(_OWNERS, key, what="data-set recipe"))


def marker_list(recipe: Recipe) -> tuple[str, ...]:
    """The files that prove ``recipe``'s data set is present: its own markers, else the data set's."""
    return recipe.markers if recipe.markers is not None else source_of(recipe.key).markers


def display_title(recipe: Recipe) -> str:
    """``recipe``'s title, else its data set's."""
    return recipe.title or source_of(recipe.key).title


def is_present(recipe: Recipe, root: Path) -> bool:
    """Whether every marker of ``recipe`` exists in its data set's folder below ``root``."""
    folder = source_of(recipe.key).path(root)
    return all((folder / marker).exists() for marker in marker_list(recipe))


def with_base_url(recipe: Recipe, base_url: str) -> Recipe:
    """``recipe`` with every file fetched from ``<base_url>/<filename>`` (a mirror, a test server), no fallbacks."""
    base = base_url.rstrip("/")
    files = tuple(replace(f, url=f"{base}/{f.filename}", fallback_urls=()) for f in recipe.files)
    return replace(recipe, files=files)


def classroom_keys() -> list[str]:
    """The classroom data sets (``SOURCES[k].classroom``), each fetched by the recipe of the same key."""
    return [key for key, source in SOURCES.items() if source.classroom]
