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
# # Notebook 11: label efficiency on PneumoniaMNIST
#
# ## Overview
# The promise of self-supervised pre-training is that unlabeled images make the labelled ones go further.
# None of the documents measures it directly: document 002 varies the share of CheXpert used for
# *pre-training*, document 004 declines to cut labels artificially. This notebook does the experiment at
# classroom size, end to end, in about two minutes on a laptop CPU:
#
# 1. pre-train a ResNet18 with SimCLR on the PneumoniaMNIST training images, labels dropped (28 x 28
#    pixels, the data set's native size);
# 2. fine-tune it, and the same network from random values, on 1 %, 10 % and 100 % of the training
#    labels (drawn per class with one seed, nested: the 1 % images lie inside the 10 % images);
# 3. test every run on the same 624 official test images and compare the two starts at each fraction
#    with a paired bootstrap and DeLong's paired test.
#
# PneumoniaMNIST holds Kermany et al.'s pediatric radiographs at 28 px with MedMNIST's official
# train/validation/test division; it has no patient ids, so its division cannot be checked for shared
# patients, and the bootstrap redraws images.
#
# ## Prerequisites
# - contrastive pre-training (notebook 02) and fine-tuning (notebook 03);
# - bootstrap intervals and paired tests of AUROC (notebook 04).

# %% tags=["parameters"]
out_dir = "out/11_label_efficiency"
profile = "classroom"
seed = 0
data_root = None
task = "pneumoniamnist"
backbone = "resnet18"
image_size = 28
preprocess = "classroom"
ssl_method = "simclr"
ssl_policy = "d004_moco"
ssl_epochs = 3
ssl_max_images = 1024
ssl_batch_size = 64
ssl_lr = 1e-3
label_fractions = [0.01, 0.1, 1.0]
images_budget = 256
max_epochs = 8
batch_size = 32
lr = 1e-3
augment = "d004"
n_boot = 1000
cache_dir = None

# %%
from cxrlib.core.params import validate_params

params = validate_params(globals(), "11_label_efficiency", rules={
    "image_size": ">=16", "ssl_epochs": ">=1", "ssl_max_images": "int|None >=2", "ssl_batch_size": ">=2", "ssl_lr": ">0",
    "label_fractions": "nonempty >0 <=1", "images_budget": ">=1", "max_epochs": ">=1", "batch_size": ">=2",
})

import matplotlib.pyplot as plt
import pandas as pd

from cxrlib.book.artifacts import RunArtifacts
from cxrlib.chapters import analogues, documents, plots
from cxrlib.data.pool import SOURCE_DATA
from cxrlib.images.tasks import get_task, label_fraction, split_tables
from cxrlib.training import ssl

spec = get_task(task)
pool_source = next(name for name, source in SOURCE_DATA.items() if source == spec.source)
run = RunArtifacts(
    out_dir, notebook="11_label_efficiency",
    params=params,
    context=dict(dataset=spec.dataset, split=spec.split, image_size=image_size, profile=profile, seed=seed,
                 backbone=backbone),
)
_ = run.record_data(task, spec.data_path(data_root))

# %% [markdown]
# ## Self-supervised pre-training on the training images
#
# The unlabeled pool is the training part of PneumoniaMNIST (capped at `ssl_max_images` for the
# classroom), never a validation or test image. SimCLR with document 004's mild augmentation list; the
# loss should fall below the dashed line, the loss of embeddings that carry no information.

# %%
pretrain_config = ssl.PretrainConfig(
    out_dir=str(run.out_dir / "pretrain"), method=ssl_method, backbone=backbone, weights="none",
    pool_sources=[pool_source], pool_max_images=ssl_max_images, data_root=data_root, preprocess=preprocess,
    image_size=image_size, policy=ssl_policy, lr=ssl_lr, epochs=ssl_epochs, batch_size=ssl_batch_size,
    checkpoint_every=ssl_epochs, keep_state=False, seed=seed, device="cpu", profile=profile, cache_dir=cache_dir)
pretrained = ssl.pretrain(pretrain_config)
checkpoint = str(pretrained.last_checkpoint)
ssl_words = (f"{ssl.get_method(ssl_method).title} of {backbone}, {ssl_epochs} epochs on {len(pretrained.pool)} "
             f"{task} training images (this notebook)")

# %% tags=["remove-output"]
chance = ssl.runs.run_chance_loss(ssl_method, ssl_batch_size, len(pretrained.pool), pretrain_config.queue_size or 0)
fig = plots.loss_curves(pretrained.loss.assign(pool="PneumoniaMNIST train"), "pool", chance=chance,
                        title=f"{ssl.get_method(ssl_method).title} on {backbone}, {image_size} px")
run.figure(fig, "le_ssl_loss", "Pre-training loss per epoch on the unlabeled PneumoniaMNIST training images (dashed: "
           "the loss of uninformative embeddings for this batch size)", weights=f"{backbone} from random values")
plt.show()

# %% [markdown]
# ## Labels at 1 %, 10 % and 100 %
#
# Each class of the training part is shuffled once with the seed; a fraction keeps the first share of
# each class, so the smaller label sets lie inside the larger ones and the class balance stays as it is.
# The validation part (early-stopping checkpoint choice) and the test part stay whole. Every run sees about
# `images_budget` training images (more epochs for the small label sets, at most `max_epochs`), so the
# curve compares labels, not training time.

# %% tags=["remove-output"]
parts = split_tables(spec.load_table(data_root, seed=seed))
schedule = []
for fraction in label_fractions:
    kept = label_fraction(parts["train"], spec, fraction, seed)
    plan = analogues.budget_schedule(len(kept), images_budget=images_budget, batch_size=batch_size, max_epochs=max_epochs)
    schedule.append(dict(fraction=fraction, images=len(kept), positives=int(kept["target"].sum()), **plan))
schedule = pd.DataFrame(schedule)
run.table(schedule, "le_schedule", "Training labels per fraction (nested, per class, seeded), and the epochs and "
          "images per epoch of each fine-tuning run", float_format="{:.2f}",
          weights="none (the plan is drawn from the labels before any model is built)")

# %% [markdown]
# ## Fine-tuning from the SSL checkpoint and from random values
#
# Twice per fraction, with notebook 03's engine and everything equal but the start: every layer trains,
# a linear head, Adam, the class-weighted loss, the checkpoint with the lowest validation loss.

# %%
base = dict(backbone=backbone, image_size=image_size, preprocess=preprocess, task=task, data_root=data_root,
            augment=augment, head="linear", unfrozen_blocks="all", optimizer="adam", lr=lr, weight_decay=0.0,
            batch_size=batch_size, eval_batch_size=256, patience=None, lr_scheduler="none", seed=seed, profile=profile,
            cache_dir=cache_dir)
pairs = {}
for row in schedule.itertuples():
    per_fraction = {**base, "label_fraction": float(row.fraction), "epochs": int(row.epochs),
                    "train_images_per_epoch": int(row.train_images_per_epoch)}
    results = analogues.finetune_runs(per_fraction, {"SSL": {"weights": checkpoint}, "random": {"weights": "none"}},
                                      run.out_dir / "finetune" / f"labels_{row.fraction:g}")
    pairs[float(row.fraction)] = tuple(analogues.held_predictions(results[n], f"{n}, {row.fraction:g} of the labels")
                                       for n in ("SSL", "random"))

# %% tags=["remove-output"]
curve = documents.label_efficiency(pairs, label=spec.positive_class, names=("SSL", "random"), n_boot=n_boot, seed=seed,
                                   n_train=dict(zip(schedule["fraction"], schedule["images"])))
context = dict(weights=f"SSL: {ssl_words}; random: {backbone} from random values")
run.table(curve, "le_curve", f"Test AUROC of {spec.positive_class} per share of training labels, SSL and random start, "
          f"each with its 95% bootstrap CI; the paired difference SSL - random with its 95% CI and p (the same "
          f"{n_boot} redraws of the test images) and DeLong's paired p", **context)
fig = documents.plot_label_efficiency(curve, title=f"{spec.title.split(',')[0]}: SSL vs random start")
run.figure(fig, "le_curve_plot", "Label-efficiency curve: test AUROC against the share of training labels (95% "
           "bootstrap bands), and the paired difference SSL - random with its 95% CI", **context)
plt.show()
run.text(documents.label_efficiency_summary(curve), "le_sentence", **context)

# %% [markdown]
# ## Summary
# - Label efficiency is a paired question at each fraction: both starts are tested on the same images,
#   so the difference gets its own interval.
# - The label sets are nested and drawn per class with one seed; a different seed draws other images,
#   and at 1 % (a few dozen images) that alone moves the AUROC.
# - Minutes of SimCLR on about a thousand 28 px images is a long way from document 002's or 004's
#   pre-training on CheXpert; the curve shows the method, not their result.
#
# ## Exercises
# 1. At which fraction is the paired difference SSL - random largest, and does its interval exclude 0
#    there? How many training images and positives does the smallest label set hold, and what would a
#    different `seed` change about it?
# 2. How many epochs and images per epoch does each fraction's run train (the schedule table)? Why does
#    the smallest label set get the most epochs, and what would a fixed number of epochs for every
#    fraction confound?
# 3. From which fraction on has the random start caught up with the SSL one, judged by the interval of
#    the difference? What would adding the fraction 0.3 (`-p label_fractions "[0.01, 0.1, 0.3, 1.0]"`)
#    let you see?
# 4. Why must the 1 % labels lie inside the 10 % labels for the curve to be read as "more labels"?

# %%
run.finish()

# %% [markdown]
# ## What's next
# [Experiment grids as sweeps](/book/sweeps.md) (notebook 09) runs whole grids of such runs; then
# [the developers' chapter](/book/developers.md) shows how the notebooks, run folders and chapters fit
# together, for readers who want to add their own experiment.
