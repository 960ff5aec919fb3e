"""Build the companion book: run every notebook of a profile with papermill, then ``jupyter-book build``.

A *run* is one YAML file in ``params/<profile>/``: its stem names the run (``01_data``,
``03_finetune--convnextv2_atto``); the part before ``--`` names the notebook in ``notebooks/``. The
YAML holds the papermill parameters. Each run executes into ``book/_generated/<run>/`` (the executed
notebook ``<run>.ipynb`` beside its artifacts), which the book's table of contents points at.

Runs are resumable: a run whose notebook, parameters and library are unchanged since its last
successful execution is skipped (see ``.build-stamp.json``); ``--force`` re-runs everything.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
GENERATED = Path("book") / "_generated"
PROFILES = ("classroom", "paper")


@dataclass(frozen=True)
class Run:
    name: str
    notebook: Path
    params_file: Path
    params: dict

    @property
    def out_dir(self) -> Path:
        return GENERATED / self.name


def discover_runs(profile: str, repo: Path = REPO, only: list[str] | None = None) -> list[Run]:
    """The runs of a profile, in file-name order (which is the book's order)."""
    folder = repo / "params" / profile
    if not folder.is_dir():
        raise FileNotFoundError(f"no parameter folder {folder}; profiles: {', '.join(PROFILES)}")
    runs = []
    for params_file in sorted(folder.rglob("*.yaml")):
        name = params_file.stem
        notebook = repo / "notebooks" / f"{name.split('--')[0]}.ipynb"
        if not notebook.exists():
            raise FileNotFoundError(f"{params_file} names notebook {notebook.name}, which does not exist")
        if only and not any(name.startswith(o) for o in only):
            continue
        params = yaml.safe_load(params_file.read_text()) or {}
        runs.append(Run(name, notebook, params_file, params))
    return runs


def upstream_stamps(run: Run, repo: Path) -> list[Path]:
    """Build stamps of the runs whose outputs this run reads (a parameter naming ``book/_generated/<run>/...``),
    so that re-running ``02_pretrain`` also re-runs the notebooks that use its checkpoints."""
    generated = (repo / GENERATED).resolve()
    stamps = []
    for value in run.params.values():
        if not isinstance(value, str):
            continue
        try:
            inside = (repo / value).resolve().relative_to(generated)
        except ValueError:
            continue
        if inside.parts and (generated / inside.parts[0] / ".build-stamp.json").exists():
            stamps.append(generated / inside.parts[0] / ".build-stamp.json")
    return stamps


def _fingerprint(run: Run, repo: Path) -> str:
    digest = hashlib.sha256()
    digest.update(run.notebook.read_bytes())
    digest.update(json.dumps(run.params, sort_keys=True, default=str).encode())
    for stamp in upstream_stamps(run, repo):
        digest.update(stamp.read_bytes())
    for source in sorted((repo / "cxrlib").rglob("*")):
        if source.is_file() and source.suffix in {".py", ".csv", ".yaml"}:
            digest.update(source.read_bytes())
    return digest.hexdigest()


def execute(run: Run, profile: str, repo: Path = REPO, force: bool = False, kernel: str = "python3") -> bool:
    """Execute one run with papermill; returns False when it was up to date and skipped."""
    import papermill

    out_dir = repo / run.out_dir
    stamp = out_dir / ".build-stamp.json"
    fingerprint = _fingerprint(run, repo)
    if not force and stamp.exists() and json.loads(stamp.read_text()).get("fingerprint") == fingerprint:
        print(f"[book] {run.name}: up to date, skipped")
        return False
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    parameters = {**run.params, "out_dir": str(out_dir), "profile": profile}
    started = time.time()
    print(f"[book] {run.name}: executing {run.notebook.relative_to(repo)} with {run.params_file.relative_to(repo)}", flush=True)
    papermill.execute_notebook(
        str(run.notebook),
        str(out_dir / f"{run.name}.ipynb"),
        parameters=parameters,
        kernel_name=kernel,
        cwd=str(repo),
        progress_bar=False,
        log_output=False,
    )
    stamp.write_text(json.dumps({"fingerprint": fingerprint, "seconds": round(time.time() - started, 1)}))
    print(f"[book] {run.name}: done in {time.time() - started:.0f} s", flush=True)
    return True


def build_html(repo: Path = REPO, strict: bool = True) -> Path:
    """Run ``jupyter-book build`` on the repository root; returns the HTML index path."""
    exe = Path(sys.executable).with_name("jupyter-book")
    command = [str(exe if exe.exists() else "jupyter-book"), "build", str(repo)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    print("[book] " + " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=repo)
    return repo / "_build" / "html" / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cxrlib book", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=PROFILES, default="classroom")
    parser.add_argument("--only", nargs="*", help="run only these runs (prefixes of run names)")
    parser.add_argument("--force", action="store_true", help="re-execute runs that are up to date")
    parser.add_argument("--no-html", action="store_true", help="execute notebooks only")
    parser.add_argument("--no-download", action="store_true", help="do not fetch missing classroom data")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.profile == "classroom" and not args.no_download:
        from cxrlib.data.download import download_missing_classroom

        download_missing_classroom()
    for item in discover_runs(args.profile, only=args.only):
        execute(item, args.profile, force=args.force)
    if not args.no_html:
        index = build_html()
        print(f"[book] open {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
