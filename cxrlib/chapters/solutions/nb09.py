"""The answers to the exercises of notebook 09, sweeps (``book/solutions/09_sweep.md``)."""
from __future__ import annotations

from pathlib import Path

from cxrlib.chapters.solutions.format import source
from cxrlib.core.runs import markdown_table, read_provenance, read_table


def sweep_ex1(runs: dict[str, Path]) -> str:
    main, lr = runs["09_sweep"], runs["09_sweep--ex1"]
    status_main, status_lr = read_table(main, "sweep_status"), read_table(lr, "sweep_status")
    shared = sorted(set(status_main["key"]) & set(status_lr["key"]))
    new = sorted(set(status_lr["key"]) - set(status_main["key"]))
    table = read_table(lr, "sweep_d000_layout")
    return (f"Of the {len(status_lr)} grid points of the file, {len(shared)} are grid points of the classroom sweep "
            f"(read from its journal when run with its `out_dir`): {', '.join(f'`{k}`' for k in shared) or 'none'}; "
            f"{len(new)} are new and would run. Each row's best trial by validation loss (its key names the learning rate):\n\n"
            + markdown_table(table) + "\n\nAll trials:\n\n" + markdown_table(status_lr) + f"\n\n{source(main, lr)}\n")


def sweep_ex2(runs: dict[str, Path]) -> str:
    main = runs["09_sweep"]
    status = read_table(main, "sweep_status")
    trials = float(status["seconds"].sum())
    wall = float(read_provenance(main)["wall_time_s"])
    longest = float(status["seconds"].max())
    return (f"The classroom run: {len(status)} trials took {trials:.0f} s of training in a notebook run of {wall:.0f} s. "
            f"Two workers can at best share the trials' {trials:.0f} s between them (about {max(trials / 2, longest):.0f} s, "
            f"no less than the longest trial, {longest:.0f} s), and only if each trial gets cores of its own; on two shared "
            "cores two trainings slow each other down.\n\n" + markdown_table(status[["key", "state", "seconds"]])
            + f"\n\n{source(main)}\n")


def sweep_ex3(runs: dict[str, Path]) -> str:
    main = runs["09_sweep"]
    table = read_table(main, "sweep_d000_layout")
    half = (table["Test AUC CI high"] - table["Test AUC CI low"]) / 2
    best = table["Test AUC"].idxmax()
    overlap = int(((table["Test AUC CI high"] >= table.loc[best, "Test AUC CI low"])).sum() - 1)
    factor = float((half.median() / 0.02) ** 2)
    frame = table[["backbone", "unfrozen_blocks", "Test AUC", "Test AUC CI low", "Test AUC CI high"]].assign(**{"CI half-width": half})
    return (f"The best row by test AUC ({table.loc[best, 'backbone']}, {table.loc[best, 'unfrozen_blocks']} blocks) has an "
            f"interval that overlaps {overlap} of the other {len(table) - 1} rows' intervals; the median half-width is "
            f"{half.median():.3f}. To bring it to 0.02 (so that a difference of 0.02 could just be seen) takes about "
            f"$({half.median():.3f}/0.02)^2 \\approx {factor:.0f}$ times the test patients (half-widths shrink like "
            "$1/\\sqrt{n}$).\n\n" + markdown_table(frame) + f"\n\n{source(main)}\n")


def sweep_ex4(runs: dict[str, Path]) -> str:
    main = runs["09_sweep"]
    table = read_table(main, "sweep_d000_layout")
    lines = []
    for backbone, rows in table.groupby("backbone", sort=False):
        lines.append(f"{backbone}: " + ", ".join(f"{r['unfrozen_blocks']} blocks {r['Test AUC']:.3f} "
                                                  f"[{r['Test AUC CI low']:.3f}, {r['Test AUC CI high']:.3f}]"
                                                  for _, r in rows.iterrows()))
    return ("Test AUROC [95 % CI] by unfrozen blocks, from random weights: " + "; ".join(lines) + ".\n\n"
            + f"{source(main)}\n")
