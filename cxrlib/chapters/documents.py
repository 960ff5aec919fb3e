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
from cxrlib.core.runs import METRICS, read_json
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
# the classroom analogues (notebooks 10 and 11): a sentence from a paired CI; label efficiency
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


def label_efficiency(runs: Mapping[float, tuple], *, label: str, names: tuple[str, str],
                     n_boot: int = stats.DOCUMENT_001_REDRAWS, seed: int = 0, alpha: float = 0.05,
                     n_train: Mapping[float, int] | None = None) -> pd.DataFrame:
    """The label-efficiency curve of two initialisations: ``runs`` maps a label fraction to the pair of runs
    (A, B; folders or test predictions tables) fine-tuned on that share of the training labels and tested on the same images.

    One row per fraction: ``fraction``, ``n_train`` (training images: ``n_train[fraction]``, else the run
    folder's ``metrics.json`` when there is one), ``auc_<name>`` with its 95 % percentile CI
    (``ci_low_<name>``, ``ci_high_<name>``), the difference A - B with its paired bootstrap CI and p (the same redraws for A, B and the difference:
    :func:`compare_initialisations`) and DeLong's paired p (images independent)."""
    rows = []
    for fraction in sorted(runs):
        run_a, run_b = runs[fraction]
        table = compare_initialisations(run_a, run_b, labels=[label], n_boot=n_boot, seed=seed, alpha=alpha,
                                        names=names)
        a, b, _ = _paired_runs(run_a, run_b, [label])
        y, s_a = evaluate.arrays(a, [label])
        _, s_b = evaluate.arrays(b, [label])
        boot = stats.paired_bootstrap_auroc(y, s_a, s_b, labels=[label], n_boot=n_boot, seed=seed, groups=_groups(a),
                                            alpha=alpha, averages=())
        row = table[table["label"] == label].iloc[0]
        out = {"fraction": float(fraction)}
        metrics_file = None if isinstance(run_a, pd.DataFrame) else Path(run_a) / METRICS
        if n_train is not None and fraction in n_train:
            out["n_train"] = int(n_train[fraction])
        elif metrics_file is not None and metrics_file.is_file():
            counts = read_json(metrics_file).get("n_images", {})
            out["n_train"] = counts.get("train") if isinstance(counts, dict) else None
        for name, reps in zip(names, (boot.replicates_a, boot.replicates_b)):
            low, high = stats.percentile_ci(reps[label].to_numpy(dtype=float), alpha)
            out.update({f"auc_{name}": row[f"auc_{name}"], f"ci_low_{name}": float(low), f"ci_high_{name}": float(high)})
        out.update({"difference": row["difference"], "diff_ci_low": row["boot_ci_low"],
                    "diff_ci_high": row["boot_ci_high"], "bootstrap_p": row["bootstrap_p"],
                    "delong_p": row["delong_p"], "n_test": len(a)})
        rows.append(out)
    frame = pd.DataFrame(rows)
    frame.attrs.update(names=tuple(names), label=label, n_boot=int(n_boot), seed=seed)
    return frame


def plot_label_efficiency(table: pd.DataFrame, *, title: str = "",
                          colors: Sequence[str] = ("#d62728", "#1f77b4")):
    """AUROC against the share of training labels (log axis) for both initialisations, 95 % CIs as bands,
    and the paired difference with its CI in a second panel (a :func:`label_efficiency` table)."""
    import matplotlib.pyplot as plt

    names = table.attrs.get("names") or tuple(c[4:] for c in table.columns if c.startswith("auc_"))
    x = table["fraction"].to_numpy(dtype=float) * 100
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.0, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    for name, color in zip(names, colors):
        ax.plot(x, table[f"auc_{name}"], "o-", color=color, label=name)
        ax.fill_between(x, table[f"ci_low_{name}"], table[f"ci_high_{name}"], color=color, alpha=0.15)
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:g} %" for v in x])
    ax.set_xlabel("share of the training labels")
    ax.set_ylabel(f"test AUROC ({table.attrs.get('label', '')})")
    ax.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    diff = table["difference"].to_numpy(dtype=float)
    err = np.vstack([diff - table["diff_ci_low"].to_numpy(dtype=float), table["diff_ci_high"].to_numpy(dtype=float) - diff])
    bx.errorbar(x, diff, yerr=err, fmt="o", color="black", capsize=3)
    bx.axhline(0.0, color="grey", lw=0.8)
    bx.set_xscale("log")
    bx.set_xticks(x, [f"{v:g} %" for v in x])
    bx.set_xlabel("share of the training labels")
    bx.set_ylabel(f"AUROC {names[0]} - {names[1]} (95 % CI)", fontsize=8)
    bx.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def label_efficiency_summary(table: pd.DataFrame) -> str:
    """One sentence per fraction of a :func:`label_efficiency` table (both AUROCs, the paired difference
    with its 95 % CI and p, and whether the interval includes 0), written from its numbers only."""
    name_a, name_b = table.attrs.get("names", _DEFAULT_NAMES)
    parts = []
    for _, r in table.iterrows():
        low, high = r["diff_ci_low"], r["diff_ci_high"]
        verdict = ("the interval lies above 0" if low > 0 else "the interval lies below 0" if high < 0
                   else "the interval includes 0")
        n_train = r.get("n_train")
        count = f" ({int(n_train)} training images)" if n_train is not None and np.isfinite(n_train) else ""
        p = r["bootstrap_p"]
        parts.append(f"With {r['fraction'] * 100:g} % of the labels{count}, the test AUROC was {r[f'auc_{name_a}']:.3f} "
                     f"from the {name_a} start and {r[f'auc_{name_b}']:.3f} from the {name_b} start, a difference of "
                     f"{r['difference']:+.3f} (95 % paired bootstrap CI {low:+.3f} to {high:+.3f}, "
                     f"{_p_text(p, table.attrs.get('n_boot'))}; DeLong {_p_text(r['delong_p'], None)}): {verdict}.")
    return " ".join(parts)


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
