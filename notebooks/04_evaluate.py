# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -papermill
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Notebook 04: evaluating predictions with uncertainty
#
# ## Overview
# A model's test AUROC is an estimate from a finite test set. This notebook evaluates real predictions:
# the probabilities of a trained DenseNet-121 (a reproduction of CheXNet) for the 22,433 images of the
# CheXNet test list of NIH ChestX-ray14. For every finding it computes the AUROC with two confidence
# intervals (bootstrap over patients, and DeLong's), compares the model with a model that sees no image
# at all, and reports thresholded metrics the way document 001 does, without letting the test images
# choose their own threshold. The same notebook evaluates any predictions file, e.g. the
# `predictions_test.csv` of our own fine-tuning runs.
#
# ## Prerequisites
# - the ROC curve and the AUROC as the probability that a random positive outranks a random negative;
# - the idea of a sampling distribution (what would change with another test set).

# %% tags=["parameters"]
out_dir = "out/04_evaluate"
profile = "classroom"
seed = 0
data_root = None
predictions_file = None
model_name = "DenseNet-121, CheXNet reproduction (reproduce-chexnet)"
nih_metadata = None
n_boot = 1000
alpha = 0.05
baseline = "nih-metadata"

# %% [markdown]
# ## Imports and run context

# %%
import matplotlib.pyplot as plt

from cxrlib import published

from cxrlib.stats import evaluate

from cxrlib.chapters import plots
from cxrlib.book.artifacts import RunArtifacts
from cxrlib.data import nih
from cxrlib.data.metadata import shipped_path
from cxrlib.data.root import require_file

predictions_path = predictions_file or require_file("chexnet-predictions", "preds.csv", data_root)
nih_metadata_file = nih_metadata or shipped_path("nih")
run = RunArtifacts(
    out_dir, notebook="04_evaluate",
    params=dict(profile=profile, seed=seed, predictions_file=str(predictions_path), model_name=model_name,
                nih_metadata=str(nih_metadata_file), n_boot=n_boot, alpha=alpha, baseline=baseline),
    context=dict(dataset="NIH ChestX-ray14, labels of the v2020 metadata", split="CheXNet random test list (not the official NIH test list)",
                 image_size="not applicable (predictions given)", weights=model_name, profile=profile, seed=seed),
)
run.record_data("predictions", predictions_path)
run.record_data("nih_metadata", nih_metadata_file)

# %% [markdown]
# ## Predictions and labels
# The predictions file holds one probability per finding and image; the labels come from the NIH
# metadata, and so do the patient ids that the bootstrap resamples.

# %%
meta = nih.load_metadata(nih_metadata_file)
predictions = evaluate.read_predictions(predictions_path)
labels = predictions.attrs["labels"]
frame = evaluate.attach_labels(predictions, meta, labels)
print(f"{len(frame):,} images of {frame['patient_id'].nunique():,} patients, {len(labels)} findings")

# %% [markdown]
# ## AUROC per finding, with two confidence intervals
#
# The **bootstrap** redraws the test set many times (here whole patients, because the images of one
# patient are not independent) and reads the 2.5% and 97.5% percentiles of the recomputed AUROCs.
# **DeLong's** interval comes from an analytic variance of the AUROC. When the two agree, either is
# fine; the bootstrap also works for metrics without a variance formula.

# %%
auc = evaluate.auroc_ci_table(frame, labels, n_boot=n_boot, seed=seed, alpha=alpha)
auc = evaluate.beside_published(auc, published.load("rajpurkar2017_auc").frame)
chexnet_auc = auc.rename(columns={"boot_ci_low": "ci_low", "boot_ci_high": "ci_high"})
run.table(chexnet_auc, "chexnet_auc",
          f"AUROC per finding with a {1 - alpha:.0%} patient-bootstrap CI ({n_boot} redraws) and DeLong CI, beside the CheXNet paper's AUROC (measured on its own, unreleased test split)")

# %%
fig = plots.forest_plot(auc[auc["kind"] == "label"], published="published_auc")
run.figure(fig, "chexnet_auc_forest", f"AUROC per finding with {1 - alpha:.0%} patient-bootstrap CIs (dots) and the CheXNet paper's values (diamonds)")
plt.show()

# %% [markdown]
# ## How much does the image add? A metadata-only baseline
#
# Some findings are more common in older patients, in men, or on AP (bedside) films. A logistic
# regression that sees only age, sex and view position, fitted on the CheXNet *training* list, gives a
# baseline that any image model must beat. DeLong's test compares the two on the same test images
# (paired), and the p-values are adjusted for testing 14 findings at once (Benjamini-Hochberg).

# %%
if baseline == "nih-metadata":
    lists = nih.chexnet_lists(data_root)
    train_meta = meta[meta["image_id"].isin(lists.loc[lists["split"] == "train", "image_id"])]
    base = evaluate.metadata_baseline(train_meta, frame, labels)
    y, s_model = evaluate.arrays(frame, labels)
    _, s_base = evaluate.arrays(base.assign(**{l: frame[l].to_numpy() for l in labels}), labels)
    comparison = evaluate.paired_delong(y, s_model, s_base, labels, names=("image_model", "metadata_only"))
    run.table(comparison, "image_vs_metadata",
              "Image model vs. a metadata-only logistic regression (age, sex, view; fitted on the CheXNet train list): paired DeLong test per finding, Benjamini-Hochberg FDR over 14 findings",
              float_format="{:.4g}")
    reference_curves = evaluate.roc_curves(y, s_base, labels)
else:
    y, s_model = evaluate.arrays(frame, labels)
    reference_curves = None

# %%
curves = evaluate.roc_curves(y, s_model, labels)
fig = plots.roc_grid(curves, aucs=dict(zip(auc["label"], auc["auc"])), reference=reference_curves, reference_name="metadata only")
run.figure(fig, "chexnet_roc", "ROC curves per finding: image model (blue) and metadata-only baseline (orange)")
plt.show()

# %% [markdown]
# ## Thresholded metrics, document 001 style
#
# Accuracy, sensitivity and specificity need a threshold. Document 001 uses Youden's threshold (the
# point of the ROC curve farthest above the diagonal). If the threshold is chosen on the same images it
# is evaluated on, the numbers are optimistic. Here the test patients are split into two random halves:
# thresholds chosen on one half are applied to the other, both ways round.

# %%
points = evaluate.operating_points_by_halves(frame, labels, seed=seed)
run.table(points, "operating_points_halves", "Youden thresholds chosen on one patient-half of the test list and applied to the other half, per finding",
          split="CheXNet test list, two random patient halves")
per_label = points.groupby("label", sort=False)[["accuracy", "sensitivity", "specificity"]].mean().reset_index()
per_label = per_label.merge(auc[["label", "auc"]], on="label")
summary = evaluate.mean_sd_summary(per_label, ["auc", "accuracy", "sensitivity", "specificity"])
run.table(summary, "d001_style_summary", "Document 001's layout: AUC, accuracy, sensitivity, specificity in percent, mean ± sd over the findings (thresholds from the other patient-half)",
          float_format="{:.2f}")

# %% [markdown]
# ## Summary
# - Each AUROC comes with an interval; bootstrap over patients and DeLong agree closely on this test set.
# - A model without any image already reaches AUROCs above 0.5 for several findings; the gap between
#   the two, tested on the same images, is what the image contributes.
# - Thresholds must be chosen away from the images they are evaluated on.
#
# ## Exercises
# 1. Re-run with `-p n_boot 200`. How much do the interval ends move? Which CIs are widest, and why?
# 2. Run the notebook on the `predictions_test.csv` of a fine-tuning run (`-p predictions_file ... -p baseline none`).
# 3. Compare the patient bootstrap with an image bootstrap (`cxrlib.stats.inference.bootstrap_auroc` without `groups`).

# %%
run.finish()
