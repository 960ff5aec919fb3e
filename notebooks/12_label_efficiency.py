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
# # Notebook 12: label efficiency on PneumoniaMNIST
#
# ## Overview
# The promise of self-supervised pre-training is that unlabeled images make the labelled ones go further.
# None of the documents measures it directly: document 002 varies the share of CheXpert used for
# *pre-training*, document 004 declines to cut labels artificially. This notebook does the experiment at
# classroom size, end to end, in a few minutes on a laptop CPU:
#
# 1. pre-train a ResNet18 with SimCLR on the PneumoniaMNIST training images, labels dropped (28 x 28
#    pixels, the data set's native size);
# 2. fine-tune it, and the same network from random values, on 1 %, 10 % and 100 % of the training
#    labels, each run to early stopping on the validation loss, with several training seeds (each seed
#    draws its own label subset per class, nested within the seed: its 1 % images lie inside its 10 %
#    images), so the small fractions are replicated over several draws of the labels;
# 3. check that every model learned, test every run on the same 624 official test images, and compare
#    the two starts at each fraction over the seeds (seed spread beside the test-set interval).
#
# PneumoniaMNIST holds Kermany et al.'s pediatric radiographs at 28 px with MedMNIST's official
# train/validation/test division; it has no patient ids, so its division cannot be checked for shared
# patients, and the bootstrap redraws images (optimistic when a child has several test images).
#
# ## Prerequisites
# - contrastive pre-training (notebook 02) and fine-tuning (notebook 03);
# - bootstrap intervals and paired tests of AUROC (notebook 04).

# %% tags=["parameters"]
out_dir = "out/12_label_efficiency"
profile = "classroom"
seed = 0
seeds = [0, 1, 2]
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
epoch_images = 256
min_epoch_steps = 8
max_epochs = 4
max_images = 9416
patience = 2
batch_size = 128
lr = 2e-3
augment = "d004"
n_boot = 1000
cache_dir = None

# %%
from cxrlib.core.params import validate_params

params = validate_params(globals(), "12_label_efficiency", rules={
    "image_size": ">=16", "ssl_epochs": ">=1", "ssl_max_images": "int|None >=2", "ssl_batch_size": ">=2", "ssl_lr": ">0",
    "label_fractions": "nonempty >0 <=1", "seeds": "nonempty", "epoch_images": ">=1", "min_epoch_steps": ">=1",
    "max_epochs": ">=1", "max_images": ">=1", "patience": ">=0", "batch_size": ">=2",
})

import matplotlib.pyplot as plt
import pandas as pd

from cxrlib.book.artifacts import RunArtifacts
from cxrlib.chapters import analogues, documents, plots
from cxrlib.stats.learning import LearningCheck
from cxrlib.data.pool import SOURCE_DATA
from cxrlib.images.tasks import get_task
from cxrlib.images.task_tables import label_fraction, split_tables
from cxrlib.training import ssl

spec = get_task(task)
pool_source = next(name for name, source in SOURCE_DATA.items() if source == spec.source)
run = RunArtifacts(
    out_dir, notebook="12_label_efficiency",
    params=params,
    context=dict(dataset=spec.dataset, split=spec.split, image_size=image_size, profile=profile,
                 seed=f"pre-training {seed}; fine-tuning {', '.join(map(str, seeds))}",
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
             f"{task} training images (this notebook, seed {seed})")
ssl_check = ssl.runs.encoder_learning_check(pretrained)

# %% tags=["remove-output"]
chance = ssl.runs.run_chance_loss(ssl_method, ssl_batch_size, len(pretrained.pool), pretrain_config.queue_size or 0)
fig = plots.loss_curves(pretrained.loss.assign(pool="PneumoniaMNIST train"), "pool", chance=chance,
                        title=f"{ssl.get_method(ssl_method).title} on {backbone}, {image_size} px")
run.figure(fig, "le_ssl_loss", "Pre-training loss per epoch on the unlabeled PneumoniaMNIST training images (dashed: "
           "the loss of uninformative embeddings for this batch size)", weights=f"{backbone} from random values")
plt.show()
run.text(ssl_check.markdown(), "le_ssl_learned", weights=f"{backbone} from random values")

# %% [markdown]
# ## Labels at 1 %, 10 % and 100 %
#
# For each seed, each class of the training part is shuffled once; a fraction keeps the first share of
# each class, so within a seed the smaller label sets lie inside the larger ones and the class balance
# stays as it is. Different seeds draw different 1 % and 10 % subsets. The validation part (early stopping
# and the checkpoint kept) and the test part stay whole. Each run trains until the validation loss has not
# fallen for `patience` epochs; an epoch holds at least `epoch_images` images (a small label set makes
# several passes per epoch, so it is validated every few steps, not after each one) and at least
# `min_epoch_steps` optimiser steps (the batch shrinks for a mid-sized set: 470 images in batches of 128
# would be 3 steps per epoch, and the run would stop at its epoch cap before it converged), and a run stops
# after `max_epochs` epochs or `max_images` images at the latest: the step budget grows with the label set
# and is capped, so that the whole notebook fits a classroom session.

# %% tags=["remove-output"]
parts = split_tables(spec.load_table(data_root, seed=seed))
schedule = []
for fraction in label_fractions:
    plan = analogues.label_schedule(len(label_fraction(parts["train"], spec, fraction, seeds[0])), batch_size=batch_size,
                                    epoch_images=epoch_images, min_epoch_steps=min_epoch_steps, max_epochs=max_epochs,
                                    max_images=max_images)
    for s in seeds:
        kept = label_fraction(parts["train"], spec, fraction, s)
        schedule.append(dict(fraction=fraction, seed=s, images=len(kept), positives=int(kept["target"].sum()), **plan))
schedule = pd.DataFrame(schedule)
run.table(schedule, "le_schedule", "Training labels per fraction and seed (nested within a seed, per class), and "
          "how each fine-tuning run trains: batch size, passes over the label set per epoch, images per epoch, "
          "and the cap on epochs and optimiser steps (early stopping on the validation loss may end a run sooner)",
          float_format="{:.2f}", weights="none (the plan is drawn from the labels before any model is built)")

# %% [markdown]
# ## Fine-tuning from the SSL checkpoint and from random values
#
# Twice per fraction and seed, with notebook 03's engine and everything equal but the start: every layer
# trains, a linear head, Adam, the class-weighted loss, early stopping on the validation loss and the
# checkpoint with the lowest validation loss. Every model gets notebook 03's "did it learn?" check
# (validation AUROC against chance, final training loss against the loss of a constant prediction).
# The runs keep no resume state (`resumable=False`: no optimiser state written after every epoch); each
# is short, and a re-run trains it again.

# %%
base = dict(backbone=backbone, image_size=image_size, preprocess=preprocess, task=task, data_root=data_root,
            augment=augment, head="linear", unfrozen_blocks="all", optimizer="adam", lr=lr, weight_decay=0.0,
            eval_batch_size=512, patience=patience, lr_scheduler="none", resumable=False,
            profile=profile, cache_dir=cache_dir, progress="none")
predictions, learned, runs = {}, {}, []
for row in schedule.itertuples():
    per_run = {**base, "label_fraction": float(row.fraction), "seed": int(row.seed), "batch_size": int(row.batch_size),
               "epoch_repeats": int(row.epoch_repeats), "epochs": int(row.epochs),
               "train_images_per_epoch": int(row.train_images_per_epoch)}
    results = analogues.finetune_runs(per_run, {"SSL": {"weights": checkpoint}, "random": {"weights": "none"}},
                                      run.out_dir / "finetune" / f"labels_{row.fraction:g}" / f"seed_{row.seed}",
                                      echo=lambda _: None)
    for name, result in results.items():
        check = LearningCheck.from_dict(result.metrics["learning"])
        predictions.setdefault(float(row.fraction), {}).setdefault(name, {})[int(row.seed)] = analogues.held_predictions(
            result, f"{name}, {row.fraction:g} of the labels, seed {row.seed}")
        learned.setdefault(float(row.fraction), {}).setdefault(name, {})[int(row.seed)] = check.learned
        runs.append(dict(fraction=row.fraction, seed=row.seed, start=name, epochs_run=result.epochs_completed,
                         best_epoch=result.metrics["best_epoch"], stopped_early=result.stopped_early,
                         test_auroc=result.metrics["test"]["auroc"], learned=check.label))
runs = pd.DataFrame(runs)
print(runs.to_string())

# %% tags=["remove-output"]
context = dict(weights=f"SSL: {ssl_words}; random: {backbone} from random values")
run.table(runs, "le_runs", "Every fine-tuning run: epochs trained, the epoch kept (lowest validation loss), whether "
          "early stopping ended it (no: it reached its cap), its test AUROC, and its learning check", **context)
curve, replicated = documents.replicated_label_efficiency(
    predictions, label=spec.positive_class, names=("SSL", "random"), learned=learned, n_boot=n_boot, seed=seed)
run.table(curve, "le_curve", f"Test AUROC of {spec.positive_class} per share of training labels and start over "
          f"{len(seeds)} training seeds (each seed its own label subset): seed mean, sd, min and max, the 95 % CI of the "
          f"seed mean over {n_boot} redraws of the 624 test images (images: PneumoniaMNIST has no patient ids, so the "
          "interval may be too narrow if a child has several images), the verdict (a direction only when every seed "
          "and the interval agree), and how many models passed the learning check", **context)
fig = documents.plot_replicated_label_efficiency(curve, replicated, title=f"{spec.title.split(',')[0]}: SSL vs random start")
run.figure(fig, "le_curve_plot", "Label-efficiency curve: test AUROC against the share of training labels, one dot "
           "per training seed (and label subset), the seed mean with its 95 % interval over test-image redraws",
           **context)
plt.show()
differences = [r for r, start in zip(replicated, curve["start"]) if " - " in start]
fig = plots.replication_plot(differences, xlabel="test AUROC SSL - random", title="SSL - random start, per share of labels")
run.figure(fig, "le_difference_plot", "Paired difference SSL - random per share of labels: each training seed (grey), "
           "the seed mean (square) and its 95 % interval over test-image redraws (bar); the verdict beside each row",
           **context)
plt.show()
sentence = documents.replicated_label_efficiency_text(curve, replicated)
if not ssl_check.learned:
    sentence = ("The SSL pre-training itself did not pass its learning check, so the SSL start is not read as "
                "self-supervised knowledge. " + sentence)
run.text(sentence, "le_sentence", **context)

# %% [markdown]
# ## Summary
# - Label efficiency is a paired question at each fraction: both starts are tested on the same images,
#   so the difference gets its own interval.
# - The label sets are nested within a seed and drawn per class; each seed draws other images, and at
#   1 % (a few dozen images) that alone moves the AUROC: the seed spread shows by how much.
# - A comparison is concluded only when every seed and the test-set interval agree; a model that failed
#   its learning check is not interpreted.
# - Minutes of SimCLR on about a thousand 28 px images is a long way from document 002's or 004's
#   pre-training on CheXpert; the curve shows the method, not their result.
#
# ## Exercises
# 1. At which fraction is the mean difference SSL - random largest, do its seeds and its interval agree
#    on a direction there? How many training images and positives does the smallest label set hold, and
#    how far apart are its seeds?
# 2. How many passes per epoch, epochs and steps at most does each fraction's run get (the schedule
#    table), and which runs stopped early (the runs table)? What would a fixed number of images seen for
#    every fraction confound?
# 3. From which fraction on has the random start caught up with the SSL one, judged by the interval of
#    the difference and the seeds? What would adding the fraction 0.3 (`-p label_fractions "[0.01, 0.1, 0.3, 1.0]"`)
#    let you see?
# 4. Why must the 1 % labels lie inside the 10 % labels for the curve to be read as "more labels"?

# %%
run.finish()

# %% [markdown]
# ## What's next
# [Experiment grids as sweeps](/book/sweeps.md) (notebook 13) runs whole grids of such runs; then
# [the developers' chapter](/book/developers.md) shows how the notebooks, run folders and chapters fit
# together, for readers who want to add their own experiment.
