"""The answers to the exercises of notebook 11, label efficiency (``book/solutions/11_label_efficiency.md``)."""
from __future__ import annotations

from pathlib import Path

from cxrlib.chapters.solutions.format import interval, settled, source
from cxrlib.core.runs import markdown_table, read_table, run_params


def le_ex1(runs: dict[str, Path]) -> str:
    main = runs["11_label_efficiency"]
    curve, schedule = read_table(main, "le_curve"), read_table(main, "le_schedule")
    best = curve.loc[curve["difference"].idxmax()]
    smallest = schedule.loc[schedule["fraction"].idxmin()]
    frame = curve[["fraction", "difference", "diff_ci_low", "diff_ci_high", "bootstrap_p", "delong_p"]]
    return (f"The difference SSL - random is largest at the fraction {best['fraction']:g}: "
            f"{best['difference']:+.3f}, interval {interval(best, 'diff_ci_low', 'diff_ci_high')}, which "
            f"{settled(best, 'diff_ci_low', 'diff_ci_high')}. The smallest label set ({smallest['fraction']:g}) holds "
            f"{int(smallest['images'])} training images, {int(smallest['positives'])} of them positive: another seed "
            "draws other images. The interval does not show what that does: it redraws the *test* images of one "
            "training set, not the training draw (re-run with other seeds to see it).\n\n" + markdown_table(frame) + f"\n\n{source(main)}\n")


def le_ex2(runs: dict[str, Path]) -> str:
    main = runs["11_label_efficiency"]
    schedule = read_table(main, "le_schedule")
    seen = schedule["epochs"] * schedule["train_images_per_epoch"]
    frame = schedule.assign(**{"images seen": seen})
    budget = run_params(main)["images_budget"]
    return (f"Every run sees about `images_budget` = {budget} training images: the smaller label sets repeat "
            f"their images over more epochs (from {int(schedule['epochs'].max())} epochs for the smallest set to "
            f"{int(schedule['epochs'].min())} for the largest, at most `max_epochs` = {run_params(main)['max_epochs']}). "
            f"With the same number of epochs for every fraction, the smallest set's run would take about "
            f"{schedule['images'].max() / schedule['images'].min():.0f} times fewer gradient steps than the largest's, "
            "and the curve would mix 'fewer labels' with 'less training'.\n\n"
            + markdown_table(frame, "{:.2f}") + f"\n\n{source(main)}\n")


def le_ex3(runs: dict[str, Path]) -> str:
    main = runs["11_label_efficiency"]
    curve = read_table(main, "le_curve")
    curve = curve.sort_values("fraction")
    contains = ((curve["diff_ci_low"] <= 0) & (curve["diff_ci_high"] >= 0)).to_numpy()
    frame = curve[["fraction", "n_train", "auc_SSL", "auc_random", "difference", "diff_ci_low", "diff_ci_high"]]
    tail = next((i for i in range(len(contains)) if contains[i:].all()), None)
    if tail is None:
        caught = "At the largest fraction the interval still excludes 0: the random start has not caught up"
    elif tail == 0:
        caught = "At every fraction the interval contains 0: the test images never tell the two starts apart"
    else:
        caught = (f"From the fraction {curve['fraction'].iloc[tail]:g} on the interval contains 0 (below it, it "
                  "excludes 0): there the random start has caught up as far as the test images can tell")
    return (f"{caught}. Fractions measured: {', '.join(f'{f:g}' for f in curve['fraction'])}. A point at 0.3 would "
            "show how the gap changes between the two largest fractions; it costs one more pair of fine-tuning "
            "runs.\n\n"
            + markdown_table(frame) + f"\n\n{source(main)}\n")
