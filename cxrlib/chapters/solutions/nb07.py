"""The answers to the exercises of notebook 07, label noise (``book/solutions/07_label_noise.md``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrlib.chapters.solutions.format import run_input, source
from cxrlib.core.runs import markdown_table, read_table, run_params


def label_ex1(runs: dict[str, Path]) -> str:
    main, variant = runs["07_label_noise"], runs["07_label_noise--ex1"]
    a = read_table(main, "nih_vs_expert_agreement").set_index("finding")
    b = read_table(variant, "nih_vs_expert_agreement").set_index("finding")
    columns = ["nih_positive", "sensitivity", "ppv", "kappa", "kappa_low", "kappa_high"]
    frame = pd.concat({"before": a[columns], "after": b.loc[a.index, columns]}, axis=1)
    changed = [f for f in a.index if not np.allclose(a.loc[f, columns].astype(float), b.loc[f, columns].astype(float), equal_nan=True)]
    flat = frame.copy()
    flat.columns = [f"{col} {when}" for when, col in frame.columns]
    flat = flat.reset_index()[["finding", *[f"{c} {w}" for c in columns for w in ("before", "after")]]]
    lines = []
    for finding in changed:
        x, y = a.loc[finding], b.loc[finding]
        lines.append(f"**{finding}**: NIH positives {x['nih_positive']:.0f} → {y['nih_positive']:.0f}, sensitivity "
                     f"{x['sensitivity']:.3f} → {y['sensitivity']:.3f}, PPV {x['ppv']:.3f} → {y['ppv']:.3f}, kappa "
                     f"{x['kappa']:.3f} (95 % CI {x['kappa_low']:.3f} to {x['kappa_high']:.3f}) → {y['kappa']:.3f} "
                     f"({y['kappa_low']:.3f} to {y['kappa_high']:.3f}).")
    return (f"Only the findings whose NIH definition changed move: {', '.join(changed) or 'none'}. " + " ".join(lines)
            + " More NIH images now count as airspace opacity: sensitivity against the experts can only rise; PPV "
              "falls when the added images are mostly ones the experts did not call opacities, and kappa moves with the "
              "balance of the two (the two runs share their patients, so compare the intervals with care: they are not "
              "a paired test).\n\n" + markdown_table(flat) + f"\n\n{source(main, variant)}\n")


def label_ex2(runs: dict[str, Path]) -> str:
    main, variant = runs["07_label_noise"], runs["07_label_noise--ex2"]
    blocks, gaps = [], {}
    for folder in (main, variant):
        table = read_table(folder, "simulation_label_flips")
        table = table[table["scenario"].str.startswith(("missed", "spurious"))]
        pivot = table.pivot(index="fraction", columns="scenario", values="mean_drop")
        pivot.columns = ["drop, missed" if c.startswith("missed") else "drop, spurious" for c in pivot.columns]
        prevalence = run_params(folder)["sim_prevalence"]
        gaps[prevalence] = float((pivot["drop, spurious"] - pivot["drop, missed"]).abs().max())
        blocks.append(f"**Prevalence {prevalence}** (mean AUROC drop over {int(table['repeats'].iloc[0])} simulated "
                      f"test sets)\n\n" + markdown_table(pivot.reset_index(), "{:.4f}"))
    low, high = run_params(main)["sim_prevalence"], run_params(variant)["sim_prevalence"]
    return (f"The largest gap between the two kinds of error is {gaps[low]:.4f} AUROC at prevalence {low} and "
            f"{gaps[high]:.4f} at {high}. At 0.5 there are as many positives as negatives, so flipping a share of "
            "positives (missed findings) or the same share of negatives (spurious findings) puts the same number of "
            "wrongly placed scores into the other class: the situation is symmetric, and the two drops differ only "
            "by simulation noise. At a low prevalence the same share of negatives is many more images, and they "
            "dilute the small positive class.\n\n" + "\n\n".join(blocks) + f"\n\n{source(main, variant)}\n")


def label_ex3(runs: dict[str, Path]) -> str:
    main = runs["07_label_noise"]
    table = read_table(main, "auroc_nih_vs_expert")
    half = (table["ci_high"] - table["ci_low"]) / 2
    factor = (half / 0.01) ** 2
    frame = pd.DataFrame({"finding": table["finding"], "difference": table["difference"], "CI half-width": half,
                          "expert positives now": table["expert_positive"],
                          "times the patients for ±0.01": factor,
                          "expert positives then": (table["expert_positive"] * factor).round(0).astype(int)})
    return ("A half-width shrinks like $1/\\sqrt{n}$ (four times the patients halve it): to bring it down to 0.01, so "
            "that a true difference of 0.01 could just exclude 0, takes $(w/0.01)^2$ times the patients, and with them "
            "about as many times the positives, at the same prevalence.\n\n" + markdown_table(frame, "{:.3f}")
            + f"\n\n{source(main)}\n")


def label_ex4(runs: dict[str, Path]) -> str:
    from cxrlib.chapters import label_noise as ln
    from cxrlib.data import nih, nih_relabels

    main = runs["07_label_noise"]
    params = run_params(main)
    joined = nih_relabels.join_metadata(nih_relabels.load_relabels(run_input(main, "nih_google_relabels")),
                                        nih.load_metadata(run_input(main, "nih_metadata")))
    parts = []
    for view in sorted(joined["view"].dropna().unique()):
        table = ln.share_by_group(joined[joined["view"] == view], "follow_up", params["follow_up_edges"],
                                  params["finding_map"], n_boot=params["n_boot"], seed=params["seed"])
        parts.append(table.assign(view=view))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[["view", *[c for c in frame.columns if c != "view"]]]
    trends = []
    for view, rows in frame.groupby("view", sort=True):
        first, last = rows.iloc[0], rows.iloc[-1]
        trends.append(f"{view}: {first['share']:.2f} (95 % CI {first['ci_low']:.2f}–{first['ci_high']:.2f}) in the "
                      f"first bin, {last['share']:.2f} ({last['ci_low']:.2f}–{last['ci_high']:.2f}) in the last")
    return ("The *No Finding* share with an expert finding by follow-up number, within each view position (same "
            f"bootstrap settings as the run). {'; '.join(trends)}. Where the intervals of the first and last bins do not "
            "overlap inside one view, the view does not explain the trend alone: the patients imaged most often carry "
            "the least reliable *No Finding* labels. Bins with few patients have wide intervals.\n\n"
            + markdown_table(frame, "{:.3f}") + f"\n\n{source(main)}\n")
