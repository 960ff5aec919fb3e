"""The numbers of the exercises' worked solutions (instructor edition), computed from run folders.

Each answer is a row of :data:`ANSWERS`: an id ``<notebook>--ex<N>`` (the solution of exercise N of that
notebook, see ``book/solutions/<notebook>.md``), the run folders it reads (the chapter's classroom run
and the solution runs of ``params/solutions/``, executed by ``cxrlib book --edition instructor``) and a
function that turns them into a short MyST snippet: sentences and small tables whose every number is
read from those folders (or recomputed from the inputs their ``provenance.json`` names), never typed.
:func:`cxrlib.book.teaching.write_teaching_pages` writes each snippet to
``book/_teaching/answers/<id>.md``; the solutions include it. An answer whose run folders are missing
says which command makes them (so a partial build still renders).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrlib.core.staging import is_complete


@dataclass(frozen=True)
class Answer:
    key: str
    runs: tuple[str, ...]  # run folders below book/_generated/ that the answer reads
    compute: Callable[[dict[str, Path]], str]


def _table(frame: pd.DataFrame, float_format: str = "{:.3f}") -> str:
    def cell(value) -> str:
        if isinstance(value, (float, np.floating)):
            return "–" if pd.isna(value) else float_format.format(value)
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _params(folder: Path) -> dict:
    return json.loads((folder / "provenance.json").read_text(encoding="utf-8"))["params"]


def _csv(folder: Path, artifact: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{artifact}.csv")


def _source(*folders: Path) -> str:
    parts = []
    for folder in folders:
        params = _params(folder)
        parts.append(f"`{folder.name}` (profile {params.get('profile')}, seed {params.get('seed')})")
    return "*Computed from the run folder" + ("s " if len(parts) > 1 else " ") + " and ".join(parts) + ".*"


# ------------------------------------------------------------------------------------------------ 01_data
def _band(weight: float) -> str:
    """Document 000's resampling band of a class weight (:data:`cxrlib.data.balance.RESAMPLE_RULE`)."""
    from cxrlib.data.balance import RESAMPLE_RULE

    band = next(b for b in RESAMPLE_RULE if b.lower <= weight < b.upper)
    return f"[{band.lower:g}, {band.upper:g}) x{band.factor:g}"


def _data_ex1(runs: dict[str, Path]) -> str:
    main, variant = runs["01_data"], runs["01_data--ex1"]
    a, b = _csv(main, "d000_table1"), _csv(variant, "d000_table1")
    a, b = a[a["class"] != "Total"].set_index("class"), b[b["class"] != "Total"].set_index("class")
    frame = pd.DataFrame({
        "class": a.index,
        f"W (val {_params(main)['val_fraction']:.0%})": a["class_weight"].to_numpy(),
        f"W (val {_params(variant)['val_fraction']:.0%})": b.loc[a.index, "class_weight"].to_numpy(),
        "band before": [_band(w) for w in a["class_weight"]],
        "band after": [_band(w) for w in b.loc[a.index, "class_weight"]],
        "train before": a["train"].to_numpy(), "train after": b.loc[a.index, "train"].to_numpy(),
    })
    moved = frame[frame["band before"] != frame["band after"]]
    from cxrlib.data.balance import RESAMPLE_RULE

    edges = sorted({b.lower for b in RESAMPLE_RULE if b.lower > 0})
    closest = frame.assign(margin=[min(abs(w - e) for e in edges) for w in frame.iloc[:, 2]]).nsmallest(3, "margin")
    sentence = (f"{len(moved)} of {len(frame)} classes change band"
                + (f": {', '.join(moved['class'])}." if len(moved) else ".")
                + f" The weights move by at most {np.max(np.abs(frame.iloc[:, 2] - frame.iloc[:, 1])):.3f}; the classes "
                  f"closest to a band edge at 10 % are {', '.join(closest['class'])}.")
    return f"{sentence}\n\n{_table(frame)}\n\n{_source(main, variant)}\n"


def _data_ex2(runs: dict[str, Path]) -> str:
    from cxrlib.data import nih

    main = runs["01_data"]
    params = _params(main)
    meta = nih.load_metadata(params["nih_metadata"])
    chexnet = nih.chexnet_split(meta, root=params["data_root"])
    disagreements = int(chexnet.attrs["label_disagreements"])
    compare = _csv(main, "d000_table1_vs_published")
    total = compare[compare["class"] != "Total"]
    exact = int((total["total_diff"].fillna(0) == 0).sum())
    return (f"The CheXNet split lists carry the labels of 2017; the shipped metadata (`{Path(params['nih_metadata']).name}`) "
            f"is NIH's 2020 revision. They disagree on **{disagreements:,}** images. With the 2020 labels, "
            f"{exact} of {len(total)} classes of Table 1 have exactly the published Total, so the document counted "
            f"the labels of the revision we ship.\n\n{_source(main)}\n")


def _data_ex3(runs: dict[str, Path]) -> str:
    main = runs["01_data"]
    table = _csv(main, "d000_table1")
    rows = table[table["class"] != "Total"]
    share = rows["val"] / (rows["val"] + rows["train"])
    total = table[table["class"] == "Total"].iloc[0]
    overall = total["val"] / (total["val"] + total["train"])
    frame = pd.DataFrame({"class": rows["class"], "val": rows["val"], "train": rows["train"], "val share": share})
    return (f"The validation part holds {_params(main)['val_fraction']:.0%} of the `train_val` *patients*. Patients "
            f"have different numbers of images, so the share of *images* is {overall:.1%} overall and ranges from "
            f"{share.min():.1%} ({rows.loc[share.idxmin(), 'class']}) to {share.max():.1%} "
            f"({rows.loc[share.idxmax(), 'class']}) per class: a class whose images come from a few patients with many "
            f"follow-ups moves in big steps.\n\n{_table(frame)}\n\n{_source(main)}\n")


def _data_ex4(runs: dict[str, Path]) -> str:
    main, variant = runs["01_data"], runs["01_data--ex4"]
    a = _csv(main, "d001_table2_chexpert").set_index("label")
    b = _csv(variant, "d001_table2_chexpert").set_index("label")
    frame = pd.DataFrame({"label": a.index, "published": a["published_n"].to_numpy(),
                          "reconstructed selection": a["ours_n"].to_numpy(),
                          "all frontal train": b.loc[a.index, "ours_n"].to_numpy()})
    frame["moved"] = frame["all frontal train"] - frame["reconstructed selection"]
    frame["moved %"] = 100 * frame["moved"] / frame["reconstructed selection"]
    frame = frame.dropna(subset=["moved"])
    top = frame.reindex(frame["moved %"].abs().sort_values(ascending=False).index).head(3)
    return (f"The rows that move most (relative to the reconstructed selection) are "
            + ", ".join(f"{r.label} ({r._6:+.1f} %)" for r in top.itertuples())
            + ". The reconstructed selection drops images with an uncertain mark in Cardiomegaly, Lung Opacity, "
              "Lung Lesion, Edema or Pneumonia: a finding often marked uncertain, or often co-marked with those, "
              "loses most when the selection is undone.\n\n"
            + _table(frame, "{:.1f}") + f"\n\n{_source(main, variant)}\n")


# ------------------------------------------------------------------------------------------------ 04_evaluate
def _evaluate_ex1(runs: dict[str, Path]) -> str:
    main, variant = runs["04_evaluate"], runs["04_evaluate--ex1"]
    a = _csv(main, "chexnet_auc").query("kind == 'label'").set_index("label")
    b = _csv(variant, "chexnet_auc").query("kind == 'label'").set_index("label")
    moved = pd.concat([(b["ci_low"] - a["ci_low"]).abs(), (b["ci_high"] - a["ci_high"]).abs()], axis=1).max(axis=1)
    width = a["ci_high"] - a["ci_low"]
    frame = pd.DataFrame({"label": a.index, "positives": a["n_positive"], f"CI width ({_params(main)['n_boot']})": width,
                          f"largest end shift ({_params(variant)['n_boot']})": moved.loc[a.index]}).dropna()
    frame = frame.sort_values(frame.columns[2], ascending=False)
    corr = float(np.corrcoef(np.log(frame["positives"]), frame.iloc[:, 2])[0, 1])
    return (f"With {_params(variant)['n_boot']} instead of {_params(main)['n_boot']} redraws the interval ends move by "
            f"at most {frame.iloc[:, 3].max():.4f} (median {frame.iloc[:, 3].median():.4f}): Monte Carlo noise, small "
            f"beside the widths. The widest intervals belong to {', '.join(frame['label'].head(3))}, findings with few "
            f"positives (correlation of width with log positives: {corr:.2f}): an AUROC's uncertainty is driven by the "
            f"smaller class.\n\n{_table(frame, '{:.4f}')}\n\n{_source(main, variant)}\n")


def _evaluation_data(folder: Path):
    from cxrlib.data import nih
    from cxrlib.stats import evaluate

    params = _params(folder)
    meta = nih.load_metadata(params["nih_metadata"])
    data = evaluate.evaluation_set(evaluate.read_predictions(params["predictions_file"]), meta, params["labels_from"],
                                   meta_labels=nih.CHEXNET_ORDER, meta_name="the NIH metadata")
    return params, data


def _evaluate_ex3(runs: dict[str, Path]) -> str:
    from cxrlib.stats import evaluate

    main = runs["04_evaluate"]
    params, data = _evaluation_data(main)
    image = evaluate.interval_widths(evaluate.auroc_ci_table(data.frame, data.labels, n_boot=params["n_boot"],
                                                             seed=params["seed"], group_col=None))
    patient = _csv(main, "ci_widths").set_index("label")
    image = image.set_index("label")
    frame = pd.DataFrame({"label": patient.index, "patient bootstrap": patient["boot_half_width"],
                          "image bootstrap": image.loc[patient.index, "boot_half_width"],
                          "DeLong": patient["delong_half_width"]})
    closer = (frame["image bootstrap"] - frame["DeLong"]).abs() < (frame["patient bootstrap"] - frame["DeLong"]).abs()
    return (f"Half-widths of the 95 % intervals ({params['n_boot']} redraws each). The image bootstrap is closer to "
            f"DeLong's for {int(closer.sum())} of {len(frame)} findings: both treat the "
            f"{data.n_images:,} images as independent, while the patient bootstrap redraws the {data.n_patients:,} "
            f"patients and so sees that a patient's images move together.\n\n{_table(frame, '{:.4f}')}\n\n{_source(main)}\n")


def _evaluate_ex4(runs: dict[str, Path]) -> str:
    from cxrlib.stats import evaluate, inference

    main = runs["04_evaluate"]
    params, data = _evaluation_data(main)
    label = "Pneumothorax"
    y, s = evaluate.arrays(data.frame, [label])
    result = inference.obuchowski_auc(y[:, 0], s[:, 0], data.frame["patient_id"].to_numpy(), alpha=params["alpha"])
    row = _csv(main, "ci_widths").set_index("label").loc[label]
    obu = (result.ci[1] - result.ci[0]) / 2
    return (f"For {label}: DeLong half-width {row['delong_half_width']:.4f}, Obuchowski (patients as clusters) "
            f"{obu:.4f}, patient bootstrap {row['boot_half_width']:.4f}. Obuchowski's clustered variance is "
            f"{'closer to the patient bootstrap' if abs(obu - row['boot_half_width']) < abs(obu - row['delong_half_width']) else 'closer to DeLong'}: "
            f"it counts a patient's images as one unit, as the bootstrap does, with a formula instead of redraws.\n\n"
            f"{_source(main)}\n")


# ------------------------------------------------------------------------------------------------ 07_label_noise
def _label_ex1(runs: dict[str, Path]) -> str:
    main, variant = runs["07_label_noise"], runs["07_label_noise--ex1"]
    a = _csv(main, "nih_vs_expert_agreement").set_index("finding")
    b = _csv(variant, "nih_vs_expert_agreement").set_index("finding")
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
              "a paired test).\n\n" + _table(flat) + f"\n\n{_source(main, variant)}\n")


def _label_ex2(runs: dict[str, Path]) -> str:
    main, variant = runs["07_label_noise"], runs["07_label_noise--ex2"]
    blocks, gaps = [], {}
    for folder in (main, variant):
        table = _csv(folder, "simulation_label_flips")
        table = table[table["scenario"].str.startswith(("missed", "spurious"))]
        pivot = table.pivot(index="fraction", columns="scenario", values="mean_drop")
        pivot.columns = ["drop, missed" if c.startswith("missed") else "drop, spurious" for c in pivot.columns]
        prevalence = _params(folder)["sim_prevalence"]
        gaps[prevalence] = float((pivot["drop, spurious"] - pivot["drop, missed"]).abs().max())
        blocks.append(f"**Prevalence {prevalence}** (mean AUROC drop over {int(table['repeats'].iloc[0])} simulated "
                      f"test sets)\n\n" + _table(pivot.reset_index(), "{:.4f}"))
    low, high = _params(main)["sim_prevalence"], _params(variant)["sim_prevalence"]
    return (f"The largest gap between the two kinds of error is {gaps[low]:.4f} AUROC at prevalence {low} and "
            f"{gaps[high]:.4f} at {high}. At 0.5 there are as many positives as negatives, so flipping a share of "
            "positives (missed findings) or the same share of negatives (spurious findings) puts the same number of "
            "wrongly placed scores into the other class: the situation is symmetric, and the two drops differ only "
            "by simulation noise. At a low prevalence the same share of negatives is many more images, and they "
            "dilute the small positive class.\n\n" + "\n\n".join(blocks) + f"\n\n{_source(main, variant)}\n")


def _label_ex3(runs: dict[str, Path]) -> str:
    main = runs["07_label_noise"]
    table = _csv(main, "auroc_nih_vs_expert")
    half = (table["ci_high"] - table["ci_low"]) / 2
    factor = (half / 0.01) ** 2
    frame = pd.DataFrame({"finding": table["finding"], "difference": table["difference"], "CI half-width": half,
                          "expert positives now": table["expert_positive"],
                          "times the patients for ±0.01": factor,
                          "expert positives then": (table["expert_positive"] * factor).round(0).astype(int)})
    return ("A half-width shrinks like $1/\\sqrt{n}$ (four times the patients halve it): to bring it down to 0.01, so "
            "that a true difference of 0.01 could just exclude 0, takes $(w/0.01)^2$ times the patients, and with them "
            "about as many times the positives, at the same prevalence.\n\n" + _table(frame, "{:.3f}")
            + f"\n\n{_source(main)}\n")


def _label_ex4(runs: dict[str, Path]) -> str:
    from cxrlib.chapters import label_noise as ln
    from cxrlib.data import nih

    main = runs["07_label_noise"]
    params = _params(main)
    joined = ln.join_metadata(ln.load_relabels(params["relabel_file"]), nih.load_metadata(params["nih_metadata"]))
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
            + _table(frame, "{:.3f}") + f"\n\n{_source(main)}\n")


ANSWERS: dict[str, Answer] = {a.key: a for a in (
    Answer("01_data--ex1", ("01_data", "01_data--ex1"), _data_ex1),
    Answer("01_data--ex2", ("01_data",), _data_ex2),
    Answer("01_data--ex3", ("01_data",), _data_ex3),
    Answer("01_data--ex4", ("01_data", "01_data--ex4"), _data_ex4),
    Answer("04_evaluate--ex1", ("04_evaluate", "04_evaluate--ex1"), _evaluate_ex1),
    Answer("04_evaluate--ex3", ("04_evaluate",), _evaluate_ex3),
    Answer("04_evaluate--ex4", ("04_evaluate",), _evaluate_ex4),
    Answer("07_label_noise--ex1", ("07_label_noise", "07_label_noise--ex1"), _label_ex1),
    Answer("07_label_noise--ex2", ("07_label_noise", "07_label_noise--ex2"), _label_ex2),
    Answer("07_label_noise--ex3", ("07_label_noise",), _label_ex3),
    Answer("07_label_noise--ex4", ("07_label_noise",), _label_ex4),
)}


def write_answers(generated: Path) -> dict[str, str]:
    """{answer id: MyST snippet} for every row of :data:`ANSWERS`, from the run folders under ``generated``."""
    out = {}
    for key, answer in ANSWERS.items():
        folders = {run: generated / run for run in answer.runs}
        missing = [run for run, folder in folders.items() if not is_complete(folder)]
        if missing:
            notebook = key.split("--")[0]
            out[key] = (f"*Not computed in this build: the run folder(s) {', '.join(missing)} are missing; run "
                        f"`cxrlib book --edition instructor --only {notebook}`.*\n")
            continue
        out[key] = answer.compute(folders)
    return out
