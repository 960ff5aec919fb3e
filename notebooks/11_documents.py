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
# # Notebook 11: the documents' downstream comparisons, as classroom analogues
#
# ## Overview
# Document 001 fine-tunes a ViT-B twice on each data set, once from DINOv2 weights (self-supervised, on
# natural images) and once from ImageNet-21K weights (supervised), and tests both on the same images
# (its Table 4 with one P-value per data set, Fig. 3 and Fig. 4). Document 004 fine-tunes a ResNet18 on
# CheXpert from ImageNet weights (the baseline) and from its MoCo v2 or SimCLR checkpoints, and reports
# per-class AUROC with 95 % bootstrap intervals and a weighted "Total" (Tables III-V and the interval
# plots Fig. 5.1, Fig. 5.2 and Fig. 5.3).
#
# Neither set of pre-trained weights is on this machine, and neither are CheXpert's images. This notebook
# runs the same *comparisons* on what is here, and says at every table what really ran:
#
# 1. **Document 001's design**: two initialisations of one backbone fine-tuned on one split and tested on
#    the same images, on ChestX-ray14 with document 001's label set (task `d001_nih`: 13 findings and
#    No Finding), read from the 621-image NIH sample. The two starts are our SimCLR checkpoint from
#    notebook 02's classroom run and random values: **not DINOv2 and not ImageNet-21K**.
# 2. **Document 004's design**: notebook 06's two fine-tuning runs (random start as the baseline, our
#    SimCLR checkpoint as the SSL start) on the Kermany pediatric pneumonia task, re-tabulated in the
#    layout of Tables III-V with 500 redraws, its interval plot and the paired test the thesis
#    does not do.
# 3. **The leakage of an official split**: notebook 06's baseline run trained on Kermany's patient-clean
#    train folder and on the official one (which shares 170 children with the test folder) less as many
#    random images, so that both are the same size; several seeds; tested on the same images.
#
# ## Prerequisites
# - notebooks 02 (the SSL checkpoint), 03 (fine-tuning) and 06 (its fine-tuning runs are read here);
# - the paired tests of notebook 04: DeLong's test and the paired patient bootstrap.

# %% tags=["parameters"]
out_dir = "out/11_documents"
profile = "classroom"
seed = 0
data_root = None
pretrain_dir = "book/_generated/02_pretrain"
probe_dir = "book/_generated/06_linear_probe"
d001_task = "d001_nih"
d001_task_options = {"nih_images": "images-256"}
d001_subset = None
d001_epochs = 3
d001_lr = 1e-3
d001_batch_size = 32
d001_augment = "d004"
n_boot = 1000
d004_n_boot = 500
leakage = True
leakage_seeds = [0, 1, 2]
cache_dir = None

# %%
from cxrlib.core.params import validate_params

validate_params(globals(), "11_documents", rules={
    "data_root": "str|None", "pretrain_dir": "str nonempty", "probe_dir": "str nonempty",
    "d001_task": "in:task", "d001_task_options": "dict", "d001_subset": "dict|None", "d001_epochs": ">=1",
    "d001_lr": ">0", "d001_batch_size": ">=2", "d001_augment": "in:policy", "d004_n_boot": ">=1",
    "leakage_seeds": "list nonempty >=0",
})

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from cxrlib.book.artifacts import RunArtifacts
from cxrlib.chapters import analogues
from cxrlib.chapters import documents
from cxrlib.core.runs import read_config
from cxrlib.images.tasks import get_task
from cxrlib.training import ssl

start = ssl.final_checkpoint(pretrain_dir)
checkpoint, pretrain_params = start.path, start.params
backbone, image_size, preprocess = pretrain_params["backbone"], pretrain_params["image_size"], pretrain_params["preprocess"]
ssl_name = f"SSL ({pretrain_params['method']}, {pretrain_params['profile']})"
ssl_words = (f"our {pretrain_params['method']} checkpoint of {backbone} (notebook 02, profile {pretrain_params['profile']}, "
             f"{pretrain_params['epochs']} epochs on the pool {'+'.join(pretrain_params['pool_sources'])})")
print(f"SSL start: {checkpoint}\n{ssl_words}")
d001_spec = get_task(d001_task)
run = RunArtifacts(
    out_dir, notebook="11_documents",
    params=dict(profile=profile, seed=seed, data_root=data_root, pretrain_dir=pretrain_dir, probe_dir=probe_dir,
                d001_task=d001_task, d001_task_options=d001_task_options, d001_subset=d001_subset,
                d001_epochs=d001_epochs, d001_lr=d001_lr, d001_batch_size=d001_batch_size, d001_augment=d001_augment,
                n_boot=n_boot, d004_n_boot=d004_n_boot, leakage=leakage, leakage_seeds=leakage_seeds,
                pretrain=pretrain_params),
    context=dict(image_size=image_size, profile=profile, seed=seed, analogue="classroom analogue, not the document's numbers"),
)
_ = run.record_data(d001_task, d001_spec.data_path(data_root))

# %% [markdown]
# ## Document 001's design: two initialisations, one split, the same test images
#
# Both runs use notebook 03's engine with identical settings (every layer trained, a linear head, Adam,
# the label-weighted loss of document 001, `d001_epochs` epochs, the checkpoint with the lowest
# validation loss); only the starting weights differ. The task is `d001_nih`, document 001's ChestX-ray14
# label set, on the NIH sample: the official test list keeps 75 of its 621 images, and the rest are split
# 80/20 by patient into training and validation. Labels without a positive test image cannot be scored
# and keep a row with a note.

# %%
d001_base = dict(
    backbone=backbone, image_size=image_size, preprocess=preprocess, task=d001_task, task_options=d001_task_options,
    subset=d001_subset, data_root=data_root, augment=d001_augment, head="linear", unfrozen_blocks="all",
    optimizer="adam", lr=d001_lr, weight_decay=0.0, epochs=d001_epochs, batch_size=d001_batch_size,
    eval_batch_size=256, train_images_per_epoch=None, patience=None, lr_scheduler="none", seed=seed, profile=profile,
    cache_dir=cache_dir)
d001_runs = analogues.finetune_runs(d001_base, {ssl_name: {"weights": checkpoint}, "random": {"weights": "none"}},
                                    run.out_dir / "d001")
d001_dirs = {name: analogues.held_predictions(r, name) for name, r in d001_runs.items()}
d001_learned = {name: analogues.run_learning(r, f"{name} start") for name, r in d001_runs.items()}
d001_ok = all(c.learned for c in d001_learned.values())
d001_demo = "" if d001_ok else "PIPELINE DEMO (a model did not learn: not interpreted). "
d001_context = dict(dataset=f"{d001_spec.dataset}: the 621-image NIH sample ({d001_task}, document 001's labels)",
                    split=d001_spec.split, weights=f"A: {ssl_words}; B: random values. NOT DINOv2 / ImageNet-21K",
                    backbone=backbone)

# %% tags=["remove-output"]
names = (ssl_name, "random")
d001_table = documents.compare_initialisations(d001_dirs[ssl_name], d001_dirs["random"], labels=list(d001_spec.classes),
                                               n_boot=n_boot, seed=seed, names=names)
run.text("\n\n".join(c.markdown() for c in d001_learned.values()) + "\n\n"
         + documents.label_counts_sentence(d001_table), "d001_analogue_learning", **d001_context)
run.table(d001_table, "d001_analogue_table4", d001_demo + "Document 001's Table 4 comparison as a classroom analogue: per-label "
          f"test AUROC of both initialisations, the paired difference with its patient-bootstrap 95% CI and p ({n_boot} "
          "redraws, the same for both runs), DeLong's paired p (plain and with patients as clusters) and "
          "Benjamini-Hochberg over the labels", float_format="{:.3f}", **d001_context)

# %% tags=["remove-output"]
run.text(documents.difference_sentence(d001_table, what="Macro-average test AUROC over the scorable labels")
         if d001_ok else "Not interpreted: " + "; ".join(c.sentence() for c in d001_learned.values() if not c.learned),
         "d001_analogue_sentence", **d001_context)

# %% tags=["remove-output"]
distributions = documents.bootstrap_auc_distributions(d001_dirs[ssl_name], d001_dirs["random"],
                                                      labels=list(d001_spec.classes), n_boot=n_boot, seed=seed,
                                                      names=names)
macro_p = float(d001_table.loc[d001_table["label"] == "macro average", "bootstrap_p"].iloc[0])
fig = documents.plot_bootstrap_distributions({"ChestX-ray14 sample": distributions}, p_values=macro_p)
run.figure(fig, "d001_analogue_fig3", d001_demo + "Document 001's Fig. 3 layout: macro AUROC of each initialisation over the "
           f"same {n_boot} patient-bootstrap redraws of the test images; P from the paired bootstrap", **d001_context)
plt.show()

# %% tags=["remove-output"]
fig = documents.plot_roc_pairs(d001_dirs[ssl_name], d001_dirs["random"], labels=list(d001_spec.classes), names=names)
run.figure(fig, "d001_analogue_fig4", d001_demo + "Document 001's Fig. 4 layout: test ROC curves per scorable label, "
           f"{names[0]} (solid) and {names[1]} (dotted), both AUROCs in each title", **d001_context)
plt.show()

# %% [markdown]
# ## Document 004's design: baseline and SSL fine-tuning in the layout of Tables III-V
#
# Notebook 06 fine-tuned every layer of the backbone twice on the Kermany task (binary: one class row, so
# the weighted Total equals it): from the weights notebook 02 started from (`baseline`: random values
# in the classroom run; ImageNet in document 004) and from its last SimCLR checkpoint (`SSL`). The thesis
# redraws test *images* 500 times and prints the 95 % interval as "AUROC ± half-width"; we do the same
# and add the paired test of the difference, which the thesis does not report.

# %%
finetune_dir = Path(probe_dir) / "finetune"
d004_dirs = {name: finetune_dir / name for name in ("baseline", "SSL")}
absent = [str(p) for p in d004_dirs.values() if not (p / "predictions_test.csv").exists()]
if absent:
    raise FileNotFoundError(f"notebook 06's fine-tuning runs are missing ({', '.join(absent)}): run 06_linear_probe with "
                            "finetune=True first (cxrlib book --only 06_linear_probe)")
d004_params = {name: read_config(p) for name, p in d004_dirs.items()}
d004_spec = get_task(d004_params["baseline"]["task"])
positive = d004_spec.positive_class
clean = {**d004_spec.defaults, **d004_params["baseline"].get("task_options", {})}.get("patient_clean")
d004_context = dict(dataset=d004_spec.dataset, split=d004_spec.split + (
                        "; patient_clean" if clean else "; official split" if clean is not None else ""),
                    image_size=d004_params["baseline"]["image_size"],
                    weights=f"baseline: {d004_params['baseline']['weights']} (document 004: ImageNet); SSL: {ssl_words}",
                    backbone=d004_params["baseline"]["backbone"])

# %% tags=["remove-output"]
d004_tables = {name: documents.d004_table(p, n_boot=d004_n_boot, seed=seed, labels=[positive])
               for name, p in d004_dirs.items()}
side = documents.d004_tables_side_by_side(d004_tables)
run.table(side, "d004_analogue_tables", "Document 004's Tables III-V layout as a classroom analogue: test AUROC ± "
          f"half-width of the 95% percentile bootstrap CI ({d004_n_boot} redraws of the test images) per class and the "
          "weighted Total", **d004_context)

# %% tags=["remove-output"]
fig = documents.plot_ci(d004_tables, title="baseline vs SSL fine-tuning (classroom analogue)")
run.figure(fig, "d004_analogue_ci", "Document 004's Figs 5.1-5.3 layout: test AUROC with its 95% bootstrap CI per "
           "class, baseline and SSL fine-tuning", **d004_context)
plt.show()

# %% tags=["remove-output"]
d004_paired = documents.compare_initialisations(d004_dirs["SSL"], d004_dirs["baseline"], labels=[positive],
                                                n_boot=n_boot, seed=seed, names=("SSL", "baseline"))
run.table(d004_paired, "d004_analogue_paired", "The paired comparison of the two fine-tuning runs on the same test "
          f"images: difference SSL - baseline with its patient-bootstrap 95% CI and p ({n_boot} redraws) and DeLong's "
          "paired p", **d004_context)
run.text(documents.difference_sentence(d004_paired, label=positive, what=f"Test AUROC of {positive}"),
         "d004_analogue_sentence", **d004_context)

# %% [markdown]
# ## The official Kermany split against the patient-clean one
#
# The Kermany test folder shares 170 children (by the `person<N>` file-name rule) with the training
# folder. The classroom runs drop their 457 training images (`patient_clean`, the default); the paper
# profile keeps the official split that document 002 used. Dropping them changes two things at once: the
# training set no longer holds the test children, *and* it is 457 images smaller. A **control** separates
# the two: the official training folder with the same number of images removed at random (each class
# in proportion, `label_fraction`), so it keeps the shared children and is as large as the patient-clean
# one. Both are trained as notebook 06's baseline run, everything else equal, once per seed of
# `leakage_seeds` (the seed also draws the validation patients and the removed images), and tested on
# the same 624 official test images. The paired difference control - patient-clean is what the shared
# children are worth to the score; it is concluded only when the seeds and the patient-bootstrap
# interval agree, and only for runs that learned.

# %% tags=["remove-output"]
if leakage and clean is None:
    print(f"{d004_spec.name} has no patient_clean option: nothing to compare")
if leakage and clean is not None:
    from cxrlib.chapters.plots import replication_plot
    from cxrlib.stats.replication import replicated_auroc_difference, replication_table

    base_params = {k: v for k, v in d004_params["baseline"].items() if k != "out_dir"}
    leak = analogues.leakage_runs(base_params, leakage_seeds, run.out_dir / "leakage", data_root=data_root,
                                  reuse={(bool(clean), int(base_params["seed"])): d004_dirs["baseline"]}, label=positive)
    y_leak, g_leak, a_leak, b_leak = documents.paired_scores(leak["runs"]["control"], leak["runs"]["patient-clean"],
                                                              label=positive)
    leak_diff = replicated_auroc_difference(y_leak, a_leak, b_leak, groups=g_leak, n_boot=n_boot, seed=seed,
                                            name="AUROC(official, size-matched) - AUROC(patient-clean)")
    leak_context = dict(dataset=d004_spec.dataset, split="official test (624 images) for both; train: official folder "
                        "less random images vs less the 170 shared children's images", image_size=base_params["image_size"],
                        seed=f"seeds {leakage_seeds}",
                        weights=f"{base_params['weights']} ({base_params['backbone']}), notebook 06's baseline settings")
    run.table(leak["table"], "kermany_leakage_runs", "Every leakage run: training images, did it learn (validation "
              "AUROC with its CI, final loss against the no-information loss) and test AUROC", **leak_context)
    run.table(replication_table([leak_diff]), "kermany_leakage_auroc", "Test AUROC of the official train folder less "
              "random images (size-matched control, keeps the shared children) minus that of the patient-clean one "
              f"(457 images of the 170 children with test images dropped): seed mean, spread and the 95% CI of the seed "
              f"mean over patients ({n_boot} redraws); verdict only when the CI and every seed agree", **leak_context)
    fig = replication_plot([leak_diff], xlabel="AUROC(size-matched official) - AUROC(patient-clean)")
    run.figure(fig, "kermany_leakage_plot", "Seed spread beside the 95% patient-bootstrap CI of the seed mean",
               **leak_context)
    plt.show()
    failed = [f"{a} seed {s}" for a, s in leak["table"].loc[leak["table"]["learned"] != "learned", ["arm", "seed"]].itertuples(index=False)]
    run.text(f"Not interpreted: {', '.join(failed)} did not learn; the numbers above are a pipeline demo." if failed else
             leak_diff.sentence(above="the shared children flatter the score: the run that keeps them beats the "
                                      "patient-clean run of the same size",
                                below="the patient-clean run scores higher than the run of the same size that keeps "
                                      "the shared children, so here the shared children did not flatter the score"),
             "kermany_leakage_sentence", **leak_context)

# %% [markdown]
# ## Summary
# - The documents' comparisons are paired: both models are tested on the same images, so the
#   difference gets its own interval (paired bootstrap, same redraws) and test (DeLong); two separate
#   intervals that overlap say little about the difference.
# - Every table above is a classroom analogue: the data set, split, image size and the weights that
#   really started each run are in its caption. Document 001's DINOv2 and ImageNet-21K weights and
#   document 004's ImageNet weights and CheXpert images are not here; the paper profile
#   (`params/paper/03_finetune--d001_*`, `--d004_*`) runs the real protocols where they are.
# - A training set that shares patients with the test set is measured against a control of the same
#   size over several seeds; the generated sentence says what the seeds and the interval agree on, and
#   a model that did not learn is not interpreted.
#
# ## Exercises
# 1. In the Table 4 analogue, does the interval of the macro-average difference contain 0? Which labels
#    have too few positive test images to say anything, and why would more fine-tuning epochs
#    (`d001_epochs`) not change that?
# 2. Put the two comparisons of the SSL start with the other start side by side: document 001's design on
#    the NIH sample and document 004's on Kermany. Which of them does its interval settle, and how many
#    test images and positives does each rest on?
# 3. Why does document 004's "Total" need a weighting rule when the thesis lists classes with very
#    different numbers of positive test images, and what would an unweighted mean do to a class with
#    a single positive?
# 4. The table gives two p-values per label, the paired bootstrap's and DeLong's. How far apart are they,
#    and what is the smallest non-zero bootstrap p that `n_boot` redraws can give? What would
#    `-p n_boot 200` do to it?

# %%
run.finish()

# %% [markdown]
# ## What's next
# [Label efficiency on PneumoniaMNIST](/book/label_efficiency.md) (notebook 12) asks the question the
# documents leave open: how much does a self-supervised start help when only 1 % or 10 % of the labels
# are there?
