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
# # Notebook 10: a dual-stream network, transfer learning + autoencoder
#
# ## Overview
# Document 003 (problem statement 2) proposes "a novel dual-stream architecture combining feature
# optimization mechanisms with transfer learning": one stream is a pre-trained base model ("VGG,
# Xception, etc."), the other an autoencoder, and the features of both are fused before the classifier.
# It asks what the best way to fuse them is and how the dual-stream model compares with single-stream
# models, and it plans to "evaluate the contribution of each architectural component". It gives no
# architecture, no training protocol and no numbers. This notebook builds one such network and
# measures it; every design decision below is ours and is named as such.
#
# - **Transfer stream**: a backbone of the registry (`backbone`), its pooled features, with the weights
#   `weights` names. `weights="auto"` takes the backbone's published weights when they are on this machine;
#   otherwise **the book's own self-supervised checkpoint** for that backbone: notebook 02 pre-trains a
#   ResNet-18 with SimCLR at 64 px on an unlabeled pool (Kermany training images without their labels, the
#   NIH sample, the COVID collection; never a test image), and `ssl_dir` names its output folder. Only a
#   checkpoint of the same backbone is used; with neither, the stream is a frozen random network, and every
#   caption says so. The classroom run uses that ResNet-18 (512 pooled features), so on a machine without
#   published weights its transfer stream starts from our own pre-training.
# - **Autoencoder stream**: a small convolutional autoencoder, trained to reconstruct the training
#   images; its 64-value code is the stream's features.
# - **Fusion**: concatenation, or a gate that mixes the two streams dimension by dimension.
# - **Compared**: the two dual-stream variants, the transfer stream alone and the autoencoder stream
#   alone, on the test set, with patient-bootstrap confidence intervals and DeLong's paired test.
#
# ## Prerequisites
# - self-supervised pre-training on unlabeled images (notebook 02, about 20 min), whose checkpoint starts the
#   transfer stream here;
# - transfer learning with a pre-trained backbone and the weights registry (notebook 03, about 20 min);
# - AUROC, bootstrap confidence intervals and DeLong's test (notebook 04, about 20 min);
# - what an autoencoder is: an encoder compresses an image to a short code, a decoder rebuilds the image
#   from the code, and training minimises the difference (about 10 min with any introduction).
#
# The classroom run takes one to two minutes on two CPU cores: 64 px images (the size notebook 02 pre-trains
# at), 800 training images, a frozen ResNet-18, and per training seed (three) an autoencoder trained for 16
# epochs and four heads. The autoencoder has four stride-2 stages (8, 16, 32, 64 channels), so at 64 px its
# code is computed from a 4 x 4 grid, and its narrow first stage keeps its cost within the budget.

# %% tags=["parameters"]
out_dir = "out/10_dual_stream"
profile = "classroom"
seed = 0
data_root = None
task = "kermany_pneumonia"
subset = {"train": 800, "val": 200}
preprocess = "classroom"
image_size = 64
backbone = "resnet18"
weights = "auto"
ssl_dir = "book/_generated/02_pretrain"
ae_widths = [8, 16, 32, 64]
ae_latent = 64
ae_epochs = 16
ae_lr = 0.002
fused_dim = 64
dropout = 0.2
head_epochs = 30
head_lr = 0.001
batch_size = 64
weight_decay = 0.0001
n_show = 6
n_boot = 1000
train_seeds = [0, 1, 2]

# %% [markdown]
# ## Imports and run context

# %%
from cxrlib.core.params import validate_params

params = validate_params(globals(), "10_dual_stream", rules={
    "data_root": "str|None", "ssl_dir": "str|None", "task": ["kermany_pneumonia"], "image_size": ">=16",
    "ae_widths": "nonempty >0", "ae_latent": ">=1", "ae_epochs": ">=1", "ae_lr": ">0", "fused_dim": ">=1",
    "head_epochs": ">=1", "head_lr": ">0", "n_show": ">=1", "train_seeds": "nonempty >=0",
})

import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from cxrlib.book.artifacts import RunArtifacts
from cxrlib.core.io import write_json_atomic
from cxrlib.chapters import dual_stream as chapter
from cxrlib.chapters.plots import replication_plot
from cxrlib.images.preprocess import NORMALIZATIONS, preprocess_config
from cxrlib.images.tasks import get_task
from cxrlib.models import DUAL_STREAM_VARIANTS
from cxrlib.models.dual_stream import (
    AutoencoderStream,
    ConvAutoencoder,
    DualStreamClassifier,
    transfer_stream,
)
from cxrlib.stats.replication import replication_table
from cxrlib.training import dual_stream as train

started = time.perf_counter()
torch.manual_seed(seed)
spec = get_task(task)
pipeline = preprocess_config(preprocess, image_size)
input_stats = NORMALIZATIONS[pipeline.normalization] or ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
stream = transfer_stream(backbone, weights, seed=seed, ssl_dir=ssl_dir, input_mean=input_stats[0],
                         input_std=input_stats[1])
info = stream.info
run = RunArtifacts(
    out_dir, notebook="10_dual_stream", params={**params, "weights_info": info.provenance()},
    context=dict(dataset=spec.dataset, split=spec.split, image_size=image_size,
                 weights=f"transfer stream {backbone}: {info.description}; autoencoder trained here from random values",
                 profile=profile, seed=seed),
)
_ = run.record_data("images", spec.data_path(data_root))
if info.file:  # the published file or the book's SSL checkpoint the transfer stream started from
    _ = run.record_data("start_weights", info.file)
write_json_atomic(run.out_dir / "weights.json", info.provenance())  # what the transfer stream started from
print(info.caption())
start = chapter.transfer_start(info, backbone)

# %% [markdown]
# ## Data
#
# The task's patient-disjoint parts (notebook 01): the official Kermany test set, and a validation part
# carved from the official training patients. The classroom run draws `subset` images from the
# training and validation parts (spread over the classes) and keeps the whole test set. Every image is
# the classroom preprocessing at `image_size` px, grey copied into three channels and standardised with
# the ImageNet mean and standard deviation, the input the pre-trained backbone expects.

# %% tags=["remove-output"]
tables, on_disk, config = chapter.load_datasets(task, data_root, preprocess=preprocess, image_size=image_size,
                                                seed=seed, subset=subset)
datasets = {name: train.InMemoryImages(part) for name, part in on_disk.items()}
y = {name: spec.targets(part) for name, part in tables.items()}
groups = tables["test"]["patient_id"].to_numpy()
run.table(chapter.split_table(tables, task), "ds_data", "Images, patients and classes per part of the run")
print(f"data ready after {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## Step 1: the autoencoder, trained for reconstruction
#
# Our protocol (document 003 states none): the autoencoder is trained on the **training images only**,
# without their labels, to minimise the mean squared difference between an image and its
# reconstruction. The validation images show whether it generalises; the test images are never seen.
# Encoder: one stride-2 convolution with ReLU per width in `ae_widths`, then a linear layer to the
# `ae_latent`-value code. Decoder: the mirror image with transposed convolutions.

# %% tags=["remove-output"]
first = train_seeds[0]
mean_mse = {split: float(train.mean_image_errors(datasets["train"], datasets[split]).mean()) for split in ("train", "test")}
autoencoders, ae_histories = {}, {}
for s in train_seeds:  # one autoencoder per training seed (initial weights and batch order)
    autoencoders[s] = ConvAutoencoder(image_size, widths=ae_widths, latent_dim=ae_latent, seed=s)
    ae_histories[s] = train.train_autoencoder(
        autoencoders[s], datasets["train"], train.StepConfig(epochs=ae_epochs, lr=ae_lr, batch_size=batch_size,
                                                             weight_decay=weight_decay, seed=s),
        val_set=datasets["val"], progress=False)
ae, ae_history = autoencoders[first], ae_histories[first]
fig = chapter.plot_ae_history(ae_history)
run.figure(fig, "ds_ae_history", f"Reconstruction error (mean squared error of the standardised input) of the "
           f"autoencoder per epoch ({len(datasets['train'])} training images, no labels; training seed {first}); the "
           f"mean training image's error is {mean_mse['train']:.3f} on the training images", seed=first)
plt.show()

# %% tags=["remove-output"]
test_errors = train.reconstruction_errors(ae, datasets["test"])
y_test = y["test"]
show = np.concatenate([np.flatnonzero(y_test == c)[: (n_show + 1 - c) // 2] for c in (0, 1)])
originals = torch.stack([datasets["test"][int(i)][0] for i in show])
with torch.no_grad():
    rebuilt = ae(originals)
fig = chapter.plot_reconstructions(originals[:, 0].numpy(), rebuilt[:, 0].numpy(), test_errors[show],
                                   [spec.classes[int(y_test[i])] for i in show])
run.figure(fig, "ds_reconstruction",
           f"Test images (top) and the autoencoder's reconstructions (bottom) with each image's mean squared "
           f"error; test mean {test_errors.mean():.3f} (normal {test_errors[y_test == 0].mean():.3f}, "
           f"pneumonia {test_errors[y_test == 1].mean():.3f}); the mean training image's test error "
           f"{mean_mse['test']:.3f}", split="official test", seed=first)
plt.show()
run.text(chapter.reconstruction_sentence(float(test_errors.mean()), mean_mse["test"]), "ds_reconstruction_note",
         split="official test", seed=first)

# %% [markdown]
# ## Step 2: the frozen streams' features
#
# Both streams are frozen (our choice: it keeps the run within a CPU budget and makes the comparison
# clean, because every variant sees exactly the same features). Every image goes once through the
# transfer backbone and once through the encoder, in evaluation mode; the features are cached in the
# run folder. Training a head on these cached features is the same computation as training the whole
# network with frozen streams.

# %%
cache = f"{run.out_dir}/features"


def features_of(name, module, weights_id):
    return {split: train.stream_features(
        module, datasets[split], weights_id=weights_id, cache_dir=cache, preprocess=config, progress=False,
        extra={"stream": name, "backbone": backbone, "image_size": image_size}, batch_size=batch_size)
        for split in ("train", "val", "test")}


transfer_features = features_of("transfer", stream, info.sha256 or f"{info.source}:{backbone}:seed{seed}")
seed_streams, seed_features = {}, {}
for s in train_seeds:  # the transfer stream is the same for every seed; the autoencoder is the seed's
    seed_streams[s] = {"transfer": stream, "autoencoder": AutoencoderStream(autoencoders[s])}
    ae_features = features_of("autoencoder", seed_streams[s]["autoencoder"], train.module_digest(autoencoders[s]))
    seed_features[s] = {split: {"transfer": transfer_features[split], "autoencoder": ae_features[split]}
                        for split in ("train", "val", "test")}
streams, features = seed_streams[first], seed_features[first]
for name, module in streams.items():
    print(f"{name} stream: {module.out_dim} features per image")
print(f"features ready after {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## Step 3: four variants, one fusion head each
#
# The variants are rows of `cxrlib.models.DUAL_STREAM_VARIANTS`, the fusion rules rows of
# `cxrlib.models.FUSION_RULES`:
#
# | variant | streams | fusion |
# |---|---|---|
# | `dual_concat` | transfer + autoencoder | layer-normalise each stream, concatenate |
# | `dual_gated` | transfer + autoencoder | project both to `fused_dim`, mix with a gate g in [0, 1] per dimension: g x transfer + (1 - g) x autoencoder |
# | `transfer_only` | transfer | layer-normalise (no autoencoder stream in the model) |
# | `autoencoder_only` | autoencoder | layer-normalise (no transfer stream in the model) |
#
# Each head (fusion rule, dropout `dropout`, one linear layer) is trained with the class-weighted
# cross-entropy for `head_epochs` epochs with AdamW; the epoch with the best validation AUROC is kept.

# %% tags=["remove-output"]
seed_models, seed_heads, seed_scores = {}, {}, {}
checks = {f"autoencoder seed {s}": chapter.autoencoder_check(ae_histories[s], mean_mse["train"],
                                                             what=f"autoencoder (seed {s})") for s in train_seeds}
groups_val = tables["val"]["patient_id"].to_numpy()
for s in train_seeds:
    seed_models[s], seed_heads[s], seed_scores[s] = {}, {}, {}
    head_config = train.StepConfig(epochs=head_epochs, lr=head_lr, batch_size=batch_size, weight_decay=weight_decay,
                                   seed=s)
    for key in DUAL_STREAM_VARIANTS:
        model = DualStreamClassifier(key, seed_streams[s], spec.n_outputs, fused_dim=fused_dim, dropout=dropout, seed=s)
        head = train.fit_head(model, seed_features[s]["train"], y["train"], seed_features[s]["val"], y["val"],
                              head_config)
        seed_models[s][key], seed_heads[s][key] = model, head
        seed_scores[s][key] = train.predict_head(model, seed_features[s]["test"])[:, 1]
        checks[f"{key} seed {s}"] = chapter.head_check(
            head, y["val"], train.predict_head(model, seed_features[s]["val"])[:, 1], groups_val, n_boot=n_boot,
            seed=seed, what=f"{key} head (seed {s})")
models, heads, scores = seed_models[first], seed_heads[first], seed_scores[first]
seeds_text = ", ".join(map(str, train_seeds))
for name, check in checks.items():
    learning_dir = run.out_dir / "runs" / name.replace(" ", "_")
    learning_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(learning_dir / "learning.json", check.to_dict())
run.table(chapter.dual_stream_learning_table(checks), "ds_learning",
          "Did each trained part learn? Autoencoders: final training reconstruction error against the mean training "
          "image's; heads: validation AUROC (95% patient-bootstrap CI) against 0.5 and the final training loss "
          "against the class-weighted loss of a constant prediction", split="val", seed=seeds_text)
run.text(chapter.dual_stream_learning_summary(checks), "ds_learned", seed=seeds_text)
variants = chapter.variants_table(models, heads, scores, y_test, groups, n_boot=n_boot, seed=seed)
run.table(variants, "ds_variants",
          f"Test AUROC of each variant with a 95% patient-bootstrap CI ({n_boot} redraws); validation AUROC of "
          f"the epoch kept; widths of the streams and of the fused features; trained head parameters. {start}",
          split="official test (val: carved from official-train patients)", seed=first)
fig = chapter.plot_variants(variants)
run.figure(fig, "ds_variants_plot", f"Test AUROC per variant with its 95% patient-bootstrap CI. {start}",
           split="official test", seed=first)
plt.show()

# %% [markdown]
# ## Dual stream against the best single stream
#
# The best single stream is the one with the higher **validation** AUROC; choosing it on the test set
# would favour it. Each dual variant is compared with it on the same test images: the paired
# patient-bootstrap CI of the difference, and DeLong's paired test, both plain (every image
# independent) and with a patient's images as one cluster (Obuchowski), which is the honest version
# when patients have several images.

# %% tags=["remove-output"]
best = chapter.best_single(variants)
run.table(chapter.versus_best_single(scores, y_test, groups, best, n_boot=n_boot, seed=seed), "ds_vs_single",
          f"Each dual variant minus the best single stream ({best}, chosen on validation AUROC): test AUROC "
          f"difference, 95% paired patient-bootstrap CI and p ({n_boot} redraws), DeLong p, patient-clustered "
          "DeLong CI and p", split="official test", seed=first)

# %% [markdown]
# ## Ablation: what each component contributes
#
# Each row removes one component from a dual model and reports the paired difference in test AUROC
# (with minus without) with its CI: a CI that includes 0 means that this test set cannot tell whether
# the component helps.

# %% tags=["remove-output"]
run.table(chapter.dual_stream_ablation_table(scores, y_test, groups, n_boot=n_boot, seed=seed), "ds_ablation",
          f"Contribution of each component: test AUROC with minus without, 95% paired patient-bootstrap CI and "
          f"p ({n_boot} redraws), DeLong p, patient-clustered DeLong CI and p", split="official test", seed=first)

# %% [markdown]
# ## The ablation, replicated over training seeds
#
# One training seed can be lucky. Each component's contribution is measured once per training seed (the
# autoencoder and the heads retrained; the transfer stream is the same), on the same test images, with the
# 95% paired patient-bootstrap interval of the seed mean (`cxrlib.stats.replication`). A direction is
# concluded only when the interval and every seed agree, with at least three seeds.

# %% tags=["remove-output"]
replicated = chapter.replicated_contrasts(seed_scores, y_test, groups, n_boot=n_boot, seed=seed)
run.table(replication_table(replicated), "ds_replication",
          f"Each component's contribution (test AUROC with minus without) over training seeds {seeds_text}: mean, sd, "
          f"min, max, 95% paired patient-bootstrap CI of the seed mean ({n_boot} redraws), verdict (a direction only "
          f"when the CI and every seed agree, >= 3 seeds). {start}", split="official test", seed=seeds_text)
fig = replication_plot(replicated, xlabel="test AUROC with minus without")
run.figure(fig, "ds_replication_plot", "Each component's contribution: every training seed (grey) beside the 95% "
           "paired patient-bootstrap CI of the seed mean (black)", split="official test", seed=seeds_text)
plt.show()
run.text(chapter.dual_stream_verdicts(replicated, checks), "ds_verdicts", split="official test", seed=seeds_text)

# %% [markdown]
# ## What the gate does
#
# In `dual_gated` every fused value is g x (transfer) + (1 - g) x (autoencoder), with its own gate g per
# dimension and image. The gate values on the test images show how the trained head divides the work:
# near 1 it uses the transfer stream, near 0 the autoencoder stream.

# %% tags=["remove-output"]
gates = train.head_gates(models["dual_gated"], features["test"])
run.table(chapter.gate_table(gates, y_test, spec.classes), "ds_gates",
          f"Gate values of dual_gated on the test images (weight of the transfer stream; {fused_dim} dimensions "
          "per image): mean, sd, quantiles, and the share of dimensions whose mean gate is above 0.5",
          split="official test", seed=first)
print(f"notebook body: {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## Summary
# - A dual-stream network is a transfer-learning backbone and an autoencoder side by side, with a
#   fusion rule in front of one classifier. The streams, the fusion rules and the ablation variants
#   are rows of registries, so a new backbone or rule is a new row.
# - The autoencoder learns to rebuild the training images from a 64-value code without labels. Its
#   code is a compressed description of the image, not a description made for the task.
# - With frozen streams every variant sees the same features, and the comparison isolates what the
#   fusion adds. The tables report each difference with a paired CI and DeLong's test: read the
#   intervals before reading the point estimates.
# - The gate shows how the trained head weighs the two streams, dimension by dimension.
# - The classroom run is a classroom analogue at 64 px. Without the backbone's published weights its
#   transfer stream starts from the book's own self-supervised checkpoint (notebook 02), and every caption
#   says so; without that too, from random values, and the captions say that. Document 003 reports no
#   numbers to compare with.
#
# ## Exercises
# 1. Which weights started the transfer stream in this run, and how far apart are the transfer-only and
#    the autoencoder-only AUROCs? How would you measure what the book's own pre-training adds (`-p weights
#    none`: a frozen random ResNet-18), and what would you expect from the ImageNet weights
#    (`python -m cxrlib.models fetch resnet18`, then `-p weights imagenet`) for that gap and for the gate?
# 2. The autoencoder minimises the reconstruction error of every pixel alike. How good a feature for
#    pneumonia is its code alone here, and what does it add to the transfer stream? Why might a code that
#    reconstructs well (`-p ae_latent 256`) still be a poor feature for pneumonia?
# 3. Read the gate table: which stream does the gate favour, on average and per class? Does the gated
#    variant beat the concatenation in the variants table, judged by the intervals?
# 4. Add a fusion rule to `cxrlib.models.dual_stream.FUSION_RULES` (for example the element-wise sum of
#    the two projected streams) and a variant row that uses it. Which code did you have to change
#    besides the two rows?

# %%
run.finish()

# %% [markdown]
# ## What's next
# [The documents' comparisons, at classroom size](/book/documents_analogues.md) (notebook 11) runs documents
# 001 and 004's comparisons on the data of this book. The [statistics chapter](/book/statistics.md) explains
# the patient-bootstrap intervals and DeLong's test used here.
