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
labels_from = "auto"
model_name = None
nih_metadata = None
n_boot = 1000
alpha = 0.05
baseline = "nih-metadata"

# %% [markdown]
# ## Imports and run context

# %%
from cxrlib.core.params import validate_params

validate_params(globals(), "04_evaluate", rules={
    "data_root": "str|None", "labels_from": "in:label_source", "model_name": "str|None",
    "nih_metadata": "str|None", "alpha": ">0 <1", "baseline": ["nih-metadata", "none"],
})

from pathlib import Path

import matplotlib.pyplot as plt

from cxrlib import published
from cxrlib.published import align
from cxrlib.stats import evaluate

from cxrlib.chapters import plots
from cxrlib.book.artifacts import RunArtifacts
from cxrlib.data import nih
from cxrlib.data.metadata import shipped_path
from cxrlib.data.root import require_file

chexnet = predictions_file is None
predictions_path = predictions_file or require_file("chexnet-predictions", "preds.csv", data_root)
nih_metadata_file = nih_metadata or shipped_path("nih")
model = model_name or ("DenseNet-121, CheXNet reproduction (reproduce-chexnet)" if chexnet
                       else f"the model that wrote {predictions_path}")

# %% [markdown]
# ## Predictions and labels
# The predictions file holds one probability per finding and image; the labels come from the NIH
# metadata, and so do the patient ids that the bootstrap resamples.

# %%
predictions = evaluate.read_predictions(predictions_path)
meta = nih.load_metadata(nih_metadata_file)
data = evaluate.evaluation_set(predictions, meta, labels_from, meta_labels=nih.CHEXNET_ORDER,
                        meta_name=f"the NIH metadata ({Path(nih_metadata_file).name})")
frame, labels = data.frame, data.labels
if baseline == "nih-metadata":
    covariates = evaluate.metadata_covariates(frame, meta, labels)  # fails here, not after the bootstrap
evaluated = data.describe()
run = RunArtifacts(
    out_dir, notebook="04_evaluate",
    params=dict(profile=profile, seed=seed, predictions_file=str(predictions_path), labels_from=labels_from,
                model_name=model, nih_metadata=str(nih_metadata_file), n_boot=n_boot, alpha=alpha, baseline=baseline),
    context=dict(dataset=("NIH ChestX-ray14, labels of the v2020 metadata" if data.label_source != "the predictions file"
                          else f"labels and patient ids of {predictions_path}"),
                 split=("CheXNet random test list (not the official NIH test list)" if chexnet
                        else f"the {data.n_images:,} images of {Path(predictions_path).name}"),
                 image_size="not applicable (predictions given)", weights=model, profile=profile, seed=seed),
)
run.record_data("predictions", predictions_path)
run.record_data("nih_metadata", nih_metadata_file)
print(evaluated)

# %% [markdown]
# ## AUROC per finding, with two confidence intervals
#
# The **bootstrap** redraws the test set many times (here whole patients, because the images of one
# patient are not independent) and reads the 2.5% and 97.5% percentiles of the recomputed AUROCs.
# **DeLong's** interval comes from an analytic variance of the AUROC that treats every image as an
# independent observation. On this test list many patients have several images, so DeLong's interval
# can come out narrower than the patient bootstrap's: the second table compares the two half-widths
# finding by finding. The bootstrap also works for metrics without a variance formula.

# %% tags=["remove-output"]
auc = evaluate.auroc_ci_table(frame, data.findings, n_boot=n_boot, seed=seed, alpha=alpha)
paper = published.load("rajpurkar2017_auc").frame
with_paper = bool(set(paper["label"]) & set(labels))
if with_paper:  # ours beside the paper's, by finding: published_auc and difference (ours - published)
    auc = align.beside(paper, auc, keys="label", values="auc", rows="ours", published_name="published_{}",
                       difference_name="difference")
chexnet_auc = auc.rename(columns={"boot_ci_low": "ci_low", "boot_ci_high": "ci_high"})
run.table(chexnet_auc, "chexnet_auc",
          f"AUROC per finding with a {1 - alpha:.0%} patient-bootstrap CI ({n_boot} redraws) and DeLong CI"
          + (", beside the CheXNet paper's AUROC (measured on its own, unreleased test split)" if with_paper else "")
          + f"; {evaluated}")

# %% tags=["remove-output"]
widths = evaluate.interval_widths(auc)
images_per_patient = data.n_images / data.n_patients
run.table(widths, "ci_widths",
          f"Half-widths of the {1 - alpha:.0%} CIs per finding: patient bootstrap ({n_boot} redraws) and DeLong, which "
          f"treats the {data.n_images:,} images of {data.n_patients:,} patients ({images_per_patient:.1f} images per patient) "
          f"as independent; DeLong's is the narrower for {int(widths['delong_narrower'].sum())} of {len(widths)} findings "
          f"(ratio = DeLong / bootstrap)", float_format="{:.3f}")

# %% tags=["remove-output"]
fig = plots.forest_plot(auc[(auc["kind"] == "label") & auc["label"].isin(labels)], published="published_auc" if with_paper else None)
run.figure(fig, "chexnet_auc_forest", f"AUROC per finding with {1 - alpha:.0%} patient-bootstrap CIs (dots)"
           + (" and the CheXNet paper's values (diamonds)" if with_paper else "") + f"; {evaluated}")
plt.show()

# %% [markdown]
# ## How much does the image add? A metadata-only baseline
#
# Some findings are more common in older patients, in men, or on AP (bedside) films. A logistic
# regression that sees only age, sex and view position, fitted on the CheXNet *training* list, gives a
# baseline that any image model must beat. DeLong's test compares the two on the same test images
# (paired), and the p-values are adjusted for testing 14 findings at once (Benjamini-Hochberg). The
# documents use plain DeLong, which counts a patient's images as independent; beside it runs the same
# paired test with Obuchowski's clustered variance, in which a patient's images are one unit
# (`cxrlib.stats.clustered_delong_test`; it equals DeLong when every patient has one image).

# %% tags=["remove-output"]
y, s_model = evaluate.arrays(frame, labels)
if baseline == "nih-metadata":
    lists = nih.chexnet_lists(data_root)
    train_meta = meta[meta["image_id"].isin(lists.loc[lists["split"] == "train", "image_id"])]
    base = evaluate.metadata_baseline(train_meta, covariates, labels)
    s_base = base[[f"{evaluate.PROB_PREFIX}{label}" for label in labels]].to_numpy(dtype=float)
    comparison = evaluate.paired_delong_clustered(y, s_model, s_base, labels, frame["patient_id"],
                                                  names=("image_model", "metadata_only"))
    run.table(comparison, "image_vs_metadata",
              "Image model vs. a metadata-only logistic regression (age, sex, view; fitted on the CheXNet train list), "
              f"two separately fitted models on the same images ({images_per_patient:.1f} images per patient): "
              f"paired DeLong test (delong_*: images as independent, as in the documents) and the same test with "
              f"Obuchowski's patient-clustered variance (clustered_*); {1 - alpha:.0%} CIs of the difference, "
              f"Benjamini-Hochberg FDR over {len(labels)} findings per test; se_ratio = clustered / plain standard error; {evaluated}",
              float_format="{:.4g}")
    reference_curves = evaluate.roc_curves(y, s_base, labels)
else:
    reference_curves = None

# %% [markdown]
# The two AUROCs above come from two separately fitted models, and the gap between them is not the
# image's added value: the pixels also show age, sex and the view position, so part of what the image
# model scores is the metadata again. The question "what does the image add to the metadata?" needs
# *nested* models fitted on the same patients: a logistic regression on age, sex and view, and the same
# regression plus the image model's score. Both are fitted on one random half of the test patients and
# score the other half, and the other way round (two-fold cross-fitting), and the paired patient
# bootstrap gives the CI of the AUROC difference (`cxrlib.stats.evaluate.nested_metadata_models`).

# %% tags=["remove-output"]
if baseline == "nih-metadata":
    nested = evaluate.nested_metadata_models(frame, labels, n_boot=n_boot, seed=seed, alpha=alpha)
    run.table(nested, "image_adds_to_metadata",
              "What the image score adds to age, sex and view: AUROC of a logistic regression on the metadata and of the "
              "same regression plus the image model's score (logit), fitted on the same patients (two-fold cross-fitting "
              f"over random patient halves of the test list), difference with a {1 - alpha:.0%} paired patient-bootstrap CI "
              f"({n_boot} redraws, models held fixed) and p-value, Benjamini-Hochberg FDR over {len(labels)} findings; {evaluated}",
              split="test list, two random patient halves (fit on one, score the other, both ways)", float_format="{:.4g}")

# %% tags=["remove-output"]
curves = evaluate.roc_curves(y, s_model, labels)
fig = plots.roc_grid(curves, aucs=dict(zip(auc["label"], auc["auc"])), reference=reference_curves, reference_name="metadata only")
run.figure(fig, "chexnet_roc", "ROC curves per finding: image model (blue)"
           + (" and metadata-only baseline (orange)" if reference_curves else "") + f"; {evaluated}")
plt.show()

# %% [markdown]
# ## Thresholded metrics, document 001 style
#
# Accuracy, sensitivity and specificity need a threshold. Document 001 uses Youden's threshold (the
# point of the ROC curve farthest above the diagonal). If the threshold is chosen on the same images it
# is evaluated on, the numbers are optimistic. Here the test patients are split into two random halves:
# thresholds chosen on one half are applied to the other, both ways round.

# %% tags=["remove-output"]
points = evaluate.operating_points_by_halves(frame, labels, seed=seed)
test_images = "the CheXNet test list" if chexnet else f"the images of {Path(predictions_path).name}"
run.table(points, "operating_points_halves",
          f"Youden thresholds chosen on one patient-half of {test_images} and applied to the other half, per finding; {evaluated}",
          split=f"{test_images}, two random patient halves")
per_label = points.groupby("label", sort=False)[["accuracy", "sensitivity", "specificity"]].mean().reset_index()
per_label = per_label.merge(auc[["label", "auc"]], on="label")
summary = evaluate.mean_sd_summary(per_label, ["auc", "accuracy", "sensitivity", "specificity"])
run.table(summary, "d001_style_summary",
          "Document 001's layout: AUC, accuracy, sensitivity, specificity in percent, mean ± sd over "
          f"{len(labels)} findings (thresholds from the other patient-half; n_labels: findings with a value); {evaluated}",
          float_format="{:.2f}")

# %% [markdown]
# ## Summary
# - Each AUROC comes with an interval. DeLong's treats the images of one patient as independent, so on
#   this test list it can be narrower than the patient bootstrap's (table `ci_widths`); the paired test
#   with Obuchowski's clustered variance is the patient-level counterpart of DeLong's test.
# - A model without any image already reaches AUROCs above 0.5 for several findings. The gap between two
#   separately fitted models is not the image's contribution; nested models fitted on the same patients
#   (table `image_adds_to_metadata`, with its patient-bootstrap CI) measure what the image score adds to
#   age, sex and view.
# - Thresholds must be chosen away from the images they are evaluated on.
#
# ## Exercises
# 1. Re-run with `-p n_boot 200`. How much do the interval ends move? Which CIs are widest, and why?
# 2. Run the notebook on the `predictions_test.csv` of a fine-tuning run (`-p predictions_file ... -p baseline none`).
# 3. Compare the patient bootstrap with an image bootstrap (`cxrlib.stats.bootstrap_auroc` without `groups`).
#    Which of the two is closer to DeLong's interval, and why?
# 4. Compute `cxrlib.stats.obuchowski_auc(y, score, patient_ids)` for Pneumothorax and set its
#    half-width beside the two in `ci_widths`.

# %%
run.finish()

# %% [markdown]
# ## What's next
# [What the networks look at](/book/explain.md) (notebook 05) turns from numbers to pictures; then
# [the linear probe](/book/linear_probe.md) (notebook 06) applies these intervals and paired tests to the
# self-supervised checkpoints of notebook 02, on tasks with a few hundred test images.
