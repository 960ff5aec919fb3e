"""The answers to the exercises of notebook 04, evaluation with confidence intervals (``book/solutions/04_evaluate.md``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrlib.chapters.solutions.format import run_input, shown_input, source
from cxrlib.core.runs import markdown_table, read_table, run_params


def evaluate_ex1(runs: dict[str, Path]) -> str:
    main, variant = runs["04_evaluate"], runs["04_evaluate--ex1"]
    a = read_table(main, "chexnet_auc").query("kind == 'label'").set_index("label")
    b = read_table(variant, "chexnet_auc").query("kind == 'label'").set_index("label")
    moved = pd.concat([(b["ci_low"] - a["ci_low"]).abs(), (b["ci_high"] - a["ci_high"]).abs()], axis=1).max(axis=1)
    width = a["ci_high"] - a["ci_low"]
    frame = pd.DataFrame({"label": a.index, "positives": a["n_positive"], f"CI width ({run_params(main)['n_boot']})": width,
                          f"largest end shift ({run_params(variant)['n_boot']})": moved.loc[a.index]}).dropna()
    frame = frame.sort_values(frame.columns[2], ascending=False)
    corr = float(np.corrcoef(np.log(frame["positives"]), frame.iloc[:, 2])[0, 1])
    return (f"With {run_params(variant)['n_boot']} instead of {run_params(main)['n_boot']} redraws the interval ends move by "
            f"at most {frame.iloc[:, 3].max():.4f} (median {frame.iloc[:, 3].median():.4f}): Monte Carlo noise, small "
            f"beside the widths. The widest intervals belong to {', '.join(frame['label'].head(3))}, findings with few "
            f"positives (correlation of width with log positives: {corr:.2f}): an AUROC's uncertainty is driven by the "
            f"smaller class.\n\n{markdown_table(frame, '{:.4f}')}\n\n{source(main, variant)}\n")


def evaluate_ex2(runs: dict[str, Path]) -> str:
    folder, main = runs["04_evaluate--ex2"], runs["04_evaluate"]
    table = read_table(folder, "chexnet_auc")
    columns = [c for c in ("label", "kind", "auc", "ci_low", "ci_high", "delong_ci_low", "delong_ci_high", "n_positive",
                           "n_negative") if c in table.columns]
    ours = table[table["kind"] == "label"].iloc[-1]
    nih = read_table(main, "chexnet_auc")
    nih = nih[nih["kind"] == "label"].assign(width=lambda t: t["ci_high"] - t["ci_low"],
                                             smaller=lambda t: t[["n_positive", "n_negative"]].min(axis=1))
    nih = nih.dropna(subset=["width"])
    if nih.empty or pd.isna(ours["ci_low"]):
        return (f"Predictions: `{shown_input(folder, 'predictions')}`.\n\n" + markdown_table(table[columns])
                + f"\n\n{source(folder, main)}\n")
    width, smaller = float(ours["ci_high"] - ours["ci_low"]), int(min(ours["n_positive"], ours["n_negative"]))
    narrowest, widest = nih.loc[nih["width"].idxmin()], nih.loc[nih["width"].idxmax()]
    nearest = nih.loc[(nih["smaller"] - smaller).abs().idxmin()]
    wider = int((nih["width"] > width).sum())
    return (f"Predictions: `{shown_input(folder, 'predictions')}`.\n\n" + markdown_table(table[columns])
            + f"\n\nThe patient-bootstrap interval of {ours['label']} is {width:.3f} wide ({smaller} images in the smaller "
            f"class). On the {len(nih)} findings of the CheXNet test list "
            f"(notebook 04's run) the widths run from {narrowest['width']:.3f} ({narrowest['label']}, {int(narrowest['smaller'])} "
            f"in the smaller class) to {widest['width']:.3f} ({widest['label']}, {int(widest['smaller'])}); {wider} of them "
            f"are wider than this one. The finding whose smaller class is closest in size, {nearest['label']} "
            f"({int(nearest['smaller'])}), has a width of {nearest['width']:.3f}.\n\n{source(folder, main)}\n")


def _evaluation_data(folder: Path):
    from cxrlib.data import nih
    from cxrlib.stats import evaluate

    params = run_params(folder)
    meta = nih.load_metadata(run_input(folder, "nih_metadata"))
    data = evaluate.evaluation_set(evaluate.read_predictions(run_input(folder, "predictions")), meta, params["labels_from"],
                                   meta_labels=nih.CHEXNET_ORDER, meta_name="the NIH metadata")
    return params, data


def evaluate_ex3(runs: dict[str, Path]) -> str:
    from cxrlib.stats import evaluate

    main = runs["04_evaluate"]
    params, data = _evaluation_data(main)
    image = evaluate.interval_widths(evaluate.auroc_ci_table(data.frame, data.labels, n_boot=params["n_boot"],
                                                             seed=params["seed"], group_col=None))
    patient = read_table(main, "ci_widths").set_index("label")
    image = image.set_index("label")
    frame = pd.DataFrame({"label": patient.index, "patient bootstrap": patient["boot_half_width"],
                          "image bootstrap": image.loc[patient.index, "boot_half_width"],
                          "DeLong": patient["delong_half_width"]})
    closer = (frame["image bootstrap"] - frame["DeLong"]).abs() < (frame["patient bootstrap"] - frame["DeLong"]).abs()
    return (f"Half-widths of the 95 % intervals ({params['n_boot']} redraws each). The image bootstrap is closer to "
            f"DeLong's for {int(closer.sum())} of {len(frame)} findings: both treat the "
            f"{data.n_images:,} images as independent, while the patient bootstrap redraws the {data.n_patients:,} "
            f"patients and so sees that a patient's images move together.\n\n{markdown_table(frame, '{:.4f}')}\n\n{source(main)}\n")


def evaluate_ex4(runs: dict[str, Path]) -> str:
    from cxrlib.stats import evaluate, obuchowski_auc

    main = runs["04_evaluate"]
    params, data = _evaluation_data(main)
    label = "Pneumothorax"
    y, s = evaluate.arrays(data.frame, [label])
    result = obuchowski_auc(y[:, 0], s[:, 0], data.frame["patient_id"].to_numpy(), alpha=params["alpha"])
    row = read_table(main, "ci_widths").set_index("label").loc[label]
    obu = (result.ci[1] - result.ci[0]) / 2
    return (f"For {label}: DeLong half-width {row['delong_half_width']:.4f}, Obuchowski (patients as clusters) "
            f"{obu:.4f}, patient bootstrap {row['boot_half_width']:.4f}. Obuchowski's clustered variance is "
            f"{'closer to the patient bootstrap' if abs(obu - row['boot_half_width']) < abs(obu - row['delong_half_width']) else 'closer to DeLong'}: "
            f"it counts a patient's images as one unit, as the bootstrap does, with a formula instead of redraws.\n\n"
            f"{source(main)}\n")
