"""The documents' downstream comparisons, from fine-tuning run folders: tables and figures.

Document 001 (DINOv2 vs ImageNet-21K initialisation, fine-tuned on the same data set and tested on the
same images): :func:`compare_initialisations` (per label and macro AUROC of both runs, DeLong's paired
test per label, plain and with patients as clusters, and a paired *patient* bootstrap of every
difference, the macro one included, 1,000 redraws as in its Methods), :func:`fdr_across_datasets`
(Benjamini-Hochberg over the data sets, as Table 4 has one P-value per data set),
:func:`bootstrap_auc_distributions` and :func:`plot_bootstrap_distributions` (Fig. 3: the macro AUROC of
each initialisation over the same redraws), :func:`plot_roc_pairs` (Fig. 4: both initialisations' ROC
curves in one panel per label).

Document 004 (baseline vs MoCo v2 / SimCLR fine-tuning on CheXpert): :func:`d004_table` (Tables III-V:
per-class AUROC with a 95% percentile bootstrap CI from 500 redraws and a weighted "Total" row),
:func:`d004_tables_side_by_side` (one column per model) and :func:`plot_ci` (Figs 5.1-5.3).

Notebook 12's label-efficiency curve (the question is ours): :func:`replicated_label_efficiency` (each
start's AUROC and the paired difference per share of labels, over training seeds, with
:mod:`cxrlib.stats.replication`'s rule for when to conclude), :func:`replicated_label_efficiency_text` and
:func:`plot_replicated_label_efficiency`.

A *run* is a fine-tuning run folder (its ``predictions_test.csv`` is read, see
:mod:`cxrlib.training.run_folder`), a predictions CSV itself, or the test predictions table in memory
(``RunResult.predictions["test"]``, for runs a notebook has just trained into its unfinished folder). No torch; matplotlib is imported inside
the plotting functions only.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cxrlib import stats
from cxrlib.stats import evaluate, metrics

_TEST_PREDICTIONS = "predictions_test.csv"  # cxrlib.training.run_folder's test predictions file
_DEFAULT_NAMES = ("DINOv2", "ImageNet-21K")
_MACRO = "macro average"
_TOTAL = "Total"


# ==============================================================================================
# reading and pairing run folders
# ==============================================================================================
def _predictions_path(run: str | os.PathLike) -> Path:
    path = Path(run)
    if path.is_dir():
        path = path / _TEST_PREDICTIONS
    if not path.is_file():
        raise FileNotFoundError(f"{run}: no test predictions ({_TEST_PREDICTIONS}); give a fine-tuning run "
                                "folder or a predictions CSV")
    return path


def _read_run(run, labels: Sequence[str] | None) -> tuple[pd.DataFrame, list[str]]:
    if isinstance(run, pd.DataFrame):  # test predictions in memory (a run of the notebook that is still open)
        frame = evaluate.check_predictions(run, source=run.attrs.get("source", "predictions table"))
    else:
        frame = evaluate.read_predictions(_predictions_path(run))
    if labels is None:
        labels = frame.attrs["file_labels"]
        if not labels:
            raise ValueError(f"{run}: the predictions have no <label> 0/1 columns, only scores; the comparison "
                             "needs the reference labels in the file")
    labels = list(labels)
    missing = [label for label in labels if label not in frame.attrs["file_labels"]]
    if missing:
        raise ValueError(f"{run}: no label and prob_ columns for {missing} "
                         f"(the file has {frame.attrs['file_labels']})")
    return frame, labels


def _name(run) -> str:
    return run.attrs.get("source", "predictions table") if isinstance(run, pd.DataFrame) else str(run)


def _paired_runs(run_a, run_b, labels):
    """Both runs' predictions on the same test images, rows in run A's order."""
    a, labels = _read_run(run_a, labels)
    b, _ = _read_run(run_b, labels)
    run_a, run_b = _name(run_a), _name(run_b)
    ids_a, ids_b = pd.Index(a["image_id"].astype(str)), pd.Index(b["image_id"].astype(str))
    only_a, only_b = ids_a.difference(ids_b), ids_b.difference(ids_a)
    if len(only_a) or len(only_b):
        example = ", ".join(list(only_a[:3]) + list(only_b[:3]))
        raise ValueError(f"{run_a} and {run_b} do not hold the same test images: {len(only_a)} of {len(ids_a)} "
                         f"image ids only in {run_a}, {len(only_b)} of {len(ids_b)} only in {run_b} (e.g. "
                         f"{example}); a paired comparison needs both models tested on the same images")
    b = b.set_index(b["image_id"].astype(str)).loc[ids_a].reset_index(drop=True)
    differ = [label for label in labels if not np.array_equal(a[label].to_numpy(), b[label].to_numpy())]
    if differ:
        raise ValueError(f"{run_a} and {run_b} hold the same images but different reference labels for {differ}; "
                         "the two runs must share one test set")
    if ("patient_id" in a.columns and "patient_id" in b.columns
            and not np.array_equal(a["patient_id"].astype(str).to_numpy(), b["patient_id"].astype(str).to_numpy())):
        raise ValueError(f"{run_a} and {run_b} give different patient ids to the same images")
    return a, b, labels


def _estimable(frame: pd.DataFrame, labels: Sequence[str]) -> tuple[list[str], pd.DataFrame]:
    counts = evaluate.label_counts(frame, labels)
    ok = counts.loc[counts["estimable"], "label"].tolist()
    if not ok:
        raise ValueError(f"no label has both classes in {frame.attrs.get('source', 'the predictions')}: "
                         "no AUROC can be estimated")
    return ok, counts.set_index("label")


def _groups(frame: pd.DataFrame) -> np.ndarray | None:
    return frame["patient_id"].to_numpy() if "patient_id" in frame.columns else None


def _delong_tests(y: np.ndarray, s_a: np.ndarray, s_b: np.ndarray, labels: list[str], groups) -> pd.DataFrame:
    """Per label: DeLong's paired p (images independent) and, with patient ids, the clustered one
    (Obuchowski); Benjamini-Hochberg over the labels for each. Identical scores give p = 1 for both."""
    rows = []
    for j, label in enumerate(labels):
        plain = stats.delong_test(y[:, j], s_a[:, j], s_b[:, j])
        clustered = (stats.clustered_delong_test(y[:, j], s_a[:, j], s_b[:, j], groups).p_value
                     if groups is not None else np.nan)
        rows.append({"label": label, "delong_p": plain.p_value, "clustered_p": clustered})
    table = pd.DataFrame(rows)
    table["delong_p_fdr"] = stats.fdr_bh(table["delong_p"].to_numpy(dtype=float))
    table["clustered_p_fdr"] = stats.fdr_bh(table["clustered_p"].to_numpy(dtype=float))
    return table.set_index("label")


# ==============================================================================================
# document 001: DINOv2 vs ImageNet-21K
# ==============================================================================================
def compare_initialisations(run_a, run_b, *, labels: Sequence[str] | None = None,
                            n_boot: int = stats.DOCUMENT_001_REDRAWS, seed: int = 0, alpha: float = 0.05,
                            names: tuple[str, str] = _DEFAULT_NAMES) -> pd.DataFrame:
    """Document 001's comparison of two initialisations fine-tuned on one data set, done on the same images.

    One row per label, then the macro average over the estimable labels (Table 4's "AUC" row and its
    P-value). Columns: label, kind ("label"/"average"), ``auc_<name>`` for both runs, difference (A - B);
    ``delong_p`` (DeLong's paired test, images independent) and ``clustered_p`` (the same test with a
    patient's images as one cluster, Obuchowski), label rows only; ``boot_ci_low/high`` and ``bootstrap_p``
    (paired bootstrap over *patients*, the same redraws for both runs: :func:`~cxrlib.stats.
    paired_bootstrap_auroc` with ``groups = patient_id``), every row, the macro row included; ``*_p_fdr``:
    Benjamini-Hochberg over the labels of this data set; n_positive, n_negative, note. Labels with one
    class keep a row of NaN with a note and are left out of the macro average.

    Raises ``ValueError`` when the runs were not tested on the same images (naming both folders and how
    many image ids differ) or give the same images different labels.
    """
    a, b, labels = _paired_runs(run_a, run_b, labels)
    ok, counts = _estimable(a, labels)
    y, s_a = evaluate.arrays(a, ok)
    _, s_b = evaluate.arrays(b, ok)
    groups = _groups(a)
    col_a, col_b = f"auc_{names[0]}", f"auc_{names[1]}"
    delong = _delong_tests(y, s_a, s_b, ok, groups)
    boot = stats.paired_bootstrap_auroc(y, s_a, s_b, labels=ok, n_boot=n_boot, seed=seed, groups=groups,
                                        alpha=alpha, averages=("macro",)).table.set_index("label")
    rows = []
    for label in labels:
        row = {"label": label, "kind": "label", "n_positive": int(counts.loc[label, "n_positive"]),
               "n_negative": int(counts.loc[label, "n_negative"]), "note": counts.loc[label, "note"]}
        if label in ok:
            row.update({col_a: boot.loc[label, "auc_a"], col_b: boot.loc[label, "auc_b"],
                        "difference": boot.loc[label, "difference"],
                        "boot_ci_low": boot.loc[label, "ci_low"], "boot_ci_high": boot.loc[label, "ci_high"],
                        "bootstrap_p": boot.loc[label, "p_value"], "bootstrap_p_fdr": boot.loc[label, "p_value_fdr"],
                        **{c: delong.loc[label, c] for c in ("delong_p", "delong_p_fdr", "clustered_p",
                                                             "clustered_p_fdr")}})
        rows.append(row)
    macro = boot.loc[_MACRO]
    skipped = [label for label in labels if label not in ok]
    rows.append({"label": _MACRO, "kind": "average", col_a: macro["auc_a"], col_b: macro["auc_b"],
                 "difference": macro["difference"], "boot_ci_low": macro["ci_low"], "boot_ci_high": macro["ci_high"],
                 "bootstrap_p": macro["p_value"], "n_positive": int(y.sum()), "n_negative": int(y.size - y.sum()),
                 "note": f"over {len(ok)} of {len(labels)} labels" + (f" (not estimable: {', '.join(skipped)})"
                                                                      if skipped else "")})
    columns = ["label", "kind", col_a, col_b, "difference", "boot_ci_low", "boot_ci_high", "bootstrap_p",
               "bootstrap_p_fdr", "delong_p", "delong_p_fdr", "clustered_p", "clustered_p_fdr", "n_positive",
               "n_negative", "note"]
    table = pd.DataFrame(rows).reindex(columns=columns)
    table.attrs.update(runs=(_name(run_a), _name(run_b)), names=tuple(names), n_images=len(a),
                       n_patients=int(pd.Series(groups).nunique()) if groups is not None else len(a),
                       unit="patient" if groups is not None else "image", n_boot=int(n_boot), seed=seed,
                       alpha=alpha)
    return table


def fdr_across_datasets(comparisons: Mapping[str, pd.DataFrame], row: str = _MACRO,
                        p_column: str = "bootstrap_p") -> pd.DataFrame:
    """Benjamini-Hochberg over data sets: one row per data set (its ``row`` of a
    :func:`compare_initialisations` table, the macro average by default, as Table 4 gives one P-value per
    data set), with ``p_fdr`` adjusted over the family of data sets (document 001: "Multiplicity-adjusted
    p-values were determined based on the false discovery rate")."""
    if not comparisons:
        raise ValueError("no comparisons given")
    parts = []
    for dataset, table in comparisons.items():
        hit = table[table["label"] == row]
        if len(hit) != 1:
            raise ValueError(f"{dataset}: the comparison table has no single row '{row}'")
        parts.append(hit.drop(columns=[c for c in hit.columns if c.endswith("_fdr")]).assign(dataset=dataset))
    out = pd.concat(parts, ignore_index=True)
    out["p_fdr"] = stats.fdr_bh(out[p_column].to_numpy(dtype=float))
    first = ["dataset", "label"]
    return out[first + [c for c in out.columns if c not in first]]


def bootstrap_auc_distributions(run_a, run_b, *, labels: Sequence[str] | None = None,
                                n_boot: int = stats.DOCUMENT_001_REDRAWS, seed: int = 0,
                                names: tuple[str, str] = _DEFAULT_NAMES) -> pd.DataFrame:
    """The macro AUROC of both runs on every patient-bootstrap redraw (the same redraws for both, so row
    ``i`` is a pair): columns ``redraw``, ``<names[0]>``, ``<names[1]>``. Document 001, Fig. 3 draws these
    as box plots. Same images and redraws as :func:`compare_initialisations` with the same seed."""
    a, b, labels = _paired_runs(run_a, run_b, labels)
    ok, _ = _estimable(a, labels)
    y, s_a = evaluate.arrays(a, ok)
    _, s_b = evaluate.arrays(b, ok)
    result = stats.paired_bootstrap_auroc(y, s_a, s_b, labels=ok, n_boot=n_boot, seed=seed, groups=_groups(a),
                                          averages=("macro",))
    out = pd.DataFrame({"redraw": np.arange(n_boot), names[0]: result.replicates_a[_MACRO].to_numpy(),
                        names[1]: result.replicates_b[_MACRO].to_numpy()})
    out.attrs.update(names=tuple(names), n_boot=int(n_boot), seed=seed, unit=result.unit)
    return out


def plot_bootstrap_distributions(distributions: pd.DataFrame | Mapping[str, pd.DataFrame], *,
                                 p_values: Mapping[str, float] | float | None = None, ncols: int = 3,
                                 colors: Sequence[str] = ("#1f77b4", "#ff7f0e")):
    """Document 001, Fig. 3: one panel per data set, one box per initialisation (crosses mark means, whiskers
    1.5 IQR, outliers as points), the P-value in the title. ``distributions``: a
    :func:`bootstrap_auc_distributions` frame or a dict data set -> frame; ``p_values`` likewise."""
    import matplotlib.pyplot as plt

    panels = {"": distributions} if isinstance(distributions, pd.DataFrame) else dict(distributions)
    if not isinstance(p_values, Mapping):
        p_values = {key: p_values for key in panels} if p_values is not None else {}
    ncols = min(ncols, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (dataset, frame) in zip(axes.flat, panels.items()):
        models = [c for c in frame.columns if c != "redraw"]
        values = [frame[m].dropna().to_numpy(dtype=float) for m in models]
        box = ax.boxplot(values, patch_artist=True, showmeans=True, whis=1.5,
                         meanprops={"marker": "x", "markeredgecolor": "black"},
                         flierprops={"marker": ".", "markersize": 3})
        for patch, color in zip(box["boxes"], colors):
            patch.set_facecolor(color)
            patch.set_alpha(0.6)
        ax.set_xticks(range(1, len(models) + 1), models, fontsize=8)
        ax.set_ylabel("macro AUROC (bootstrap redraws)", fontsize=8)
        title = dataset
        p = p_values.get(dataset)
        if p is not None and np.isfinite(p):
            title += ("\n" if title else "") + (f"P = {p:.3f}" if p >= 0.001 else "P < 0.001")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_roc_pairs(run_a, run_b, labels: Sequence[str] | None = None, *,
                   names: tuple[str, str] = _DEFAULT_NAMES, ncols: int = 5):
    """Document 001, Fig. 4: one panel per label with both runs' ROC curves (A solid, B dotted) and both
    AUROCs in the title; labels with one class in the test set are left out."""
    from cxrlib.chapters.plots import roc_grid

    a, b, labels = _paired_runs(run_a, run_b, labels)
    ok, _ = _estimable(a, labels)
    y, s_a = evaluate.arrays(a, ok)
    _, s_b = evaluate.arrays(b, ok)
    curves_a, curves_b = evaluate.roc_curves(y, s_a, ok), evaluate.roc_curves(y, s_b, ok)
    fig = roc_grid(curves_a, ncols=min(ncols, len(ok)), reference=curves_b, reference_name=names[1])
    for ax, label, j in zip(fig.axes, ok, range(len(ok))):
        first, second = ax.lines[0], ax.lines[1]
        first.set_label(names[0])
        second.set_linestyle(":")
        auc_a = metrics.auroc(y[:, j], s_a[:, j])
        auc_b = metrics.auroc(y[:, j], s_b[:, j])
        ax.set_title(f"{label.replace('_', ' ')}\n{auc_a:.3f} vs {auc_b:.3f}", fontsize=8)
    fig.axes[0].legend(fontsize=6, loc="lower right")
    return fig


# ==============================================================================================
# document 004: per-class AUROC with percentile CIs and a weighted Total
# ==============================================================================================
def d004_table(run, *, n_boot: int = stats.DOCUMENT_004_REDRAWS, seed: int = 0,
               labels: Sequence[str] | None = None, alpha: float = 0.05, by_patient: bool = False) -> pd.DataFrame:
    """Document 004's Tables III-V for one run: per class the AUROC with a 95% percentile bootstrap CI
    (500 redraws of the test images, "taking 0.025 and 0.975 quantiles"), and a "Total" row.

    The thesis says "Total value is the Weighted average of AUROC values within all classes" without
    naming the weights; we weight each class by its number of positive images in the test set
    (sklearn's ``average="weighted"``), on the full test set for the estimate and on each redraw for its
    CI. Classes with one class in the test set (Fracture in Table III) get "—" and weight 0.

    Columns: label, kind ("class"/"total"), auc, ci_low, ci_high, half_width ((high - low) / 2; our
    reading of the thesis' "±"), n_positive, cell ("0.656 ± 0.073" as printed there). ``by_patient``
    redraws patients instead of images (the thesis redraws images).
    """
    frame, labels = _read_run(run, labels)
    ok, counts = _estimable(frame, labels)
    y, s = evaluate.arrays(frame, ok)
    groups = _groups(frame) if by_patient else None
    boot = stats.bootstrap_auroc(y, s, ok, n_boot=n_boot, seed=seed, groups=groups, alpha=alpha,
                                 averages=("weighted",)).table.set_index("label")
    rows = []
    for label in labels:
        row = {"label": label, "kind": "class", "n_positive": int(counts.loc[label, "n_positive"])}
        if label in ok:
            row.update(auc=boot.loc[label, "auc"], ci_low=boot.loc[label, "ci_low"],
                       ci_high=boot.loc[label, "ci_high"])
        rows.append(row)
    total = boot.loc["weighted average"]
    rows.append({"label": _TOTAL, "kind": "total", "auc": total["auc"], "ci_low": total["ci_low"],
                 "ci_high": total["ci_high"], "n_positive": int(y.sum())})
    table = pd.DataFrame(rows).reindex(columns=["label", "kind", "auc", "ci_low", "ci_high", "half_width",
                                                "n_positive", "cell"])
    table["half_width"] = (table["ci_high"] - table["ci_low"]) / 2
    table["cell"] = [("—" if np.isnan(auc) else f"{auc:.3f} ± {hw:.3f}")
                     for auc, hw in zip(table["auc"].astype(float), table["half_width"].astype(float))]
    table.attrs.update(run=_name(run), n_boot=int(n_boot), seed=seed, alpha=alpha,
                       unit="patient" if groups is not None else "image", n_images=len(frame))
    return table


def d004_tables_side_by_side(runs: Mapping[str, str | os.PathLike | pd.DataFrame], **options) -> pd.DataFrame:
    """Tables III-V: one row per class (then Total), one column of "AUROC ± half-width" per model (e.g.
    baseline, MoCo v2, SimCLR), in the order given. ``runs``: model -> run folder (``options`` go to
    :func:`d004_table`) or an already computed :func:`d004_table`."""
    tables = {model: run if isinstance(run, pd.DataFrame) else d004_table(run, **options)
              for model, run in runs.items()}
    order: list[str] = []
    for table in tables.values():
        order += [label for label in table["label"] if label not in order and label != _TOTAL]
    order.append(_TOTAL)
    out = pd.DataFrame({"Class Name": order})
    for model, table in tables.items():
        out[model] = out["Class Name"].map(table.set_index("label")["cell"]).fillna("—")
    return out


def plot_ci(tables: Mapping[str, pd.DataFrame], *, title: str = "",
            colors: Sequence[str] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728")):
    """Figs 5.1-5.3 of document 004: per class (rows, Total last), each model's AUROC with its 95% CI as a
    horizontal bar, models side by side. ``tables``: model -> :func:`d004_table`."""
    import matplotlib.pyplot as plt

    if not tables:
        raise ValueError("no tables given")
    order: list[str] = []
    for table in tables.values():
        order += [label for label in table["label"] if label not in order and label != _TOTAL]
    order.append(_TOTAL)
    ypos = np.arange(len(order))
    step = 0.8 / len(tables)
    fig, ax = plt.subplots(figsize=(7.0, 0.42 * len(order) + 1.2))
    for i, ((model, table), color) in enumerate(zip(tables.items(), colors)):
        t = table.set_index("label").reindex(order)
        est = t["auc"].to_numpy(dtype=float)
        err = np.vstack([est - t["ci_low"].to_numpy(dtype=float), t["ci_high"].to_numpy(dtype=float) - est])
        ax.errorbar(est, ypos + (i - (len(tables) - 1) / 2) * step, xerr=err, fmt="o", ms=4, capsize=2,
                    color=color, label=model)
    ax.set_yticks(ypos, [label.replace("_", " ") for label in order], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.5, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("AUROC (95% CI)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# ==============================================================================================
# the classroom analogues (notebooks 11 and 12): a sentence from a paired CI; label efficiency
# ==============================================================================================
def _p_text(p: float, n_boot: int | None) -> str:
    """A bootstrap p-value as text: below the resolution of ``n_boot`` redraws (or 0.001) it is a bound."""
    floor = max(1.0 / n_boot, 0.001) if n_boot else 0.001
    return f"p < {floor:.3g}" if p < floor else f"p = {p:.3f}"


def difference_sentence(table: pd.DataFrame, *, label: str | None = None, what: str = "") -> str:
    """One sentence reporting a paired comparison of two runs from a :func:`compare_initialisations`
    table: both AUROCs, the difference A - B with its paired-bootstrap 95 % CI and p, and what the
    interval says (it includes 0, or lies above / below it). ``label``: the row (default: the macro
    average); ``what``: what was compared, put at the start ("Test AUROC of pneumonia"). Written from the
    numbers only, so the book's prose follows the last run."""
    row_label = label or _MACRO
    hit = table[table["label"] == row_label]
    if len(hit) != 1:
        raise ValueError(f"the comparison table has no single row {row_label!r}")
    row = hit.iloc[0]
    name_a, name_b = table.attrs.get("names", _DEFAULT_NAMES)
    auc_a, auc_b = float(row[f"auc_{name_a}"]), float(row[f"auc_{name_b}"])
    if not np.isfinite(auc_a) or not np.isfinite(auc_b):
        return f"{what or row_label}: no AUROC can be estimated ({row['note']})."
    low, high, p = float(row["boot_ci_low"]), float(row["boot_ci_high"]), float(row["bootstrap_p"])
    unit = table.attrs.get("unit", "image")
    n_boot = table.attrs.get("n_boot")
    if low > 0:
        verdict = f"the interval lies above 0: {name_a} scored higher on these test images"
    elif high < 0:
        verdict = f"the interval lies below 0: {name_b} scored higher on these test images"
    else:
        verdict = "the interval includes 0: these test images do not separate the two"
    p_text = _p_text(p, n_boot)
    subject = what or f"Test AUROC ({row_label})"
    return (f"{subject}: {auc_a:.3f} with {name_a} and {auc_b:.3f} with {name_b}, a difference of "
            f"{auc_a - auc_b:+.3f} (95 % paired {unit} bootstrap CI {low:+.3f} to {high:+.3f}, {n_boot} redraws, "
            f"{p_text}; {table.attrs.get('n_images', '?')} test images); {verdict}.")


def replicated_label_efficiency(predictions: Mapping[float, Mapping[str, Mapping[int, pd.DataFrame]]], *, label: str,
                                names: tuple[str, str], learned: Mapping | None = None,
                                n_boot: int = stats.DOCUMENT_001_REDRAWS, seed: int = 0,
                                alpha: float = 0.05) -> tuple[pd.DataFrame, list]:
    """The label-efficiency curve of two starts, replicated over training seeds (notebook 12).

    ``predictions[fraction][start][seed]``: the test predictions of the run of ``start`` (one of ``names``)
    on that share of the labels with that seed (each seed may draw its own label subset; the test images are
    the same for every run). ``learned[fraction][start][seed]``: whether that model passed the learning
    check (:mod:`cxrlib.stats.learning`); missing means unchecked.

    Per fraction: each start's AUROC (:func:`cxrlib.stats.replicated_auroc`, against chance 0.5) and the
    difference A - B (:func:`cxrlib.stats.replicated_auroc_difference`, paired by seed, every run scored on
    the same test redraws). Test-set intervals redraw *images* (no ``groups``): PneumoniaMNIST carries no
    patient ids. Returns the table (:func:`cxrlib.stats.replication_table` plus ``fraction``, ``start``,
    ``learned`` "k/n" and ``n_train`` where the frames' ``attrs`` give it) and the
    :class:`~cxrlib.stats.Replicated` results in the table's order."""
    name_a, name_b = names
    rows, results = [], []
    for fraction in sorted(predictions):
        arms = predictions[fraction]
        y = None
        scores = {}
        for name in names:
            frames = arms[name]
            scores[name] = {int(s): evaluate.arrays(frames[s], [label])[1][:, 0] for s in frames}
            ys = {s: evaluate.arrays(frames[s], [label])[0][:, 0] for s in frames}
            for s, y_s in ys.items():
                if y is None:
                    y = y_s
                elif not np.array_equal(y, y_s):
                    raise ValueError(f"fraction {fraction:g}, {name}, seed {s}: the runs were not tested on the "
                                     "same images in the same order")
        pct = f"{fraction * 100:g} %"
        checks = {name: dict((learned or {}).get(fraction, {}).get(name, {})) for name in names}
        for name in names:
            r = stats.replicated_auroc(y, scores[name], name=f"AUROC {name}, {pct} of the labels", n_boot=n_boot,
                                       seed=seed, alpha=alpha)
            results.append(r)
            rows.append({"fraction": float(fraction), "start": name, "learned": _learned_text(checks[name], r.seeds)})
        r = stats.replicated_auroc_difference(y, scores[name_a], scores[name_b],
                                              name=f"AUROC {name_a} - {name_b}, {pct} of the labels",
                                              n_boot=n_boot, seed=seed, alpha=alpha)
        results.append(r)
        both = {s: checks[name_a].get(s, None) is not False and checks[name_b].get(s, None) is not False
                for s in r.seeds}
        known = {s: v for s, v in both.items() if any(s in checks[n] for n in names)}
        rows.append({"fraction": float(fraction), "start": f"{name_a} - {name_b}", "learned": _learned_text(known, r.seeds)})
    table = pd.concat([pd.DataFrame(rows), stats.replication_table(results)], axis=1)
    table.attrs.update(names=tuple(names), label=label, n_boot=int(n_boot), seed=seed, unit="image")
    return table, results


def _learned_text(checks: Mapping[int, bool], seeds: Sequence[int]) -> str:
    """``"3/3"``: how many of the seeds' models passed the learning check (``"not checked"`` without checks)."""
    if not checks:
        return "not checked"
    return f"{sum(bool(checks.get(s, False)) for s in seeds)}/{len(seeds)}"


def _all_learned(text: str) -> bool:
    if "/" not in str(text):
        return False
    k, n = str(text).split("/")
    return k == n


def replicated_label_efficiency_text(table: pd.DataFrame, results: Sequence) -> str:
    """The sentences of a :func:`replicated_label_efficiency` table, written from its numbers only.

    Per fraction: the two starts' seed-mean AUROCs with their spread, and the difference as
    :meth:`~cxrlib.stats.Replicated.sentence` allows (a claim only when every seed and the test-set interval
    agree); a fraction where a model failed its learning check is named and not interpreted. Then, per
    start, whether its AUROC fell as labels grew beyond noise (a later fraction's interval of the seed mean
    wholly below an earlier one's). Last, what the image-level intervals cannot see."""
    name_a, name_b = table.attrs.get("names", _DEFAULT_NAMES)
    by_row = list(zip(table.to_dict("records"), results))
    parts = []
    for fraction in sorted(table["fraction"].unique()):
        rows = [(row, r) for row, r in by_row if row["fraction"] == fraction]
        starts = {row["start"]: (row, r) for row, r in rows}
        diff_row, diff = starts[f"{name_a} - {name_b}"]
        pct = f"{fraction * 100:g} %"
        aurocs = "; ".join(f"{name} {starts[name][1].spread_text()}" for name in (name_a, name_b))
        if not _all_learned(diff_row["learned"]):
            failed = ", ".join(f"{name} {starts[name][0]['learned']}" for name in (name_a, name_b))
            parts.append(f"With {pct} of the labels (test AUROC: {aurocs}), not every model passed the learning "
                         f"check (passed: {failed}): this fraction is a pipeline demo and no difference is read "
                         "from it.")
            continue
        parts.append(f"With {pct} of the labels, test AUROC {aurocs}. " + diff.sentence(
            above=f"with {pct} of the labels the {name_a} start scored higher than the {name_b} start",
            below=f"with {pct} of the labels the {name_b} start scored higher than the {name_a} start"))
    for name in (name_a, name_b):
        own = [(row["fraction"], r) for row, r in by_row if row["start"] == name]
        falls = [(f0, f1) for i, (f0, r0) in enumerate(own) for f1, r1 in own[i + 1:] if r1.ci_high < r0.ci_low]
        means = " -> ".join(f"{r.mean:.3f}" for _, r in own)
        if falls:
            where = ", ".join(f"{f0 * 100:g} % to {f1 * 100:g} %" for f0, f1 in falls)
            parts.append(f"The {name} start's mean AUROC ({means} as the labels grow) FALLS beyond the test-set "
                         f"noise ({where}): a sign that some run did not train to convergence.")
        else:
            parts.append(f"The {name} start's mean AUROC ({means} as the labels grow) does not fall beyond the "
                         "test-set noise.")
    parts.append("The intervals redraw test images: PneumoniaMNIST's files carry no patient ids, so a child with "
                 "several test images counts as several independent cases and the intervals may be too narrow.")
    return " ".join(parts)


def plot_replicated_label_efficiency(table: pd.DataFrame, results: Sequence, *, title: str = "",
                                     colors: Sequence[str] = ("#d62728", "#1f77b4")):
    """Test AUROC against the share of labels (log axis): one dot per training seed, the seed mean joined
    by a line with its 95 % test-set interval as a bar, per start (a :func:`replicated_label_efficiency`
    table). The differences are :func:`cxrlib.chapters.plots.replication_plot`'s job."""
    import matplotlib.pyplot as plt

    names = table.attrs.get("names")
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for k, (name, color) in enumerate(zip(names, colors)):
        own = [(row["fraction"], r) for row, r in zip(table.to_dict("records"), results) if row["start"] == name]
        x = np.array([f * 100 for f, _ in own]) * (1 + 0.06 * (k - 0.5))  # side by side on the log axis
        for xi, (_, r) in zip(x, own):
            ax.plot(np.full(r.n_seeds, xi), r.values, "o", color=color, alpha=0.35, ms=4)
            ax.plot([xi, xi], [r.ci_low, r.ci_high], "-", color=color, lw=2)
        ax.plot(x, [r.mean for _, r in own], "s-", color=color, label=f"{name} (seed mean, 95 % CI)")
    fractions = sorted(table["fraction"].unique())
    ax.set_xscale("log")
    ax.set_xticks([f * 100 for f in fractions], [f"{f * 100:g} %" for f in fractions])
    ax.set_xlabel("share of the training labels")
    ax.set_ylabel(f"test AUROC ({table.attrs.get('label', '')})")
    ax.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# ==============================================================================================
# replicated paired comparisons and what a test set's label counts allow
# ==============================================================================================
def paired_scores(runs_a: Mapping[int, object], runs_b: Mapping[int, object], *, label: str):
    """``(y, groups, {seed: scores A}, {seed: scores B})`` of one label from runs trained with several
    seeds (``runs_*``: seed -> run, as :func:`compare_initialisations` takes them), every run aligned to
    the first run's test images (checked: same images, same labels, same patient ids), ready for
    :func:`cxrlib.stats.replicated_auroc_difference`."""
    seeds = sorted(runs_a)
    if sorted(runs_b) != seeds:
        raise ValueError(f"both arms need the same seeds, got {seeds} and {sorted(runs_b)}")
    first = runs_a[seeds[0]]
    scores_a, scores_b = {}, {}
    y = groups = None
    for s in seeds:
        for runs, out in ((runs_a, scores_a), (runs_b, scores_b)):
            ref, other, _ = _paired_runs(first, runs[s], [label])
            out[s] = evaluate.arrays(other, [label])[1][:, 0]
            if y is None:
                y, groups = evaluate.arrays(ref, [label])[0][:, 0], _groups(ref)
    return y, groups, scores_a, scores_b


def label_counts_sentence(table: pd.DataFrame, *, few: int = 10) -> str:
    """What the positives of a :func:`compare_initialisations` table allow, generated from its counts: how many
    test images, how many positives the labels have (smallest, median, largest), how many labels have fewer than
    ``few`` and how many none."""
    rows = table[table["kind"] == "label"]
    pos = rows["n_positive"].astype(int)
    n_images = table.attrs.get("n_images")
    scant = rows.loc[pos < few, "label"].tolist()
    none = int((pos == 0).sum())
    images = f"{n_images} test images" if n_images is not None else "the test images"
    return (f"The {len(rows)} labels have {pos.min()} to {pos.max()} positive images among {images} (median "
            f"{float(pos.median()):g}); {len(scant)} of them have fewer than {few}"
            + (f" ({', '.join(scant)})" if 0 < len(scant) <= 8 else "")
            + (f", and {none} have none, so no AUROC can be estimated for them" if none else ", and every label has at least one")
            + f". An AUROC on fewer than {few} positives moves by a large step when one positive changes rank, so "
            "a per-label difference there is not a finding, whatever its p-value.")
