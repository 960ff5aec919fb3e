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
# # Notebook 09: a classroom sweep in document 000's table layout
#
# ## Overview
# Document 000 fine-tuned five backbones and, for each, searched a grid of learning rate, L2, dropout and
# the number of unfrozen blocks: 450-630 fine-tunings per backbone, reported as Tables 2-6 (one row per
# number of unfrozen blocks, the best hyper-parameters of that row chosen by validation loss). A
# **sweep file** (`params/sweeps/`) holds such a grid as data and `cxrlib.training.sweeps` runs it on an
# [Optuna](https://optuna.org) study; [the sweeps chapter](/book/sweeps.md) describes the files, the
# command line and running on a cluster.
#
# This notebook runs a sweep small enough for a classroom: `params/sweeps/classroom_d000_layout.yaml`,
# two small backbones (ConvNeXt-V2 atto and ResNet-18) from **random weights** (`weights: none`, nothing
# is downloaded), the Kermany pediatric pneumonia task at 32 px, 2 epochs of 256 training images, one
# learning rate and unfrozen blocks {0, 1, 2, all}: 8 fine-tunings, a few minutes on 2 CPU cores. It
# then builds document 000's table from the finished trials, with bootstrap confidence intervals, and
# draws the test AUROC against the number of unfrozen blocks. The numbers are a **classroom analogue**
# of the layout, not a reproduction of document 000's results (other task, tiny images, no pre-training).
#
# ## Prerequisites
# - one fine-tuning run and partial unfreezing ([notebook 03](/book/finetune.md));
# - the AUROC and its patient-bootstrap confidence interval ([notebook 04](/book/statistics.md));
# - the Kermany data of notebook 01 under the data root.
#
# Re-running the notebook with the same `out_dir` goes on where the sweep stopped: the study lives in a
# journal file inside the run's folder, and finished grid points are read, not trained again.

# %% tags=["parameters"]
out_dir = "out/09_sweep"
profile = "classroom"
seed = 0
data_root = None
sweep_file = "params/sweeps/classroom_d000_layout.yaml"
sweep_smoke = False
n_boot = 1000

# %% [markdown]
# ## The sweep file
#
# The file names what runs (`entry: cxrlib.training.finetune`: each trial is one call of the fine-tuning
# engine, in this process), the protocol (`base:` notebook 03's classroom parameters, with `params:`
# over it), the grid, the selection rule (`select:` the lowest validation loss) and how the table is
# built (`table:`). `sweep_smoke=True` keeps the table's axes and shrinks every run to a handful of
# images (the `--smoke` of `cxrlib sweep run`).

# %%
from cxrlib.core.params import validate_params

validate_params(globals(), "09_sweep", rules={
    "data_root": "str|None", "sweep_file": "str nonempty", "sweep_smoke": "bool",
})

import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cxrlib import published
from cxrlib.book.artifacts import RunArtifacts
from cxrlib.images.tasks import get_task
from cxrlib.training import sweeps

run = RunArtifacts(out_dir, notebook="09_sweep", params=dict(
    out_dir=out_dir, profile=profile, seed=seed, data_root=data_root, sweep_file=sweep_file,
    sweep_smoke=sweep_smoke, n_boot=n_boot))
sweep = sweeps.load_sweep(sweeps.REPO / sweep_file, smoke=sweep_smoke, out=Path(run.out_dir) / "sweep",
                          check_values=True)
sweep.fixed.update(seed=seed, profile=profile)
if data_root is not None:
    sweep.fixed["data_root"] = data_root
fixed = {**sweep.fixed, **(sweep.smoke_overrides if sweep_smoke else {})}
task_spec = get_task(fixed["task"])
backbones = list(dict.fromkeys(point["backbone"] for _, point in sweep.points()))
run.context.update(
    dataset=task_spec.dataset, split=task_spec.split, image_size=fixed["image_size"],
    weights=f"{fixed['weights']} (random initialisation)" if fixed["weights"] == "none" else fixed["weights"],
    profile=profile, seed=seed, backbones=", ".join(backbones),
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
# `metrics.csv`, predictions), which is what the table below reads.

# %%
store = sweeps.open_storage(None, sweep)
started = time.time()
counts = sweeps.work(sweep, store, worker="notebook")
sweep_seconds = time.time() - started
study = sweeps.open_study(store, sweep)
print(f"this call: {counts} in {sweep_seconds:.0f} s; journal {store.spec}")

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
# For every backbone and number of unfrozen blocks, the trial with the lowest validation loss (with one
# learning rate there is one trial per row; document 000 picked among 90 per row), and its train loss,
# validation loss and test AUC with a 95% patient-bootstrap confidence interval, then recall, F1 and
# precision of the positive class (pneumonia) at the Youden threshold chosen on the validation
# predictions. Document 000's columns are the same except that its task has 15 classes (macro recall
# and F1, the precision of "No Finding").
#
# **Published numbers.** Document 000's Tables 2-6 (`d000_table2` ... `d000_table6`) are not
# transcribed in `cxrlib.published` yet; the cell below looks them up and places any transcribed one
# beside ours, so the table and the figure gain the published columns once the CSV files exist.

# %%
table_ids = [f"d000_table{n}" for n in range(2, 7)]
theirs = {}
for table_id in table_ids:
    try:
        theirs[table_id] = published.load(table_id)
    except KeyError:
        pass
missing = [t for t in table_ids if t not in theirs]
published_note = (f"published {', '.join(missing)}: not transcribed in cxrlib.published yet, our numbers only"
                  if missing else "published Tables 2-6 below ours")
print(published_note)

# %% tags=["remove-output"]
ours, _, _ = sweeps.sweep_table(study, sweep, n_boot=n_boot)
if "lr" in ours and ours["lr"].nunique() == 1:  # one learning rate: a constant column says nothing
    ours = ours.drop(columns=["lr"])
run.table(ours, "sweep_d000_layout",
          f"Classroom analogue of document 000's Tables 2-6 (layout only: Kermany binary task, not NIH 15-class): "
          f"best trial by validation loss per backbone and number of unfrozen blocks, test AUC with a 95% "
          f"patient-bootstrap CI ({n_boot} redraws); {published_note}")

# %% [markdown]
# Any transcribed published table, as published (none yet):

# %%
for table_id, table in theirs.items():
    run.table(table.frame, f"{table_id}_published", f"Document 000, {table_id} as published ({table.citation.strip()})")

# %% [markdown]
# ## Test AUROC against unfrozen blocks
#
# One line per backbone: the test AUROC of each row of the table, with its confidence interval. The
# x-axis is the number of unfrozen blocks ("all": every block trains).

# %% tags=["remove-output"]
def _order(value):
    return (1, 0) if str(value) == "all" else (0, float(value))


fig, ax = plt.subplots(figsize=(6, 3.6))
for backbone, rows in ours.groupby("backbone", sort=False):
    rows = rows.sort_values("unfrozen_blocks", key=lambda s: s.map(_order))
    x = [str(v) for v in rows["unfrozen_blocks"]]
    y = rows["Test AUC"].to_numpy(float)
    low = rows["Test AUC CI low"].to_numpy(float)
    high = rows["Test AUC CI high"].to_numpy(float)
    line, = ax.plot(x, y, marker="o", label=f"{backbone} (ours)")
    ok = np.isfinite(low) & np.isfinite(high)
    if ok.any():
        ax.errorbar(np.array(x)[ok], y[ok], yerr=[y[ok] - low[ok], high[ok] - y[ok]], fmt="none",
                    ecolor=line.get_color(), capsize=3)
for table_id, table in theirs.items():
    frame = table.frame
    if {"unfrozen", "test_auc"} <= set(frame.columns):
        ax.plot([str(v).rstrip("*") for v in frame["unfrozen"]], frame["test_auc"], ls="--", marker="x",
                label=f"{table_id} (published, NIH)")
ax.axhline(0.5, color="grey", lw=0.8, ls=":")
ax.set_xlabel("unfrozen blocks")
ax.set_ylabel("test AUROC")
ax.legend(fontsize=8)
ax.set_title("classroom sweep" + (" (SMOKE sizes)" if sweep_smoke else ""))
fig.tight_layout()
run.figure(fig, "sweep_auroc_by_blocks",
           f"Test AUROC (95% patient-bootstrap CI) against the number of unfrozen blocks, per backbone: ours "
           f"(classroom analogue); {published_note}")
plt.show()

# %% [markdown]
# ## Summary
# - A grid is data: the sweep file names the protocol, the axes, the selection rule and the table; a
#   trial is an ordinary run folder, so a sweep can stop and resume and its runs can be read by any
#   other notebook.
# - The table is built from the finished trials by the same code as `cxrlib sweep table` (best trial
#   per row by validation loss, bootstrap CIs from the saved predictions).
# - With random weights, 32 px images and two epochs these numbers show the layout and the machinery;
#   they say nothing about document 000's backbones. Its Tables 2-6 stand beside ours for the layout; their
#   numbers come from another task (NIH, 15 classes), pretrained weights and 224 px, so no cell compares.
#
# ## Exercises
# 1. Add a learning rate to the grid (`lr: [1.0e-3, 1.0e-2]`, in a copy of the sweep file, passed as
#    `-p sweep_file ...`) and re-run with the same `out_dir`: which trials run, and which are read from
#    the journal? Does the best learning rate depend on the number of unfrozen blocks?
# 2. Run the same file from the command line with two workers (`cxrlib sweep run FILE --workers 2`) and
#    compare the wall time with this notebook's single worker. Why does it not halve?
# 3. Document 000 chose each row's hyper-parameters by validation loss and marked the best row by test
#    AUC. With the confidence intervals above, are the rows distinguishable? How many test images would
#    make a difference of 0.02 in AUROC visible?
# 4. From random weights, does unfreezing more blocks help or hurt in the table above (read the
#    intervals)? With pre-trained weights (`python -m cxrlib.models fetch convnextv2_atto`, `weights:
#    auto` and 64 px in a copy of the file), what would you expect to change, and why?

# %%
run.finish()

# %% [markdown]
# ## What's next
# [Building the book](/book/developers.md) explains how every notebook, this one included, becomes a
# chapter with provenance; the [sweeps chapter](/book/sweeps.md) runs the full grids of document 000
# (`params/sweeps/d000_table2_*.yaml` ... `d000_table6_*.yaml`) on a cluster.
