"""The reproduction registry: every table and figure of the five documents, ours beside theirs.

``cxrlib/published/registry/d000.yaml`` ... ``d004.yaml`` list, in each document's order, its tables,
figures, schematic drawings and proposed systems: the published numbers' id (``cxrlib.published``), the
classroom run and artifact that make our analogue, the paper runs (and sweep) that follow the document's
protocol, and notes. This module (light: pandas and YAML, no torch) loads the registry, **computes** the
status of each item from what is on disk, and renders the book's document pages and scoreboard as MyST
markdown, and the "What is reproduced" block of README.md. Each document page also lists the
inconsistencies recorded inside the document (the ``inconsistencies`` of its published tables) and shows
the published tables of the document that no item names (numbers stated in the text).

Statuses (an item can have several):

* ``exact``: the classroom artifact equals the published numbers in every compared cell (the item's
  ``beside:`` blocks marked ``exact``, aligned by :func:`cxrlib.published.align.beside`);
* ``classroom analogue``: the classroom artifact exists in ``book/_generated/<run>/``, the run asks the item's
  question at small scale and every model it trained passed the "did it learn?" check (``learning.json``,
  :func:`cxrlib.stats.learning.read_learning_checks`): an analogue, never the paper's number;
* ``pipeline demo``: the classroom artifact exists but only exercises the pipeline: the registry says the run
  asks another question (``classroom: {demo: <why>}``: another task, another model, published numbers
  re-displayed), or a model of the run failed its learning check;
* ``paper: run``: every paper run folder is complete (``COMPLETE.json``) with profile ``paper``;
* ``paper: ready``: the paper parameter files (and the sweep file) exist and ``params/smoke/`` covers their
  notebooks, so the paper smoke runs them: ``cxrlib book --profile paper --smoke``
  (:mod:`cxrlib.book.paper_smoke`; ``tests/test_paper_smoke.py`` runs it over every file of
  ``params/paper/`` and ``params/sweeps/``) executes each paper file itself end to end at smoke size, with
  stand-in data and random weight files in the published formats where this machine lacks them. They
  have not run at full size here;
* ``described``: a schematic or architecture table: nothing to compute, the item says where the code is;
* ``missing``: what blocks the item (also beside other statuses when only part of it can be run).

``python -m cxrlib.book.registry pages`` writes ``book/documents/*.md`` and ``book/scoreboard.md``
(:func:`cxrlib.book.build.build_html` calls it before ``jupyter-book build``); ``... readme`` rewrites
README's block between the markers, ``... readme --check`` fails when it is stale.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from cxrlib import published
from cxrlib.book.browser_check import LONG_TABLE_ROWS, WIDE_TABLE_COLUMNS  # the page limits the browser check asserts
from cxrlib.core.repo import GENERATED, REPO
from cxrlib.core.runs import finished_artifact, markdown_cell, markdown_table, read_provenance, run_params
from cxrlib.core.staging import is_complete
from cxrlib.published import align

REGISTRY_DIR = Path(published.__file__).resolve().parent / "registry"
PAGES = Path("book") / "documents"
SCOREBOARD = Path("book") / "scoreboard.md"
CHAPTERS = Path("book")
KINDS = ("table", "figure", "schematic", "system")
STATUSES = ("exact", "classroom analogue", "pipeline demo", "paper: run", "paper: ready", "described", "missing")
BADGES = {"exact": "success", "classroom analogue": "info", "pipeline demo": "dark", "paper: run": "primary",
          "paper: ready": "secondary", "described": "light", "missing": "danger"}
MEANINGS = {
    "exact": "our artifact equals the published numbers in every compared cell (data counts)",
    "classroom analogue": "a small run that asks the item's question (small data, small images, small models) and "
                          "whose models passed the learning check: an analogue, never the document's number",
    "pipeline demo": "a small run that only shows the code path: it asks another question (another task or model), "
                     "or its model did not learn; its numbers answer nothing about the document",
    "paper: run": "the document's protocol run here at full scale (the paper-profile run folders are complete)",
    "paper: ready": "the paper parameter files run end to end in the paper smoke (tiny sizes, stand-in data, "
                    "random weight files) but have not run here at full size",
    "described": "a drawing or architecture table: nothing to compute; the item says where the code is",
    "missing": "what blocks the item (also beside other statuses when only a part can be run)",
}
"""What each status means, in the words every document page and the scoreboard show."""
CLASSROOM_FIELDS = ("run", "artifact", "demo", "checks", "compare", "figure", "beside_table")
"""Fields of an item's ``classroom:``: ``run`` and ``artifact``; ``demo``: why the run asks another question
than the item (a pipeline demo); ``checks``: the folders whose learning checks concern the item (paths below
``book/_generated``, e.g. ``[02_pretrain, 06_linear_probe]`` when a probe reads notebook 02's encoder; default:
the item's run folder; ``[]``: the artifact involves no trained model, e.g. augmented views); ``compare``: why no cell-by-cell comparison is possible; ``figure``:
the run's figure artifact that draws the item when ``artifact`` is its table (shown as a thumbnail);
``beside_table``: a table artifact of the run (or a list of them) that already sets ours beside the published numbers (made with
:func:`cxrlib.published.align.beside` in the notebook), shown on the page as it is."""

ITEM_FIELDS = {"id", "title", "kind", "where", "published", "classroom", "beside", "paper", "described",
               "missing", "notes"}
README_START, README_END = "<!-- registry:start -->", "<!-- registry:end -->"
_INCLUDE = re.compile(r"^\s*(?:`{3,}|:{3,})\{include\}\s+\S*_generated/(?P<run>[^/]+)/(?P<artifact>[^/\s]+)\.md\s*$")


@dataclass(frozen=True)
class Item:
    document: str
    id: str
    title: str
    kind: str
    where: str = ""
    published: str | None = None
    classroom: dict | None = None
    beside: tuple[align.Comparison, ...] = ()
    paper: dict | None = None
    described: str | None = None
    missing: str | None = None
    notes: str = ""

    @property
    def paper_runs(self) -> list[str]:
        return list((self.paper or {}).get("runs", []))

    @property
    def sweep(self) -> str | None:
        return (self.paper or {}).get("sweep")


@dataclass(frozen=True)
class Document:
    number: str
    paper: str
    short: str
    title: str
    summary: str
    deviations: tuple
    items: tuple

    @property
    def page(self) -> str:
        return f"d{self.number}"


@dataclass
class Status:
    """The computed statuses of one item, each with a line that says why."""

    names: list[str] = field(default_factory=list)
    why: dict[str, str] = field(default_factory=dict)
    comparisons: list[dict] = field(default_factory=list)
    profile: str | None = None

    def add(self, name: str, why: str) -> None:
        if name not in self.names:
            self.names.append(name)
        self.why[name] = why


# ----------------------------------------------------------------------------------------------- loading
def load_registry(folder: Path = REGISTRY_DIR) -> list[Document]:
    """Every document of the registry, in document order; raises ``ValueError`` on a malformed item."""
    documents = []
    for path in sorted(folder.glob("d*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        number = str(raw["document"])
        items = []
        for entry in raw.get("items", []):
            unknown = set(entry) - ITEM_FIELDS
            if unknown:
                raise ValueError(f"{path.name}: item {entry.get('id')}: unknown fields {sorted(unknown)}")
            extra = set(entry.get("classroom") or {}) - set(CLASSROOM_FIELDS)
            if extra:
                raise ValueError(f"{path.name}: item {entry.get('id')}: classroom: unknown fields {sorted(extra)}")
            if entry.get("kind") not in KINDS:
                raise ValueError(f"{path.name}: item {entry.get('id')}: kind {entry.get('kind')!r} not in {KINDS}")
            beside = tuple(align.Comparison.from_entry(block, item=entry["id"], published=entry.get("published"))
                           for block in entry.get("beside") or ())
            items.append(Item(document=number, **{**entry, "beside": beside}))
        documents.append(Document(number=number, paper=raw["paper"], short=raw["short"], title=" ".join(raw["title"].split()),
                                  summary=" ".join(raw["summary"].split()), deviations=tuple(raw.get("deviations", [])),
                                  items=tuple(items)))
    return documents


# ----------------------------------------------------------------------------------------------- status
def _provenance_profile(folder: Path) -> str | None:
    try:
        return run_params(folder).get("profile")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def artifact_file(repo: Path, run: str, artifact: str) -> Path | None:
    """The artifact's data file (csv, else png) in a complete run folder, or None."""
    return finished_artifact(repo / GENERATED / run, artifact)


def compare_exact(item: Item, repo: Path) -> list[dict]:
    """Each ``exact`` block of the item's ``beside:`` against the published table: rows, cells that differ,
    largest absolute difference, and the differing rows (``ok`` is True when no compared cell differs)."""
    results = []
    blocks = [block for block in item.beside if block.exact]
    if not (blocks and item.classroom):
        return results
    for block in blocks:
        name = block.name or "compared columns"
        path = artifact_file(repo, item.classroom["run"], block.artifact or item.classroom["artifact"])
        if path is None or path.suffix != ".csv":
            results.append({"name": name, "ok": False, "available": False})
            continue
        aligned = block.align(pd.read_csv(path), rows="published", ours_name="{} (ours)")
        differing, max_diff, diffs = 0, 0.0, []
        for our_col, published_col in block.value_pairs().items():
            a = pd.to_numeric(aligned[f"{our_col} (published)"], errors="coerce")
            b = pd.to_numeric(aligned[f"{our_col} (ours)"], errors="coerce")
            delta = aligned[f"{our_col} (ours - published)"]
            bad = ~((a == b) | (a.isna() & b.isna()))
            differing += int(bad.sum())
            if delta.notna().any():
                max_diff = max(max_diff, float(delta.abs().max()))
            for index in aligned.index[bad]:
                diffs.append({**{key: aligned.at[index, key] for key in block.keys}, "column": published_col,
                              "theirs": a[index], "ours": b[index], "ours - theirs": delta[index]})
        results.append({"name": name, "ok": differing == 0, "available": True, "rows": len(aligned),
                        "cells": len(aligned) * len(block.value_pairs()), "differing": differing, "max_abs_diff": max_diff,
                        "diffs": diffs, "artifact": path.stem,
                        "columns": {theirs: ours for ours, theirs in block.value_pairs().items()}})
    return results


def learning_verdict(generated: Path, checks) -> tuple[list, list]:
    """(failed, passed) learning checks, each a list of ``(folder, LearningCheck)``: every ``learning.json`` below
    the folders ``checks`` (paths below ``generated``, the build's ``book/_generated``: a run folder such as
    ``02_pretrain``, or one of its sub-folders; :func:`cxrlib.stats.learning.read_learning_checks`). A check
    that could not be made ("not checked") counts as neither."""
    from cxrlib.stats.learning import read_learning_checks

    kept = []
    for wanted in dict.fromkeys(str(c).strip("/") for c in checks):
        folder = generated / wanted
        if not folder.is_dir():
            continue
        try:
            records = read_learning_checks(folder)
        except (OSError, ValueError, TypeError):
            continue
        kept += [(wanted if where == "." else f"{wanted}/{where}", check) for where, check in records.items()]
    failed = [(w, c) for w, c in kept if c.label == "did not learn"]
    passed = [(w, c) for w, c in kept if c.label == "learned"]
    return failed, passed


def _smoke_covered(repo: Path, run: str) -> bool:
    return (repo / "params" / "smoke" / f"{run.split('--')[0]}.yaml").exists()


def item_status(item: Item, repo: Path = REPO) -> Status:
    """The statuses of ``item`` computed from ``repo`` (its params/ and book/_generated/)."""
    status = Status()
    if item.classroom:
        run, artifact = item.classroom["run"], item.classroom["artifact"]
        if artifact_file(repo, run, artifact):
            status.profile = _provenance_profile(repo / GENERATED / run)
            comparisons = compare_exact(item, repo)
            status.comparisons = comparisons
            if comparisons and all(c["ok"] for c in comparisons):
                status.add("exact", "equal to the published numbers in every compared cell: "
                           + "; ".join(f"{c['name']} ({c['cells']} cells)" for c in comparisons))
            built = f"artifact {artifact} of run {run} (profile {status.profile or 'unknown'})"
            failed, learned = learning_verdict(repo / GENERATED, item.classroom.get("checks", [run]) or [])
            if item.classroom.get("demo") or failed:
                reasons = ([" ".join(str(item.classroom["demo"]).split())] if item.classroom.get("demo") else [])
                reasons += [f"the model in `{where}` did not learn ({check.sentence()})" for where, check in failed]
                status.add("pipeline demo", f"{built}: " + "; ".join(reasons))
            else:
                tail = ("" if "exact" in status.names else ": an analogue, not the paper's number")
                checked = (f"; {len(learned)} learning check(s) passed" if learned
                           else "; no trained model is involved" if item.classroom.get("checks", None) == []
                           else "; no trained model's learning check recorded in the run folder")
                status.add("classroom analogue", built + tail + checked)
    runs = item.paper_runs
    if runs and (item.paper or {}).get("differs"):
        status.add("missing", "a paper run that asks the item's question: the paper parameter file(s) "
                   f"{', '.join(runs)} run, but " + " ".join(str(item.paper["differs"]).split()))
        runs = []
    if runs:
        done = [r for r in runs if is_complete(repo / GENERATED / r, verify="marker")
                and _provenance_profile(repo / GENERATED / r) == "paper"]
        files = [r for r in runs if (repo / "params" / "paper" / f"{r}.yaml").exists()]
        sweep_ok = item.sweep is None or (repo / "params" / "sweeps" / f"{item.sweep}.yaml").exists()
        if len(done) == len(runs):
            status.add("paper: run", f"{len(runs)} paper run folder(s) complete: {', '.join(runs)}")
        elif len(files) == len(runs) and sweep_ok and all(_smoke_covered(repo, r) for r in runs):
            status.add("paper: ready", f"the paper parameter file(s){' and sweep' if item.sweep else ''} run end to end "
                       f"in the paper smoke (tiny sizes, stand-in data and random weight files); {len(done)} of "
                       f"{len(runs)} run here at full size")
        else:
            absent = [r for r in runs if r not in files] + ([] if sweep_ok else [f"sweep {item.sweep}"])
            status.add("missing", f"paper parameter files absent: {', '.join(absent) or 'smoke sizes'}")
    if item.described:
        status.add("described", " ".join(item.described.split()))
    if item.missing:
        status.add("missing", " ".join(item.missing.split()))
    if not status.names:
        why = ("the classroom artifact has not been built (run the classroom book)" if item.classroom
               else "no run reproduces it and no reason was recorded")
        status.add("missing", why)
    status.names.sort(key=STATUSES.index)
    return status


# ------------------------------------------------------------------------------------- computed facts
def chexnet_leakage(root=None) -> dict:
    """How many official NIH test images are in the CheXNet random split's training list (and in the
    15-class single-label test set of document 000). Read from the split lists under the data root."""
    from cxrlib.data import nih

    test = set(nih.official_lists(root)["test"])
    lists = nih.chexnet_lists(root)
    train = set(lists.loc[lists["split"] == "train", "image_id"])
    facts = {"official_test": len(test), "chexnet_train": len(train), "test_in_chexnet_train": len(test & train)}
    try:
        single = nih.single_label_subset(nih.load_metadata())
        single_test = set(single["image_id"]) & test
        facts.update(single_label_test=len(single_test), single_label_test_in_chexnet_train=len(single_test & train))
    except Exception:  # noqa: BLE001 - the metadata is optional here; the list counts stand alone
        pass
    return facts


def _computed_deviation(name: str, repo: Path) -> str:
    if name != "chexnet_leakage":
        raise ValueError(f"unknown computed deviation {name!r}")
    try:
        f = chexnet_leakage()
    except Exception as error:  # noqa: BLE001 - shown on the page instead of a number
        return (f"**CheXNet test leakage** could not be computed here ({type(error).__name__}: {error}). CheXNet's "
                "DenseNet-121 weights were trained on a random split of ChestX-ray14, not on the official one.")
    text = (f"**CheXNet test leakage.** The CheXNet DenseNet-121 weights were trained on the CheXNet random split "
            f"of ChestX-ray14; its training list holds **{f['test_in_chexnet_train']:,} of the {f['official_test']:,} "
            f"official test images** ({f['test_in_chexnet_train'] / f['official_test']:.1%}), counted at build time "
            "from `nih-cxr14/chexnet-split/train_list.txt` and `nih-cxr14/test_list.txt`")
    if "single_label_test" in f:
        text += (f"; of the {f['single_label_test']:,} test images of the 15-class single-label task, "
                 f"{f['single_label_test_in_chexnet_train']:,} were seen in CheXNet's pre-training")
    return text + (". Fine-tuning those weights and testing on the official list measures partly on training "
                   "images: the CheXNet rows of Tables 6-8 and Fig. 3 are not held-out results, ours neither.")


# --------------------------------------------------------------------------------------------- rendering
def _number(value: float) -> str:
    """A published number as printed: six significant digits, thousands separated from a million on."""
    return f"{value:.6g}" if abs(value) < 1e6 else f"{value:,.0f}"


def pipe_table(frame: pd.DataFrame) -> str:
    """A pipe table (no index) of published numbers (:func:`cxrlib.core.runs.markdown_table` with their format)."""
    return markdown_table(frame, _number)


def readable_table(frame: pd.DataFrame, summary: str) -> list[str]:
    """A pipe table a reader can take in: more than :data:`LONG_TABLE_ROWS` rows fold into a dropdown whose
    title is ``summary`` (with the size), more than :data:`WIDE_TABLE_COLUMNS` columns say that the table
    scrolls sideways (``book/_vendor/figures.css`` keeps the scroll bar visible)."""
    rows, columns = frame.shape
    size = f"{rows} rows × {columns} columns"
    wide = ([f"*{columns} columns: the table scrolls sideways.*", ""] if columns > WIDE_TABLE_COLUMNS else [])
    if rows <= LONG_TABLE_ROWS:
        return [*wide, pipe_table(frame), ""]
    return [f"::::{{dropdown}} {summary} ({size}; click to open)", "", *wide, pipe_table(frame), "", "::::", ""]


def chapter_artifacts(repo: Path = REPO) -> dict[tuple[str, str], str]:
    """(run, artifact) -> chapter file stem for every artifact a chapter of ``book/*.md`` includes."""
    shown = {}
    for chapter in sorted((repo / CHAPTERS).glob("*.md")):
        for line in chapter.read_text(encoding="utf-8").splitlines():
            match = _INCLUDE.match(line)
            if match:
                shown.setdefault((match["run"], match["artifact"]), chapter.stem)
    return shown


def badge(name: str) -> str:
    return f"{{bdg-{BADGES[name]}}}`{name}`"


def _built(status: Status) -> bool:
    """Whether the item's classroom artifact is built (it is then an analogue or a pipeline demo)."""
    return "classroom analogue" in status.names or "pipeline demo" in status.names


def status_legend() -> list[str]:
    """What each status means: one bullet per status, in :data:`STATUSES` order."""
    return [f"- {badge(s)} {MEANINGS.get(s, '')}" for s in STATUSES]


def _anchor(item: Item) -> str:
    return f"reg-{item.id.replace('_', '-')}"


def commands(item: Item) -> list[tuple[str, str]]:
    """(label, shell command) to reproduce the item: classroom, then paper."""
    out = []
    if item.classroom:
        out.append(("classroom", f"cxrlib book --only {item.classroom['run']}"))
    if item.paper_runs:
        out.append(("paper", "cxrlib book --profile paper --only " + " ".join(item.paper_runs)))
    if item.sweep:
        out.append(("paper grid", f"cxrlib sweep run params/sweeps/{item.sweep}.yaml && "
                                  f"cxrlib sweep table params/sweeps/{item.sweep}.yaml"))
    return out


SCALE_WORDS = (("dataset", "data"), ("split", "split"), ("task", "task"), ("tasks", "tasks"), ("pool_sources", "unlabelled pool"), ("subset", "subset"),
               ("method", "method"), ("backbone", "backbone"), ("weights", "weights"), ("image_size", "image size"),
               ("epochs", "epochs"), ("seeds", "seeds"), ("seed", "seed"), ("profile", "profile"))
"""(parameter, words) of the run facts that say a run's scale, in the order a page names them."""


def scale_words(params: dict) -> str:
    """The scale of a run in words, from its parameters (data, size, weights, epochs, seed, profile)."""
    def shown(value):
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        if isinstance(value, dict):
            return ", ".join(f"{k} {v}" for k, v in value.items())
        return str(value)
    parts = [f"{words} {shown(params[name])}" for name, words in SCALE_WORDS
             if params.get(name) not in (None, "", [], {})]
    return "; ".join(parts) or "parameters not recorded"


def paper_params(repo: Path, run: str) -> dict:
    """A paper run's parameters as the build merges them: the classroom file, then the paper file."""
    merged = {}
    for path in (repo / "params" / "classroom" / f"{run.split('--')[0]}.yaml", repo / "params" / "paper" / f"{run}.yaml"):
        try:
            merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        except (OSError, yaml.YAMLError):
            continue
    return {**merged, "profile": "paper"}


def recorded_starts(folder: Path, limit: int = 4) -> list[str]:
    """What the backbones of a run folder started from, as their ``weights.json`` records say (distinct
    descriptions, at most ``limit``; :data:`cxrlib.core.runs.WEIGHTS`)."""
    import json

    from cxrlib.core.runs import WEIGHTS

    seen = []
    for path in sorted(folder.rglob(WEIGHTS)) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        text = " ".join(str(record.get("description") or record.get("source") or "").split())
        if text and text not in seen:
            seen.append(text)
    return seen[:limit] + ([f"and {len(seen) - limit} more"] if len(seen) > limit else [])


def scale_lines(item: Item, status: Status, repo: Path) -> list[str]:
    """Both scales in words: the classroom run's (from its provenance) and the paper run's (its file)."""
    out = []
    if item.classroom and _built(status):
        try:
            record = read_provenance(repo / GENERATED / item.classroom["run"])
            params = {**(record.get("params") or {}), **(record.get("context") or {})}  # the caption facts win
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            params = {"profile": status.profile}
        starts = recorded_starts(repo / GENERATED / item.classroom["run"])
        started = f"; backbones started from: {'; '.join(starts)}" if starts else ""
        out.append(f"- *Classroom scale* (run `{item.classroom['run']}`): {scale_words(params)}{started}.")
    runs = item.paper_runs
    if runs:
        more = f" (and {len(runs) - 1} more paper run(s))" if len(runs) > 1 else ""
        state = ("run here at full scale" if "paper: run" in status.names
                 else "not run here at full scale: no number of this page is a full-scale result")
        out.append(f"- *Paper scale* (`{runs[0]}`{more}): {scale_words(paper_params(repo, runs[0]))}; {state}.")
    elif item.published:
        out.append("- *Paper scale*: no paper run of ours follows this item's protocol.")
    return out


def _compact(aligned: pd.DataFrame, block: align.Comparison) -> pd.DataFrame:
    """The key columns, then ours, theirs and the difference of each value column."""
    columns, names = list(block.keys), {}
    for ours, theirs in block.value_pairs().items():
        for side in ("ours", "published", "ours - published"):
            if f"{ours} ({side})" in aligned:
                columns.append(f"{ours} ({side})")
                names[f"{ours} ({side})"] = f"{theirs} ({side})"  # the published column's name on both sides
    return aligned[columns].rename(columns=names)


def _difference_summary(aligned: pd.DataFrame, block: align.Comparison) -> str:
    """One phrase: how many of the aligned rows differ and the largest |ours - published| of each value column."""
    parts = []
    for ours in block.value_pairs():
        delta = pd.to_numeric(aligned.get(f"{ours} (ours - published)"), errors="coerce")
        if delta is None or delta.notna().sum() == 0:
            parts.append(f"{ours}: no row with both numbers")
            continue
        parts.append(f"{ours}: {int((delta.abs() > 0).sum())} of {int(delta.notna().sum())} rows differ"
                     + (f", largest |ours - published| {delta.abs().max():g}" if (delta.abs() > 0).any() else ""))
    return "; ".join(parts)


def side_by_side(item: Item, status: Status, repo: Path) -> list[str]:
    """Published and ours on the page itself: each ``beside:`` block that our classroom artifact can meet,
    aligned by :func:`cxrlib.published.align.beside` (published rows, ours, ours - published); a line that
    says why where none can. Empty when the item has no published numbers or no built classroom artifact."""
    if not (item.published and item.classroom and _built(status)):
        return []
    run = item.classroom["run"]
    out, reasons = [], []
    for block in item.beside:
        name = block.name or "compared columns"
        if block.sweep_table:
            reasons.append(f"\"{name}\" compares the paper sweep `{item.sweep}` (`cxrlib sweep table`), which has not "
                           "run here")
            continue
        path = artifact_file(repo, run, block.artifact or item.classroom["artifact"])
        if path is None or path.suffix != ".csv":
            reasons.append(f"\"{name}\": our artifact `{block.artifact or item.classroom['artifact']}` has no table")
            continue
        try:
            aligned = block.align(pd.read_csv(path), rows="published", ours_name="{} (ours)")
        except align.AlignmentError as error:
            reasons.append(f"\"{name}\": {error}")
            continue
        out += [f"*{name}*: theirs (published) beside ours (`{run}/{path.stem}`), rows of the published table; "
                f"{_difference_summary(aligned, block)}.", ""]
        out += readable_table(_compact(aligned, block), f"{name}: published beside ours")
    ready = item.classroom.get("beside_table") or []
    for name in [ready] if isinstance(ready, str) else ready:
        path = artifact_file(repo, run, name)
        if path is not None and path.suffix == ".csv":
            out += [f"*Ours beside theirs as the notebook set them side by side* (`{run}/{name}`):", ""]
            out += readable_table(pd.read_csv(path), f"`{name}`: ours beside the published numbers")
    if not out:
        why = item.classroom.get("compare") or item.classroom.get("demo")
        if not why:
            why = ("; ".join(reasons) if reasons else
                   "our artifact's rows and columns are not the published table's (no `beside:` block maps them)")
        out = [f"No cell-by-cell comparison: {' '.join(str(why).split())}.", ""]
    return out


def _thumbnail(item: Item, status: Status, repo: Path, shown: dict) -> list[str]:
    """A small picture of our figure (png artifact) with a link to the chapter that shows it in full."""
    if not (item.classroom and _built(status)):
        return []
    run, artifact = item.classroom["run"], item.classroom.get("figure") or item.classroom["artifact"]
    path = repo / GENERATED / run / f"{artifact}.png"
    if artifact_file(repo, run, artifact) is None or not path.exists():
        return []
    where = (f"full size and caption in the chapter {{doc}}`../{shown[(run, artifact)]}`" if (run, artifact) in shown
             else "full size below")
    return [f"```{{image}} ../_generated/{run}/{artifact}.png", f":alt: our {artifact} (classroom run {run})",
            ":width: 320px", "```", "", f"*Our figure `{artifact}` (classroom run `{run}`): {where}.*", ""]


def _ours(item: Item, status: Status, repo: Path, shown: dict, included: set) -> list[str]:
    lines = []
    if not item.classroom:
        return ["No classroom run reproduces this item."]
    run, artifact = item.classroom["run"], item.classroom["artifact"]
    if not _built(status):
        return [f"The classroom artifact `{run}/{artifact}` has not been built yet (`cxrlib book --only {run}`)."]
    if "exact" in status.names:
        note = (f"Classroom run (profile `{status.profile or 'unknown'}`). The compared columns equal the published ones (see the "
                "difference below); the other columns follow our protocol.")
    elif "pipeline demo" in status.names:
        note = (f"Classroom run (profile `{status.profile or 'unknown'}`): a **pipeline demo**, not an analogue of this item "
                f"({status.why['pipeline demo'].split(': ', 1)[-1]}). Its numbers say nothing about the document.")
    else:
        note = (f"Classroom run (profile `{status.profile or 'unknown'}`). An analogue at classroom scale: it is not the "
                "paper's number.")
    if (run, artifact) in shown:
        chapter = shown[(run, artifact)]
        lines.append(f"{note} Shown in the chapter {{doc}}`../{chapter}`: {{ref}}`{artifact} <{artifact}>`.")
    elif (run, artifact) in included:
        lines.append(f"{note} Shown above: {{ref}}`{artifact} <{artifact}>`.")
    else:
        included.add((run, artifact))
        include = [f"```{{include}} ../_generated/{run}/{artifact}.md", "```"]
        path = artifact_file(repo, run, artifact)
        rows = len(pd.read_csv(path)) if path is not None and path.suffix == ".csv" else 0
        if rows > LONG_TABLE_ROWS:
            include = [f"::::{{dropdown}} Our table `{artifact}` ({rows} rows; click to open)", "", *include, "", "::::"]
        lines += [note, "", *include]
    return lines


def _difference(status: Status) -> list[str]:
    lines = []
    for c in status.comparisons:
        if not c.get("available"):
            lines.append(f"- {c['name']}: artifact not available")
            continue
        verdict = "equal" if c["ok"] else f"{c['differing']} of {c['cells']} cells differ (largest |ours - theirs| = {c['max_abs_diff']:g})"
        lines.append(f"- {c['name']} ({c['artifact']} vs published, {c['rows']} rows): **{verdict}**")
        if c["diffs"]:
            lines += ["", pipe_table(pd.DataFrame(c["diffs"]).head(20)), ""]
    return lines


def _published_anchor(table_id: str) -> str:
    return f"pub-{table_id.replace('_', '-')}"


def _published_block(table: published.PublishedTable) -> list[str]:
    """A published table as the page shows it: where it is transcribed, the table (folded when long), the
    transcription notes (readings chosen, checks made) and a pointer to its inconsistencies."""
    out = [f"Transcribed in `cxrlib/published` as `{table.table_id}`.", "",
           *readable_table(table.frame, f"The published table `{table.table_id}`")]
    if table.notes:
        out += [f"*Transcription notes.* {' '.join(table.notes.split())}", ""]
    if table.inconsistencies:
        out += [f"*Inconsistencies inside the document* ({len(table.inconsistencies)}), listed under "
                f"{{ref}}`inconsistencies <{_inconsistencies_anchor(table.document)}>`:", ""]
        out += [f"- {text}" for text in table.inconsistencies]
        out.append("")
    return out


def _inconsistencies_anchor(number: str) -> str:
    return f"inconsistencies-d{number}"


def document_tables(document: Document) -> tuple[list[published.PublishedTable], list[published.PublishedTable]]:
    """The document's published tables: those an item names (in item order) and the others (numbers
    stated in the text, in file order)."""
    named = [item.published for item in document.items if item.published]
    others = [table_id for table_id, entry in published.index().items()
              if str(entry.get("document")) == document.number and table_id not in named]
    return [published.load(t) for t in dict.fromkeys(named)], [published.load(t) for t in others]


def render_inconsistencies(document: Document) -> list[str]:
    """The section listing every inconsistency recorded inside the document, each with its table."""
    named, others = document_tables(document)
    items = {item.published: item for item in document.items if item.published}
    out = [f"({_inconsistencies_anchor(document.number)})=", "## Inconsistencies inside the document", "",
           "Places where the document contradicts itself (or, where said so, another of the five documents), "
           "recorded with the transcriptions in `cxrlib/published/` and checked by "
           "`tests/test_published_transcriptions.py` where the numbers allow it.", ""]
    count = 0
    for table in named + others:
        where = (f"{{ref}}`{table.table_id} <{_anchor(items[table.table_id])}>`" if table.table_id in items
                 else f"{{ref}}`{table.table_id} <{_published_anchor(table.table_id)}>`")
        for text in table.inconsistencies:
            out.append(f"- ({where}) {text}")
            count += 1
    if not count:
        out.append("None recorded as a list for this document; see the transcription notes under each table.")
    out.append("")
    return out


def render_other_tables(document: Document) -> list[str]:
    """The document's published tables that no item names: numbers stated in its text."""
    _, others = document_tables(document)
    if not others:
        return []
    out = ["## Other numbers transcribed from the document", "",
           "Published numbers of this document that belong to no single table or figure above (numbers "
           "stated in the text, supplementary material): they are used to check the tables and the "
           "chapters' quotes.", ""]
    for table in others:
        out += [f"({_published_anchor(table.table_id)})=", f"### {table.table_id}", "", *_published_block(table)]
    return out


def _nothing_to_compare(item: Item) -> str:
    """The one line of an item with neither published numbers nor a classroom run (a drawing, a plan)."""
    what = {"schematic": "a drawing", "system": "a proposed system"}.get(item.kind, f"a {item.kind} without printed numbers")
    return (f"*Theirs and ours:* nothing to set side by side: {what} (no published numbers transcribed) and no "
            "classroom run.")


def render_item(item: Item, repo: Path, shown: dict, included: set) -> str:
    status = item_status(item, repo)
    out = [f"({_anchor(item)})=", f"## {item.id}: {item.title}", "",
           " ".join(badge(s) for s in status.names) + f" &nbsp; *{item.kind}; {item.where}*", ""]
    out += [f"- {badge(s)} {status.why[s]}" for s in status.names]
    out.append("")
    if not (item.published or item.classroom):
        out += [_nothing_to_compare(item), ""]
    else:
        pair = side_by_side(item, status, repo)
        if pair:
            out += ["**Theirs beside ours.**", "", *scale_lines(item, status, repo), "", *pair]
        elif item.published and not (item.classroom and _built(status)):
            why = ("the classroom artifact has not been built" if item.classroom
                   else "no classroom run of ours asks this item's question")
            if item.paper_runs and "paper: run" not in status.names:
                why += (f"; the paper run{'s' if len(item.paper_runs) > 1 else ''} (`{item.paper_runs[0]}`"
                        + (f" and {len(item.paper_runs) - 1} more" if len(item.paper_runs) > 1 else "")
                        + (f", sweep `{item.sweep}`" if item.sweep else "") + ") would make ours, and "
                        "ha" + ("ve" if len(item.paper_runs) > 1 else "s") + " not run at full size here")
            out += [f"**Theirs beside ours:** no comparison on this page: {why}.", ""]
        out += ["**Theirs.**", ""]
        if item.published:
            out += _published_block(published.load(item.published))
        else:
            out += ["Not transcribed (no published numbers in `cxrlib/published` for this item).", ""]
        out += ["**Ours.**", "", *_thumbnail(item, status, repo, shown), *_ours(item, status, repo, shown, included), ""]
        difference = _difference(status)
        if difference:
            out += ["**Difference.**", "", *difference, ""]
    cmds = commands(item)
    if cmds:
        out += ["**Reproduce.**", "", "```bash"]
        out += [f"# {label}\n{command}" for label, command in cmds]
        out += ["```", ""]
    if item.notes:
        out += [f"**Notes.** {' '.join(item.notes.split())}", ""]
    return "\n".join(out)


def full_scale_sentence(counts: dict[str, int], items: int, where: str) -> str:
    """How many items have a full-scale (paper) result, in words: generated from the computed statuses."""
    runs = counts.get("paper: run", 0)
    head = (f"**Full-scale results: none.** No item of {where} has a full-scale (paper) result in this build"
            if runs == 0 else
            f"**Full-scale results: {runs} of {items} items** of {where} have a paper-profile result in this build")
    return (head + f" (status `paper: run`). Items with a classroom analogue: {counts.get('classroom analogue', 0)} of "
            f"{items}; with a pipeline demo: {counts.get('pipeline demo', 0)}. Classroom numbers come from "
            "small data, small images and small models: they are **not the documents' numbers**, and a difference "
            "between theirs and ours is not evidence against the document.")


def render_document(document: Document, repo: Path = REPO, shown: dict | None = None,
                    included: set | None = None) -> str:
    """The MyST page of one document: what is reproduced (in words), the statuses' meaning, protocol
    deviations, inconsistencies, then each item in document order."""
    shown = chapter_artifacts(repo) if shown is None else shown
    included = set() if included is None else included
    statuses = [item_status(item, repo) for item in document.items]
    counts = {s: sum(s in st.names for st in statuses) for s in STATUSES}
    out = ["<!-- GENERATED by `python -m cxrlib.book.registry pages` from cxrlib/published/registry/; do not edit -->",
           f"# Document {document.number}: {document.short}", "",
           f"*{document.title}* (source text: `papers/{document.paper}`).", "", document.summary, "",
           full_scale_sentence(counts, len(document.items), "this document"), "",
           "Each item below shows **theirs** (the published numbers, where transcribed) and **ours** side by side "
           "where both exist, the scale of each in words, and how to re-run it. The status badges are computed "
           "from the run folders at build time (see the {doc}`scoreboard <../scoreboard>`):", "",
           "::::{dropdown} What the statuses mean", "", *status_legend(), "", "::::", "",
           "## Protocol deviations", ""]
    for deviation in document.deviations:
        text = _computed_deviation(deviation["computed"], repo) if isinstance(deviation, dict) else " ".join(deviation.split())
        out.append(f"- {text}")
    out.append("")
    out += render_inconsistencies(document)
    out += [render_item(item, repo, shown, included) for item in document.items]
    out += render_other_tables(document)
    return "\n".join(out).rstrip() + "\n"


def status_counts(documents: list[Document], repo: Path = REPO) -> dict[str, dict[str, int]]:
    """document -> status -> number of items with that status."""
    return {d.number: {s: sum(s in item_status(i, repo).names for i in d.items) for s in STATUSES} for d in documents}


def render_scoreboard(documents: list[Document], repo: Path = REPO) -> str:
    per_item = {d.number: [(i, item_status(i, repo)) for i in d.items] for d in documents}
    totals = {s: sum(s in st.names for d in documents for _, st in per_item[d.number]) for s in STATUSES}
    n_items = sum(len(d.items) for d in documents)
    out = ["<!-- GENERATED by `python -m cxrlib.book.registry pages`; do not edit -->", "# Scoreboard", "",
           full_scale_sentence(totals, n_items, "the five documents"), "",
           "Every table and figure of the five documents, with the status computed from the run folders of "
           "this build. An item can have several statuses; a classroom analogue and a pipeline demo are counted "
           "apart. What each status means:", "", *status_legend(), ""]
    if len(STATUSES) + 2 > WIDE_TABLE_COLUMNS:
        out += [f"*{len(STATUSES) + 2} columns: the table scrolls sideways.*", ""]
    out += ["| document | items | " + " | ".join(STATUSES) + " |", "|---|---|" + "---|" * len(STATUSES)]
    for d in documents:
        counts = [sum(s in st.names for _, st in per_item[d.number]) for s in STATUSES]
        out.append(f"| {{doc}}`{d.number}: {d.short} <documents/{d.page}>` | {len(d.items)} | "
                   + " | ".join(str(c) for c in counts) + " |")
    out.append(f"| all | {n_items} | " + " | ".join(str(totals[s]) for s in STATUSES) + " |")
    for d in documents:
        rows = [f"| {{ref}}`{item.id} <{_anchor(item)}>` {markdown_cell(item.title)} | {item.kind} | "
                + " ".join(badge(s) for s in st.names) + " |" for item, st in per_item[d.number]]
        table = ["| item | kind | status |", "|---|---|---|", *rows]
        if len(rows) > LONG_TABLE_ROWS:
            line = ", ".join(f"{s} {sum(s in st.names for _, st in per_item[d.number])}" for s in STATUSES)
            table = [f"::::{{dropdown}} {len(rows)} items: {line} (click to open)", "", *table, "", "::::"]
        out += ["", f"## Document {d.number}: {d.short}", "", *table]
    return "\n".join(out) + "\n"


def write_pages(repo: Path = REPO, documents: list[Document] | None = None) -> list[Path]:
    """Write ``book/documents/d<NNN>.md`` and ``book/scoreboard.md`` into ``repo`` (a build step)."""
    documents = load_registry() if documents is None else documents
    shown, included = chapter_artifacts(repo), set()
    folder = repo / PAGES
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for document in documents:
        path = folder / f"{document.page}.md"
        path.write_text(render_document(document, repo, shown, included), encoding="utf-8")
        written.append(path)
    (repo / SCOREBOARD).write_text(render_scoreboard(documents, repo), encoding="utf-8")
    return written + [repo / SCOREBOARD]


# ------------------------------------------------------------------------------------------------ README
def render_readme_block(documents: list[Document] | None = None) -> str:
    """The README table: what the registry declares per document (static: no build state)."""
    documents = load_registry() if documents is None else documents
    head = ["document", "tables", "figures", "schematics / systems", "published numbers transcribed",
            "classroom run (analogue if it learned)", "classroom pipeline demo", "paper runs (params/paper, sweeps)",
            "nothing to compute", "blocked (in part)"]
    rows = []
    for d in documents:
        items = d.items
        rows.append([f"{d.number}: {d.short}", sum(i.kind == "table" for i in items), sum(i.kind == "figure" for i in items),
                     sum(i.kind in ("schematic", "system") for i in items), sum(bool(i.published) for i in items),
                     sum(bool(i.classroom) and not i.classroom.get("demo") for i in items),
                     sum(bool(i.classroom) and bool(i.classroom.get("demo")) for i in items),
                     sum(bool(i.paper_runs) for i in items),
                     sum(bool(i.described) for i in items),
                     sum(bool(i.missing) or not (i.classroom or i.paper_runs or i.described) for i in items)])
    lines = [README_START,
             "<!-- generated by `python -m cxrlib.book.registry readme` from cxrlib/published/registry/; "
             "tests/test_registry.py fails when it is stale -->",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    lines += ["", "Counts of items (every table and figure of each document, in `cxrlib/published/registry/`). "
              "Whether each item is reproduced *exactly*, as a *classroom analogue* (a small run that asks the item's "
              "question and whose models passed the \"did it learn?\" check), only as a *pipeline demo* (another "
              "question, or a model that did not learn) or by a *paper* run is computed at build time and shown on "
              "the book's scoreboard page (`book/scoreboard.md`, generated). The paper runs are parameter files that "
              "run end to end at smoke size; a full-scale (paper) result exists only where the scoreboard counts "
              "`paper: run`. Classroom numbers are not the documents' numbers.",
              README_END]
    return "\n".join(lines)


def update_readme(repo: Path = REPO, check: bool = False) -> bool:
    """Rewrite README's registry block; with ``check`` only report whether it is up to date."""
    path = repo / "README.md"
    text = path.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise ValueError(f"{path} has no {README_START} ... {README_END} block")
    before, rest = text.split(README_START, 1)
    _, after = rest.split(README_END, 1)
    new = before + render_readme_block() + after
    if check:
        return new == text
    if new != text:
        path.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cxrlib.book.registry", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pages = sub.add_parser("pages", help="write book/documents/*.md and book/scoreboard.md")
    pages.add_argument("--repo", type=Path, default=REPO)
    readme = sub.add_parser("readme", help="rewrite README's registry block")
    readme.add_argument("--check", action="store_true", help="exit 1 when the block is stale")
    sub.add_parser("status", help="print the counts per status per document")
    args = parser.parse_args(argv)
    if args.command == "pages":
        for path in write_pages(args.repo):
            print(path)
    elif args.command == "readme":
        ok = update_readme(check=args.check)
        if args.check and not ok:
            print("README.md's registry block is stale: run python -m cxrlib.book.registry readme", file=sys.stderr)
            return 1
    else:
        for number, counts in status_counts(load_registry()).items():
            print(number, ", ".join(f"{k}: {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
