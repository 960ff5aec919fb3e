"""Published numbers of the source documents, kept as data files with their citations.

Every CSV in this folder is a transcription of a table of one of the five source documents (or of a
paper they compare with). Notebooks read them with :func:`load` and show them beside the
numbers our code computed; nothing here is ever a result of ours. One YAML file per document
(``d000.yaml``, ``d001.yaml``, ...) indexes its tables: id -> file, document, citation, notes (the
readings chosen for unclear cells and the checks made) and, where the document contradicts itself,
``inconsistencies`` (a list of statements, each naming both places; shown on the document's page).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from importlib import resources

import pandas as pd
import yaml


@dataclass(frozen=True)
class PublishedTable:
    table_id: str
    frame: pd.DataFrame
    document: str
    citation: str
    notes: str
    inconsistencies: tuple[str, ...] = ()


_PARSED: dict[str, dict] = {}  # YAML text -> its entries: parsing, not reading, is the cost of index()


def index() -> dict:
    """All table entries of every ``*.yaml`` in this folder: table id -> file, document, citation, notes,
    inconsistencies. The files are read on every call (an edited file counts at once); each distinct
    text is parsed once per process, and the caller gets its own copy."""
    entries: dict = {}
    for item in sorted(resources.files(__name__).iterdir(), key=lambda t: t.name):
        if item.name.endswith(".yaml"):
            text = item.read_text(encoding="utf-8")
            if text not in _PARSED:
                _PARSED[text] = yaml.safe_load(text) or {}
            entries.update(copy.deepcopy(_PARSED[text]))
    return entries


def load(table_id: str) -> PublishedTable:
    """Load one published table by id (e.g. ``"d000_table1"``) with its citation."""
    entries = index()
    if table_id not in entries:
        raise KeyError(f"no published table {table_id!r}; known: {', '.join(sorted(entries))}")
    entry = entries[table_id]
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
