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
# # Notebook 09: SemSSXL, a contrastive multi-label learner
#
# ## Overview
# Document 003 (problem statement 1) proposes "a contrastive learning based robust multi-label chest
# disease classification system" for CheXpert's five competition findings (Atelectasis, Cardiomegaly,
# Consolidation, Edema, Pleural Effusion), calls it **SemSSXL** ("Semi Self-Supervised Xception
# Learner"), and lists two research objectives we build: an attention mechanism that focuses on
# multi-scale disease patterns, and a hierarchical fusion of features. Its architecture, training scheme
# and results are pictures without text or numbers. So **every concrete choice below is ours**, and this
# notebook says which:
#
# - **Encoder**: Xception (timm `legacy_xception`, the registry row `legacy_xception`; document 003 cites
#   Chollet 2017). We read its intermediate stages with timm's `forward_intermediates`.
# - **Multi-scale attention and hierarchical fusion** (`cxrlib.models.multiscale`): attention pooling in
#   each stage, a bottom-up fusion that passes each stage's summary to the next, and a softmax attention
#   over the stages.
# - **Objective** (`cxrlib.training.semssxl`): binary cross-entropy on the labelled images plus
#   `contrastive_weight` x NT-Xent (SimCLR's loss, through the project's lightly-based
#   `cxrlib.training.ssl`) on two augmented views of every training image, labelled or not.
# - **Compared**: the same encoder trained with labels only, at several labelled fractions of the
#   training patients. The ablations remove one part at a time: the contrastive term, the attention,
#   the multiple scales.
#
# ## Prerequisites
# - contrastive learning and NT-Xent (notebook 02, about 20 minutes);
# - multi-label AUROC, patient bootstrap and DeLong's test (notebook 04 and the statistics chapter,
#   about 30 minutes);
# - what a convolutional encoder's stages are (coarser maps with more channels as you go deeper; about
#   10 minutes with any CNN tutorial).
#
# The classroom run takes about three and a half minutes of CPU time (17 training runs, one thread; 209 s
# measured on a 2-core machine beside other jobs). It uses 32 px images, the Xception
# entry flow only (stem, block1, block2), three epochs, and a multi-label view of the Kermany pediatric
# images (task `kermany_pathogen`: Pneumonia, Bacterial, Viral), which has hundreds of positives per
# label. The NIH sample with the five competition findings (`task nih_competition5`) has a handful of
# positives per label in its test part: a model trained on it at classroom scale ends at the loss of the
# label base rates and learns nothing that a chapter could read.

# %% tags=["parameters"]
out_dir = "out/09_semssxl"
profile = "classroom"
seed = 0
data_root = None
task = "kermany_pathogen"
task_options = {}
subset = {"train": 640, "val": 300}
preprocess = "classroom"
image_size = 32
backbone = "legacy_xception"
weights = "auto"
stages = [0, 1, 2]
dim = 64
head = "d004_simclr"
temperature = 0.2
contrastive_weight = 0.5
epochs = 3
lr = 0.002
weight_decay = 0.0001
batch_size = 32
unlabeled_batch_size = 16
augment = "d004"
ssl_policy = "d004_moco"
fractions = [0.1, 1.0]
ablation_fraction = 0.1
ablations = ["no_contrastive", "no_attention", "single_scale"]
train_seeds = [0, 1, 2]
device = "cpu"
n_boot = 500

# %% [markdown]
# ## Imports and run context

# %%
from cxrlib.core.params import validate_params

params = validate_params(globals(), "09_semssxl", rules={
    "data_root": "str|None", "task": ["kermany_pathogen", "nih_competition5", "chexpert_competition5"], "image_size": ">=32",
    "stages": "nonempty >=0", "dim": ">=4", "head": "in:projection_head", "temperature": ">0",
    "contrastive_weight": ">=0", "batch_size": ">=2", "unlabeled_batch_size": ">=2",
    "fractions": "nonempty >0 <=1", "ablation_fraction": ">0 <=1", "ablations": "list in:semssxl_variant",
    "train_seeds": "nonempty >=0",
}, checks=["ablation_fraction in fractions", "'full' not in ablations", "'supervised' not in ablations"])

import time
import warnings

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

from cxrlib.book.artifacts import RunArtifacts
from cxrlib.core.io import write_json_atomic
from cxrlib.chapters import semssxl as chapter
from cxrlib.chapters.plots import replication_plot
from cxrlib.images.tasks import get_task
from cxrlib.stats.replication import replication_table
from cxrlib.training.semssxl import SemiConfig, labelled_fractions
from cxrlib.training.ssl.runs import run_chance_loss

torch.set_num_threads(1)  # 32 px convolutions gain little from a second thread; on a busy machine it costs (notebook 10)
started = time.perf_counter()
spec = get_task(task)
labels = list(spec.classes)
config = SemiConfig(backbone=backbone, weights=weights, stages=tuple(stages), dim=dim, head=head,
                    temperature=temperature, contrastive_weight=contrastive_weight, epochs=epochs, lr=lr,
                    weight_decay=weight_decay, batch_size=batch_size, unlabeled_batch_size=unlabeled_batch_size,
                    augment=augment, ssl_policy=ssl_policy, seed=seed, device=device)

# %% [markdown]
# ## The data and how few positives it has
#
# The task's test part is split off by patient (classroom: Kermany's official test set, 624 images of 427
# children, with the training images of those children left out; `subset` draws the training and validation
# images). The labelled part of each run
# is a fraction of the **training patients**, drawn once in a seeded order so that the 10 % patients are
# among the 30 % patients, who are among all of them (nested). The unlabeled images of the contrastive
# term are all training images. No test patient is ever in either (checked).

# %% tags=["remove-output"]
parts, cache = chapter.load_task(task, data_root, task_options=task_options, subset=subset, preprocess=preprocess,
                                 image_size=image_size, seed=seed)
labelled = labelled_fractions(parts["train"], fractions, seed, held_out={"test": parts["test"], "val": parts["val"]})
per_patient = chapter.images_per_patient(parts["test"])
positives = chapter.positives_table(parts, labels, labelled)
run = RunArtifacts(
    out_dir, notebook="09_semssxl", params=params,
    context=dict(dataset=spec.dataset, split=spec.split, image_size=image_size, profile=profile, seed=seed,
                 model=f"{backbone} stages {stages}, neck width {dim}"),
)
_ = run.record_data("images", spec.data_path(data_root))
run.table(positives, "ssxl_positives",
          f"Positive images per label in each part and in each labelled fraction (of {len(parts['train'])} training "
          f"images); test negatives. At most {per_patient} test image(s) per patient", weights="not applicable")
print(f"{sum(len(p) for p in parts.values())} images; the labelled fractions hold "
      + ", ".join(f"{f:g}: {len(t)} images / {t['patient_id'].nunique()} patients" for f, t in labelled.items()))

# %% [markdown]
# ## Training: SemSSXL and the supervised baseline at every fraction, and the ablations
#
# Every run starts from the same weights (`weights`; `auto` takes the registry's ImageNet weights if
# they are on this machine, else a random initialisation that every caption names). It makes the same
# number of labelled steps per epoch, `ceil(n_train / batch_size)`, cycling the labelled batches, so the
# contrastive term adds unlabeled views and not labelled gradient steps. Each labelled batch is a full one:
# a labelled set larger than a batch leaves out a different remainder on each pass (66 images in batches of
# 32 would otherwise give a batch of 2 every third step). SemSSXL and the baseline run at
# every fraction with the first of `train_seeds`; at `ablation_fraction` every variant runs with every
# training seed (initial weights, batch order, augmentations), the labelled images staying the same.

# %%
plan = chapter.run_plan(fractions, ablation_fraction, ablations, train_seeds)
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*RANDOM INITIALISATION.*")
    all_runs = chapter.run_grid(plan, config, task, cache, parts, labelled,
                                progress=lambda p: tqdm(p, desc="runs", unit="run"))
runs = chapter.seed_runs(all_runs, train_seeds[0])
weights_caption = all_runs[plan[0]]["result"].weights_caption
write_json_atomic(run.out_dir / "weights.json", all_runs[plan[0]]["result"].weights_info)  # what the encoder started from
print(weights_caption)
for (variant, fraction, train_seed), r in all_runs.items():
    res = r["result"]
    print(f"{variant:>15} at {fraction:g}, seed {train_seed}: {res.n_labelled} labelled, {res.n_unlabeled} unlabeled "
          f"images, labelled-set BCE {res.loss_before:.3f} -> {res.loss_after:.3f}, {res.seconds:.1f} s")

# %% [markdown]
# ## Did every model learn?
#
# Before any number is read: each classifier's validation macro AUROC (95% patient-bootstrap CI) must lie
# above 0.5 and its last epoch's training BCE below the base-rate entropy of its labelled images (what a
# constant prediction reaches); each contrastive term's last NT-Xent must lie below ln(2B - 1), the loss of
# embeddings that carry no information. One `learning.json` per model goes into the run folder.

# %% tags=["remove-output"]
checks = chapter.learning_checks(all_runs, parts, labelled, labels, unlabeled_batch_size=unlabeled_batch_size,
                                 n_boot=n_boot, seed=seed)
_ = chapter.write_learning_checks(run.out_dir, checks)
run.table(chapter.semssxl_learning_table(checks), "ssxl_learning",
          "Did each model learn? Validation macro AUROC (95% patient-bootstrap CI) against 0.5, the last epoch's "
          "training BCE against the base-rate entropy of the labelled images, the last epoch's NT-Xent against "
          f"ln(2B - 1) for B = {min(unlabeled_batch_size, len(parts['train']))}", weights=weights_caption, split="val")
run.text(chapter.semssxl_learning_summary(checks), "ssxl_learned", weights=weights_caption)

# %% [markdown]
# ## Per-label AUROC with patient-bootstrap CIs
#
# Every run scores the same test images. Each AUROC has a 95% percentile-bootstrap interval that redraws
# patients (`cxrlib.stats.bootstrap_auroc`). The macro row averages the five labels.

# %% tags=["remove-output"]
aurocs = chapter.auroc_rows(runs, parts["test"], labels, n_boot=n_boot, seed=seed)
main = aurocs[aurocs["variant"].isin(["full", "supervised"])]
run.table(main, "ssxl_auroc",
          f"Test AUROC per label and macro, SemSSXL (full) and the supervised baseline at each labelled fraction, "
          f"95% patient-bootstrap CI ({n_boot} redraws)", weights=weights_caption)
fig = chapter.plot_fractions(aurocs)
run.figure(fig, "ssxl_fractions", "Macro test AUROC against the labelled fraction (95% patient-bootstrap CI)",
           weights=weights_caption)
plt.show()

# %% [markdown]
# ## SemSSXL against the supervised baseline: paired DeLong
#
# The two models score the same test images, so their AUROCs are compared by DeLong's paired test. When
# a test patient has more than one image, the images of a patient are not independent and the test uses
# the clustered covariance of Obuchowski (patients as units). The p-values are adjusted for the five
# labels at each fraction (Benjamini-Hochberg FDR).

# %% tags=["remove-output"]
comparison = chapter.comparison_table(runs, parts["test"], labels, fractions)
run.table(comparison, "ssxl_delong",
          "SemSSXL (full) minus the supervised baseline, per label and labelled fraction: paired DeLong test "
          "(clustered by patient where a patient has several test images), Benjamini-Hochberg FDR over the five labels",
          weights=weights_caption)

# %% [markdown]
# ## What few positives do to the intervals
#
# A label's AUROC is estimated from its positive test images. With a handful of them, one image more or
# less ranked above the negatives moves the AUROC by several points, and the bootstrap interval is wide.

# %% tags=["remove-output"]
widths = chapter.ci_width_table(positives, aurocs, max(fractions))
run.table(widths, "ssxl_ci_width",
          f"Test positives per label beside the width of the 95% patient-bootstrap CI of the AUROC (labelled fraction "
          f"{max(fractions):g})", weights=weights_caption)
fewest = widths.sort_values("test positives").iloc[0]
print(f"fewest test positives: {fewest['label']} ({fewest['test positives']}), CI width of the full model "
      f"{fewest['CI width full']:.2f}")

# %% [markdown]
# ## Ablations
#
# At `ablation_fraction`, each variant removes one part of SemSSXL. The table gives the macro AUROC with
# its interval, the per-label AUROCs, the mean weight of each stage over the test images (attention
# variants: learned, different per image; no attention: equal), the labelled-set loss before and after
# training, and the training time (a shared machine: orders of magnitude only).

# %% tags=["remove-output"]
variants = ["full", *ablations, "supervised"]
ablation = chapter.semssxl_ablation_table(runs, aurocs, ablation_fraction, labels, variants)
run.table(ablation, "ssxl_ablation",
          f"Ablations at labelled fraction {ablation_fraction:g}: test macro AUROC (95% patient-bootstrap CI), per-label "
          "AUROC, mean stage weights, labelled-set BCE before/after training, seconds", weights=weights_caption)
fig = chapter.plot_stage_weights(runs, ablation_fraction, variants)
run.figure(fig, "ssxl_stage_weights", f"Weight of each encoder stage (mean ± sd over the test images), labelled fraction "
           f"{ablation_fraction:g}", weights=weights_caption)
plt.show()
chance = run_chance_loss("simclr", unlabeled_batch_size, len(parts["train"]))  # ln(2B - 1)
fig = chapter.plot_history(runs, ablation_fraction, variants, chance=chance)
run.figure(fig, "ssxl_history", f"Training losses per epoch, labelled fraction {ablation_fraction:g}; dashed: "
           f"NT-Xent's chance level log(2B-1) = {chance:.2f} for B = {min(unlabeled_batch_size, len(parts['train']))} "
           "unlabeled images per batch",
           weights=weights_caption, split="train")
plt.show()

# %% [markdown]
# ## The ablations, replicated over training seeds
#
# One run per variant can be lucky. Each comparison is the macro AUROC of SemSSXL (full) minus the variant's,
# per training seed on the same test images, with the 95% patient-bootstrap interval of the seed mean (every
# seed and both models scored on the same redraws, so the interval is paired; `cxrlib.stats.replication`).
# The chapter concludes a direction only when the interval and every seed agree, with at least three seeds.

# %% tags=["remove-output"]
replicated = chapter.replicated_comparisons(all_runs, checks, parts["test"], labels, ablation_fraction,
                                            [*ablations, "supervised"], n_boot=n_boot, seed=seed)
seeds_text = ", ".join(map(str, train_seeds))
run.table(replication_table(replicated), "ssxl_replication",
          f"Macro test AUROC of SemSSXL (full) minus each variant at labelled fraction {ablation_fraction:g}: mean, sd, "
          f"min and max over training seeds {seeds_text}, 95% paired patient-bootstrap CI of the seed mean "
          f"({n_boot} redraws), verdict (a direction only when the CI and every seed agree, >= 3 seeds)",
          weights=weights_caption, seed=seeds_text)
fig = replication_plot(replicated, xlabel="macro AUROC(full) - AUROC(variant)")
run.figure(fig, "ssxl_replication_plot", f"SemSSXL (full) minus each variant at labelled fraction {ablation_fraction:g}: "
           "each training seed (grey) beside the 95% paired patient-bootstrap CI of the seed mean (black)",
           weights=weights_caption, seed=seeds_text)
plt.show()
run.text(chapter.semssxl_verdicts(replicated, all_runs, checks, ablation_fraction), "ssxl_verdicts",
         weights=weights_caption, seed=seeds_text)
print(f"notebook body: {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## Summary
# - SemSSXL here is an Xception encoder read at several stages, attention pooling in each stage, a
#   bottom-up fusion of the stages and attention over them, trained with BCE on the labelled images plus
#   NT-Xent on two views of every training image. Document 003 names these ideas; the design is ours.
# - It is compared with the same encoder trained with labels only, at nested labelled fractions, by
#   per-label AUROC with patient-bootstrap intervals and paired DeLong tests with FDR over the labels.
# - Every model is checked against chance (validation macro AUROC, final BCE against the base-rate entropy,
#   NT-Xent against ln(2B - 1)) before its numbers are read, and the ablations are replicated over training
#   seeds: the generated sentences conclude a direction only where three seeds and the paired interval agree.
# - The classroom task is a multi-label view of Kermany's pediatric images with hundreds of positives per
#   label, at 32 px from random weights. It shows the machinery, not document 003's result (the document
#   reports none).
#
# ## Exercises
# 1. Compare `full` with `no_contrastive` in the ablation table: how far apart are their macro AUROCs,
#    measured against the width of their intervals? If you set `-p contrastive_weight 0`, both train
#    the same loss: find the line of `cxrlib.training.semssxl.fit_semi` that makes their AUROCs then
#    identical (hint: what would drawing unlabeled batches that are never used do to the random number
#    stream?).
# 2. Compare `full` with `single_scale` in the ablation table: macro AUROC and training time. Where does
#    the full model's stage attention put its weight? What would `-p stages "[1, 2, 3]"` (the middle flow
#    joins) cost?
# 3. Which label has the fewest positive test images, and how do the CI widths follow the positives? If
#    the test part held half as many patients, by about how much would the widths grow?
# 4. With the CheXpert images on your machine, run `params/paper/09_semssxl--d003_chexpert.yaml`. The test
#    part then has up to several images per patient: compare the plain and the clustered DeLong p-values
#    (`cxrlib.stats.evaluate.paired_delong_clustered` gives both). Which is larger, and why?

# %%
run.finish()

# %% [markdown]
# ## What's next
# [The dual-stream network](/book/dual_stream.md) (notebook 10) builds document 003's remaining system. The
# [statistics chapter](/book/statistics.md) explains the patient bootstrap and the clustered DeLong test used here.
