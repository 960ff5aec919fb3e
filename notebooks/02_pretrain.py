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
# # Notebook 02: contrastive pre-training on unlabeled chest X-rays
#
# ## Overview
# Labels are the expensive part of medical imaging; unlabeled radiographs are plentiful. Contrastive
# self-supervised learning trains a backbone without labels: two random *views* of the same radiograph
# should map to nearby points, views of different radiographs to distant ones. Document 002 pre-trains
# a wide ResNet-50 this way (SimCLR) on CheXpert and then fits a logistic regression on the frozen
# features; document 004 pre-trains a ResNet18 with MoCo v2 and SimCLR and then fine-tunes it.
#
# This notebook pre-trains one backbone on the **unlabeled pool**: the training images of the Kermany
# pediatric set (labels dropped), the NIH sample and the COVID-19 collection, never a test image or an
# image of a test patient. It repeats the run on 100 %, 10 % and 1 % of the pool's patients (document
# 002's pretext fractions), saves a checkpoint every few epochs (notebook 06 measures how useful each
# one is), and compares augmentation policies, because document 004 found that the wrong policy makes
# pre-training harmful. With no parameter it is the classroom run: small images, a capped pool and a
# few epochs, a few minutes on a laptop CPU. The `params/paper/` files hold documents 002 and 004's
# protocols for a GPU.
#
# ## Prerequisites
# - the softmax and the cross-entropy loss; cosine similarity;
# - a training loop (loss, gradient, optimiser step, epoch);
# - the data sets and patient-disjoint splits of notebook 01.
#
# Re-running with the same `out_dir` resumes every run after its last finished epoch.

# %% tags=["parameters"]
out_dir = "out/02_pretrain"
profile = "classroom"
seed = 0
data_root = None
method = "simclr"
backbone = "resnet18"
weights = "none"
weights_dir = None
pool_sources = ["kermany", "nih_sample", "covid"]
pool_fractions = [1.0, 0.1, 0.01]
pool_max_images = 3000
equal_steps = True
compare_epoch = 1
preprocess = "classroom"
image_size = 64
policy = "mild_intensity"
head = None
temperature = 0.1
queue_size = None
encoder_momentum = None
optimizer = "adam"
lr = 1e-3
weight_decay = 0.0
epochs = 2
batch_size = 32
checkpoint_every = 1
keep_state = False
precision = "32"
device = "auto"
num_workers = 0
progress = "epoch"
cache_dir = None
compare_policies = ["d002_simclr", "d004_simclr"]
compare_epochs = 2
compare_max_images = 256

# %%
from cxrlib.core.params import validate_params

validate_params(globals(), "02_pretrain", rules={
    "pool_sources": "nonempty in:pool_source", "pool_fractions": "nonempty >0 <=1", "pool_max_images": "int|None >=2",
    "equal_steps": "bool", "compare_epoch": "int|None >=1", "image_size": ">=16", "head": "str|None in:projection_head", "temperature": "float|None >0",
    "queue_size": "int|None >=1", "encoder_momentum": "float|None >=0 <=1", "batch_size": ">=2",
    "checkpoint_every": ">=1", "precision": "in:cxrlib.training.common:PRECISIONS", "compare_epochs": ">=1",
    "compare_max_images": ">=2", "compare_policies": "in:policy",
})

import matplotlib.pyplot as plt
import pandas as pd
import torch

from cxrlib.chapters import plots

from cxrlib.training import ssl
from cxrlib.book.artifacts import RunArtifacts
from cxrlib.images.augment import get_policy
from cxrlib.data.pool import SOURCE_DATA
from cxrlib.data.root import require
from cxrlib.images.preprocess import preprocess_config
from cxrlib.images.preprocess import PreprocessCache

config = ssl.PretrainConfig.from_namespace(globals())
spec = ssl.get_method(method)
capped = f", capped at {pool_max_images} images (whole patients)" if pool_max_images else ""
run = RunArtifacts(
    out_dir, notebook="02_pretrain", params=config.to_dict(),
    context=dict(dataset=f"unlabeled pool: {' + '.join(pool_sources)} (labels dropped){capped}",
                 split="train parts only; test images and test patients excluded", image_size=image_size,
                 weights=f"{backbone} from '{weights}', pre-trained with {spec.title}", profile=profile, seed=seed,
                 policy=policy, epochs=epochs, batch_size=batch_size),
)
print(spec.reference)
print(f"policy {get_policy(config.policy).describe()}")
print(f"head {config.head}, temperature {config.temperature}")

# %% [markdown]
# ## The unlabeled pool
#
# The pool takes each source's *training* part only and removes every image of a patient who has an
# image in that source's test part (the Kermany folders share patient numbers between train and test).
# A fraction keeps that share of each source's patients, drawn with the seed; the 1 % pool lies inside
# the 10 % pool, which lies inside the 100 % pool. The check that no test image or test patient is in
# the pool runs every time a pool is drawn.

# %% tags=["remove-output"]
pools = {f: ssl.pretext_pool(pool_sources, f, seed, data_root, pool_max_images) for f in pool_fractions}
for source in pool_sources:
    _ = run.record_data(source, require(SOURCE_DATA[source], data_root))
rows = [dict(fraction=ssl.fraction_label(f), source=name, **counts)
        for f, pool in pools.items() for name, counts in pool.attrs["counts"].items()]
pool_table = pd.DataFrame(rows)
run.table(pool_table, "ssl_pool", "The pre-training pool per pretext fraction and source: images and patients "
          f"(full pool before the cap: {pools[max(pools)].attrs['protocol']['full_pool_images']} images)",
          float_format="{:.0f}")

# %% [markdown]
# ## Two views of one radiograph
#
# A positive pair is one radiograph augmented twice. What the augmentation destroys, the network cannot
# use; what it keeps identical, the network may rely on. Document 004 (section 4.3) keeps every transform
# mild for MoCo v2 (`d004_moco`: small rotation, shift and scale, flip) and warns that blur, noise and
# strong crops erase findings; its SimCLR list crops strongly (`d004_simclr`); document 002 lists resized
# crop, flip, rotation, blur and colour jitter (`d002_simclr`). The classroom run uses `mild_intensity`, no
# document's list: document 004's mild geometry plus brightness and contrast jitter, because the grey levels of a
# radiograph vary with exposure and processing; on this pool it gave a higher linear-probe AUROC than the
# documents' lists in exploratory runs (one run each, no interval; `book/developers.md`, "The classroom
# pre-training").

# %% tags=["remove-output"]
cache = PreprocessCache(cache_dir, preprocess_config(preprocess, image_size))
example = cache.get(pools[max(pools)]["path"].iloc[0])
shown = list(dict.fromkeys([policy, *compare_policies]))
views, titles = [], []
for name in shown:
    for i, view in enumerate(ssl.sample_views(example, name, 6, seed)):
        views.append(view)
        titles.append(f"{name} #{i + 1}")
fig = plots.image_grid(views, titles, ncols=6, cell_inches=1.5)
run.figure(fig, "ssl_views", "Six random views of one pool radiograph under each augmentation policy "
           "(one row per policy); two such views form a positive pair")
plt.show()

# %% [markdown]
# ## The loss, re-derived
#
# For a batch of $B$ images SimCLR has $2B$ views $z_1, \dots, z_{2B}$; view $i$'s positive $j(i)$ is the
# other view of its image. With cosine similarity $s_{ik}$ and temperature $\tau$, NT-Xent is the
# cross-entropy of picking the positive among the $2B - 1$ other views:
#
# $$\ell_i = -\log \frac{\exp(s_{i,j(i)}/\tau)}{\sum_{k \ne i} \exp(s_{ik}/\tau)}, \qquad
#   \mathcal{L} = \frac{1}{2B} \sum_i \ell_i .$$
#
# MoCo's InfoNCE scores a query $q$ against its key $k_+$ and the $K$ keys $k_-$ of a queue:
# $\ell = -\log \frac{\exp(q \cdot k_+/\tau)}{\exp(q \cdot k_+/\tau) + \sum_{k_-} \exp(q \cdot k_-/\tau)}$.
# The next cell writes both in a few lines of torch and compares them with lightly's `NTXentLoss`, which
# the training uses, on the same random batch.

# %% tags=["remove-output"]
from lightly.loss import NTXentLoss


def nt_xent(z1, z2, tau):
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / tau
    sim.fill_diagonal_(float("-inf"))  # k != i
    n = len(z1)
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return torch.nn.functional.cross_entropy(sim, positive)


def info_nce(q, k, queue, tau):
    q, k = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(k, dim=1)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], dim=1) / tau
    return torch.nn.functional.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))


generator = torch.Generator().manual_seed(seed)
z1, z2 = torch.randn(8, 16, generator=generator), torch.randn(8, 16, generator=generator)
queue = torch.nn.functional.normalize(torch.randn(32, 16, generator=generator), dim=1)
moco_loss = NTXentLoss(temperature=0.2, memory_bank_size=(32, 16))
moco_loss.memory_bank.bank.copy_(queue)
check = pd.DataFrame([
    dict(loss="NT-Xent (SimCLR), tau 0.5", ours=float(nt_xent(z1, z2, 0.5)), lightly=float(NTXentLoss(0.5)(z1, z2))),
    dict(loss="InfoNCE (MoCo), tau 0.2, K 32", ours=float(info_nce(z1, z2, queue, 0.2)),
         lightly=float(moco_loss(z1, z2))),
]).assign(difference=lambda t: (t["ours"] - t["lightly"]).abs())
assert (check["difference"] < 1e-5).all()
run.table(check, "ssl_loss_check", "The contrastive losses written out in torch against lightly's NTXentLoss on "
          "the same random batch (B = 8, 16-d embeddings, seeded)", float_format="{:.6f}", dataset="random numbers",
          split="none", image_size="none", weights="none", policy=None, epochs=None, batch_size=None)  # no images, no training

# %% [markdown]
# ## Pre-training at 100 %, 10 % and 1 % of the pool
#
# Each fraction is a separate run. Document 002 gives every fraction the same epochs, so a smaller pool
# also takes far fewer optimisation steps, and the fraction is confounded with the length of training.
# Here (`equal_steps = True`) every smaller pool trains as many epochs as it needs for the optimisation
# steps of the largest (`ssl.runs.epochs_for_steps`): more epochs over fewer images, the same number of
# gradient updates (the `epochs` and `compared_steps` columns of the runs table; `equal_steps = False` is
# document 002's protocol). The pools are compared at the largest pool's checkpoint of epoch `compare_epoch`
# (`None`: its last); the largest pool may train on after it, because its last checkpoint is the encoder that
# notebook 06 probes and the later chapters fine-tune (notebook 06 probes every checkpoint of the largest pool,
# so each extra epoch is measured there), while the comparison of the pools only costs the steps it compares
# (the `steps` column: all the steps a run took). The dashed lines are the loss of embeddings that carry no
# information (all similarities equal: $\log(2B - 1)$ for SimCLR, $\log(K + 1)$ for MoCo), one per run:
# the loop batches $B = \min(\text{batch\_size}, \text{pool size})$ images, so a pool smaller than
# `batch_size` trains on smaller batches with fewer negatives and a lower chance level
# (`ssl.runs.run_chance_loss`; the `batch` and `chance_loss` columns of the runs table).

# %% tags=["remove-output"]
results = ssl.pretrain_fractions(config, pool_fractions, equal_steps=equal_steps, compare_epoch=compare_epoch)
compared = ssl.runs.compared_epochs(results, compare_epoch)
loss, index = ssl.runs.index_runs(
    out_dir, {ssl.runs.fraction_run_name(f): r for f, r in results.items()},
    {ssl.runs.fraction_run_name(f): {"fraction": f, "policy": policy, "compared_epoch": compared[f]} for f in results},
)
loss["pool"] = loss["fraction"].map(ssl.fraction_label)
chance = {ssl.fraction_label(f): ssl.runs.run_chance_loss(method, batch_size, len(r.pool), config.queue_size)
          for f, r in results.items()}
run_epochs = ", ".join(f"{ssl.fraction_label(f)} pool {int(r.loss['epoch'].max()) if len(r.loss) else 0} epochs / "
                       f"{int(r.loss['steps'].sum())} steps" for f, r in results.items())
fig = plots.loss_curves(loss, "pool", chance=chance, title=f"{spec.title} on {backbone}: mean batch loss per epoch")
run.figure(fig, "ssl_loss", f"{spec.title} pre-training loss per epoch at each pretext fraction (mean of the "
           "epoch's batches); dashed, in each run's colour: the loss of uninformative embeddings for the batch that run "
           f"had (B = min({batch_size}, pool size))", epochs=run_epochs)
plt.show()

# %% tags=["remove-output"]
summary = pd.DataFrame([
    dict(pool=ssl.fraction_label(f), images=len(r.pool), patients=int(r.pool["patient_id"].nunique()),
         batch=ssl.runs.effective_batch_size(batch_size, len(r.pool)), chance_loss=chance[ssl.fraction_label(f)],
         epochs=int(r.loss["epoch"].max()) if len(r.loss) else 0, steps=int(r.loss["steps"].sum()),
         compared_epoch=compared[f], compared_steps=int(r.loss.loc[r.loss["epoch"] <= compared[f], "steps"].sum()),
         first_loss=r.loss["loss"].iloc[0] if len(r.loss) else float("nan"),
         last_loss=r.loss["loss"].iloc[-1] if len(r.loss) else float("nan"),
         minutes=r.loss["seconds"].sum() / 60, checkpoints=len(r.checkpoints))
    for f, r in results.items()
])
summary["compared_steps_vs_largest"] = summary["compared_steps"] / summary["compared_steps"].iloc[0]
checks = {f: ssl.runs.encoder_learning_check(r) for f, r in results.items() if len(r.loss)}
summary["learned"] = [checks[f].label if f in checks else "not run" for f in results]
run.table(summary, "ssl_runs", "The pre-training runs: pool size, the batch the run trained with (B = min(batch_size, "
          "pool size)) and its chance loss, epochs and optimisation steps; the checkpoint each pool is compared at "
          "(compared_epoch) and its steps (compared_steps, and as a share of the largest pool's: "
          f"{'equal steps: smaller pools train more epochs' if equal_steps else 'equal epochs'}), loss of the "
          "first and last epoch, time, checkpoints written (epoch 0 is the initialisation)", epochs=run_epochs)

# %% [markdown]
# Did each encoder learn? Pre-training has no labels, so the check is the contrastive loss against its
# chance level for the batch the run had; a run that fails it is not interpreted here or in notebook 06.

# %% tags=["remove-output"]
notes = []
for f, c in checks.items():
    head = f"**{ssl.fraction_label(f)} pool.** "
    notes.append(head + c.markdown() if c.learned else c.markdown().replace(":::{warning}\n", ":::{warning}\n" + head, 1))
run.text("\n\n".join(notes), "ssl_learned", epochs=run_epochs)

# %% [markdown]
# ## Does the augmentation policy matter?
#
# Short runs on a smaller pool that differ only in the policy. A loss that stays at its dashed line
# means the network found nothing that survives both views; that does not by itself say the features
# are useless downstream (notebook 06 measures that), but it is the first symptom of a policy that
# asks too much.

# %% tags=["remove-output"]
if compare_policies:
    policy_runs = ssl.compare_policies(config, [policy, *compare_policies], compare_epochs, compare_max_images)
    policy_loss = pd.concat([r.loss.assign(policy=name) for name, r in policy_runs.items()], ignore_index=True)
    policy_loss.to_csv(run.out_dir / "policy_loss.csv", index=False)
    policy_chance = {name: ssl.runs.run_chance_loss(method, batch_size, len(r.pool), config.queue_size)
                     for name, r in policy_runs.items()}
    fig = plots.loss_curves(policy_loss, "policy", chance=policy_chance, title=f"{spec.title}: loss per policy")
    run.figure(fig, "ssl_policy_loss", f"{spec.title} loss per epoch for each augmentation policy ({compare_epochs} "
               f"epochs on a {compare_max_images}-image pool, everything else equal)", epochs=compare_epochs,
               policy=", ".join(policy_runs), dataset=f"unlabeled pool: {' + '.join(pool_sources)} (labels dropped), "
               f"capped at {compare_max_images} images (whole patients)")
    plt.show()

# %% [markdown]
# ## The checkpoints
#
# Every checkpoint holds the backbone only (the projection head is discarded, as both documents do),
# with its provenance; any of them is a `weights` value for notebook 03 (`-p weights <file>`), for the
# linear probe of notebook 06, and for `cxrlib.models.create_backbone`. A run folder stands for its
# last checkpoint.

# %%
shown_index = index.assign(pool=index["fraction"].map(ssl.fraction_label))[["pool", "epoch", "path"]]
run.table(shown_index, "ssl_checkpoints", "Checkpoints written by this notebook (paths relative to its output folder)",
          float_format="{:.0f}")
run.finish()

# %% [markdown]
# ## Summary
# - Contrastive pre-training needs no labels: a positive pair is two views of one radiograph, the
#   negatives are the other radiographs of the batch (SimCLR) or a queue of earlier keys (MoCo).
# - NT-Xent and InfoNCE are a softmax cross-entropy over similarities; the few lines above give the
#   same values as lightly's implementation.
# - The pool never holds a test image or a test patient; fractions are drawn by patient and nested.
# - The loss curve alone does not say whether the features are useful: notebook 06 measures each
#   checkpoint on labelled tasks.
#
# ## Exercises
# 1. Run with `-p method moco_v2 -p queue_size 256`. Compare the first epoch's loss with MoCo's chance
#    level $\log(K+1)$. (Hint: lightly's queue starts as $K$ random unit vectors, not keys: how hard are
#    they as negatives, and what happens as real keys replace them?) Then compare the queue size $K$ with
#    the `images` column of the pre-training runs table: how many keys does each run produce in all its
#    epochs, and which runs ever replace all $K$ random vectors? What goes wrong when $K$ exceeds the pool
#    (`queue_size 1024` on the 100 % pool), so that an image's own key from an earlier epoch sits in the
#    queue as a negative?
# 2. Change `temperature` to 0.5 (document 002's) and 1.0. The dashed lines do not move: why does the loss of
#    uninformative embeddings not depend on $\tau$? What does change: the first epoch's loss, the lowest
#    loss the embeddings could reach, and the shape of the curve?
# 3. The classroom run uses `mild_intensity` views. Pre-train with `-p policy d002_simclr` for the same epochs
#    and probe both in notebook 06: does a loss near chance mean useless features?
# 4. Double `batch_size`. SimCLR's negatives come from the batch: what happens to the number of
#    negatives, the chance level and the time per epoch?

# %% [markdown]
# ## What's next
# [Transfer learning and partial unfreezing](/book/finetune.md) (notebook 03) fine-tunes a backbone on
# labelled images; any checkpoint written here is a `weights` value for it. The
# [linear probe](/book/linear_probe.md) (notebook 06) measures what these checkpoints learned.
