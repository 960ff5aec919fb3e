"""Renumber the notebooks to the reading order of the sidebar (issue 25, item 3). Prepared, not applied.

The sidebar (``_toc.yml``) reads 01 ... 08, 12, 13, 10, 11, 09. This script gives the notebooks the numbers of
that order (``notebooks/03_finetune.ipynb`` keeps its name: it is already third) and rewrites every reference:

- ``git mv`` of every tracked file whose path names an old notebook (``notebooks/<nb>.py`` and ``.ipynb``,
  ``params/<profile>/<nb>*.yaml``, ``params/smoke/**``, ``params/solutions/<nb>--ex*.yaml``,
  ``book/solutions/<nb>.md``) and of the answers' modules ``cxrlib/chapters/solutions/nb<NN>.py``;
- in every tracked text file: the notebook names (``12_semssxl`` -> ``09_semssxl``), the answers' module
  names (``nb12`` -> ``nb09``) and the numbers of prose references ("notebook 12", "notebooks 10 and 11",
  "Notebook 12:"), all in one pass (so 12 -> 09 and 09 -> 13 do not chain).

Dry run by default (prints the plan); ``--apply`` does it. Afterwards: ``jupytext --sync notebooks/*.py``,
the fast tests, and a rebuild of the renamed runs (``book/_generated/<run>/`` keeps the old names; ``--generated``
renames those folders too, which ``cxrlib book`` then re-runs because the notebooks changed). The script
ends by listing the lines that still hold a bare number prefix ("--only 11_") for a human look.

    python scripts/renumber_notebooks.py [--repo .] [--apply] [--generated]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".yml", ".yaml", ".toml", ".txt", ".cfg", ".sh", ".json", ".csv", ".bib", ".js",
                 ".css", ".html", ".rst", ""}
_PROSE = re.compile(r"\b(?P<word>[Nn]otebooks?)(?P<rest>\s+\d{2}(?:(?:\s*\([^()]*\))?(?:,\s*|\s+and\s+|\s+or\s+|\s*-\s*)\d{2})*)")
_PARENTHESES = re.compile(r"\([^()]*\)")


def reading_order(repo: Path) -> list[str]:
    """The notebooks (``01_data``, ...) in the order of the sidebar's executed notebook pages."""
    sys.path.insert(0, str(repo))
    from cxrlib.book.reading_path import sidebar

    order = []
    for page in sidebar(repo):
        if page.notebook and page.notebook not in order:
            order.append(page.notebook)
    return order


def mapping(order: list[str]) -> dict[str, str]:
    """Old notebook name -> new one, for the notebooks whose number changes."""
    renamed = {}
    for index, name in enumerate(order, start=1):
        number, stem = name.split("_", 1)
        new = f"{index:02d}_{stem}"
        if new != name:
            renamed[name] = new
    if "03_finetune" in renamed:
        raise SystemExit("the sidebar would renumber 03_finetune, which keeps its name: fix _toc.yml first")
    return renamed


def numbers(renamed: dict[str, str]) -> dict[str, str]:
    return {old[:2]: new[:2] for old, new in renamed.items()}


def rewrite_text(text: str, renamed: dict[str, str]) -> str:
    """``text`` with the old names, answer modules and prose numbers replaced (one pass each)."""
    by_number = numbers(renamed)
    if not renamed:
        return text
    names = re.compile(r"\b(" + "|".join(map(re.escape, renamed)) + r")\b")
    text = names.sub(lambda m: renamed[m.group(1)], text)
    modules = re.compile(r"\bnb(" + "|".join(by_number) + r")\b")
    text = modules.sub(lambda m: "nb" + by_number[m.group(1)], text)

    def prose(match: re.Match) -> str:
        rest, out, last = match["rest"], [], 0
        hidden = [(m.start(), m.end()) for m in _PARENTHESES.finditer(rest)]
        for number in re.finditer(r"\b\d{2}\b", rest):
            if any(a <= number.start() < b for a, b in hidden):
                continue
            out += [rest[last:number.start()], by_number.get(number.group(0), number.group(0))]
            last = number.end()
        return match["word"] + "".join(out) + rest[last:]

    return _PROSE.sub(prose, text)


def tracked_files(repo: Path) -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout
    return [line for line in listed.splitlines() if line]


def new_path(path: str, renamed: dict[str, str]) -> str:
    by_number = numbers(renamed)
    parts = path.split("/")
    name = parts[-1]
    for old, new in renamed.items():
        if name == old or name.startswith((old + ".", old + "--")):
            name = new + name[len(old):]
            break
    match = re.fullmatch(r"nb(\d{2})\.py", name)
    if match and path.startswith("cxrlib/chapters/solutions/") and match.group(1) in by_number:
        name = f"nb{by_number[match.group(1)]}.py"
    return "/".join(parts[:-1] + [name])


def leftovers(repo: Path, files: list[str], renamed: dict[str, str]) -> list[str]:
    """Lines that may still name an old number in a way the rewrite does not know (for a human look)."""
    olds = sorted({old[:2] for old in renamed})
    pattern = re.compile(r"(?<![\w.])(?:" + "|".join(olds) + r")_(?![A-Za-z0-9])")  # a bare prefix: "--only 11_"
    hits = []
    for name in files:
        path = repo / name
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{name}:{number}: {line.strip()[:120]}")
    return hits


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--apply", action="store_true", help="do it (default: print the plan)")
    parser.add_argument("--generated", action="store_true", help="also rename book/_generated/<run> folders")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    renamed = mapping(reading_order(repo))
    if not renamed:
        print("the notebook numbers already follow the sidebar")
        return 0
    print("renumbering:", ", ".join(f"{old} -> {new}" for old, new in renamed.items()))
    files = tracked_files(repo)
    moves = [(f, new_path(f, renamed)) for f in files if new_path(f, renamed) != f]
    edits = []
    for name in files:
        path = repo / name
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        changed = rewrite_text(text, renamed)
        if changed != text:
            edits.append((name, changed))
    print(f"{len(moves)} files to move, {len(edits)} files to rewrite")
    for old, new in moves:
        print(f"  git mv {old} {new}")
    for name, _ in edits:
        print(f"  rewrite {name}")
    if not args.apply:
        print("dry run: nothing changed (--apply to do it)")
        return 0
    for name, changed in edits:  # rewrite first, under the old names
        (repo / name).write_text(changed, encoding="utf-8", errors="surrogateescape")
    for old, new in moves:  # two steps: 12 -> 09 must not land on 09 before 09 -> 13 has moved it away
        subprocess.run(["git", "mv", old, new + ".renumbering"], cwd=repo, check=True)
    for _, new in moves:
        subprocess.run(["git", "mv", new + ".renumbering", new], cwd=repo, check=True)
    if args.generated:
        generated = repo / "book" / "_generated"
        folders = [f for f in sorted(generated.iterdir()) if f.is_dir()] if generated.is_dir() else []
        renames = [(f, generated / new_path(f"x/{f.name}", renamed).split("/")[-1]) for f in folders]
        renames = [(f, t) for f, t in renames if t != f]
        for folder, target in renames:
            folder.rename(target.with_name(target.name + ".renumbering"))
        for _, target in renames:
            target.with_name(target.name + ".renumbering").rename(target)
    for hit in leftovers(repo, tracked_files(repo), renamed):
        print("  check:", hit)
    print("done: run `jupytext --sync notebooks/*.py` and the fast tests; rebuild the renamed runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
