"""Published numbers of the source documents, kept as data files with their citations.

Every CSV in this folder is a transcription of a table of one of the five source documents (or of a
paper they compare with). Notebooks read them with :func:`load` and show them beside the
numbers our code computed; nothing here is ever a result of ours. One YAML file per document
(``d000.yaml``, ``d001.yaml``, ...) indexes its tables: id -> file, document, citation, notes (the
readings chosen for unclear cells and the checks made) and, where the document contradicts itself,
``inconsistencies`` (a list of statements, each naming both places; shown on the document's page).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pandas as pd
import yaml

from cxrlib.core.config import lookup


__all__ = ["PublishedTable", "index", "load"]


@dataclass(frozen=True)
class PublishedTable:
    """One published table: its id, the numbers as a DataFrame, the document, the citation, the transcription
    notes and the document's inconsistencies."""

    table_id: str
    frame: pd.DataFrame
    document: str
    citation: str
    notes: str
    inconsistencies: tuple[str, ...] = ()


def index() -> dict:
    """All table entries of every ``*.yaml`` in this folder: table id -> file, document, citation, notes,
    inconsistencies."""
    entries: dict = {}
    for item in sorted(resources.files(__name__).iterdir(), key=lambda t: t.name):
        if item.name.endswith(".yaml"):
            entries.update(yaml.safe_load(item.read_text(encoding="utf-8")) or {})
    return entries


def load(table_id: str) -> PublishedTable:
    """Load one published table by id (e.g. ``"d000_table1"``) with its citation."""
    entry = lookup(index(), table_id, what="published table")
    with resources.files(__name__).joinpath(entry["file"]).open("r", encoding="utf-8") as handle:
        frame = pd.read_csv(handle)
    return PublishedTable(
        table_id=table_id,
        frame=frame,
        document=str(entry["document"]),
        citation=entry["citation"],
        notes=entry.get("notes", ""),
        inconsistencies=tuple(" ".join(text.split()) for text in entry.get("inconsistencies") or ()),
    )
