"""Linear evaluation of backbones: frozen features of a task's images -> document 002's probe.

One *initialisation* (:class:`Init`) is a backbone's starting weights: random, a published tag such
as ``imagenet``, or one of our SSL checkpoints (with its pretext fraction and epoch). For each
initialisation and task:

1. the task's table (:data:`cxrlib.images.tasks.TASKS`): training and validation parts together are the
   probe's *fit* rows (the grid search cross-validates inside them, by patient), the test part is
   scored once;
2. features of every image with the backbone frozen (:func:`cxrlib.training.features.extract_features`, cached
   on disk by weights hash, image list and preprocessing);
3. :func:`cxrlib.training.probe.fit_probe` and :func:`cxrlib.training.probe.probe_report` (bootstrap CIs by patient).

Everything returns plain tables; the notebook decides what to show.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from cxrlib.images.preprocess import PreprocessCache
from cxrlib.images.tasks import TaskSpec, get_task
from cxrlib.images.task_tables import subsample
from cxrlib.images.preprocess import preprocess_config
from cxrlib.images.dataset import CxrDataset
from cxrlib.models import WeightsNotFoundError, create_backbone
from cxrlib.training import probe
from cxrlib.training.common import size_kwargs
from cxrlib.training.features import extract_features, feature_cache_key

FIT_PARTS = ("train", "val")


@dataclass(frozen=True)
class Init:
    """A backbone initialisation to evaluate: ``weights`` is what ``create_backbone`` takes."""

    name: str
    weights: str
    fraction: float | None = None  # pretext fraction of an SSL checkpoint
    epoch: int | None = None  # pretext epoch of an SSL checkpoint
    extra: dict = field(default_factory=dict, compare=False, hash=False)


def task_table(task: str | TaskSpec, data_root=None, seed: int = 0, fit_limit: int | None = None,
               options: dict | None = None, *, test_limit: int | None = None) -> pd.DataFrame:
    """The task's table with a ``role`` column (``fit`` = train + val, ``test``); ``fit_limit`` keeps at
    most that many fit images (whole parts sub-sampled per class, patient-safe) for classroom runs;
    ``options``: the task's options (e.g. ``{"patient_clean": False}``); ``test_limit`` keeps at most that
    many test images the same way (smoke runs only: a result is scored on the whole test part)."""
    spec = get_task(task)
    table = spec.load_table(data_root, seed=seed, **(options or {}))
    if test_limit is not None:
        table = subsample(table, spec, {"test": int(test_limit)}, seed)
    if fit_limit is not None:
        n_train = int((table["split"] == "train").sum())
        n_val = int((table["split"] == "val").sum())
        share = min(1.0, fit_limit / max(1, n_train + n_val))
        table = subsample(table, spec, {"train": int(share * n_train), "val": int(share * n_val)}, seed)
    return table.assign(role=np.where(table["split"].isin(FIT_PARTS), "fit", "test")).reset_index(drop=True)


def weights_id(info, seed: int = 0) -> str:
    """What identifies the features of a backbone: the file's hash, or 'random' with the seed of the random draw."""
    return info.sha256 or f"random:{info.timm_name}:{info.requested}:seed{int(seed)}"


def load_init(backbone: str, init: Init, *, image_size: int, seed: int = 0, weights_dir=None):
    """``(backbone module, WeightsInfo)``, or ``(None, reason)`` when a published tag is not on this machine."""
    try:
        return create_backbone(backbone, init.weights, weights_dir=weights_dir, seed=seed,
                               **size_kwargs(backbone, image_size))
    except WeightsNotFoundError as error:
        return None, str(error)


def init_features(model: torch.nn.Module, info, table: pd.DataFrame, task: str | TaskSpec, *, preprocess: str,
                  image_size: int, cache_dir=None, feature_dir: str | os.PathLike, batch_size: int = 128,
                  progress: bool = False, device: str = "cpu", seed: int = 0) -> np.ndarray:
    """Frozen features (N x D) of every row of ``table`` (cached in ``feature_dir``; ``seed``: the seed the
    backbone was drawn with, which tells random backbones apart)."""
    config = preprocess_config(preprocess, image_size)
    dataset = CxrDataset(table, task, PreprocessCache(cache_dir, config))
    key = feature_cache_key(weights_id(info, seed), dataset.image_ids, config,
                            extra={"timm_name": info.timm_name, "image_size": image_size})
    return extract_features(model, dataset, cache_dir=feature_dir, key=key, batch_size=batch_size,
                            progress=progress, device=device)


def patient_ids(table: pd.DataFrame) -> np.ndarray:
    """The patient of every row (the resampling unit of patient-aware intervals and clustered tests)."""
    return table["patient_id"].astype(str).to_numpy()


def fit_and_predict(features: np.ndarray, table: pd.DataFrame, task: str | TaskSpec, *, seed: int = 0,
                    n_splits: int = probe.DEFAULT_N_SPLITS) -> tuple[probe.FittedProbe, np.ndarray]:
    """Fit the probe on the ``fit`` rows (C by patient-grouped cross-validation with folds drawn by ``seed``) and
    return it with its probabilities for the ``test`` rows."""
    spec = get_task(task)
    if spec.kind != "binary":
        raise ValueError(f"the linear probe reports binary tasks (document 002); {spec.name} is {spec.kind}")
    fit, test = (table["role"] == "fit").to_numpy(), (table["role"] == "test").to_numpy()
    y, groups = spec.targets(table), patient_ids(table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", probe.FoldReductionWarning)
        fitted = probe.fit_probe(features[fit], y[fit], groups[fit], n_splits=n_splits, seed=seed)
    return fitted, fitted.predict_proba(features[test])


def evaluate_features(features: np.ndarray, table: pd.DataFrame, task: str | TaskSpec, *, seed: int = 0,
                      n_boot: int = 1000, n_splits: int = probe.DEFAULT_N_SPLITS) -> tuple[dict, probe.FittedProbe, np.ndarray]:
    """Fit the probe on the ``fit`` rows and report on the ``test`` rows: (report, probe, test probabilities)."""
    fitted, prob = fit_and_predict(features, table, task, seed=seed, n_splits=n_splits)
    y, groups, fit, test = get_task(task).targets(table), patient_ids(table), table["role"] == "fit", table["role"] == "test"
    report = probe.probe_report(y[test.to_numpy()], prob, groups=groups[test.to_numpy()], n_boot=n_boot, seed=seed)
    report.update(c=fitted.c, cv_auc=float(fitted.selection.summary["mean_auc"].max()),
                  n_fit=int(fit.sum()), n_test=int(test.sum()))
    return report, fitted, prob


def run_inits(backbone: str, inits: list[Init], tasks: dict[str, pd.DataFrame], *, preprocess: str, image_size: int,
              feature_dir, cache_dir=None, seed: int = 0, n_boot: int = 1000, weights_dir=None,
              device: str = "cpu", on_skip=print) -> tuple[pd.DataFrame, dict[tuple[str, str], dict[str, Any]]]:
    """Evaluate every initialisation on every task.

    Returns a long table (one row per init x task: ``init``, ``task``, ``fraction``, ``epoch``, the
    metrics and their CIs, ``c``, ``weights``) and, per ``(init, task)``, the test probabilities and
    test features for paired tests and t-SNE. Published weights that are not on this machine are
    skipped with ``on_skip(reason)``; never replaced by random values.
    """
    rows, outputs = [], {}
    for init in inits:
        model, info = load_init(backbone, init, image_size=image_size, seed=seed, weights_dir=weights_dir)
        if model is None:
            on_skip(f"{init.name}: skipped, weights not available here.\n{info}")
            continue
        for task_name, table in tasks.items():
            features = init_features(model, info, table, task_name, preprocess=preprocess, image_size=image_size,
                                     cache_dir=cache_dir, feature_dir=feature_dir, device=device, seed=seed)
            report, fitted, prob = evaluate_features(features, table, task_name, seed=seed, n_boot=n_boot)
            rows.append({"init": init.name, "task": task_name, "fraction": init.fraction, "epoch": init.epoch,
                         **report, "weights": info.description, **init.extra})
            test = (table["role"] == "test").to_numpy()
            outputs[(init.name, task_name)] = {"prob": prob, "features": features[test], "info": info,
                                               "probe": fitted}
    return pd.DataFrame(rows), outputs


def paired_delong_by_init(outputs: dict, tables: dict[str, pd.DataFrame], pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """Paired DeLong tests of test AUROC between initialisations on the same images, BH-FDR over all rows: the
    plain test (images independent) and, beside it, the clustered one with patients as clusters
    (:func:`cxrlib.stats.clustered_delong_test`; Kermany's 624 test images come from 427 children)."""
    from cxrlib import stats

    rows = []
    for task_name, table in tables.items():
        spec = get_task(task_name)
        y = spec.targets(table[table["role"] == "test"])
        for a, b in pairs:
            if (a, task_name) not in outputs or (b, task_name) not in outputs:
                continue
            score_a, score_b = outputs[(a, task_name)]["prob"], outputs[(b, task_name)]["prob"]
            result = stats.delong_test(y, score_a, score_b)
            clustered = stats.clustered_delong_test(y, score_a, score_b, patient_ids(table[table["role"] == "test"]))
            rows.append({"task": task_name, "init_a": a, "init_b": b, "auc_a": result.auc_a, "auc_b": result.auc_b,
                         "difference": result.difference, "ci_low": result.ci[0], "ci_high": result.ci[1],
                         "z": result.z, "p_value": result.p_value, "ci_low_clustered": clustered.ci[0],
                         "ci_high_clustered": clustered.ci[1], "p_clustered": clustered.p_value})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["p_fdr"] = stats.fdr_bh(frame["p_value"].to_numpy())
        frame["p_fdr_clustered"] = stats.fdr_bh(frame["p_clustered"].to_numpy())
    return frame


def tsne_embedding(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE of standardised features (PCA to 50 dimensions first), seeded (document 002, Fig. 3)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(features)
    x = PCA(n_components=min(50, x.shape[1], x.shape[0] - 1), random_state=seed).fit_transform(x)
    return TSNE(n_components=2, perplexity=min(perplexity, (len(x) - 1) / 3), init="pca",
                random_state=seed).fit_transform(x)


def checkpoint_inits(index: pd.DataFrame) -> tuple[list[Init], list[Init]]:
    """From a ``checkpoints.csv`` of ``02_pretrain``: the checkpoint that stands for each pretext fraction in the
    comparison of the fractions (its ``compared_epoch``: equal optimisation steps, see
    :func:`cxrlib.training.ssl.runs.pretrain_fractions`; an index without that column: each fraction's last), and
    every checkpoint of the largest fraction (the downstream score per pretext epoch, document 002 Fig. 2; the
    last of them is the encoder the later chapters start from)."""
    from cxrlib.training.ssl.runs import fraction_label

    finals = []
    for f, part in index.sort_values("fraction").groupby("fraction", sort=True):
        epoch = int(part["compared_epoch"].iloc[0]) if "compared_epoch" in part else int(part["epoch"].max())
        row = part[part["epoch"] == epoch].iloc[0]
        finals.append(Init(f"SSL {fraction_label(f)}", str(row["path"]), float(f), epoch))
    largest = index[index["fraction"] == index["fraction"].max()].sort_values("epoch")
    per_epoch = [Init(f"SSL {fraction_label(r.fraction)} epoch {int(r.epoch)}", str(r.path), float(r.fraction),
                      int(r.epoch)) for r in largest.itertuples()]
    return finals, per_epoch


def encoder_init(finals: list[Init], per_epoch: list[Init], path: str) -> Init:
    """The encoder the later chapters start from: the checkpoint ``path`` (``ssl.final_checkpoint(...).path``, the
    one choice of :func:`cxrlib.models.weights.last_ssl_checkpoint`), under the name of its row in the fractions'
    comparison when it is that row's checkpoint, else under its per-epoch name."""
    found = next((init for init in finals + per_epoch if init.weights == str(path)), None)
    if found is None:
        raise ValueError(f"the encoder checkpoint {path} is not in the pre-training run's checkpoint index; re-run "
                         "notebook 02 so that its checkpoints.csv and its checkpoints come from the same run")
    return found


def compare_runs(predictions_a: pd.DataFrame, predictions_b: pd.DataFrame, label: str,
                 names: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """Paired DeLong test of two runs' test predictions (``cxrlib.training.finetune`` layout) for one label
    (:func:`cxrlib.stats.evaluate.paired_delong` on the images both predicted, which must be all of them)."""
    from cxrlib.stats import evaluate

    merged = predictions_a.merge(predictions_b, on="image_id", suffixes=("_a", "_b"))
    if len(merged) != len(predictions_a):
        raise ValueError("the two runs did not predict the same test images")
    return evaluate.paired_delong(merged[[f"{label}_a"]].to_numpy(), merged[[f"prob_{label}_a"]].to_numpy(),
                                  merged[[f"prob_{label}_b"]].to_numpy(), [label], names)


def replicated_probe(backbone: str, ssl: Init, baseline: Init, tables: dict[str, pd.DataFrame], seeds, *,
                     preprocess: str, image_size: int, feature_dir, cache_dir=None, weights_dir=None,
                     device: str = "cpu", reuse: dict | None = None, n_boot: int = 1000, boot_seed: int = 0):
    """SSL vs ``baseline`` (random initialisation) by linear probe, once per seed of what is random in it.

    For each seed ``s`` the baseline backbone is drawn with ``s`` (its random weights) and both probes choose C on
    folds drawn with ``s``; the SSL backbone is one pre-training run, the same for every seed (its features are
    computed once). ``reuse``: :func:`run_inits` outputs already computed with one of the seeds (its probabilities
    are taken, not refitted). Returns a long table (``task``, ``init``, ``seed``, ``auc``) and, per task, the
    :class:`cxrlib.stats.Replicated` difference AUROC(SSL) - AUROC(baseline) with its patient-bootstrap interval
    (:func:`cxrlib.stats.replicated_auroc_difference`, ``groups`` = patient ids)."""
    from cxrlib.stats import replicated_auroc_difference
    from cxrlib.stats.metrics import auroc

    reuse = reuse or {}
    probs: dict[tuple[str, str], dict[int, np.ndarray]] = {}
    rows = []
    for init in (baseline, ssl):
        for seed in seeds:
            model, info = None, None
            for task_name, table in tables.items():
                done = reuse.get("seed") == seed and (init.name, task_name) in reuse.get("outputs", {})
                if done:
                    prob = reuse["outputs"][(init.name, task_name)]["prob"]
                else:
                    if model is None:
                        model, info = load_init(backbone, init, image_size=image_size, seed=seed, weights_dir=weights_dir)
                    features = init_features(model, info, table, task_name, preprocess=preprocess,
                                             image_size=image_size, cache_dir=cache_dir, feature_dir=feature_dir,
                                             device=device, seed=seed if info.random else 0)
                    _, prob = fit_and_predict(features, table, task_name, seed=seed)
                probs.setdefault((init.name, task_name), {})[int(seed)] = prob
                y = get_task(task_name).targets(table[table["role"] == "test"])
                rows.append({"task": task_name, "init": init.name, "seed": int(seed), "auc": auroc(y, prob)})
    replicated = {}
    for task_name, table in tables.items():
        test = table[table["role"] == "test"]
        replicated[task_name] = replicated_auroc_difference(
            get_task(task_name).targets(test), probs[(ssl.name, task_name)], probs[(baseline.name, task_name)],
            name=f"{task_name}: AUROC({ssl.name}) - AUROC({baseline.name}), probe",
            groups=patient_ids(test), n_boot=n_boot, seed=boot_seed)
    return pd.DataFrame(rows), replicated


def replicated_run_difference(predictions_a: dict[int, pd.DataFrame], predictions_b: dict[int, pd.DataFrame],
                              label: str, patients: pd.Series, *, name: str, n_boot: int = 1000, seed: int = 0):
    """AUROC(A) - AUROC(B) of fine-tuning runs, one pair per training seed (``predictions_*``: seed -> test
    predictions in the :mod:`cxrlib.training.finetune` layout), with the patient-bootstrap interval of the seed
    mean (``patients``: image id -> patient id); :func:`cxrlib.stats.replicated_auroc_difference`."""
    from cxrlib.stats import replicated_auroc_difference

    seeds = sorted(predictions_a)
    reference = predictions_a[seeds[0]][["image_id", label]]
    aligned = {}
    for arm, runs in (("a", predictions_a), ("b", predictions_b)):
        aligned[arm] = {}
        for s in seeds:
            merged = reference.merge(runs[s][["image_id", label, f"prob_{label}"]], on="image_id", suffixes=("", "_run"))
            if len(merged) != len(reference) or not (merged[label] == merged[f"{label}_run"]).all():
                raise ValueError(f"seed {s}: the runs did not predict the same test images with the same labels")
            aligned[arm][s] = merged[f"prob_{label}"].to_numpy()
    groups = reference["image_id"].map(patients)
    if groups.isna().any():
        raise ValueError(f"{int(groups.isna().sum())} test image(s) without a patient id")
    return replicated_auroc_difference(reference[label].to_numpy(), aligned["a"], aligned["b"], name=name,
                                       groups=groups.astype(str).to_numpy(), n_boot=n_boot, seed=seed)


def power_sentence(task: str | TaskSpec, table: pd.DataFrame, se: float, *, what: str, alpha: float = 0.05,
                   power: float = 0.8) -> str:
    """What a test part can detect: its positives and negatives (images and patients) and the smallest AUROC
    difference detected with ``power`` at two-sided ``alpha`` given the standard error ``se`` of the difference
    (:func:`cxrlib.stats.detectable_difference`; ``se`` from the clustered DeLong test of ``what``)."""
    from cxrlib.stats import detectable_difference

    spec = get_task(task)
    test = table[table["role"] == "test"]
    y = spec.targets(test)
    parts = []
    for value, cls in ((1, spec.classes[1]), (0, spec.classes[0])):
        rows = test[y == value]
        parts.append(f"{len(rows)} {cls} images from {rows['patient_id'].nunique()} patients")
    delta = detectable_difference(se, alpha=alpha, power=power)
    return (f"**Power of the {spec.name} test part.** It holds {' and '.join(parts)}. With the standard error of "
            f"{what} on it ({se:.3f}, clustered DeLong), an AUROC difference is detected with {power:.0%} power "
            f"(two-sided alpha {alpha:g}) only when it is at least about {delta:.3f}; smaller differences, in either "
            "direction, are expected to go unnoticed, so a non-significant result on this task says little.")


def pretraining_check(final) -> "LearningCheck | None":
    """The learning check of the pre-training run a :class:`cxrlib.training.ssl.runs.FinalCheckpoint` comes from
    (its ``learning.json``), or ``None`` when that run recorded none."""
    from cxrlib.stats.learning import read_learning_checks

    return read_learning_checks(final.run_dir).get(".")


def pretraining_note(final) -> str:
    """The sentence (or warning) saying whether the SSL encoder behind ``final`` learned."""
    check = pretraining_check(final)
    return check.markdown() if check is not None else "Did the SSL encoder learn? Not checked (no learning.json)."


def replicated_sentences(replicated, *, learned: bool, above: str, below: str) -> list[str]:
    """One generated sentence per :class:`cxrlib.stats.Replicated` (``replicated``: name -> result): concluding
    only what its verdict allows, and only the numbers (a pipeline demo) when a model it compares did not learn."""
    if not learned:
        return [f"Not interpreted (a model it compares did not learn): {r.name} = {r.spread_text()}."
                for r in replicated.values()]
    return [r.sentence(above=above.format(key), below=below.format(key)) for key, r in replicated.items()]
