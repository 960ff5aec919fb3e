"""The answers to the exercises of notebook 09, SemSSXL (``book/solutions/09_semssxl.md``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cxrlib.chapters.solutions.format import source, variant_row
from cxrlib.core.runs import markdown_table, read_table, run_params


def semssxl_ex1(runs: dict[str, Path]) -> str:
    main = runs["09_semssxl"]
    table = read_table(main, "ssxl_ablation")
    if not (table["variant"] == "no_contrastive").any():
        return (f"This run's `ablations` ({run_params(main)['ablations']}) leave out `no_contrastive`: add it to read "
                f"the comparison.\n\n{source(main)}\n")
    full, plain = variant_row(table, "full"), variant_row(table, "no_contrastive")
    width = float(np.mean([full["ci_high"] - full["ci_low"], plain["ci_high"] - plain["ci_low"]]))
    frame = table[["variant", "contrastive", "macro AUROC", "ci_low", "ci_high"]]
    return (f"`full` reaches a macro AUROC of {full['macro AUROC']:.3f}, `no_contrastive` {plain['macro AUROC']:.3f}: "
            f"a difference of {full['macro AUROC'] - plain['macro AUROC']:+.3f}, against intervals "
            f"{width:.3f} wide on average. With `contrastive_weight` 0 the two become identical because of "
            "`use_views = variant.contrastive and config.contrastive_weight > 0` in `fit_semi`: without the term "
            "no two-view batches are drawn at all, so the random number stream (shuffling, dropout, augmentation) "
            "is the same as the supervised variant's. Drawing batches that are never used would advance the "
            "stream and change every later random draw.\n\n" + markdown_table(frame) + f"\n\n{source(main)}\n")


def semssxl_ex2(runs: dict[str, Path]) -> str:
    main = runs["09_semssxl"]
    table = read_table(main, "ssxl_ablation")
    full = variant_row(table, "full")
    frame = table[["variant", "stages", "macro AUROC", "ci_low", "ci_high", "stage weights", "seconds"]]
    stages = run_params(main)["stages"]
    lines = [f"`full` reads the stages {stages} and weighs them {full['stage weights']} (mean over the test images)."]
    if (table["variant"] == "single_scale").any():
        single = variant_row(table, "single_scale")
        lines.append(f"`single_scale` reaches {single['macro AUROC']:.3f} against `full`'s {full['macro AUROC']:.3f} "
                     f"and trains in {single['seconds']:.0f} s against {full['seconds']:.0f} s.")
    lines.append("Adding the middle flow (`stages [1, 2, 3]`) runs the middle flow's Xception blocks on every image and "
                 "adds a stage to the attention: the training time grows with the blocks read, and where the weight goes "
                 "then is read from the stage-weights figure of that run.")
    return " ".join(lines) + "\n\n" + markdown_table(frame) + f"\n\n{source(main)}\n"


def semssxl_ex3(runs: dict[str, Path]) -> str:
    main = runs["09_semssxl"]
    widths = read_table(main, "ssxl_ci_width")
    fewest = widths.loc[widths["test positives"].idxmin()]
    corr = float(np.corrcoef(widths["test positives"], widths["CI width full"])[0, 1]) if len(widths) > 2 else float("nan")
    factor = float(np.sqrt(2.0))
    return (f"{fewest['label']} has the fewest positive test images ({int(fewest['test positives'])}) and, with "
            f"{fewest['CI width full']:.3f}, " + ("the widest" if fewest["CI width full"] == widths["CI width full"].max()
                                                  else "one of the wider") +
            f" interval of `full`; the correlation of positives and width over the labels is {corr:.2f}. Halving the "
            "test patients halves the positives, and a width shrinks like "
            f"$1/\\sqrt{{n}}$: the widths grow by about $\\sqrt{{2}} \\approx {factor:.2f}$, and the label with the "
            "fewest positives is the first to have none left (then it cannot be scored).\n\n"
            + markdown_table(widths) + f"\n\n{source(main)}\n")
