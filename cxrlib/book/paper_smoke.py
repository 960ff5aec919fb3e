"""The paper profile, proven: every paper parameter file and every sweep file, end to end, at smoke size.

``cxrlib book --profile paper --smoke`` (and the test ``tests/test_paper_smoke.py``) runs each file of
``params/paper/`` through its notebook and each file of ``params/sweeps/`` through ``cxrlib sweep`` on
CPU, with the smoke overrides of :func:`cxrlib.book.build.smoke_overrides` (``params/smoke/<notebook>.yaml``,
then ``params/smoke/paper/<notebook>.yaml``: by notebook, so a new paper file of any notebook is covered),
in a copy of the tree (:func:`cxrlib.book.build.stage_tree`) below a work folder. Only the edges this
machine lacks are faked; the code in between is the real one:

* **Data** (:func:`stage_data`): a new data root. Each folder of the real data root is re-created with
  links to its entries (nothing is written into the real root). Then, for every data set row of
  :data:`cxrlib.data.root.SOURCES` (and every alternative recipe) whose marker files are still missing,
  a stand-in is written in the documented layout: the tiny fake data sets of :mod:`cxrlib.data.fixtures`
  (CheXpert images and ``train.csv``, PadChest, VinDr-CXR, MIMIC-CXR-JPG, COVIDGR: synthetic images,
  random labels) and, for the full NIH release (``nih-cxr14/images/``, 112,120 PNGs), one link per
  image name of the NIH metadata shipped in torchxrayvision, pointing at the real 256 px sample image
  of that name where there is one and otherwise at a sample image taken in turn. So the NIH loaders read
  the real metadata and the real official split lists unchanged; the pixels behind most names are
  another patient's (a smoke run's labels mean nothing).
* **Weights** (:func:`stage_weights`): for every backbone row its default source, and every tag a run or
  a sweep names, a file of random weights in the source's published format
  (:func:`cxrlib.models.fixtures.write_fake_weights`: timm safetensors, SwAV's and CheXNet's original
  checkpoints), where the loader looks (``$CXRLIB_WEIGHTS/<key>/<file>``). The loader reads them through
  its converters and strict shape check and labels them :data:`cxrlib.models.weights.SMOKE_WEIGHTS`.
* **Sizes**: the smoke overrides (a ViT's image size rounded to a multiple of its patch); sweeps keep their table axes and the first value of the others
  (``cxrlib sweep --smoke``), then their first :data:`SWEEP_POINTS` grid point(s) (a document-000 table
  has 450 points; one trial proves the file, the queue, the trial's run folder and the table layout; each
  further point costs a notebook run), stored in a journal file below the work folder. A sweep's
  smoke sizes keep its ``weights`` (the fake files load), unlike a plain ``cxrlib sweep --smoke``.

Every run's profile is ``paper-smoke``, so every caption begins with SMOKE; every loaded weight file says
that it holds random weights written by the smoke harness. The notebooks share one kernel
(:class:`cxrlib.core.notebooks.SharedKernel`): torch is imported once, each notebook starts from an
empty namespace. The numbers are not results.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxrlib.book import build
from cxrlib.core.notebooks import SharedKernel

PROFILE = "paper"
SWEEP_POINTS = 1
"""Grid points run per sweep file (after ``--smoke`` thinning), in file order."""
FAKE_IMAGE_SIZE = 32
"""Side in pixels of the synthetic images of the fake data sets."""
REPORT = "paper-smoke.json"


def _say(message: str) -> None:
    print(message, flush=True)


# ------------------------------------------------------------------------------------------- data


def _link_entries(real: Path, staged: Path) -> None:
    """``staged`` as a folder whose entries link to those of ``real`` (so files can be added beside them)."""
    staged.mkdir(parents=True, exist_ok=True)
    for child in sorted(real.iterdir()):
        target = staged / child.name
        if not target.exists() and not target.is_symlink():
            target.symlink_to(child.resolve(), target_is_directory=child.is_dir())


def _nih_full_release(root: Path, rng) -> None:
    """``nih-cxr14/images/<Image Index>.png`` for every image of the shipped NIH metadata: a link to the
    sample image of that name, else to a sample image taken in turn."""
    from cxrlib.data import nih

    sample = sorted((root / "nih-cxr14" / "images-256").glob("*.png"))
    if not sample:
        raise FileNotFoundError(f"no NIH sample images in {root / 'nih-cxr14' / 'images-256'} to stand in for "
                                "the full release")
    by_name = {p.name: p.resolve() for p in sample}
    folder = root / "nih-cxr14" / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(nih.load_metadata()["image_id"]):
        (folder / name).symlink_to(by_name.get(name) or sample[i % len(sample)].resolve())


def _stand_ins() -> dict[str, Callable]:
    """Recipe or data set key -> the function that writes its stand-in (``f(root, rng)``)."""
    from functools import partial

    from cxrlib.data.fixtures import MAKERS

    makers = {key: partial(make, size=FAKE_IMAGE_SIZE) for key, make in MAKERS.items()}
    return {**makers, "nih-cxr14-images": _nih_full_release}


def stage_data(destination: Path, real_root: Path | None = None, seed: int = 0) -> dict[str, str]:
    """Build the smoke data root in ``destination`` (see the module docstring); returns what each data
    set is there: ``"real"`` (linked), ``"stand-in"`` (written here) or ``"absent"``."""
    import numpy as np

    from cxrlib.data.root import SOURCES, data_root, missing_markers

    real_root = data_root(real_root)
    destination.mkdir(parents=True, exist_ok=True)
    if real_root.is_dir():
        for entry in sorted(real_root.iterdir()):
            if entry.is_dir():
                _link_entries(entry, destination / entry.name)
            elif not (destination / entry.name).exists():
                (destination / entry.name).symlink_to(entry.resolve())
    stand_ins, rng, state = _stand_ins(), np.random.default_rng(seed), {}
    for key, source in SOURCES.items():
        targets = [(key, source.markers)] + [(r.key, r.markers) for r in source.alternatives if r.markers]
        for target, markers in targets:
            base = source.path(destination)
            if all((base / m).exists() for m in markers):
                state.setdefault(target, "real")
            elif target in stand_ins:
                stand_ins[target](destination, rng)
                state[target] = "stand-in"
            else:
                state[target] = "absent"
        if missing_markers(key, destination):
            state[key] = "absent"
    return state


# ---------------------------------------------------------------------------------------- weights


def _walk(value: Any) -> Iterator[Mapping]:
    if isinstance(value, Mapping):
        yield value
        for inner in value.values():
            yield from _walk(inner)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            yield from _walk(inner)


def named_weights(parameter_sets: Iterable[Mapping]) -> set[tuple[str, str]]:
    """(backbone, tag) for every mapping with a ``backbone`` and a ``weights`` that is a tag of its row
    (``auto`` counts as the row's default)."""
    from cxrlib.models.registry import REGISTRY

    found = set()
    for params in parameter_sets:
        for item in _walk(params):
            backbone, weights = item.get("backbone"), item.get("weights")
            spec = REGISTRY.get(backbone) if isinstance(backbone, str) else None
            if spec is None or not isinstance(weights, str):
                continue
            if weights == "auto":
                found.add((spec.key, spec.default_weights))
            elif weights in spec.source_tags:
                found.add((spec.key, weights))
    return found


def stage_weights(folder: Path, parameter_sets: Iterable[Mapping] = ()) -> dict[str, str]:
    """Fake weight files for every row's default source and every tag named in ``parameter_sets``;
    returns ``{"<backbone>/<tag>": path}``."""
    from cxrlib.models.fixtures import write_fake_weights
    from cxrlib.models.registry import REGISTRY

    wanted = {(key, spec.default_weights) for key, spec in REGISTRY.items()} | named_weights(parameter_sets)
    return {f"{key}/{tag}": str(write_fake_weights(key, tag, folder)) for key, tag in sorted(wanted)}


# ----------------------------------------------------------------------------------------- sweeps


def sweep_files(tree: Path) -> list[Path]:
    return sorted((tree / "params" / "sweeps").glob("*.yaml"))


def smoke_sweep(path: Path, tree: Path, out: Path, kernel: SharedKernel | None = None):
    """The smoke version of a sweep file for the paper smoke: ``--smoke`` thinning, its first
    :data:`SWEEP_POINTS` points, its own ``weights`` kept, the image size fitted to a ViT's patches
    (:func:`fit_image_size`), notebooks run in ``tree``."""
    from cxrlib.training import sweeps

    sweep = sweeps.load_sweep(path, smoke=True, out=out / path.stem, workdir=tree)
    blocks, budget = [], SWEEP_POINTS
    for _, point in sweep.points():
        if budget == 0:
            break
        blocks.append({k: [v] for k, v in point.items()})
        budget -= 1
    overrides = {k: v for k, v in sweep.smoke_overrides.items() if k != "weights"}
    if "image_size" in overrides and isinstance(sweep.fixed.get("backbone"), str):
        overrides["image_size"] = fit_image_size({**sweep.fixed, **overrides})["image_size"]
    return dataclasses.replace(sweep, blocks=blocks, smoke_overrides=overrides, kernel=kernel)


def run_sweep(sweep, log: Callable[[str], None] = _say) -> dict[str, Any]:
    """Run a smoke sweep with one worker (journal storage beside its output folder) and build its table."""
    from cxrlib.training import sweeps

    store = sweeps.open_storage(None, sweep)
    study = sweeps.open_study(store, sweep)
    sweeps.reconcile(study, sweep, store)
    counts = sweeps.work(sweep, store, worker="paper-smoke", log=lambda m: log(f"[sweep {sweep.name}] {m}"))
    result: dict[str, Any] = {"counts": counts, "points": len(sweep.points()), "out": str(sweep.out)}
    if counts["FAIL"] == 0:
        ours, published, _ = sweeps.sweep_table(study, sweep, n_boot=20)
        both = sweeps.combined(ours, published, sweeps.as_list(sweep.table.get("rows")))
        target = sweep.out / "sweep_table.csv"
        both.to_csv(target, index=False)
        result.update(table=str(target), rows=len(ours))
    else:
        frame = sweeps.status_frame(study, sweep)
        result["errors"] = [e for e in frame.get("error", []) if isinstance(e, str) and e]
    return result


# ------------------------------------------------------------------------------------------ whole


@dataclass
class Edges:
    """The faked edges of one paper smoke: its data root, weights folder and caches."""

    work: Path
    data: dict[str, str] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)

    @property
    def data_root(self) -> Path:
        return self.work / "data"

    @property
    def weights_dir(self) -> Path:
        return self.work / "weights"

    def env(self) -> dict[str, str]:
        return {"CXRLIB_DATA": str(self.data_root), "CXRLIB_WEIGHTS": str(self.weights_dir),
                "CXRLIB_CACHE": str(self.work / "cache"), "HF_HUB_OFFLINE": "1",
                "TORCH_HOME": str(self.work / "torch"), "HF_HOME": str(self.work / "hf"),
                # tiny tensors: one thread each (several threads on a busy small machine ran ~30x slower)
                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block (kernels started inside inherit them)."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def fit_image_size(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with a smoke ``image_size`` made a multiple of its ViT backbone's patch (the row's
    ``patch_size``; 32 -> 28 for a patch of 14), as the parameter checks require."""
    from cxrlib.models.registry import REGISTRY

    out = dict(params)
    spec = REGISTRY.get(out.get("backbone")) if isinstance(out.get("backbone"), str) else None
    patch = spec.patch_size if spec is not None else None
    if patch and isinstance(out.get("image_size"), int) and out["image_size"] % patch:
        out["image_size"] = max(1, round(out["image_size"] / patch)) * patch
    return out


def stage(repo: Path, work: Path, real_root: Path | None = None, only: list[str] | None = None) -> tuple[Path, Edges, list]:
    """Copy the tree, build the data root and the fake weights; returns (tree, edges, runs)."""
    work.mkdir(parents=True, exist_ok=True)
    tree = build.stage_tree(repo, work / "tree")
    runs = [dataclasses.replace(r, params=fit_image_size(r.params))
            for r in build.discover_runs(PROFILE, repo=tree, only=only, smoke=True)]
    edges = Edges(work)
    edges.data = stage_data(edges.data_root, real_root)
    sweep_params = []
    for path in sweep_files(tree):
        sweep = smoke_sweep(path, tree, work / "sweeps")
        sweep_params += [sweep.trial_params(p, Path("."), resolve=False) for _, p in sweep.points()]
    edges.weights = stage_weights(edges.weights_dir, [r.params for r in runs] + sweep_params)
    return tree, edges, runs


def run_all(repo: Path, work: Path, real_root: Path | None = None, only: list[str] | None = None,
            sweeps: bool = True, log: Callable[[str], None] = _say) -> dict[str, Any]:
    """The whole paper smoke in ``work`` (a fresh folder is best); returns the report (also written to
    ``work/paper-smoke.json``): runs done / failed, each sweep's counts and table."""
    started = time.time()
    tree, edges, runs = stage(repo, work, real_root, only)
    log(f"[paper-smoke] staged {len(runs)} runs, data {edges.data_root}, {len(edges.weights)} fake weight files "
        f"in {time.time() - started:.0f} s")
    report: dict[str, Any] = {"tree": str(tree), "work": str(work), "data": edges.data, "weights": edges.weights}
    with environment(edges.env()), SharedKernel() as kernel:
        outcome = build.execute_all(runs, PROFILE, repo=tree, force=True, shared_kernel=kernel)
        log(outcome.summary(tree))
        report["runs"] = {"done": outcome.done, "failed": {k: v[0] for k, v in outcome.failed.items()},
                          "skipped": outcome.skipped, "out": {r.name: str(tree / r.out_dir) for r in runs}}
        report["sweeps"] = {}
        if sweeps:
            for path in sweep_files(tree):
                t0 = time.time()
                try:
                    result = run_sweep(smoke_sweep(path, tree, work / "sweeps", kernel), log)
                except Exception as error:  # noqa: BLE001 - reported, the other sweeps go on
                    result = {"counts": {"FAIL": 1}, "errors": [f"{type(error).__name__}: {error}"]}
                result["seconds"] = round(time.time() - t0, 1)
                report["sweeps"][path.stem] = result
                log(f"[paper-smoke] sweep {path.stem}: {result['counts']} in {result['seconds']} s")
        report["notebooks_in_shared_kernel"] = kernel.runs
    report["seconds"] = round(time.time() - started, 1)
    report["ok"] = outcome.ok and all(not s["counts"].get("FAIL") for s in report["sweeps"].values())
    (work / REPORT).write_text(json.dumps(report, indent=1, default=str))
    return report


def default_work_dir(repo: Path) -> Path:
    return repo / "_build" / "paper-smoke"


def fresh(work: Path) -> Path:
    """Empty ``work`` (a paper smoke always starts from nothing: its staged data and weights are cheap)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    return work


def book(args: argparse.Namespace, repo: Path = build.REPO) -> int:
    """``cxrlib book``: the paper smoke for ``--profile paper --smoke``, else :func:`cxrlib.book.build.run`."""
    if args.profile == PROFILE and getattr(args, "smoke", False):
        return run_book(args, repo)
    return build.run(args, repo)


def run_book(args: argparse.Namespace, repo: Path = build.REPO) -> int:
    """``cxrlib book --profile paper --smoke``: :func:`run_all` in a fresh work folder; 0 when every run and
    sweep completed, 1 otherwise, 2 for a bad ``--only``."""
    work = Path(args.smoke_dir) if getattr(args, "smoke_dir", None) else default_work_dir(repo)
    try:
        report = run_all(repo, fresh(work), only=args.only, sweeps=not args.only)  # --only: those runs alone
    except (build.UnknownRunError, build.YamlFileError) as error:
        print(f"cxrlib book: {error}", file=sys.stderr)
        return 2
    failed = [f"run {name}: {line}" for name, line in report["runs"]["failed"].items()]
    failed += [f"run {name}: skipped ({why})" for name, why in report["runs"]["skipped"].items()]
    failed += [f"sweep {name}: {'; '.join(s.get('errors', []))[:300]}" for name, s in report["sweeps"].items()
               if s["counts"].get("FAIL")]
    sweeps_done = sum(not s["counts"].get("FAIL") for s in report["sweeps"].values())
    print(f"[paper-smoke] {len(report['runs']['done'])} runs and {sweeps_done} sweeps completed in "
          f"{report['seconds']:.0f} s, {len(failed)} failed. Work folder (staged tree, data root, fake weights, "
          f"sweep studies): {work}; report: {work / REPORT}. No HTML is built (the book's pages are the "
          "classroom profile's); the numbers are not results.", flush=True)
    for line in failed:
        print(f"  FAILED  {line}", flush=True)
    return 0 if report["ok"] else 1
