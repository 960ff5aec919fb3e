"""The answers to the exercises of notebook 13, sweeps (``book/solutions/13_sweep.md``)."""
from __future__ import annotations

from pathlib import Path

from cxrlib.chapters.solutions.format import source
from cxrlib.core.runs import markdown_table, read_provenance, read_table


def sweep_ex1(runs: dict[str, Path]) -> str:
    main, lr = runs["13_sweep"], runs["13_sweep--ex1"]
    status_main, status_lr = read_table(main, "sweep_status"), read_table(lr, "sweep_status")
    shared = sorted(set(status_main["key"]) & set(status_lr["key"]))
    new = sorted(set(status_lr["key"]) - set(status_main["key"]))
    table = read_table(lr, "sweep_d000_layout")
    return (f"Of the {len(status_lr)} grid points of the file, {len(shared)} are grid points of the classroom sweep "
            f"(read from its journal when run with its `out_dir`): {', '.join(f'`{k}`' for k in shared) or 'none'}; "
            f"{len(new)} are new and would run. Each row's best trial by validation loss (its key names the learning rate):\n\n"
            + markdown_table(table) + "\n\nAll trials:\n\n" + markdown_table(status_lr) + f"\n\n{source(main, lr)}\n")


def sweep_ex2(runs: dict[str, Path]) -> str:
    main = runs["13_sweep"]
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
    main = runs["13_sweep"]
    table = read_table(main, "sweep_row_differences")
    if table.empty:
        return f"No two rows of the classroom run both learned, so none is compared.\n\n{source(main)}\n"
    told = table[table["verdict"].isin(["above", "below"])]
    mixed = table[(table["min"] < 0) & (table["max"] > 0)]
    return (f"{len(told)} of the {len(table)} paired differences are concluded (at least three seeds and the "
            f"interval agree): {', '.join(told['quantity']) or 'none'}. For {len(mixed)} of them the seeds disagree in "
            "sign (min below 0, max above), so one seed per row could have told either story there; where every seed "
            "has the same sign, one seed would have given the direction but not how sure it is.\n\n"
            + markdown_table(table) + f"\n\n{source(main)}\n")


def sweep_ex4(runs: dict[str, Path]) -> str:
    main = runs["13_sweep"]
    table = read_table(main, "sweep_row_auroc")
    frame = table[["quantity", "n_seeds", "sd", "min", "max", "ci_low", "ci_high"]].assign(
        **{"seed range": table["max"] - table["min"], "CI width": table["ci_high"] - table["ci_low"]})
    larger = int((frame["seed range"] > frame["CI width"]).sum())
    return (f"In {larger} of {len(frame)} rows the seeds spread wider than the patient-bootstrap interval of their "
            "mean; a single run's interval speaks to the test set only, and says nothing of how far another training "
            "seed would have moved the number.\n\n" + markdown_table(frame) + f"\n\n{source(main)}\n")
