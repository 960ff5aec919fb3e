"""The numbers of the exercises' worked solutions (instructor edition), computed from run folders.

Each answer is a row of :data:`ANSWERS`: an id ``<notebook>--ex<N>`` (the solution of exercise N of that
notebook, see ``book/solutions/<notebook>.md``), the run folders it reads (the chapter's classroom run
and the solution runs of ``params/solutions/``, executed by ``cxrlib book --edition instructor``) and a
function that turns them into a short MyST snippet: sentences and small tables whose every number is
read from those folders (or recomputed from the inputs their ``provenance.json`` names), never typed.
``python -m cxrlib.chapters.solutions GENERATED OUT`` (run by
:func:`cxrlib.book.teaching.write_teaching_pages` before an instructor build) writes each snippet to
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
    return ("The rows that move most (relative to the reconstructed selection) are "
            + ", ".join(f"{r['label']} ({r['moved %']:+.1f} %)" for _, r in top.iterrows())
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


def _evaluate_ex2(runs: dict[str, Path]) -> str:
    folder, main = runs["04_evaluate--ex2"], runs["04_evaluate"]
    table = _csv(folder, "chexnet_auc")
    columns = [c for c in ("label", "kind", "auc", "ci_low", "ci_high", "delong_ci_low", "delong_ci_high", "n_positive",
                           "n_negative") if c in table.columns]
    ours = table[table["kind"] == "label"].iloc[-1]
    nih = _csv(main, "chexnet_auc")
    nih = nih[nih["kind"] == "label"].assign(width=lambda t: t["ci_high"] - t["ci_low"],
                                             smaller=lambda t: t[["n_positive", "n_negative"]].min(axis=1))
    nih = nih.dropna(subset=["width"])
    if nih.empty or pd.isna(ours["ci_low"]):
        return (f"Predictions: `{_params(folder)['predictions_file']}`.\n\n" + _table(table[columns])
                + f"\n\n{_source(folder, main)}\n")
    width, smaller = float(ours["ci_high"] - ours["ci_low"]), int(min(ours["n_positive"], ours["n_negative"]))
    narrowest, widest = nih.loc[nih["width"].idxmin()], nih.loc[nih["width"].idxmax()]
    nearest = nih.loc[(nih["smaller"] - smaller).abs().idxmin()]
    wider = int((nih["width"] > width).sum())
    return (f"Predictions: `{_params(folder)['predictions_file']}`.\n\n" + _table(table[columns])
            + f"\n\nThe patient-bootstrap interval of {ours['label']} is {width:.3f} wide ({smaller} images in the smaller "
            f"class). On the {len(nih)} findings of the CheXNet test list "
            f"(notebook 04's run) the widths run from {narrowest['width']:.3f} ({narrowest['label']}, {int(narrowest['smaller'])} "
            f"in the smaller class) to {widest['width']:.3f} ({widest['label']}, {int(widest['smaller'])}); {wider} of them "
            f"are wider than this one. The finding whose smaller class is closest in size, {nearest['label']} "
            f"({int(nearest['smaller'])}), has a width of {nearest['width']:.3f}.\n\n{_source(folder, main)}\n")


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
    from cxrlib.stats import evaluate, obuchowski_auc

    main = runs["04_evaluate"]
    params, data = _evaluation_data(main)
    label = "Pneumothorax"
    y, s = evaluate.arrays(data.frame, [label])
    result = obuchowski_auc(y[:, 0], s[:, 0], data.frame["patient_id"].to_numpy(), alpha=params["alpha"])
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
    from cxrlib.data import nih, nih_relabels

    main = runs["07_label_noise"]
    params = _params(main)
    joined = nih_relabels.join_metadata(nih_relabels.load_relabels(params["relabel_file"]),
                                        nih.load_metadata(params["nih_metadata"]))
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


# ------------------------------------------------------------------------------------------------ 02_pretrain
def _ssl_runs(folder: Path) -> pd.DataFrame:
    return _csv(folder, "ssl_runs")


def _pretrain_ex1(runs: dict[str, Path]) -> str:
    main, moco = runs["02_pretrain"], runs["02_pretrain--ex1"]
    table = _ssl_runs(main)
    k = int(_params(moco)["queue_size"])
    frame = pd.DataFrame({"pool": table["pool"], "images": table["images"], "epochs": table["epochs"],
                          "keys produced": table["images"] * table["epochs"]})
    for queue in (k, 1024):
        frame[f"replaces all K={queue} random vectors?"] = np.where(frame["keys produced"] >= queue, "yes", "no")
        frame[f"K={queue} > pool?"] = np.where(frame["images"] < queue, "yes: own stale keys", "no")
    loss = _csv(moco, "loss")
    first = loss.sort_values("epoch").iloc[:3]
    rises = bool(len(first) > 1 and first["loss"].iloc[1] > first["loss"].iloc[0])
    chance = float(_ssl_runs(moco)["chance_loss"].iloc[0])
    curve = ", ".join(f"{r.loss:.3f}" for r in loss.sort_values("epoch").itertuples())
    first_loss = float(loss.sort_values("epoch")["loss"].iloc[0])
    return (f"MoCo v2 with $K = {k}$ on the full pool: loss per epoch {curve}; chance level $\\log(K+1) = {chance:.3f}$. "
            f"The first epoch's mean loss lies {'below' if first_loss < chance else 'above'} the chance level, and the "
            f"loss {'rises' if rises else 'does not rise'} from the first to the second epoch in this run (an epoch's mean "
            "hides its first steps, while real keys replace the random vectors). Keys per run (one per image and epoch) "
            "against the queue:\n\n"
            + _table(frame, "{:.0f}") + f"\n\n{_source(main, moco)}\n")


def _pretrain_ex2(runs: dict[str, Path]) -> str:
    rows = []
    for name in ("02_pretrain--ex2-t01", "02_pretrain", "02_pretrain--ex2-t10"):
        folder = runs[name]
        params = _params(folder)
        loss = _csv(folder, "loss")
        loss = loss[loss["fraction"] == loss["fraction"].max()].sort_values("epoch")
        batch = int(_ssl_runs(folder)["batch"].iloc[0])
        tau = params.get("temperature") or "method default"
        tau_value = float(tau) if not isinstance(tau, str) else None
        floor = float(np.log1p((2 * batch - 2) * np.exp(-2 / tau_value))) if tau_value else float("nan")
        rows.append({"run": name, "temperature": tau, "batch B": batch, "chance log(2B-1)": float(np.log(2 * batch - 1)),
                     "lowest reachable": floor, "epoch 1 loss": loss["loss"].iloc[0],
                     f"epoch {int(loss['epoch'].iloc[min(2, len(loss) - 1)])} loss": loss["loss"].iloc[min(2, len(loss) - 1)]})
    frame = pd.DataFrame(rows)
    last = frame.columns[-1]
    drops = frame.assign(drop=frame["epoch 1 loss"] - frame[last]).sort_values("drop", ascending=False)
    fell = ", ".join(f"{r['drop']:.3f} at $\\tau$ = {r['temperature']}" for _, r in drops.iterrows())
    return ("The chance level is the same for every temperature; the lowest reachable loss "
            "$\\log(1 + (2B-2)e^{-2/\\tau})$ and the losses the runs reach are not:\n\n" + _table(frame)
            + f"\n\nFrom epoch 1 to {last.removesuffix(' loss')} the loss fell by {fell} (largest drop first).\n\n"
            + f"{_source(*(runs[n] for n in ('02_pretrain--ex2-t01', '02_pretrain--ex2-t10')))}\n")


def _probe_rows(folder: Path, task: str | None = None) -> pd.DataFrame:
    table = _csv(folder, "d002_table3")
    return table if task is None else table[table["task"] == task]


def _pretrain_ex3(runs: dict[str, Path]) -> str:
    rows = []
    for pre, probe in (("02_pretrain", "06_linear_probe"), ("02_pretrain--ex3", "06_linear_probe--ex2")):
        runs_table = _ssl_runs(runs[pre])
        full = runs_table.iloc[0]
        table = _probe_rows(runs[probe])
        best = table[table["init"].str.startswith("SSL 100%")]
        random_rows = table[table["init"] == "random"].set_index("task")
        for r in best.itertuples():
            rows.append({"policy": _params(runs[pre])["policy"], "last loss": full["last_loss"], "chance": full["chance_loss"],
                         "task": r.task, "probe AUROC": r.auc, "CI low": r.auc_ci_low, "CI high": r.auc_ci_high,
                         "random-init AUROC": random_rows.loc[r.task, "auc"]})
    frame = pd.DataFrame(rows)
    return ("Final loss against the chance level, and the linear probe of the final full-pool checkpoint with its "
            "patient-bootstrap 95 % CI, beside the random-initialisation probe of the same run:\n\n" + _table(frame)
            + f"\n\n{_source(*(runs[n] for n in ('02_pretrain--ex3', '06_linear_probe--ex2')))}\n")


def _pretrain_ex4(runs: dict[str, Path]) -> str:
    main, double = runs["02_pretrain"], runs["02_pretrain--ex4"]
    rows = []
    for folder in (main, double):
        runs_table = _ssl_runs(folder).iloc[0]
        loss = _csv(folder, "loss")
        loss = loss[loss["fraction"] == loss["fraction"].max()]
        batch = int(runs_table["batch"])
        rows.append({"run": folder.name, "batch B": batch, "negatives 2B-2": 2 * batch - 2,
                     "chance log(2B-1)": float(runs_table["chance_loss"]), "steps per epoch": int(loss["steps"].iloc[0]),
                     "seconds per epoch (median)": float(loss["seconds"].median())})
    frame = pd.DataFrame(rows)
    return (_table(frame) + "\n\nSeconds are wall time on the build machine (shared machines add noise).\n\n"
            + f"{_source(main, double)}\n")


# ------------------------------------------------------------------------------------------------ 03_finetune
def _finetune_summary(folder: Path) -> dict:
    metrics = _csv(folder, "metrics")
    auc = _csv(folder, "ft_test_auroc").query("kind == 'label'").iloc[0]
    return {"run": folder.name, "unfrozen blocks": _params(folder).get("unfrozen_blocks"),
            "backbone": _params(folder).get("backbone"), "epochs run": len(metrics),
            "training s": float(metrics["epoch_seconds"].sum()), "epoch 1 val AUROC": float(metrics["val_auroc"].iloc[0]),
            "best val loss": float(metrics["val_loss"].min()), "test AUROC": float(auc["auc"]),
            "CI low": float(auc["boot_ci_low"]), "CI high": float(auc["boot_ci_high"])}


def _paired(a: Path, b: Path) -> str:
    """AUROC(a) - AUROC(b) on the same test images: clustered (patient) paired DeLong test."""
    from cxrlib.stats import clustered_delong_test

    pa, pb = _csv(a, "predictions_test"), _csv(b, "predictions_test")
    merged = pa.merge(pb, on="image_id", suffixes=("_a", "_b"))
    column = [c for c in pa.columns if c.startswith("prob_")][-1]
    test = clustered_delong_test(merged["label_a"].to_numpy(), merged[f"{column}_a"].to_numpy(),
                                           merged[f"{column}_b"].to_numpy(), merged["patient_id_a"].to_numpy())
    return (f"AUROC({a.name}) − AUROC({b.name}) = {test.difference:+.3f} (95 % CI {test.ci[0]:+.3f} to "
            f"{test.ci[1]:+.3f}, {'p < 0.001' if test.p_value < 0.001 else f'p = {test.p_value:.3f}'}; paired DeLong "
            "test with patients as clusters, "
            f"{len(merged)} test images)")


def _finetune_ex1(runs: dict[str, Path]) -> str:
    names = ("03_finetune--ex1-head", "03_finetune", "03_finetune--ex1-all")
    frame = pd.DataFrame([_finetune_summary(runs[n]) for n in names])
    tests = [_paired(runs["03_finetune"], runs["03_finetune--ex1-head"]),
             _paired(runs["03_finetune--ex1-all"], runs["03_finetune"])]
    probe_line = ""
    if "06_linear_probe" in runs and is_complete(runs["06_linear_probe"]):
        random_row = _probe_rows(runs["06_linear_probe"], "kermany_pneumonia").query("init == 'random'")
        if len(random_row):
            r = random_row.iloc[0]
            probe_line = (f" Notebook 06's linear probe on a frozen, untrained ResNet-18 reaches a test AUROC of "
                          f"{r['auc']:.3f} (95 % CI {r['auc_ci_low']:.3f} to {r['auc_ci_high']:.3f}) on the same task.")
    return (_table(frame) + "\n\n" + "; ".join(tests) + "." + probe_line + f"\n\n{_source(*(runs[n] for n in names))}\n")


def _finetune_ex2(runs: dict[str, Path]) -> str:
    names = ("03_finetune--ex1-head", "03_finetune", "03_finetune--ex1-all")
    info = json.loads((runs["03_finetune"] / "weights.json").read_text(encoding="utf-8"))
    frame = pd.DataFrame([{k: v for k, v in _finetune_summary(runs[n]).items()
                           if k in ("run", "unfrozen blocks", "epoch 1 val AUROC", "best val loss")} for n in names])
    return (f"The classroom run's weights: *{info.get('description')}* (source: {info.get('source')}; "
            f"to get them: `{info.get('hint')}`).\n\n" + _table(frame) + f"\n\n{_source(*(runs[n] for n in names))}\n")


def _finetune_ex3(runs: dict[str, Path]) -> str:
    main = runs["03_finetune"]
    metrics = _csv(main, "metrics")
    return (f"The classroom run finished {len(metrics)} epochs (of `epochs: {_params(main).get('epochs')}`, with "
            f"early stopping after `patience: {_params(main).get('patience')}` epochs without a better validation "
            "loss); an interruption during epoch $e$ resumes at epoch $e$, from the state saved after epoch $e-1$.\n\n"
            + _table(metrics) + f"\n\n{_source(main)}\n")


def _finetune_ex4(runs: dict[str, Path]) -> str:
    names = ("03_finetune", "03_finetune--ex4")
    frame = pd.DataFrame([_finetune_summary(runs[n]) for n in names])
    return (_table(frame) + "\n\n" + _paired(runs["03_finetune--ex4"], runs["03_finetune"]) + "."
            + f"\n\n{_source(*(runs[n] for n in names))}\n")


# ------------------------------------------------------------------------------------------------ 05_explain
def _figure(folder: Path, artifact: str, alt: str) -> str:
    repo = folder.parents[2]
    return f"![{alt}](/{(folder / f'{artifact}.png').relative_to(repo).as_posix()})"


def _explain_ex1(runs: dict[str, Path]) -> str:
    folder = runs["05_explain--ex1"]
    cases = _csv(folder, "ex_gradcam_cases")
    return (_figure(folder, "ex_gradcam", "Grad-CAM cases, four per kind") + "\n\n" + _table(cases)
            + f"\n\n{_source(folder)}\n")


def _explain_ex2(runs: dict[str, Path]) -> str:
    parts = []
    for name in ("05_explain", "05_explain--ex2-p5", "05_explain--ex2-p50", "05_explain--ex2-seed1"):
        params = _params(runs[name])
        parts.append(f"**{name}** (perplexity {params['tsne_perplexity']}, seed {params['seed']})\n\n"
                     + _figure(runs[name], "ex_tsne", f"t-SNE, perplexity {params['tsne_perplexity']}, seed {params['seed']}"))
    return "\n\n".join(parts) + f"\n\n{_source(*(runs[n] for n in ('05_explain--ex2-p5', '05_explain--ex2-p50', '05_explain--ex2-seed1')))}\n"


def _explain_ex3(runs: dict[str, Path]) -> str:
    main = runs["05_explain"]
    table = _csv(main, "ex_sanity")
    threshold = float(_params(main)["sanity_threshold"])
    lines = []
    for method, rows in table.groupby("method", sort=False):
        rows = rows.sort_values("depth")
        below = rows[rows["mean"] < threshold]
        if rows["mean"].isna().all():
            lines.append(f"{method}: every randomised map is constant ({int(rows['constant_maps'].max())} constant maps), "
                         "so the correlation is undefined: the maps changed completely from the first level on")
        elif len(below):
            first = below.iloc[0]
            lines.append(f"{method}: below {threshold} from level '{first['level']}' (depth {int(first['depth'])}, mean "
                         f"Spearman {first['mean']:.2f})")
        else:
            lines.append(f"{method}: never below {threshold} (lowest mean {rows['mean'].min():.2f})")
    return ("; ".join(lines) + ".\n\n" + _table(table[["method", "depth", "level", "mean", "min", "max", "constant_maps"]])
            + f"\n\n{_source(main)}\n")


def _explain_ex4(runs: dict[str, Path]) -> str:
    from scipy.stats import norm

    main = runs["05_explain"]
    table = _csv(main, "ex_localisation")
    hit = table[table["metric"].str.startswith("pointing game")]
    chance = table[table["metric"].str.startswith("chance")]
    lines = []
    for r in hit.itertuples():
        c = chance[chance["run"] == r.run]
        chance_text = f"; chance (box share of the image) {c['estimate'].iloc[0]:.3f}" if len(c) else ""
        lines.append(f"{r.run}: hit rate {r.estimate:.3f} (95 % CI {r.ci_low:.3f} to {r.ci_high:.3f}, n = {int(r.n)}){chance_text}")
    p0, p1, alpha, power = 0.4, 0.5, 0.05, 0.8
    z_a, z_b = norm.ppf(1 - alpha / 2), norm.ppf(power)
    one = ((z_a * np.sqrt(p0 * (1 - p0)) + z_b * np.sqrt(p1 * (1 - p1))) / (p1 - p0)) ** 2
    pbar = (p0 + p1) / 2
    two = ((z_a * np.sqrt(2 * pbar * (1 - pbar)) + z_b * np.sqrt(p0 * (1 - p0) + p1 * (1 - p1))) / (p1 - p0)) ** 2
    return ("; ".join(lines) + ".\n\n"
            f"To tell a hit rate of {p1} from {p0} (two-sided $\\alpha$ = {alpha}, power {power:.0%}): about "
            f"**{int(np.ceil(one))}** boxed images against a known rate of {p0}, or **{int(np.ceil(two))}** per model when "
            f"two models are compared on separate image sets (normal approximation; images of one patient count less "
            f"than independent ones).\n\n{_source(main)}\n")


# ------------------------------------------------------------------------------------------------ 06_linear_probe
def _linear_ex1(runs: dict[str, Path]) -> str:
    rows = []
    for name in ("06_linear_probe--ex1-100", "06_linear_probe", "06_linear_probe--ex1-all"):
        table = _probe_rows(runs[name])
        table = table[(table["init"] == "random") | table["init"].str.startswith("SSL 100%")]
        for r in table.itertuples():
            limit = _params(runs[name]).get("fit_limit")
            rows.append({"run": name, "fit_limit": "all" if limit is None else str(limit), "task": r.task, "init": r.init,
                         "n_fit": r.n_fit, "AUROC": r.auc, "CI low": r.auc_ci_low, "CI high": r.auc_ci_high})
    frame = pd.DataFrame(rows)
    return _table(frame) + f"\n\n{_source(*(runs[n] for n in ('06_linear_probe--ex1-100', '06_linear_probe--ex1-all')))}\n"


def _linear_ex2(runs: dict[str, Path]) -> str:
    parts = []
    for name in ("06_linear_probe", "06_linear_probe--ex2"):
        folder = runs[name]
        policy = _params(folder)["pretrain"]["policy"]
        if (folder / "d004_style_finetune.csv").exists():
            table = _csv(folder, "d004_style_finetune")
            parts.append(f"**Fine-tuning, pre-training policy {policy}** ({name})\n\n"
                         + _table(table[["model", "auc", "boot_ci_low", "boot_ci_high", "delong_p_vs_baseline"]]))
        probe_table = _probe_rows(folder)
        parts.append(f"**Linear probe, policy {policy}** ({name})\n\n"
                     + _table(probe_table[["init", "task", "auc", "auc_ci_low", "auc_ci_high"]]))
    return "\n\n".join(parts) + f"\n\n{_source(runs['06_linear_probe'], runs['06_linear_probe--ex2'])}\n"


def _linear_ex3(runs: dict[str, Path]) -> str:
    from sklearn.metrics import roc_curve

    from cxrlib.chapters import linear_probe as linear_eval
    from cxrlib.training import probe, ssl

    main = runs["06_linear_probe"]
    params = _params(main)
    repo = main.parents[2]
    task = "kermany_pneumonia" if "kermany_pneumonia" in params["tasks"] else params["tasks"][0]
    pre = params["pretrain"]
    table = linear_eval.task_table(task, params.get("data_root"), params["seed"], params.get("fit_limit"))
    finals, _ = linear_eval.checkpoint_inits(ssl.read_checkpoint_index(repo / params["pretrain_dir"]))
    rows = []
    for init in [linear_eval.Init("random", "none"), finals[0]]:
        model, info = linear_eval.load_init(pre["backbone"], init, image_size=pre["image_size"], seed=params["seed"])
        features = linear_eval.init_features(model, info, table, task, preprocess=pre["preprocess"],
                                             image_size=pre["image_size"], feature_dir=main / "features")
        _, fitted, prob = linear_eval.evaluate_features(features, table, task, seed=params["seed"], n_boot=1)
        fit, test = (table["role"] == "fit").to_numpy(), (table["role"] == "test").to_numpy()
        from cxrlib.images.tasks import get_task

        y = get_task(task).targets(table)
        fpr, tpr, thresholds = roc_curve(y[fit], fitted.predict_proba(features[fit]))
        youden = float(thresholds[np.argmax(tpr - fpr)])
        for name, threshold in (("0.5", 0.5), (f"Youden on fit rows ({youden:.3f})", youden)):
            m = probe.probe_metrics(y[test], prob, threshold=threshold)
            rows.append({"init": init.name, "threshold": name, "sensitivity": m["sen"], "specificity": m["spe"],
                         "accuracy": m["acc"]})
    frame = pd.DataFrame(rows)
    return (f"Task {task}, test part; the probe is refitted on the features cached in the run folder (same C "
            "selection and seed as the run). The probe weights the classes inversely to their frequency, so 0.5 is "
            "already near a balanced operating point; Youden's threshold from the fit rows moves it by what the fit "
            "rows' ROC curve says:\n\n" + _table(frame) + f"\n\n{_source(main)}\n")


def _linear_ex4(runs: dict[str, Path]) -> str:
    main = runs["06_linear_probe"]
    table = _probe_rows(main).query("init == 'random'")
    lines = [f"{r.task}: AUROC {r.auc:.3f} (95 % CI {r.auc_ci_low:.3f} to {r.auc_ci_high:.3f}, {int(r.n_test)} test images)"
             for r in table.itertuples()]
    return "Linear probe on a frozen, untrained ResNet: " + "; ".join(lines) + f".\n\n{_source(main)}\n"


# ------------------------------------------------------------------------------------------------ 08_federated
def _federated_ex1(runs: dict[str, Path]) -> str:
    parts = []
    for name in ("08_federated--ex1", "08_federated--ex1-scale"):
        params = _params(runs[name])
        table = _csv(runs[name], "fl_attack")
        parts.append(f"**{name}**: attack {params['attack']}, factor {params['attack_factor']}\n\n" + _table(table))
    return "\n\n".join(parts) + f"\n\n{_source(runs['08_federated--ex1'], runs['08_federated--ex1-scale'])}\n"


def _federated_perf(folder: Path) -> pd.DataFrame:
    table = _csv(folder, "fl_performance")
    return table.assign(label_alpha=_params(folder)["label_alpha"])


def _federated_ex2(runs: dict[str, Path]) -> str:
    main, skew = runs["08_federated"], runs["08_federated--ex2"]
    perf = pd.concat([_federated_perf(main), _federated_perf(skew)])
    perf = perf[["label_alpha", "model", "institution", "images", "positives", "auroc", "ci_low", "ci_high"]]
    institutions = pd.concat([_csv(f, "fl_institutions").assign(label_alpha=_params(f)["label_alpha"]) for f in (main, skew)])
    institutions = institutions.astype({c: int for c in institutions.columns
                                        if c.endswith(("images", "patients")) and institutions[c].notna().all()})
    attack = _csv(skew, "fl_attack")
    honest = ", ".join(f"{r['run']}: {r['honest updates rejected']}" for _, r in attack.iterrows())
    sentences = []
    for alpha, rows in institutions.groupby("label_alpha", sort=False):
        share = rows["train positive share"]
        pooled = perf[(perf["label_alpha"] == alpha) & (perf["institution"] == "pooled")].set_index("model")
        fed, central, local = (pooled.loc[m] for m in ("fedavg", "centralised", "local only"))
        overlap = _overlap(fed, central)
        sentences.append(
            f"With `label_alpha` {alpha:g} the institutions' train positive shares run from {share.min():.2f} to "
            f"{share.max():.2f}; pooled test AUROC: centralised {central['auroc']:.3f} [{central['ci_low']:.3f}, "
            f"{central['ci_high']:.3f}], FedAvg {fed['auroc']:.3f} [{fed['ci_low']:.3f}, {fed['ci_high']:.3f}], local only "
            f"{local['auroc']:.3f} [{local['ci_low']:.3f}, {local['ci_high']:.3f}]; the FedAvg and centralised intervals "
            + ("overlap." if overlap else "do not overlap."))
    return ("**Institutions** (train positive share per institution)\n\n" + _table(institutions) + "\n\n**AUROC per model and "
            "institution**\n\n" + _table(perf) + "\n\n" + " ".join(sentences) + f"\n\n**Honest updates rejected** "
            f"(label_alpha {_params(skew)['label_alpha']}): {honest}.\n\n{_source(main, skew)}\n")


def _federated_ex3(runs: dict[str, Path]) -> str:
    main = runs["08_federated"]
    return _table(_csv(main, "fl_ledger_tamper")) + f"\n\n{_source(main)}\n"


def _federated_ex4(runs: dict[str, Path]) -> str:
    main, big = runs["08_federated"], runs["08_federated--ex4"]
    costs = pd.concat([_csv(f, "fl_costs").assign(hidden=_params(f)["hidden"], local_epochs=_params(f)["local_epochs"])
                       for f in (main, big)])
    costs = costs[costs["run"] == "fedavg"][["hidden", "local_epochs", "parameters", "MB down per round",
                                             "MB up per round", "ledger kB per round"]]
    member = pd.concat([_csv(f, "fl_membership").assign(hidden=_params(f)["hidden"], local_epochs=_params(f)["local_epochs"])
                        for f in (main, big)])
    member = member[["hidden", "local_epochs", "model", "attack_auroc", "ci_low", "ci_high", "train AUROC", "test AUROC"]]
    lines = []
    for model, rows in member.groupby("model", sort=False):
        small, large = rows.iloc[0], rows.iloc[-1]
        overlap = _overlap(small, large)
        lines.append(f"{model}: attack AUROC {small['attack_auroc']:.3f} [{small['ci_low']:.3f}, {small['ci_high']:.3f}] "
                     f"-> {large['attack_auroc']:.3f} [{large['ci_low']:.3f}, {large['ci_high']:.3f}] (intervals "
                     + ("overlap)" if overlap else "do not overlap)"))
    return ("**Costs (FedAvg)**\n\n" + _table(costs) + "\n\n**Membership inference**\n\n" + _table(member)
            + "\n\nFrom the smaller to the larger model: " + "; ".join(lines) + f".\n\n{_source(main, big)}\n")


# ------------------------------------------------------------------------------------------------ 09_sweep
def _sweep_ex1(runs: dict[str, Path]) -> str:
    main, lr = runs["09_sweep"], runs["09_sweep--ex1"]
    status_main, status_lr = _csv(main, "sweep_status"), _csv(lr, "sweep_status")
    shared = sorted(set(status_main["key"]) & set(status_lr["key"]))
    new = sorted(set(status_lr["key"]) - set(status_main["key"]))
    table = _csv(lr, "sweep_d000_layout")
    return (f"Of the {len(status_lr)} grid points of the file, {len(shared)} are grid points of the classroom sweep "
            f"(read from its journal when run with its `out_dir`): {', '.join(f'`{k}`' for k in shared) or 'none'}; "
            f"{len(new)} are new and would run. Each row's best trial by validation loss (its key names the learning rate):\n\n"
            + _table(table) + "\n\nAll trials:\n\n" + _table(status_lr) + f"\n\n{_source(main, lr)}\n")


def _sweep_ex2(runs: dict[str, Path]) -> str:
    main = runs["09_sweep"]
    status = _csv(main, "sweep_status")
    trials = float(status["seconds"].sum())
    wall = float(json.loads((main / "provenance.json").read_text(encoding="utf-8"))["wall_time_s"])
    longest = float(status["seconds"].max())
    return (f"The classroom run: {len(status)} trials took {trials:.0f} s of training in a notebook run of {wall:.0f} s. "
            f"Two workers can at best share the trials' {trials:.0f} s between them (about {max(trials / 2, longest):.0f} s, "
            f"no less than the longest trial, {longest:.0f} s), and only if each trial gets cores of its own; on two shared "
            "cores two trainings slow each other down.\n\n" + _table(status[["key", "state", "seconds"]])
            + f"\n\n{_source(main)}\n")


def _sweep_ex3(runs: dict[str, Path]) -> str:
    main = runs["09_sweep"]
    table = _csv(main, "sweep_d000_layout")
    half = (table["Test AUC CI high"] - table["Test AUC CI low"]) / 2
    best = table["Test AUC"].idxmax()
    overlap = int(((table["Test AUC CI high"] >= table.loc[best, "Test AUC CI low"])).sum() - 1)
    factor = float((half.median() / 0.02) ** 2)
    frame = table[["backbone", "unfrozen_blocks", "Test AUC", "Test AUC CI low", "Test AUC CI high"]].assign(**{"CI half-width": half})
    return (f"The best row by test AUC ({table.loc[best, 'backbone']}, {table.loc[best, 'unfrozen_blocks']} blocks) has an "
            f"interval that overlaps {overlap} of the other {len(table) - 1} rows' intervals; the median half-width is "
            f"{half.median():.3f}. To bring it to 0.02 (so that a difference of 0.02 could just be seen) takes about "
            f"$({half.median():.3f}/0.02)^2 \\approx {factor:.0f}$ times the test patients (half-widths shrink like "
            "$1/\\sqrt{n}$).\n\n" + _table(frame) + f"\n\n{_source(main)}\n")


def _sweep_ex4(runs: dict[str, Path]) -> str:
    main = runs["09_sweep"]
    table = _csv(main, "sweep_d000_layout")
    lines = []
    for backbone, rows in table.groupby("backbone", sort=False):
        lines.append(f"{backbone}: " + ", ".join(f"{r['unfrozen_blocks']} blocks {r['Test AUC']:.3f} "
                                                  f"[{r['Test AUC CI low']:.3f}, {r['Test AUC CI high']:.3f}]"
                                                  for _, r in rows.iterrows()))
    return ("Test AUROC [95 % CI] by unfrozen blocks, from random weights: " + "; ".join(lines) + ".\n\n"
            + f"{_source(main)}\n")



# ------------------------------------------------------------------------------------------------ 10_documents
def _overlap(a, b, low: str = "ci_low", high: str = "ci_high") -> bool:
    """Whether the intervals ``[low, high]`` of rows ``a`` and ``b`` share a point."""
    return bool(a[high] >= b[low] and b[high] >= a[low])


def _interval(row, low: str = "boot_ci_low", high: str = "boot_ci_high") -> str:
    return f"[{row[low]:+.3f}, {row[high]:+.3f}]"


def _settled(row, low: str = "boot_ci_low", high: str = "boot_ci_high") -> str:
    return "excludes 0" if row[low] > 0 or row[high] < 0 else "contains 0"


def _auc_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("auc_")]


def _documents_ex1(runs: dict[str, Path]) -> str:
    main = runs["10_documents"]
    table = _csv(main, "d001_analogue_table4")
    macro = table[table["kind"] == "average"].iloc[0]
    labels = table[table["kind"] == "label"]
    unscorable = labels[labels["difference"].isna()]
    few = labels[labels["difference"].notna() & (labels["n_positive"] < 5)]
    frame = labels[["label", "n_positive", "n_negative", "difference", "boot_ci_low", "boot_ci_high"]]
    return (f"The macro-average difference ({' - '.join(c[4:] for c in _auc_columns(table))}) is "
            f"{macro['difference']:+.3f} with the patient-bootstrap interval {_interval(macro)}, which "
            f"{_settled(macro)}. {len(unscorable)} of {len(labels)} labels have no positive (or no negative) test image "
            f"and cannot be scored at all" + (f" ({', '.join(unscorable['label'])})" if len(unscorable) else "")
            + f"; {len(few)} more have fewer than 5 positives" + (f" ({', '.join(few['label'])})" if len(few) else "")
            + ": each of their AUROCs rests on a handful of images, and a single image moves it by a large step. "
              "More epochs change the scores, not the test "
              "images: the number of positives per label is fixed by the test list, so only more test images "
              "narrow these intervals.\n\n" + _table(frame) + f"\n\n{_source(main)}\n")


def _documents_ex2(runs: dict[str, Path]) -> str:
    main = runs["10_documents"]
    rows = []
    for design, artifact, kind in (("document 001, NIH sample (macro)", "d001_analogue_table4", "average"),
                                   ("document 004, Kermany", "d004_analogue_paired", "label")):
        table = _csv(main, artifact)
        row = table[table["kind"] == kind].iloc[0]
        rows.append({"design": design, "difference": row["difference"], "CI low": row["boot_ci_low"],
                     "CI high": row["boot_ci_high"], "interval": _settled(row),
                     "test positives": int(row["n_positive"]), "test negatives": int(row["n_negative"])})
    frame = pd.DataFrame(rows)
    settled = frame[frame["interval"] == "excludes 0"]
    frame["CI width"] = frame["CI high"] - frame["CI low"]
    wider = frame.loc[frame["CI width"].idxmax(), "design"]
    return ("Both compare the SSL start with the other start on the same test images. "
            + (f"The interval excludes 0 for: {' and '.join(settled['design'])}. " if len(settled)
               else "Neither interval excludes 0. ")
            + f"The wider interval is that of {wider}. The Kermany test set has hundreds of images of one binary "
              "label; the NIH sample's test list keeps a few dozen images spread over fourteen labels (the macro row "
              "counts positives over all labels, so one image can count several times). A macro average over many "
              "labels can be steadier than any of its labels, but every label in it rests on a handful of "
              "positives.\n\n"
            + _table(frame) + f"\n\n{_source(main)}\n")


def _documents_ex4(runs: dict[str, Path]) -> str:
    main = runs["10_documents"]
    table = _csv(main, "d001_analogue_table4")
    labels = table[(table["kind"] == "label") & table["difference"].notna()]
    frame = labels[["label", "n_positive", "bootstrap_p", "delong_p", "clustered_p"]]
    ratio = (frame["bootstrap_p"] - frame["delong_p"]).abs()
    n_boot = int(_params(main)["n_boot"])
    return (f"Over the {len(frame)} scorable labels the two p-values differ by {ratio.median():.3f} in the median "
            f"(at most {ratio.max():.3f}). The run used `n_boot` = {n_boot}: a bootstrap p is a share of the "
            f"{n_boot} redraws, so it cannot resolve much below 1/{n_boot} = {1 / n_boot:.4f} (a p of 0 means 'below about "
            f"{1 / n_boot:.4f}', not 0). With 200 redraws the resolution is about 0.005, and "
            "a run with another `seed` draws other patients: p-values near 0.05 can cross it. DeLong's p does not "
            "depend on redraws at all.\n\n" + _table(frame) + f"\n\n{_source(main)}\n")


# ------------------------------------------------------------------------------------------------ 11_label_efficiency
def _le_ex1(runs: dict[str, Path]) -> str:
    main = runs["11_label_efficiency"]
    curve, schedule = _csv(main, "le_curve"), _csv(main, "le_schedule")
    best = curve.loc[curve["difference"].idxmax()]
    smallest = schedule.loc[schedule["fraction"].idxmin()]
    frame = curve[["fraction", "difference", "diff_ci_low", "diff_ci_high", "bootstrap_p", "delong_p"]]
    return (f"The difference SSL - random is largest at the fraction {best['fraction']:g}: "
            f"{best['difference']:+.3f}, interval {_interval(best, 'diff_ci_low', 'diff_ci_high')}, which "
            f"{_settled(best, 'diff_ci_low', 'diff_ci_high')}. The smallest label set ({smallest['fraction']:g}) holds "
            f"{int(smallest['images'])} training images, {int(smallest['positives'])} of them positive: another seed "
            "draws other images. The interval does not show what that does: it redraws the *test* images of one "
            "training set, not the training draw (re-run with other seeds to see it).\n\n" + _table(frame) + f"\n\n{_source(main)}\n")


def _le_ex2(runs: dict[str, Path]) -> str:
    main = runs["11_label_efficiency"]
    schedule = _csv(main, "le_schedule")
    seen = schedule["epochs"] * schedule["train_images_per_epoch"]
    frame = schedule.assign(**{"images seen": seen})
    budget = _params(main)["images_budget"]
    return (f"Every run sees about `images_budget` = {budget} training images: the smaller label sets repeat "
            f"their images over more epochs (from {int(schedule['epochs'].max())} epochs for the smallest set to "
            f"{int(schedule['epochs'].min())} for the largest, at most `max_epochs` = {_params(main)['max_epochs']}). "
            f"With the same number of epochs for every fraction, the smallest set's run would take about "
            f"{schedule['images'].max() / schedule['images'].min():.0f} times fewer gradient steps than the largest's, "
            "and the curve would mix 'fewer labels' with 'less training'.\n\n"
            + _table(frame, "{:.2f}") + f"\n\n{_source(main)}\n")


def _le_ex3(runs: dict[str, Path]) -> str:
    main = runs["11_label_efficiency"]
    curve = _csv(main, "le_curve")
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
            + _table(frame) + f"\n\n{_source(main)}\n")


# ------------------------------------------------------------------------------------------------ 12_semssxl
def _ablation_row(table: pd.DataFrame, variant: str):
    return table[table["variant"] == variant].iloc[0]


def _semssxl_ex1(runs: dict[str, Path]) -> str:
    main = runs["12_semssxl"]
    table = _csv(main, "ssxl_ablation")
    if not (table["variant"] == "no_contrastive").any():
        return (f"This run's `ablations` ({_params(main)['ablations']}) leave out `no_contrastive`: add it to read "
                f"the comparison.\n\n{_source(main)}\n")
    full, plain = _ablation_row(table, "full"), _ablation_row(table, "no_contrastive")
    width = float(np.mean([full["ci_high"] - full["ci_low"], plain["ci_high"] - plain["ci_low"]]))
    frame = table[["variant", "contrastive", "macro AUROC", "ci_low", "ci_high"]]
    return (f"`full` reaches a macro AUROC of {full['macro AUROC']:.3f}, `no_contrastive` {plain['macro AUROC']:.3f}: "
            f"a difference of {full['macro AUROC'] - plain['macro AUROC']:+.3f}, against intervals "
            f"{width:.3f} wide on average. With `contrastive_weight` 0 the two become identical because of "
            "`use_views = variant.contrastive and config.contrastive_weight > 0` in `fit_semi`: without the term "
            "no two-view batches are drawn at all, so the random number stream (shuffling, dropout, augmentation) "
            "is the same as the supervised variant's. Drawing batches that are never used would advance the "
            "stream and change every later random draw.\n\n" + _table(frame) + f"\n\n{_source(main)}\n")


def _semssxl_ex2(runs: dict[str, Path]) -> str:
    main = runs["12_semssxl"]
    table = _csv(main, "ssxl_ablation")
    full = _ablation_row(table, "full")
    frame = table[["variant", "stages", "macro AUROC", "ci_low", "ci_high", "stage weights", "seconds"]]
    stages = _params(main)["stages"]
    lines = [f"`full` reads the stages {stages} and weighs them {full['stage weights']} (mean over the test images)."]
    if (table["variant"] == "single_scale").any():
        single = _ablation_row(table, "single_scale")
        lines.append(f"`single_scale` reaches {single['macro AUROC']:.3f} against `full`'s {full['macro AUROC']:.3f} "
                     f"and trains in {single['seconds']:.0f} s against {full['seconds']:.0f} s.")
    lines.append("Adding the middle flow (`stages [1, 2, 3]`) runs the middle flow's Xception blocks on every image and "
                 "adds a stage to the attention: the training time grows with the blocks read, and where the weight goes "
                 "then is read from the stage-weights figure of that run.")
    return " ".join(lines) + "\n\n" + _table(frame) + f"\n\n{_source(main)}\n"


def _semssxl_ex3(runs: dict[str, Path]) -> str:
    main = runs["12_semssxl"]
    widths = _csv(main, "ssxl_ci_width")
    fewest = widths.loc[widths["test positives"].idxmin()]
    corr = float(np.corrcoef(widths["test positives"], widths["CI width full"])[0, 1]) if len(widths) > 2 else float("nan")
    share = float(_params(main)["task_options"].get("test_fraction", 0.4))
    factor = float(np.sqrt(share / (share / 2)))
    return (f"{fewest['label']} has the fewest positive test images ({int(fewest['test positives'])}) and, with "
            f"{fewest['CI width full']:.3f}, " + ("the widest" if fewest["CI width full"] == widths["CI width full"].max()
                                                  else "one of the wider") +
            f" interval of `full`; the correlation of positives and width over the labels is {corr:.2f}. Halving the "
            f"test share ({share:g} to {share / 2:g}) halves the positives, and a width shrinks like "
            f"$1/\\sqrt{{n}}$: the widths grow by about $\\sqrt{{2}} \\approx {factor:.2f}$, and the label with the "
            "fewest positives is the first to have none left (then it cannot be scored).\n\n"
            + _table(widths) + f"\n\n{_source(main)}\n")


# ------------------------------------------------------------------------------------------------ 13_dual_stream
def _variant(table: pd.DataFrame, key: str):
    return table[table["variant"] == key].iloc[0]


def _dual_ex1(runs: dict[str, Path]) -> str:
    main = runs["13_dual_stream"]
    variants, gates = _csv(main, "ds_variants"), _csv(main, "ds_gates")
    transfer, auto = _variant(variants, "transfer_only"), _variant(variants, "autoencoder_only")
    params = _params(main)
    overall = gates.iloc[0]
    info = params.get("weights_info") or {}
    start = info.get("description") or f"`weights: {params['weights']}`"
    return (f"The transfer stream ({params['backbone']}) started from {start} (`weights: {params['weights']}`). It reaches a test "
            f"AUROC of {transfer['test AUROC']:.3f} [{transfer['CI low']:.3f}, {transfer['CI high']:.3f}] alone, the "
            f"autoencoder {auto['test AUROC']:.3f} [{auto['CI low']:.3f}, {auto['CI high']:.3f}]: a gap of "
            f"{transfer['test AUROC'] - auto['test AUROC']:+.3f}. The gate's mean weight on the transfer stream is "
            f"{overall['mean']:.2f}. " + ("ImageNet weights give the transfer stream features learned on a million images; "
            "expect its AUROC, the gap and the gate's weight on it to grow, while the autoencoder-only row does not "
            "change (it never sees the backbone)." if info.get("random", True) else "This run already started from "
            "pre-trained weights: compare with `-p weights none` to see what they are worth.") + "\n\n" + _table(variants[["variant", "test AUROC", "CI low", "CI high"]])
            + f"\n\n{_source(main)}\n")


def _dual_ex2(runs: dict[str, Path]) -> str:
    main = runs["13_dual_stream"]
    variants, ablation = _csv(main, "ds_variants"), _csv(main, "ds_ablation")
    auto = _variant(variants, "autoencoder_only")
    added = ablation[ablation["without"] == "transfer_only"]
    lines = [(f"The autoencoder's code alone ({_params(main)['ae_latent']} values) reaches a test AUROC of "
              f"{auto['test AUROC']:.3f} [{auto['CI low']:.3f}, {auto['CI high']:.3f}].")]
    for _, row in added.iterrows():
        lines.append(f"Added to the transfer stream ({row['component']}) it changes the AUROC by {row['difference']:+.3f} "
                     f"{_interval(row, 'bootstrap CI low', 'bootstrap CI high')}.")
    lines.append("The reconstruction error weighs every pixel alike, and most pixels of a chest X-ray are ribs, "
                 "borders and background: a larger code rebuilds those better without describing the faint "
                 "opacities that signal pneumonia, so a better reconstruction need not be a better feature.")
    return " ".join(lines) + "\n\n" + _table(ablation[["component", "with", "without", "difference", "bootstrap CI low",
                                                       "bootstrap CI high"]]) + f"\n\n{_source(main)}\n"


def _dual_ex3(runs: dict[str, Path]) -> str:
    main = runs["13_dual_stream"]
    variants, gates = _csv(main, "ds_variants"), _csv(main, "ds_gates")
    gated, concat = _variant(variants, "dual_gated"), _variant(variants, "dual_concat")
    overall = gates.iloc[0]
    side = "the transfer stream" if overall["mean"] > 0.5 else "the autoencoder stream"
    per_class = "; ".join(f"{r['images']}: mean {r['mean']:.2f}" for _, r in gates.iloc[1:].iterrows())
    overlap = _overlap(gated, concat, "CI low", "CI high")
    ablation = _csv(main, "ds_ablation")
    paired = ablation[(ablation["with"] == "dual_gated") & (ablation["without"] == "dual_concat")]
    paired_text = "".join(f" On the same test images the paired difference gated - concatenation is {r['difference']:+.3f} "
                          f"{_interval(r, 'bootstrap CI low', 'bootstrap CI high')}, whose interval {_settled(r, 'bootstrap CI low', 'bootstrap CI high')}."
                          for _, r in paired.iterrows())
    return (f"A gate value is the weight of the transfer stream. Its mean over the test images is {overall['mean']:.2f} "
            f"(median {overall['median']:.2f}), so on average it favours {side}; a share {overall['dims > 0.5']:.2f} of the "
            f"dimensions has a mean above 0.5 ({per_class}). The gated variant reaches {gated['test AUROC']:.3f} "
            f"[{gated['CI low']:.3f}, {gated['CI high']:.3f}], the concatenation {concat['test AUROC']:.3f} "
            f"[{concat['CI low']:.3f}, {concat['CI high']:.3f}]: the intervals "
            + ("overlap, so these intervals do not separate them." if overlap else "do not overlap.") + paired_text
            + "\n\n" + _table(gates) + f"\n\n{_source(main)}\n")


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
    Answer("02_pretrain--ex1", ("02_pretrain", "02_pretrain--ex1"), _pretrain_ex1),
    Answer("02_pretrain--ex2", ("02_pretrain", "02_pretrain--ex2-t01", "02_pretrain--ex2-t10"), _pretrain_ex2),
    Answer("02_pretrain--ex3", ("02_pretrain", "06_linear_probe", "02_pretrain--ex3", "06_linear_probe--ex2"), _pretrain_ex3),
    Answer("02_pretrain--ex4", ("02_pretrain", "02_pretrain--ex4"), _pretrain_ex4),
    Answer("03_finetune--ex1", ("03_finetune", "03_finetune--ex1-head", "03_finetune--ex1-all"), _finetune_ex1),
    Answer("03_finetune--ex2", ("03_finetune", "03_finetune--ex1-head", "03_finetune--ex1-all"), _finetune_ex2),
    Answer("03_finetune--ex3", ("03_finetune",), _finetune_ex3),
    Answer("03_finetune--ex4", ("03_finetune", "03_finetune--ex4"), _finetune_ex4),
    Answer("04_evaluate--ex2", ("04_evaluate--ex2", "04_evaluate"), _evaluate_ex2),
    Answer("05_explain--ex1", ("05_explain--ex1",), _explain_ex1),
    Answer("05_explain--ex2", ("05_explain", "05_explain--ex2-p5", "05_explain--ex2-p50", "05_explain--ex2-seed1"), _explain_ex2),
    Answer("05_explain--ex3", ("05_explain",), _explain_ex3),
    Answer("05_explain--ex4", ("05_explain",), _explain_ex4),
    Answer("06_linear_probe--ex1", ("06_linear_probe", "06_linear_probe--ex1-100", "06_linear_probe--ex1-all"), _linear_ex1),
    Answer("06_linear_probe--ex2", ("06_linear_probe", "06_linear_probe--ex2"), _linear_ex2),
    Answer("06_linear_probe--ex3", ("06_linear_probe",), _linear_ex3),
    Answer("06_linear_probe--ex4", ("06_linear_probe",), _linear_ex4),
    Answer("08_federated--ex1", ("08_federated--ex1", "08_federated--ex1-scale"), _federated_ex1),
    Answer("08_federated--ex2", ("08_federated", "08_federated--ex2"), _federated_ex2),
    Answer("08_federated--ex3", ("08_federated",), _federated_ex3),
    Answer("08_federated--ex4", ("08_federated", "08_federated--ex4"), _federated_ex4),
    Answer("09_sweep--ex1", ("09_sweep", "09_sweep--ex1"), _sweep_ex1),
    Answer("09_sweep--ex2", ("09_sweep",), _sweep_ex2),
    Answer("09_sweep--ex3", ("09_sweep",), _sweep_ex3),
    Answer("09_sweep--ex4", ("09_sweep",), _sweep_ex4),
    Answer("10_documents--ex1", ("10_documents",), _documents_ex1),
    Answer("10_documents--ex2", ("10_documents",), _documents_ex2),
    Answer("10_documents--ex4", ("10_documents",), _documents_ex4),
    Answer("11_label_efficiency--ex1", ("11_label_efficiency",), _le_ex1),
    Answer("11_label_efficiency--ex2", ("11_label_efficiency",), _le_ex2),
    Answer("11_label_efficiency--ex3", ("11_label_efficiency",), _le_ex3),
    Answer("12_semssxl--ex1", ("12_semssxl",), _semssxl_ex1),
    Answer("12_semssxl--ex2", ("12_semssxl",), _semssxl_ex2),
    Answer("12_semssxl--ex3", ("12_semssxl",), _semssxl_ex3),
    Answer("13_dual_stream--ex1", ("13_dual_stream",), _dual_ex1),
    Answer("13_dual_stream--ex2", ("13_dual_stream",), _dual_ex2),
    Answer("13_dual_stream--ex3", ("13_dual_stream",), _dual_ex3),
)}


def answer_texts(generated: Path) -> dict[str, str]:
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


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cxrlib.chapters.solutions", description=__doc__.split("\n\n")[0])
    parser.add_argument("generated", type=Path, help="the run folders (book/_generated)")
    parser.add_argument("out", type=Path, help="where to write <id>.md (book/_teaching/answers)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for key, text in answer_texts(args.generated).items():
        (args.out / f"{key}.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
