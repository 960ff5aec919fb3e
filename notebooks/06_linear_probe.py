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
# # Notebook 06: is the self-supervised backbone any good? The linear probe
#
# ## Overview
# A pre-training loss says how well a network solves its pretext task, not whether its features help
# with a diagnosis. Document 002 measures that with a **linear probe**: freeze the backbone, compute
# its features for every labelled image, fit a logistic regression on the training images and score
# the test images (its Table III). Document 004 instead fine-tunes the whole network from the
# pre-trained weights and compares it with a baseline (its Tables III-V).
#
# This notebook does both with the checkpoints of notebook 02, on two tasks with real images: pediatric
# pneumonia vs normal (Kermany et al., the "Cell" data set of document 002) and COVID-19 vs other
# pneumonia (the Cohen collection, "C19-Cohen", split 70/10/20 by patient). It compares random
# initialisation, our SSL checkpoints at 1 %, 10 % and 100 % of the pool, and ImageNet weights when
# they are on this machine; follows the test score along the pretext epochs (document 002, Fig. 2);
# draws t-SNE maps of the features per checkpoint (Fig. 3); tests the differences with paired DeLong
# tests; and fine-tunes a baseline and an SSL-initialised network the way notebook 03 does.
#
# ## Prerequisites
# - notebook 02 (pre-training; its output folder is `pretrain_dir`);
# - logistic regression and cross-validation; the ROC curve, AUROC and bootstrap CIs (notebook 04).

# %% tags=["parameters"]
out_dir = "out/06_linear_probe"
profile = "classroom"
seed = 0
data_root = None
pretrain_dir = "book/_generated/02_pretrain"
tasks = ["kermany_pneumonia", "covid_vs_pneumonia"]
task_options = {}
fit_limit = 1000
test_limit = None
compare_imagenet = True
weights_dir = None
n_boot = 1000
device = "cpu"
cache_dir = None
tsne_epochs = None
probe_seeds = [0, 1, 2]
finetune = True
finetune_task = "kermany_pneumonia"
finetune_epochs = 2
finetune_images_per_epoch = 512
finetune_lr = 1e-3
finetune_augment = "d004"
finetune_n_boot = 500
finetune_seeds = [0, 1, 2]

# %%
from cxrlib.core.params import validate_params

validate_params(globals(), "06_linear_probe", rules={
    "data_root": "str|None", "pretrain_dir": "str nonempty", "tasks": "nonempty in:task",
    "fit_limit": "int|None >=2", "test_limit": "int|None >=2", "tsne_epochs": "list|None >=0", "finetune_task": "in:task",
    "finetune_epochs": ">=1", "finetune_images_per_epoch": "int|None >=1", "finetune_lr": ">0",
    "finetune_augment": "in:policy", "finetune_n_boot": ">=1", "probe_seeds": "nonempty", "finetune_seeds": "nonempty",
}, checks=["test_limit > 0 and profile in ['classroom-smoke', 'paper-smoke']"])  # a result uses the whole test part

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from cxrlib import published
from cxrlib.published import align

from cxrlib.chapters import finetune as chapter_finetune
from cxrlib.chapters import linear_probe as linear_eval

from cxrlib.chapters import plots
from cxrlib.core.runs import read_config

from cxrlib.training import probe
from cxrlib.stats import replication_table
from cxrlib.stats.learning import LearningCheck

from cxrlib.training import ssl

from cxrlib.training import finetune as training
from cxrlib.book.artifacts import RunArtifacts
from cxrlib.images.tasks import get_task

index = ssl.read_checkpoint_index(pretrain_dir)
final = ssl.final_checkpoint(pretrain_dir)
largest_run, pretrain_params = final.run_dir, final.params
backbone, image_size, preprocess = pretrain_params["backbone"], pretrain_params["image_size"], pretrain_params["preprocess"]
method = ssl.get_method(pretrain_params["method"]).title
print(f"pre-training: {method} of {backbone} at {image_size} px, policy {pretrain_params['policy']}, "
      f"{pretrain_params['epochs']} epochs, pool {pretrain_params['pool_sources']} "
      f"(cap {pretrain_params['pool_max_images']}), profile {pretrain_params['profile']}")

specs = {name: get_task(name) for name in tasks}
run = RunArtifacts(
    out_dir, notebook="06_linear_probe",
    params=dict(profile=profile, data_root=data_root, pretrain_dir=pretrain_dir, tasks=tasks, task_options=task_options,
                fit_limit=fit_limit, test_limit=test_limit, n_boot=n_boot, seed=seed,
                pretrain=pretrain_params, finetune=finetune, finetune_epochs=finetune_epochs),
    context=dict(dataset="; ".join(s.dataset for s in specs.values()),
                 split="; ".join(f"{s.name}: {s.split}" for s in specs.values()), image_size=image_size,
                 weights=f"{backbone}: random, ImageNet (if present) or our {method} checkpoints "
                 f"({pretrain_params['profile']} pre-training)", profile=profile, seed=seed),
)
for name, spec in specs.items():
    _ = run.record_data(name, spec.data_path(data_root))

# %% [markdown]
# ## The labelled tasks
#
# The probe fits on the training and validation parts together (its grid search cross-validates
# inside them, keeping each patient in one fold) and is scored once on the test part. `fit_limit`
# caps the fit images for the classroom (a class-balanced, patient-safe sample); the test part is
# whole (`test_limit` caps it in smoke runs only, which prove the code path and report no result).

# %%
tables = {name: linear_eval.task_table(name, data_root, seed, fit_limit, task_options.get(name), test_limit=test_limit)
          for name in tasks}
counts = pd.concat([
    t.assign(cls=[specs[name].classes[i] for i in t["target"]]).groupby(["role", "cls"]).agg(
        images=("image_id", "size"), patients=("patient_id", "nunique")).reset_index().assign(task=name)
    for name, t in tables.items()
])[["task", "role", "cls", "images", "patients"]].rename(columns={"cls": "class"})
run.table(counts, "probe_data", "Images and patients the probe fits on (train + val) and is tested on",
          float_format="{:.0f}")

# %% [markdown]
# ## Table III: random, ImageNet and self-supervised initialisations
#
# Every row is one backbone initialisation and one task: the logistic regression's C is chosen from
# {0.01, 0.05, 0.1, 0.2, 0.5, 1} by cross-validated AUROC, with class weights inversely proportional to
# the class frequencies (document 002, section V). Accuracy, sensitivity, specificity and F1 use the
# threshold 0.5 of the fitted probabilities. The brackets are 95 % percentile bootstrap intervals over
# test *patients* (`n_boot` redraws, set in the parameter cell). `fraction` is the share of the pool the checkpoint was pre-trained
# on; the baselines have none. The rows `SSL 1%`, `SSL 10%` and `SSL 100%` are the checkpoints at which notebook 02
# compares the pools (the same number of optimisation steps, its `compare_epoch`); where the largest pool trained
# on after that epoch, its last checkpoint is a row of its own (`SSL 100% epoch N`): the encoder that the replicated
# comparison and the fine-tuning below, and the later chapters, start from.

# %%
finals, per_epoch = linear_eval.checkpoint_inits(index)
encoder = linear_eval.encoder_init(finals, per_epoch, final.path)  # the checkpoint the later chapters start from
probed = finals + ([] if encoder in finals else [encoder])
baselines = [linear_eval.Init("random", "none")]
if compare_imagenet:
    baselines.append(linear_eval.Init("ImageNet", "imagenet"))
feature_dir = run.out_dir / "features"
long, outputs = linear_eval.run_inits(
    backbone, baselines + probed, tables, preprocess=preprocess, image_size=image_size, feature_dir=feature_dir,
    cache_dir=cache_dir, seed=seed, n_boot=n_boot, weights_dir=weights_dir, device=device)
ci_columns = [f"{m}_{e}" for m in probe.METRICS for e in ("ci_low", "ci_high")]
table3 = long[["init", "task", "fraction", *probe.METRICS, *ci_columns, "f1_neg", "c", "cv_auc", "n_fit", "n_test", "epoch"]]
run.table(table3, "d002_table3", "Linear probe on frozen features (document 002's protocol), test part: accuracy, "
          "AUROC, sensitivity, specificity and F1 with 95% patient-bootstrap CIs; c = the chosen C")

# %% tags=["remove-output"]
layout = probe.table3_layout(long.assign(fraction=long["fraction"].map(
    lambda f: "none" if pd.isna(f) else f)), ci=True)
run.table(probe.flat_columns(layout), "d002_table3_layout", "The same numbers in document 002's Table III layout "
          "(percent, 95% CI in brackets; columns: pretext fraction)")

# %% [markdown]
# ### Beside document 002
#
# Document 002 pre-trained a wide ResNet-50 on all of CheXpert (224,316 images, 100 epochs, batch 128)
# and probed the Cell and C19-Cohen data sets; ours is the run of notebook 02. Same protocol for the
# probe, very different scale for the pre-training: the comparison shows where a classroom run stands,
# it does not reproduce the document unless `pretrain_dir` holds a paper-profile run.

# %% tags=["remove-output"]
doc = published.load("d002_table3")
mapping = align.comparisons("d002_table3")[0]  # the registry item: the document's rows, its data sets as our tasks
theirs = mapping.published_rows()
names = {task: dataset for dataset, task in mapping.relabel["dataset"].items()}  # our task -> the document's name
ours = long[long["init"].isin([i.name for i in finals])].assign(init=f"ours ({profile})")
side = pd.concat([
    probe.table3_layout(ours, index=("task", "init")),
    probe.table3_layout(theirs.assign(task=theirs["dataset"], init="document 002"), index=("task", "init"), scale=1),
]).rename(index=names, level=0).sort_index(level=0, sort_remaining=False)
run.table(probe.flat_columns(side), "d002_table3_compare", f"Our linear-probe results (SSL checkpoints) beside document "
          f"002's Table III ({doc.citation.split(';')[0]}), percent")

# %% [markdown]
# ## Do the differences hold up? Paired DeLong tests
#
# All initialisations are scored on the same test images, so their AUROCs are compared with DeLong's
# paired test; the p-values are adjusted for the number of comparisons (Benjamini-Hochberg).

# %% tags=["remove-output"]
present = {name for name, _ in outputs}
pairs = [(init.name, "random") for init in probed + baselines[1:] if init.name in present]
delong = linear_eval.paired_delong_by_init(outputs, tables, pairs)
run.table(delong, "ssl_delong", "Paired DeLong tests of test AUROC against random initialisation "
          "(difference = AUROC(a) - AUROC(b), 95% CI; p adjusted by BH-FDR over the rows): the plain test, which "
          "treats images as independent, and beside it the clustered test with patients as clusters "
          "(`_clustered` columns)", float_format="{:.4f}")

# %% [markdown]
# ## Replicated: SSL vs random over seeds
#
# One probe is one draw of what is random in it: the random backbone's weights and the folds that choose C.
# The comparison of the largest pool's SSL checkpoint with random initialisation is repeated for every seed
# in `probe_seeds` (the SSL backbone is one pre-training run, the same in every seed). The seed spread
# stands beside the patient-bootstrap interval of the seed mean; the text concludes only when both agree
# (`cxrlib.stats.replication`).

# %% tags=["remove-output"]
ssl_final = encoder
probe_seed_table, probe_replicated = linear_eval.replicated_probe(
    backbone, ssl_final, baselines[0], tables, probe_seeds, preprocess=preprocess, image_size=image_size,
    feature_dir=feature_dir, cache_dir=cache_dir, device=device, reuse={"seed": seed, "outputs": outputs},
    n_boot=n_boot, boot_seed=seed)
probe_seed_table.to_csv(run.out_dir / "ssl_probe_seeds.csv", index=False)
ssl_check = linear_eval.pretraining_check(final)
probe_sentences = [linear_eval.pretraining_note(final)] + linear_eval.replicated_sentences(
    probe_replicated, learned=ssl_check is not None and ssl_check.learned,
    above="on {}, the SSL probe beats the random probe", below="on {}, the random probe beats the SSL probe")
power = []
for task_name, table in tables.items():
    row = delong[(delong["task"] == task_name) & (delong["init_a"] == ssl_final.name)]
    if len(row):  # every task: what its test part could detect
        se = float(row["ci_high_clustered"].iloc[0] - row["ci_low_clustered"].iloc[0]) / (2 * 1.959964)
        power.append(linear_eval.power_sentence(task_name, table, se, what=f"AUROC({ssl_final.name}) - AUROC(random)"))
run.text("\n\n".join(probe_sentences + power), "ssl_probe_replicated", seed=", ".join(map(str, probe_seeds)))
# %% [markdown]
# ## Figure 2: the downstream score per pretext epoch
#
# Document 002 found that the downstream accuracy kept improving after the pretext loss had flattened.
# Every checkpoint of the largest pool is probed the same way.

# %% tags=["remove-output"]
epoch_scores, epoch_outputs = linear_eval.run_inits(
    backbone, per_epoch, tables, preprocess=preprocess, image_size=image_size, feature_dir=feature_dir,
    cache_dir=cache_dir, seed=seed, n_boot=n_boot, device=device)
epoch_scores.to_csv(run.out_dir / "d002_fig2.csv", index=False)
pretext_loss = ssl.read_loss(largest_run)
fig = plots.score_per_epoch(epoch_scores, loss=pretext_loss, title=f"{method} checkpoints of {backbone}, "
                            f"{ssl.fraction_label(index['fraction'].max())} pool")
run.figure(fig, "d002_fig2", "Pretext loss and downstream test accuracy and AUROC of the linear probe per "
           "pretext epoch (epoch 0 = the initialisation), 95% patient-bootstrap bands")
plt.show()

# %% [markdown]
# ## Figure 3: what the features separate
#
# t-SNE maps the test images' features to two dimensions (after standardising and PCA to 50
# dimensions); colours are the true classes, which the map never sees. Document 002 draws the maps of
# the checkpoints after 10, 25, 50 and 100 epochs.

# %% tags=["remove-output"]
chosen = sorted(index.loc[index["fraction"] == index["fraction"].max(), "epoch"].unique())
if tsne_epochs is not None:
    chosen = [e for e in chosen if e in set(tsne_epochs)]
panels = {}
for name, table in tables.items():
    labels = specs[name].targets(table[table["role"] == "test"])
    for init in per_epoch:
        if init.epoch in chosen:
            xy = linear_eval.tsne_embedding(epoch_outputs[(init.name, name)]["features"], seed=seed)
            panels[(specs[name].title.split(" (")[0], f"pretext epoch {init.epoch}")] = (xy, labels)
if panels:  # tsne_epochs=[] asks for none
    fig = plots.embedding_grid(panels, class_names=["negative class", "positive class"])
    run.figure(fig, "d002_fig3", "t-SNE of the frozen test-image features per pretext checkpoint (rows: tasks; "
               "blue: normal / other pneumonia, red: pneumonia / COVID-19)")
    plt.show()

# %% [markdown]
# ## Fine-tuning from the SSL checkpoint (document 004's comparison)
#
# Document 004 fine-tunes every layer twice, once from the baseline weights and once from the
# pre-trained ones, and compares test AUROCs with 95 % bootstrap intervals (500 redraws). Both runs
# below go through the same `cxrlib.training.finetune.fit` as notebook 03, with identical settings except the
# starting weights: the weights notebook 02 started from (`baseline`) and its last checkpoint on the
# largest pool (`SSL`).

# %% tags=["remove-output"]
if finetune:
    starts = {"baseline": pretrain_params["weights"], "SSL": encoder.weights}
    results = {}
    for finetune_seed in finetune_seeds:
        for name, weights in starts.items():
            config = training.TrainConfig(
                out_dir=str(run.out_dir / "finetune" / (name if finetune_seed == finetune_seeds[0] else f"{name}_seed{finetune_seed}")),
                backbone=backbone, weights=weights, weights_dir=weights_dir,
                task=finetune_task, task_options=task_options.get(finetune_task, {}), data_root=data_root,
                preprocess=preprocess, image_size=image_size,
                augment=finetune_augment, head="linear", unfrozen_blocks="all", optimizer="adam", lr=finetune_lr,
                epochs=finetune_epochs, train_images_per_epoch=finetune_images_per_epoch, weight_decay=0.0, patience=None,
                lr_scheduler="none", seed=finetune_seed, profile=profile, cache_dir=cache_dir)
            print(f"--- {name}, seed {finetune_seed}: {weights}")
            results[(name, finetune_seed)] = training.fit(config)
    first = {name: results[(name, finetune_seeds[0])] for name in starts}
    cis = pd.concat([chapter_finetune.run_auroc_table(r, n_boot=finetune_n_boot, seed=seed).assign(model=name)
                     for name, r in first.items()], ignore_index=True)
    test = {name: r.predictions["test"] for name, r in first.items()}
    positive = get_task(finetune_task).positive_class
    paired = linear_eval.compare_runs(test["SSL"], test["baseline"], positive, names=("SSL", "baseline"))
    cis["delong_p_vs_baseline"] = [float("nan"), paired.loc[0, "p_value"]]
    finetune_context = dict(dataset=specs.get(finetune_task, get_task(finetune_task)).dataset,
                            split=get_task(finetune_task).split,
                            weights=f"baseline: {pretrain_params['weights']}; SSL: {Path(encoder.weights).name}")
    run.table(cis, "d004_style_finetune", f"Fine-tuning {backbone} from the baseline weights and from our SSL "
              f"checkpoint ({finetune_epochs} epochs of {finetune_images_per_epoch} images, all layers; training seed "
              f"{finetune_seeds[0]}): test AUROC "
              f"of '{positive}' with {finetune_n_boot}-redraw patient-bootstrap 95% CIs (document 004's protocol) and "
              "the paired DeLong p-value", float_format="{:.4f}", **finetune_context)
    fig = plots.forest_plot(cis, label_col="model")
    run.figure(fig, "d004_style_finetune_ci", "Test AUROC with 95% bootstrap CI after fine-tuning from the baseline "
               f"and from the SSL checkpoint (document 004, Fig. 5.1-5.3 style; training seed {finetune_seeds[0]})",
               **finetune_context)
    plt.show()
    finetune_table = linear_eval.task_table(finetune_task, data_root, seed, None, task_options.get(finetune_task))
    patients = finetune_table.set_index("image_id")["patient_id"]
    finetune_replicated = linear_eval.replicated_run_difference(
        {s: results[("SSL", s)].predictions["test"] for s in finetune_seeds},
        {s: results[("baseline", s)].predictions["test"] for s in finetune_seeds}, positive, patients,
        name=f"{finetune_task}: AUROC(SSL start) - AUROC(baseline start), fine-tuned", n_boot=n_boot, seed=seed)
    checks = {key: LearningCheck.from_dict(r.metrics["learning"]) for key, r in results.items()}
    failed = [f"{name} seed {s}" for (name, s), c in checks.items() if not c.learned]
    notes = ([f"Did every fine-tuned model learn? NO: {', '.join(failed)} did not (validation AUROC or training "
              "loss; see each run's learning.json), so the comparison below is a pipeline demo."] if failed else
             [f"Every fine-tuned model learned ({len(checks)} runs: validation AUROC above chance and training loss "
              "below the no-information loss)."])
    notes += linear_eval.replicated_sentences(
        {finetune_task: finetune_replicated}, learned=not failed and ssl_check is not None and ssl_check.learned,
        above="on {}, fine-tuning from the SSL checkpoint beats the baseline start",
        below="on {}, the baseline start beats fine-tuning from the SSL checkpoint")
    run.text("\n\n".join(notes), "ssl_finetune_replicated", seed=", ".join(map(str, finetune_seeds)), **finetune_context)
    probe_replicated = {**probe_replicated, "finetune": finetune_replicated}

# %% tags=["remove-output"]
replicated = list(probe_replicated.values())
run.table(replication_table(replicated, digits=4), "ssl_replication", "SSL vs random initialisation over seeds: per "
          "comparison the seed mean, sd and range on the full test part, the 95% patient-bootstrap interval of the "
          "seed mean and the verdict (concludes only when the seeds and the interval agree, >= 3 seeds)",
          float_format="{:.4f}", seed=f"probe: {', '.join(map(str, probe_seeds))}; fine-tuning: "
          f"{', '.join(map(str, finetune_seeds)) if finetune else 'not run'}")
fig = plots.replication_plot(replicated, xlabel="AUROC difference (SSL - random)")
run.figure(fig, "ssl_replication_plot", "SSL minus random initialisation per seed (grey dots) beside the 95% "
           "patient-bootstrap interval of the seed mean (black)", seed=f"probe: {', '.join(map(str, probe_seeds))}; "
           f"fine-tuning: {', '.join(map(str, finetune_seeds)) if finetune else 'not run'}")
plt.show()

# %%
run.finish()

# %% [markdown]
# ## Summary
# - The linear probe freezes the backbone: it measures what pre-training put into the features, with
#   the classifier kept as simple as possible.
# - Scores come with patient-bootstrap intervals and paired tests; a difference inside the noise of a
#   few hundred test images is not a finding.
# - A classroom pre-training is minutes of CPU on about a thousand small images; document 002 used
#   100 epochs on 224,316 CheXpert images. The tables state which is which.
#
# ## Exercises
# 1. Set `fit_limit` to 100 and then to None. Does self-supervised pre-training help more when the
#    probe has few labelled images? Neither document measured this (document 002 varies the share of
#    CheXpert used for pre-training; document 004 declines to cut labels artificially), so read your
#    answer from the intervals, not from the point estimates.
# 2. Pre-train with `-p policy d002_simclr` in notebook 02 and probe it here. Compare with document
#    004's finding that its SimCLR views made the network fine-tune worse than its ImageNet-initialised
#    baseline.
# 3. In Table III the threshold is 0.5. Where would Youden's threshold, chosen on the fit rows, move
#    sensitivity and specificity?
# 4. Why does a random, untrained ResNet already give an AUROC well above 0.5 on the Kermany task?

# %% [markdown]
# ## What's next
# [Are the NIH labels good enough?](/book/label_noise.md) (notebook 07) asks what the reference labels do
# to an AUROC: the documents' differences between initialisations are measured against text-mined NIH
# labels.
