"""The answers to the exercises of notebook 12, label efficiency (``book/solutions/12_label_efficiency.md``)."""
from __future__ import annotations

from pathlib import Path

from cxrlib.chapters.solutions.format import interval, source
from cxrlib.core.runs import markdown_table, read_table, run_params

_COLUMNS = ["fraction", "start", "n_seeds", "mean", "sd", "min", "max", "ci_low", "ci_high", "verdict", "learned"]


def _differences(curve):
    return curve[curve["start"].str.contains(" - ")].sort_values("fraction")


def _agree(row) -> str:
    k, _, n = str(row["learned"]).partition("/")
    if k != n:
        return f"not interpreted: only {row['learned']} seeds' pairs of models passed the learning check"
    if row["verdict"] in ("above", "below"):
        return f"the seeds and the interval agree ({row['verdict']} 0)"
    return f"no direction is concluded ({row['verdict']})"


def le_ex1(runs: dict[str, Path]) -> str:
    main = runs["12_label_efficiency"]
    curve, schedule = read_table(main, "le_curve"), read_table(main, "le_schedule")
    diffs = _differences(curve)
    best = diffs.loc[diffs["mean"].idxmax()]
    smallest = schedule[schedule["fraction"] == schedule["fraction"].min()]
    return (f"The mean difference SSL - random is largest at the fraction {best['fraction']:g}: "
            f"{best['mean']:+.3f} over {int(best['n_seeds'])} seeds (from {best['min']:+.3f} to {best['max']:+.3f}), "
            f"95 % interval of the seed mean {interval(best, 'ci_low', 'ci_high')}: {_agree(best)}. The smallest label "
            f"set ({smallest['fraction'].iloc[0]:g}) holds {int(smallest['images'].iloc[0])} training images per seed, "
            f"with {int(smallest['positives'].min())} to {int(smallest['positives'].max())} positives; each seed draws "
            "other images, so the seed spread at this fraction includes the label draw.\n\n"
            + markdown_table(diffs[_COLUMNS]) + f"\n\n{source(main)}\n")


def le_ex2(runs: dict[str, Path]) -> str:
    main = runs["12_label_efficiency"]
    schedule = read_table(main, "le_schedule").drop_duplicates("fraction")
    table = read_table(main, "le_runs")
    params = run_params(main)
    stopped = table.groupby("fraction")["stopped_early"].agg(lambda v: f"{int(v.astype(bool).sum())}/{len(v)}")
    frame = schedule[["fraction", "images", "batch_size", "epoch_repeats", "train_images_per_epoch", "epochs",
                      "max_steps"]].assign(**{"stopped early": schedule["fraction"].map(stopped)})
    return (f"An epoch holds at least `epoch_images` = {params['epoch_images']} images, so the smallest set makes "
            f"{int(schedule['epoch_repeats'].max())} passes per epoch, and at least `min_epoch_steps` = "
            f"{params['min_epoch_steps']} optimiser steps, so the batches hold "
            f"{' / '.join(str(int(b)) for b in schedule['batch_size'])} images from the smallest set to the largest; "
            "every run stops after `max_epochs` = "
            f"{params['max_epochs']} epochs or `max_images` = {params['max_images']} images at the latest, earlier when "
            f"the validation loss has not fallen for `patience` = {params['patience']} epoch(s). The step budget grows "
            f"from {int(schedule['max_steps'].min())} to {int(schedule['max_steps'].max())} steps. With the same number "
            "of images seen for every fraction, the large label sets would stop far from convergence and the curve "
            "would mix 'more labels' with 'too little training' (it could even fall as labels grow).\n\n"
            + markdown_table(frame, "{:.2f}") + f"\n\n{source(main)}\n")


def le_ex3(runs: dict[str, Path]) -> str:
    main = runs["12_label_efficiency"]
    diffs = _differences(read_table(main, "le_curve"))
    concluded = (diffs["verdict"].isin(["above", "below"])).to_numpy()
    tail = next((i for i in range(len(concluded)) if not concluded[i:].any()), None)
    if tail is None:
        caught = "At the largest fraction the seeds and the interval still agree on a direction: the starts differ"
    elif tail == 0:
        caught = "At no fraction do the seeds and the interval agree on a direction: the two starts are not told apart"
    else:
        caught = (f"From the fraction {diffs['fraction'].iloc[tail]:g} on no direction is concluded (below it, one "
                  "is): there the random start has caught up as far as these seeds and test images can tell")
    return (f"{caught}. Fractions measured: {', '.join(f'{f:g}' for f in diffs['fraction'])}. A point at 0.3 would "
            "show how the gap changes between the two largest fractions; it costs one more pair of fine-tuning "
            "runs per seed.\n\n" + markdown_table(diffs[_COLUMNS]) + f"\n\n{source(main)}\n")
