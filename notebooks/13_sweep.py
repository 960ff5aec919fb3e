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
# # Notebook 13: a classroom sweep in document 000's table layout
#
# ## Overview
# Document 000 fine-tuned five backbones and, for each, searched a grid of learning rate, L2, dropout and
# the number of unfrozen blocks: 450-630 fine-tunings per backbone (90 per row), reported as Tables 2-6
# (one row per number of unfrozen blocks; the document does not say how each row's run was chosen among
# its 90, and marks the best row by test AUC). A **sweep file** (`params/sweeps/`) holds such a grid as
# data and `cxrlib.training.sweeps` runs it on an [Optuna](https://optuna.org) study;
# [the sweeps chapter](/book/sweeps.md) describes the files, the command line and running on a cluster.
#
# This notebook runs a sweep small enough for a classroom: `params/sweeps/classroom_d000_layout.yaml`,
# a ResNet-18 that starts from **the book's own SSL checkpoint** (notebook 02's SimCLR pre-training on an
# unlabeled pool; `weights: auto` with `ssl_dir`), the Kermany pediatric pneumonia task, one learning rate
# and unfrozen blocks {0, 1, 2, all}, each row trained with **three seeds**. It builds document 000's
# table from the finished trials, checks that every model learned, and compares the rows the only way
# that can tell them apart: **paired differences** of test AUROC on the same test images, with the seed
# spread beside the patient-bootstrap interval. The numbers are a **classroom analogue** of the layout,
# not a reproduction of document 000's results (another task, small images, our own pre-training).
#
# ## Prerequisites
# - one fine-tuning run and partial unfreezing ([notebook 03](/book/finetune.md));
# - the AUROC, its patient-bootstrap confidence interval and paired comparisons ([notebook 04](/book/statistics.md));
# - the Kermany data of notebook 01 under the data root, and notebook 02's checkpoint (`ssl_dir`).
#
# Re-running the notebook with the same `out_dir` goes on where the sweep stopped: the study lives in a
# journal file inside the run's folder, and finished grid points are read, not trained again.

# %% tags=["parameters"]
out_dir = "out/13_sweep"
profile = "classroom"
seed = 0
data_root = None
sweep_file = "params/sweeps/classroom_d000_layout.yaml"
sweep_smoke = False
ssl_dir = "book/_generated/02_pretrain"
reference_row = {"unfrozen_blocks": 0}
n_boot = 1000

# %% [markdown]
# ## The sweep file
#
# The file names what runs (`entry: cxrlib.training.finetune`: each trial is one call of the fine-tuning
# engine, in this process), the protocol (`base:` notebook 03's classroom parameters, with `params:`
# over it), the grid (the training `seed` is an axis: every row runs once per seed), the selection rule
# (`select:`, our choice: the lowest validation loss, never the test set) and how the table is built
# (`table:`). `ssl_dir` (a parameter of this notebook) is the `02_pretrain` folder whose checkpoint
# `weights: auto` starts from when no published weights are on the machine. `sweep_smoke=True` keeps the
# table's axes and shrinks every run to a handful of images (the `--smoke` of `cxrlib sweep run`).

# %%
from cxrlib.core.params import validate_params

validate_params(globals(), "13_sweep", rules={
    "data_root": "str|None", "sweep_file": "str nonempty", "sweep_smoke": "bool", "ssl_dir": "str|None",
    "reference_row": "dict",
})

import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cxrlib import published
from cxrlib.book.artifacts import RunArtifacts
from cxrlib.chapters import plots
from cxrlib.chapters import sweep_rows
from cxrlib.images.tasks import get_task
from cxrlib.stats import replication_table
from cxrlib.training import sweeps

run = RunArtifacts(out_dir, notebook="13_sweep", params=dict(
    out_dir=out_dir, profile=profile, seed=seed, data_root=data_root, sweep_file=sweep_file,
    sweep_smoke=sweep_smoke, ssl_dir=ssl_dir, reference_row=reference_row, n_boot=n_boot))
sweep = sweeps.load_sweep(sweeps.REPO / sweep_file, smoke=sweep_smoke, out=Path(run.out_dir) / "sweep",
                          check_values=True)
sweep.fixed.update(profile=profile, ssl_dir=ssl_dir)
if data_root is not None:
    sweep.fixed["data_root"] = data_root
fixed = {**sweep.fixed, **(sweep.smoke_overrides if sweep_smoke else {})}
task_spec = get_task(fixed["task"])
backbones = list(dict.fromkeys(point["backbone"] for _, point in sweep.points()))
seeds = sorted({point.get("seed", seed) for _, point in sweep.points()})
run.context.update(
    dataset=task_spec.dataset, split=task_spec.split, image_size=fixed["image_size"], profile=profile,
    seed=", ".join(map(str, seeds)), backbones=", ".join(backbones),
)
_ = run.record_data("images", task_spec.data_path(data_root))
print(f"{len(sweep.points())} grid points; study {sweep.study_name!r}; run folders under {sweep.out}")
pd.DataFrame([p for _, p in sweep.points()])

# %% [markdown]
# ## Running the trials
#
# `sweeps.work` is one worker: it enqueues every grid point once (under a lock), then claims and runs
# waiting trials until none is left. The command line does the same with `cxrlib sweep run FILE
# --workers N` (N worker processes sharing the journal file) or, with `--storage postgresql://...`, on
# several machines. Each trial writes an ordinary run folder (`<out>/<trial key>/`: `metrics.json`,
# `metrics.csv`, `weights.json`, `learning.json`, predictions), which is what the tables below read.

# %%
store = sweeps.open_storage(None, sweep)
started = time.time()
counts = sweeps.work(sweep, store, worker="notebook")
sweep_seconds = time.time() - started
study = sweeps.open_study(store, sweep)
print(f"this call: {counts} in {sweep_seconds:.0f} s; journal {store.spec}")

# %% [markdown]
# ## What the backbones started from
#
# Each trial records its start in `weights.json`: the published weights, the book's own SSL checkpoint
# (notebook 02) or random values (then every caption says RANDOM INITIALISATION).

# %% tags=["remove-output"]
starts = sweep_rows.starts(study, sweep)
run.context["weights"] = "; ".join(f"{b}: {w}" for b, w in starts.items())
run.table(pd.DataFrame({"backbone": list(starts), "start": list(starts.values())}), "sweep_starts",
          "What each backbone of the sweep started from (weights.json of its trials)")

# %% [markdown]
# ## The state of the study
#
# One row per grid point: done, running, failed (with its error) or waiting; the objective (validation
# loss) and the seconds each trial took. `cxrlib sweep status FILE` prints the same table.

# %% tags=["remove-output"]
status = sweeps.status_frame(study, sweep).drop(columns=["run_dir", "worker"])
status["error"] = status["error"].fillna("")
run.table(status, "sweep_status", f"State of the classroom sweep's Optuna study (one row per grid point; value: "
          f"best validation loss; this call: {sum(counts.values())} trials, {sweep_seconds:.0f} s)")

# %% [markdown]
# ## Document 000's table, classroom analogue
#
# For every backbone, number of unfrozen blocks and training seed, the trial's train loss, validation
# loss and test AUC with a 95% patient-bootstrap confidence interval, then recall, F1 and precision of the
# positive class (pneumonia) at the Youden threshold chosen on the validation predictions, and whether
# the model learned. Document 000's columns are the same except that its task has 15 classes (macro recall
# and F1, the precision of "No Finding"), and it reports one run per row.
#
# **Published numbers.** Document 000's Tables 2-6 are transcribed in `cxrlib.published`
# (`d000_table2` ... `d000_table6`); they are shown as published below ours, for the layout: their
# numbers come from another task (NIH, 15 classes), published weights and 224 px, so no cell compares.

# %%
table_ids = [f"d000_table{n}" for n in range(2, 7)]
theirs = {}
for table_id in table_ids:
    try:
        theirs[table_id] = published.load(table_id)
    except KeyError:
        pass
missing = [t for t in table_ids if t not in theirs]
published_note = (f"published {', '.join(missing)}: not transcribed in cxrlib.published, our numbers only"
                  if missing else "document 000's Tables 2-6 as published below ours (layout only)")
print(published_note)

# %% tags=["remove-output"]
rows = sweep_rows.collect(study, sweep, rows=[axis for axis in sweep.axis_choices() if axis != "seed"])
ours, _, _ = sweeps.sweep_table(study, sweep, n_boot=n_boot)
if "lr" in ours and ours["lr"].nunique() == 1:  # one learning rate: a constant column says nothing
    ours = ours.drop(columns=["lr"])
ours = ours.merge(rows.trials[["trial_key", "learned"]], on="trial_key", how="left")
run.table(ours, "sweep_d000_layout",
          f"Classroom analogue of document 000's Tables 2-6 (layout only: Kermany binary task, not NIH 15-class): "
          f"one trial per backbone, number of unfrozen blocks and training seed, test AUC with a 95% "
          f"patient-bootstrap CI ({n_boot} redraws), 'learned': the run's did-it-learn check; {published_note}")

# %% [markdown]
# Document 000's tables, as published:

# %%
for table_id, table in theirs.items():
    run.table(table.frame, f"{table_id}_published", f"Document 000, {table_id} as published ({table.citation.strip()})")

# %% [markdown]
# ## Did every row learn?
#
# A row is interpreted only when the model of every seed passed the "did it learn?" check (validation
# AUROC interval above 0.5 and final training loss below the no-information loss); a row that fails is a
# pipeline demo and enters no comparison.

# %% tags=["remove-output"]
learned = sweep_rows.learning_table(rows)
run.table(learned, "sweep_learning", "Did each row learn? Seeds of each row whose model passed the "
          "did-it-learn check (learning.json of each trial); a row with a failing seed is not interpreted")

# %% [markdown]
# ## Rows over seeds, and paired differences
#
# The test AUROC of each row as the mean over its seeds, with the seed spread (each seed on the full test
# set) and the 95% interval of the seed mean over patient-bootstrap redraws. Two rows are then compared by
# the **paired** difference AUROC(row) - AUROC(reference row), every seed and both rows scored on the same
# redraws of the same test patients. Overlapping intervals of two rows say nothing about their difference
# (chapter 10 shows why); the difference's own interval does. A difference is concluded only when at
# least three seeds and its interval agree (`cxrlib.stats.Replicated.verdict`).

# %% tags=["remove-output"]
print(f"{rows.n_test} test images common to every trial" + ("" if rows.scores else
      ": too few (one class) for AUROCs; nothing below is compared"))
aurocs = sweep_rows.row_aurocs(rows, n_boot=n_boot, seed=seed)
run.table(replication_table(aurocs, digits=4), "sweep_row_auroc",
          f"Test AUROC of each row over its training seeds: seed spread and the 95% patient-bootstrap interval of "
          f"the seed mean ({n_boot} redraws); verdict against chance 0.5")
differences = sweep_rows.row_differences(rows, reference_row, n_boot=n_boot, seed=seed)
run.table(replication_table(differences, digits=4), "sweep_row_differences",
          f"Paired differences of test AUROC, each row minus the reference row ({reference_row}) of the same "
          f"backbone, per training seed and as a seed mean with its 95% paired patient-bootstrap interval "
          f"({n_boot} redraws); only rows whose every seed learned")
run.text(sweep_rows.difference_sentences(differences), "sweep_conclusions")

# %%
fig = plots.replication_plot(differences, xlabel="difference of test AUROC (row minus reference)",
                             title="classroom sweep: paired differences" + (" (SMOKE sizes)" if sweep_smoke else ""))
run.figure(fig, "sweep_differences",
           "Paired differences of test AUROC between rows of the classroom sweep: each training seed (grey) "
           "and the seed mean with its 95% paired patient-bootstrap interval (black); verdicts in the labels "
           "(a note instead when no two rows' seeds all learned)")
plt.show()

# %% [markdown]
# ## Test AUROC against unfrozen blocks
#
# One line per backbone: the seed mean of each row, its interval and every seed's value; rows that did
# not learn are drawn hollow. The x-axis is the number of unfrozen blocks ("all": every block trains).

# %% tags=["remove-output"]
fig = sweep_rows.plot_rows(rows, aurocs, title="classroom sweep" + (" (SMOKE sizes)" if sweep_smoke else ""))
run.figure(fig, "sweep_auroc_by_blocks",
           "Test AUROC against the number of unfrozen blocks, per backbone: seed mean (marker) with the 95% "
           "patient-bootstrap interval of the seed mean and each seed (dots); hollow: a row that did not learn. "
           "Read differences from the paired table, not from overlapping bars")
plt.show()

# %% [markdown]
# ## Summary
# - A grid is data: the sweep file names the protocol, the axes (the training seed included), the
#   selection rule and the table; a trial is an ordinary run folder, so a sweep can stop and resume and
#   its runs can be read by any other notebook.
# - Every row is trained with several seeds and checked ("did it learn?") before it is read; rows are
#   compared by paired differences on the same test images, and a difference is claimed only when the
#   seeds and the interval agree.
# - The backbone starts from the book's own SSL checkpoint at classroom scale: the numbers show the
#   layout and the method; they say nothing about document 000's backbones (NIH, 15 classes, 224 px).
#
# ## Exercises
# 1. Add a learning rate to the grid (`lr: [1.0e-3, 1.0e-2]`, in a copy of the sweep file, passed as
#    `-p sweep_file ...`) and re-run with the same `out_dir`: which trials run, and which are read from
#    the journal? Does the best learning rate depend on the number of unfrozen blocks?
# 2. Run the same file from the command line with two workers (`cxrlib sweep run FILE --workers 2`) and
#    compare the wall time with this notebook's single worker. Why does it not halve?
# 3. Document 000 reports one run per row and marks the best row by test AUC. With the paired differences
#    above, which rows can be told apart? Would one seed per row have told the same story?
# 4. Compare each row's seed spread (sd, min to max) with the width of its patient-bootstrap interval.
#    Which of the two uncertainties is larger here, and what does that say about reporting one run?

# %%
run.finish()

# %% [markdown]
# ## What's next
# [Building the book](/book/developers.md) explains how every notebook, this one included, becomes a
# chapter with provenance; the [sweeps chapter](/book/sweeps.md) runs the full grids of document 000
# (`params/sweeps/d000_table2_*.yaml` ... `d000_table6_*.yaml`) on a cluster.
