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
# # Notebook 03: fine-tuning a pre-trained backbone
#
# ## Overview
# Transfer learning takes a network trained on one task (a *backbone*: ImageNet classification, or a
# self-supervised task on natural images) and trains it further on ours. Document 000 replaces the
# backbone's classifier with a small head (Dropout, Dense 128, ReLU, Dropout, Dense) and trains only the
# last few *blocks* of the backbone together with the head: **partial unfreezing**. The number of
# unfrozen blocks is a hyper-parameter it sweeps for every backbone (Tables 2-6). Documents 001 and 004
# fine-tune every layer instead.
#
# This notebook runs one fine-tuning: it builds the backbone with its pre-trained weights (and says
# which ones, or that there were none), freezes all but the last `unfrozen_blocks` blocks, trains with a
# class-weighted loss, early stopping and a learning-rate schedule, keeps the epoch with the lowest
# validation loss, and writes per-image predictions for the validation and test sets. With no parameter
# it is the classroom run: the Kermany pediatric pneumonia data, small images, a few minutes on a laptop
# CPU. The `params/paper/` files run document 000's and document 001's protocols on a GPU.
#
# ## Prerequisites
# - what a convolutional network or a vision transformer computes, and what a training loop does
#   (loss, gradient, optimiser step, epoch);
# - the ROC curve and the AUROC ([the ROC primer](/book/roc_primer.md); the statistics chapter after this one
#   explains their confidence intervals);
# - the data and the patient-disjoint splits of notebook 01.
#
# Re-running the notebook with the same `out_dir` resumes an interrupted run after its last finished
# epoch (`resumable=False` keeps no resume state: no weights and optimiser state written after every epoch).

# %% tags=["parameters"]
out_dir = "out/03_finetune"
profile = "classroom"
seed = 0
data_root = None
backbone = "resnet18"
weights = "auto"
weights_dir = None
ssl_dir = "book/_generated/02_pretrain"
task = "kermany_pneumonia"
task_options = {}
val_fraction = None
subset = None
label_fraction = None
preprocess = "classroom"
image_size = 64
augment = "d000"
resample = None
head = "d000"
unfrozen_blocks = "auto"
dropout = 0.0
optimizer = "adamw"
lr = 1e-3
weight_decay = 1e-4
loss_weighting = "inverse_frequency"
epochs = 8
batch_size = 32
train_images_per_epoch = 2048
patience = 3
lr_scheduler = "plateau"
plateau_factor = 0.1
plateau_patience = 1
precision = "32"
device = "auto"
devices = 1
num_workers = 0
progress = "epoch"
resumable = True
n_boot = 1000

# %% [markdown]
# ## The backbone and its weights
#
# `weights="auto"` loads the backbone's published pre-trained weights when they are on this machine;
# otherwise **the book's own self-supervised checkpoint** for this backbone: notebook 02 pre-trains a
# ResNet-18 with SimCLR at 64 px on an unlabeled pool (Kermany training images without their labels, the
# NIH sample, the COVID collection; never a test image), and `ssl_dir` names its output folder. Only a
# checkpoint of the same backbone is used. With neither, the backbone starts from **random values, and
# says so** here and in every caption below (`python -m cxrlib.models fetch <backbone>` downloads the
# published weights once). A run from random values still trains (the classroom task is easy), but it is
# not transfer learning.

# %%
from cxrlib.core.params import validate_params

# The rules of every parameter name (backbone, task, head, optimizer, ... from their registries; ranges) are
# cxrlib.core.params.COMMON_RULES, and a ViT's image_size must be a multiple of its patch: TrainConfig checks
# the same rules again.
validate_params(globals(), "03_finetune", rules={"image_size": ">=16", "precision": "str nonempty",
                                                  "ssl_dir": "str|None"})

import matplotlib.pyplot as plt

from cxrlib.chapters import finetune as chapter
from cxrlib.training import finetune
from cxrlib.book.artifacts import RunArtifacts

config = finetune.TrainConfig.from_namespace(globals())
prepared = finetune.prepare(config)
print(prepared.weights.caption())
print(prepared.freeze.summary())

# %%
task_spec = prepared.task
run = RunArtifacts(
    out_dir, notebook="03_finetune", params=config.to_dict(),
    context=dict(dataset=task_spec.dataset, split=task_spec.split, image_size=image_size,
                 weights=finetune.weights_label(prepared.weights), profile=profile, seed=seed,
                 backbone=backbone, unfrozen_blocks=finetune.unfrozen_label(config, prepared.freeze)),
)
_ = run.record_data("images", task_spec.data_path(data_root))
if prepared.weights.file:  # the published file or the book's SSL checkpoint the backbone started from
    _ = run.record_data("start_weights", prepared.weights.file)

# %% [markdown]
# ## Partial unfreezing
#
# The registry counts the 12 transformer blocks of a ViT and the 12 ConvNeXt blocks of ConvNeXt-V2 atto,
# as document 000's tables do, and the four stages of a ResNet or the four dense blocks of a DenseNet
# (our reading: the document does not say how it counts them). `unfrozen_blocks` is a count, `"all"`,
# `"half"` (document 000 unfroze "only up to half" of the blocks of ConvNeXt-V2 and its ViTs, and swept 0
# to 4 blocks of its ResNet-50 and DenseNet-121) or `"auto"` (the classroom default): half for a
# pre-trained start, all for a random one, because frozen random blocks only pass random features on
# (a run that freezes them anyway warns). Unfreezing the last *k* blocks lets the features closest to the output adapt to chest X-rays while the early,
# generic filters (edges, textures) stay as pre-trained; fewer parameters train, so the run is faster
# and over-fits less on small data.

# %% tags=["remove-output"]
blocks = chapter.block_table(prepared)
fig = chapter.plot_blocks(blocks, title=prepared.freeze.summary())
run.figure(fig, "ft_blocks", f"Parameters per block of {backbone}: the blocks that train (blue) and those that stay frozen (grey)")
plt.show()

# %% [markdown]
# ## The data
#
# The training part may be resampled (document 000's rule for the 15-class NIH task); the validation
# and test parts never are. The loss weights each class by $W_c = n / (c \cdot n_c)$ on the training
# part as the loop sees it (single-label tasks), or each label's positives by negatives/positives
# (multi-label tasks).

# %% tags=["remove-output"]
parts = finetune.load_tables(config, task_spec)
counts = chapter.split_class_counts(parts, task_spec)
run.table(counts, "ft_data", f"{task_spec.title}: images and patients per part and class", float_format="{:.0f}")

# %% [markdown]
# ## Training
#
# One line per epoch: the training loss (on augmented images), the validation loss, the validation
# AUROC and the learning rate. The checkpoint of the epoch with the lowest validation loss is kept.

# %%
result = finetune.fit(config, prepared=prepared)

# %% [markdown]
# Did the model learn? Its validation AUROC is compared with chance (0.5) through a patient-bootstrap
# interval, and its final training loss with the loss that a constant prediction reaches on these
# training labels. A model that fails either is a pipeline demo: its numbers are not interpreted.

# %% tags=["remove-output"]
run.text(chapter.learning_note(result), "ft_learned")

# %% tags=["remove-output"]
fig = chapter.plot_learning_curves(result.history, title=f"{backbone}, {prepared.freeze.summary().split(': ')[1]}")
run.figure(fig, "ft_learning_curves", "Learning curves: weighted loss on the training (augmented) and validation parts, and validation AUROC, per epoch; dotted: the epoch kept")
plt.show()

# %% [markdown]
# ## Test results of the kept epoch
#
# The ROC curve of the test set, the confusion matrix (binary tasks: at the Youden threshold chosen on
# the *validation* predictions; single-label tasks: the most probable class) and the metrics with 95%
# confidence intervals from a bootstrap over patients.

# %% tags=["remove-output"]
aurocs = chapter.run_auroc_table(result, n_boot=n_boot, seed=seed)
fig = chapter.plot_roc(result, aurocs)
run.figure(fig, "ft_test_roc", "ROC curve(s) on the test set, best-validation-loss checkpoint")
plt.show()

# %% tags=["remove-output"]
matrix = chapter.confusion_table(result)
if matrix is not None:
    rule = "Youden threshold chosen on validation" if task_spec.kind == "binary" else "most probable class"
    fig = chapter.plot_confusion(matrix, title=f"test set ({rule})")
    run.figure(fig, "ft_test_confusion", f"Confusion matrix on the test set, prediction = {rule} (rows: true class; shading: share of the row)")
    plt.show()

# %% tags=["remove-output"]
run.table(aurocs, "ft_test_auroc", f"Test AUROC with a 95% patient-bootstrap CI ({n_boot} redraws) and DeLong's CI")
points = chapter.operating_points_ci(result, n_boot=n_boot, seed=seed)
if len(points):
    run.table(points, "ft_test_operating_points", f"Test metrics at the Youden threshold chosen on the validation predictions, with 95% patient-bootstrap CIs ({n_boot} redraws)")

# %% [markdown]
# ## Summary
# - A backbone, its weights and the number of unfrozen blocks are three parameters; the registry turns
#   them into a model whose trainable part is shown above.
# - Class-weighted losses, early stopping on the validation loss and the best checkpoint are the
#   protocol of document 000; the run folder keeps the per-image predictions, so notebook 04 and the
#   statistics chapters re-use them without training again.
# - Without published weights the run starts from the book's own SSL checkpoint for its backbone (notebook
#   02), and without that from random values: every caption says which.
#
# ## Exercises
# 1. Re-run with `-p unfrozen_blocks 0` (head only) and `-p unfrozen_blocks all`. How do the training
#    time, the learning curves and the test AUROC change? Compare the head-only test AUROC with the
#    classroom run above (half of the blocks of its pre-trained start) and with the rows of notebook 06's
#    linear probe (a logistic regression on the frozen features of the SSL checkpoint and of an untrained
#    ResNet-18). What can a head learn on top of frozen blocks, and what do the unfrozen blocks add?
# 2. Which weights did the run start from (the caption and `weights.json`)? Compare the first epoch's
#    validation AUROC of the three runs of exercise 1. With the published ImageNet weights (`python -m
#    cxrlib.models fetch resnet18`, then re-run; offline the fetch fails with a message naming the file
#    and where to put it), what would you expect the first epoch to show, and why?
# 3. Interrupt a run (stop the kernel during epoch 3) and run the notebook again with the same `out_dir`:
#    which epoch does it start from?
# 4. Try another backbone, e.g. `-p backbone convnextv2_atto` (the book has no SSL checkpoint for it: the
#    run says that it starts from random values and trains all its blocks) or `-p backbone dino_vits16
#    -p image_size 64` (a ViT needs a multiple of its patch size).

# %%
run.finish()

# %% [markdown]
# ## What's next
# [Statistics for comparing models](/book/statistics.md) (notebook 04) evaluates a predictions file like
# the `predictions_test.csv` written here: confidence intervals by patient, paired tests between models,
# and thresholds chosen away from the test images.
