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
# # Notebook 05: what the networks look at
#
# ## Overview
# An AUROC says how often a model ranks a sick patient above a healthy one; it does not say which
# mistakes it makes, whether its features separate the classes, or which pixels drove a decision.
# Document 000 answers these with confusion matrices (its Fig. 3), t-SNE maps of the features (Fig. 4)
# and Grad-CAM heat maps (Fig. 5); document 002 with t-SNE per pre-training checkpoint (Fig. 3) and
# Grad-CAM on correct and failed cases (Figs. 4-5). Both *look* at the heat maps. This notebook also
# *tests* them:
#
# - the **model-randomisation sanity check** (Adebayo et al., 2018): re-initialise the network's
#   weights from the head down and measure how much the maps change; a method whose maps survive the
#   destruction of the model is explaining the image, not the model;
# - **localisation against radiologists' boxes** (the NIH box list): does the heat map's peak fall in
#   the box (pointing game), and how much of its mass does (energy in the box)?
#
# It reads the fine-tuning run folder(s) of notebook 03 (`finetune_dir`, and `compare_dir` for a second
# run beside it) and the self-supervised checkpoints of notebook 02 (`pretrain_dir`); it trains nothing.
#
# ## Prerequisites
# - notebooks 02 and 03 (their output folders are the inputs here);
# - a convolutional network's feature maps and a vision transformer's tokens; back-propagation;
# - the ROC curve and bootstrap confidence intervals (notebook 04).

# %% tags=["parameters"]
out_dir = "out/05_explain"
profile = "classroom"
seed = 0
data_root = None
finetune_dir = "book/_generated/03_finetune"
compare_dir = None
pretrain_dir = "book/_generated/02_pretrain"
cache_dir = None
device = "cpu"
gradcam_class = None
cases_per_kind = 2
batch_size = 32
tsne_images = 200
tsne_perplexity = 30.0
gradcam_min_grid = 8
sanity_images = 8
sanity_alpha = 0.05
box_transfer_folder = "images-256"
max_box_images = 64
gradcam_backbones = ["dinov2_vits14", "dino_vits16", "convnextv2_atto", "resnet18", "chexnet_densenet121"]
cpu_threads = 1
n_boot = 1000

# %%
from cxrlib.core.params import validate_params

params = validate_params(globals(), "05_explain", rules={
    "data_root": "str|None", "finetune_dir": "str nonempty", "compare_dir": "str|None",
    "pretrain_dir": "str|None", "gradcam_class": "str|None", "cases_per_kind": ">=1", "tsne_images": ">=10",
    "tsne_perplexity": ">0", "sanity_images": ">=1", "sanity_alpha": ">0 <1",
    "gradcam_min_grid": ">=1",
    "box_transfer_folder": "str|None", "max_box_images": "int|None >=1",
    "gradcam_backbones": "list in:backbone", "cpu_threads": "int|None >=1",
})

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

from cxrlib.book.artifacts import RunArtifacts
from cxrlib.chapters import explain as chapter
from cxrlib.data.nih import patient_of_image
from cxrlib.explain import boxes as box_list
from cxrlib.explain import gradcam, sanity
from cxrlib.explain.runs import choose_cases, confusion, read_run, resolve_class
from cxrlib.images.preprocess import preprocess_config
from cxrlib.models import build_classifier
from cxrlib.stats import localisation
from cxrlib.training.common import resolve_device, size_kwargs

torch.manual_seed(seed)
if cpu_threads:  # one thread: on a shared 2-core machine, more threads wait on each other (t-SNE 10x slower)
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(cpu_threads)
    thread_limits = threadpool_limits(cpu_threads)
runs = [read_run(finetune_dir)] + ([read_run(compare_dir)] if compare_dir else [])
main = runs[0]
class_index = resolve_class(main.task, gradcam_class)
class_name = main.task.classes[class_index]
for other in runs[1:]:
    if other.task.name != main.task.name:
        raise ValueError(f"compare_dir's task {other.task.name} is not finetune_dir's task {main.task.name}: "
                         "the runs must classify the same test images")
dev = resolve_device(device)
models = {r.name: r.load_model().to(dev).eval() for r in runs}
layers = {r.name: gradcam.choose_layer(models[r.name], r.image_size, min_grid=gradcam_min_grid) for r in runs}
for r in runs:
    print(f"{r.name}: {r.task.name}, {r.image_size} px, weights: {r.weights_label}; Grad-CAM layer "
          f"{layers[r.name].text()}; did it learn? {r.learning.label if r.learning else 'not checked'}")

sizes = sorted({r.image_size for r in runs})
run = RunArtifacts(
    out_dir, notebook="05_explain",
    params={**params, "gradcam_class": class_name, "runs": {r.name: r.params for r in runs}},
    context=dict(dataset=main.task.dataset, split=f"{main.task.split} (test part)",
                 image_size=" / ".join(f"{s} px" for s in sizes),
                 weights="; ".join(f"{r.name}: {r.weights_label}" for r in runs), profile=profile, seed=seed,
                 runs=", ".join(str(r.folder.name) for r in runs)),
)
checkpoint_ids = chapter.record_checkpoints(run, runs)
test = chapter.run_test_images(main, data_root)
run.table(chapter.run_summary(runs).assign(gradcam_layer=[layers[r.name].text() for r in runs]), "ex_runs",
          "The fine-tuning runs explained here (from notebook 03's run folders), their \"did it learn?\" check "
          f"(learning.json) and the Grad-CAM layer of each (the deepest with at least a {gradcam_min_grid} x "
          f"{gradcam_min_grid} grid at the run's image size)", float_format="{:.0f}")

# %% [markdown]
# Did each model learn? Notebook 03 recorded its check in the run folder (`learning.json`); the explanations
# of a model that did not learn are a pipeline demo, and every reading below says so.

# %% tags=["remove-output"]
run.text(chapter.learning_text(runs), "ex_learned")

# %% [markdown]
# ## Confusion matrices (document 000, Fig. 3)
#
# Rows are the true classes, columns the predicted ones. A binary task predicts the positive class
# above the Youden threshold chosen on the *validation* predictions (as notebook 03 does); a
# single-label task predicts the most probable class. The left panel counts images, the right one
# divides each row by its total, so that a rare class's recall is as visible as a common one's.
# When a run is one of document 000's two (DINOv2 ViT-S/14 or CheXNet DenseNet-121 on the 15-class
# NIH task), the published matrix is drawn under ours.

# %% tags=["remove-output"]
matrices, rules = {}, {}
for r in runs:
    matrices[r.name], rules[r.name] = confusion(r)
ours_d000 = None
for r in runs:
    if r.task.name == "nih15_single_label" and r.backbone in chapter.D000_FIG3_MODELS:
        published_name = chapter.D000_FIG3_MODELS[r.backbone]
        matrices[f"document 000: {published_name}"] = chapter.published_fig3(published_name)
        ours_d000 = ours_d000 or (r.name, matrices[r.name])
fig = chapter.plot_confusions(matrices)
run.figure(fig, "ex_confusion", "Test confusion matrices, counts and percent of each true class (prediction: "
           + "; ".join(f"{k}: {v}" for k, v in rules.items()) + ")"
           + ("; document 000's published counts below ours" if ours_d000 else ""))
plt.show()

# %%
run.table(chapter.confusion_long({k: v for k, v in matrices.items() if k in rules}), "ex_confusion_counts",
          "The same confusion matrices as a table (row_share: share of the true class)")

# %% [markdown]
# ### Beside document 000's Fig. 3
#
# What the published matrices show, in numbers read from the transcribed counts:

# %% tags=["remove-output"]
run.text(chapter.fig3_reading(), "ex_fig3_reading", dataset="NIH ChestX-ray14, 15-class single-label task (document 000)",
         split="document 000's test split", image_size="224 px (document 000)",
         weights="document 000's fine-tuned DINOv2 ViT-S/14 and CheXNet (published counts, not our run)",
         profile="published", seed="not stated")

# %% [markdown]
# Document 000 printed its two matrices as counts (transcribed into `cxrlib/published/d000_fig3.csv`;
# every row adds up to the class's test count of its Table 1). The table gives each class's true
# positives and recall for both published models, and ours beside them when the run is document
# 000's task; otherwise the columns of ours are absent, because a matrix of another task cannot be
# compared class by class.

# %% tags=["remove-output"]
fig3 = chapter.fig3_recall_table(ours_d000[1], our_name=ours_d000[0]) if ours_d000 else chapter.fig3_recall_table()
run.table(fig3, "d000_fig3", "Document 000, Fig. 3 (published test counts, 15-class NIH task): true positives and "
          "recall per class of DINOv2 ViT-S/14 and CheXNet"
          + (f", and ours ({ours_d000[0]})" if ours_d000 else "; our run is another task, so no column of ours"),
          float_format="{:.3f}")

# %% [markdown]
# ## t-SNE of the test features (document 000, Fig. 4; document 002, Fig. 3)
#
# t-SNE places every test image in the plane so that images with similar pooled features (the
# backbone's output before the head) tend to be neighbours. The colours are the true classes, which
# t-SNE never sees. Side by side: each fine-tuned run, and the self-supervised checkpoint of notebook 02
# (its last epoch on the largest pool) with the same backbone from random weights as the baseline.
# The features go through the feature cache (`cxrlib.training.features`), so a re-run with the same
# images and weights reads them back. All maps use the same seed and perplexity (stated in the
# caption); distances *between* clusters and cluster sizes mean little (see the chapter).

# %% tags=["remove-output"]
sample = chapter.stratified_sample(test, tsne_images, seed=seed)
feature_dir = Path(cache_dir) / "features" if cache_dir else run.out_dir / "features"
sources = chapter.feature_sources(runs, models, checkpoint_ids, pretrain_dir, seed=seed)
panels, perplexities = {}, set()
class_rows = [("by class", sample["label"].to_numpy(), list(main.task.classes))]
if main.task.report_class:
    target = main.task.classes.index(main.task.report_class)
    class_rows.append((f"{main.task.report_class} vs rest", (sample["label"].to_numpy() == target).astype(int),
                       ["has findings", main.task.report_class]))
for title, backbone, weights_id, preprocess, size in sources:
    x, _ = chapter.load_inputs(sample["path"].tolist(), preprocess, size, cache_dir)
    features = chapter.backbone_features(backbone, x, cache_dir=feature_dir, weights_id=weights_id,
                                         image_ids=sample["image_id"].tolist(), preprocess=preprocess,
                                         image_size=size, device=device)
    xy, used = chapter.tsne(features, seed=seed, perplexity=tsne_perplexity)
    perplexities.add(used)
    for row_title, labels, names in class_rows:
        panels[(row_title, title)] = (xy, labels, names)
fig = chapter.plot_tsne(panels)
run.figure(fig, "ex_tsne", f"t-SNE of pooled backbone features of {len(sample)} test images (class-stratified "
           f"sample, seed {seed}; standardised, PCA to at most 50 dimensions, perplexity "
           f"{', '.join(f'{p:g}' for p in sorted(perplexities))}); colour = true class. Panels: "
           + "; ".join(s[0] for s in sources))
plt.show()

# %% [markdown]
# ## Grad-CAM on cases chosen by rule
#
# Grad-CAM weights each channel of a late feature map by the average gradient of the class score
# and keeps the positive part of the weighted sum (the equation is in the chapter). The feature map is
# the deepest whose grid is at least `gradcam_min_grid` cells a side at the run's image size
# (`cxrlib.explain.gradcam.choose_layer`, the same rule for every backbone): the last stage of a CNN has
# stride 32, a 2 x 2 grid at 64 px, which can only point at a quadrant. The images are
# not picked by eye: for the class `gradcam_class` (default: the positive class of a binary task),
# the `cases_per_kind` most confident **true positives**, **false positives** (highest probability)
# and **false negatives** (lowest probability), under the decision rule of the confusion matrix. Every
# run explains the same images; each map is normalised to its own maximum.

# %% tags=["remove-output"]
cases = choose_cases(main, class_index, per_kind=cases_per_kind).merge(test[["image_id", "path"]], on="image_id")
display_x, display_images = chapter.load_inputs(cases["path"].tolist(), main.params["preprocess"], main.image_size, cache_dir)
overlays = {}
for r in runs:
    x, _ = chapter.load_inputs(cases["path"].tolist(), r.params["preprocess"], r.image_size, cache_dir)
    maps = gradcam.explain_batches(models[r.name], x.to(dev), class_index, "Grad-CAM", batch_size,
                                   layer=layers[r.name].path)
    if maps.shape[-1] != main.image_size:
        maps = torch.nn.functional.interpolate(torch.from_numpy(maps)[:, None], size=(main.image_size,) * 2,
                                               mode="bilinear", align_corners=False)[:, 0].numpy()
    overlays[f"Grad-CAM {r.name}"] = gradcam.normalise_maps(maps)
titles = [f"{c.kind}\n{c.label_name} -> {c.predicted}\np({class_name}) = {c.prob:.2f}" for c in cases.itertuples()]
fig = chapter.plot_overlays(display_images, overlays, titles)
run.figure(fig, "ex_gradcam", f"Grad-CAM of the class '{class_name}' on the test images chosen by rule (the "
           f"{cases_per_kind} most confident true positives, false positives and false negatives); top row: the "
           "preprocessed radiograph; each map normalised to its maximum; layers: "
           + "; ".join(f"{k}: {v.text()}" for k, v in layers.items()))
plt.show()

# %%
run.table(cases.drop(columns=["path"]), "ex_gradcam_cases", f"The images of the Grad-CAM figure: kind, true and "
          f"predicted class, probability of '{class_name}'")

# %% [markdown]
# ### Every backbone family of the registry
#
# The registry names a Grad-CAM layer per backbone; the rule above picks, among it and the outputs of
# the row's blocks, the deepest with a grid of at least `gradcam_min_grid` cells a side (or the largest
# grid there is). For the CNNs the layer's output is already a grid;
# for the ViTs it is a token sequence, turned into the patch grid after dropping the model's own prefix
# tokens (the patch grid is the same at every depth, so a ViT keeps the registry's layer). The table builds
# the registry rows of `gradcam_backbones` (the classroom lists one or two per
# family, the small ones; the tests build every row) with random weights at a small size, runs one batch
# through Grad-CAM, and shows the layers, the output and the map; the last column says what
# pytorch-grad-cam's default ViT reshape (one prefix token, a 14 x 14 grid) would do at the row's
# native 224 px.

# %% tags=["remove-output"]
if gradcam_backbones:
    families = chapter.registry_gradcam_table(gradcam_backbones, seed=seed, min_grid=gradcam_min_grid)
    run.table(families, "ex_gradcam_registry", "Grad-CAM on every registry backbone (random weights, two random "
              "inputs, one forward and one backward pass): the registry's layer, the layer the rule picks (the deepest "
              f"with at least a {gradcam_min_grid} x {gradcam_min_grid} grid), its output, the map grid",
              weights="none (random initialisation: a check of shapes, not of explanations)",
              image_size="64 px for CNNs, 4 x 4 patches for ViTs")

# %% [markdown]
# ## Sanity check: do the maps depend on the weights? (Adebayo et al., 2018)
#
# Starting from the trained network of `finetune_dir`, the weights are re-initialised level by level
# from the output down (the head, then the last block, ..., then the stem; the cascade of the
# registry's blocks), and the maps of the same images are computed again after each level. The
# curve is the Spearman rank correlation between each map and the trained network's map of the
# same image (mean over images; band: min to max). Two methods: Grad-CAM and the plain input gradient.
#
# The verdict follows the paper's own criterion, "the maps should change", with a yardstick that is not
# a fixed number: how similar are the trained maps of *other* images (dotted line)? Chest radiographs
# share their outline, so unrelated maps correlate too. Once every layer is random, a method whose maps
# still resemble the same image's trained map more than other images' (one-sided permutation test over
# re-pairings of the images, level `sanity_alpha`) is **flagged**: it shows the image, not what the
# network learned. With too few images for any p-value to reach `sanity_alpha` the verdict is "cannot tell".

# %% tags=["remove-output"]
extra = sample[~sample["image_id"].isin(cases["image_id"])].head(max(0, sanity_images - len(cases)))
sanity_rows = pd.concat([cases[["image_id", "path"]], extra[["image_id", "path"]]]).head(sanity_images)
sx, sanity_grey = chapter.load_inputs(sanity_rows["path"].tolist(), main.params["preprocess"], main.image_size, cache_dir)
trained = models[main.name]
fresh = build_classifier(main.backbone, main.task.n_outputs, head=main.params.get("head", "d000"),
                         dropout=main.params.get("dropout", 0.0), weights="none", seed=seed + 1,
                         **size_kwargs(main.backbone, main.image_size)).to(dev).eval()
levels = sanity.classifier_levels(trained)
long, sanity_maps = sanity.cascading_randomisation(trained, fresh, sx.to(dev), class_index, levels,
                                                   layer=layers[main.name].path)
summary = sanity.sanity_summary(long, sanity_maps, alpha=sanity_alpha, seed=seed)
run.table(summary, "ex_sanity", f"Model randomisation of {main.name}, cascading from the head: Spearman correlation "
          f"of the maps of class '{class_name}' with the same image's trained map ({len(sanity_rows)} test images: "
          "mean, min, max), with other images' trained maps (unrelated: the level of maps that changed completely) and "
          "the one-sided permutation p-value of same image against re-paired images; verdict at full randomisation "
          f"(Adebayo et al. 2018: the maps should change; flagged if p <= {sanity_alpha:g}). Grad-CAM layer: "
          f"{layers[main.name].text()}")
run.text(chapter.sanity_reading(summary, main, alpha=sanity_alpha), "ex_sanity_reading")
fig = chapter.plot_sanity_curve(summary, title=f"{main.name}: cascading randomisation")
run.figure(fig, "ex_sanity_curve", f"Spearman correlation with the trained maps as the weights of {main.name} are "
           f"re-initialised from the head down ({len(sanity_rows)} test images; band: min-max; dotted: mean correlation "
           f"with other images' trained maps). Grad-CAM layer: {layers[main.name].text()}")
plt.show()

# %% tags=["remove-output"]
fig = chapter.plot_sanity_maps(sanity_grey[0], sanity_maps, ["trained", *[lv.label for lv in levels]])
run.figure(fig, "ex_sanity_maps", f"One test image's maps ({sanity_rows['image_id'].iloc[0]}) from the trained "
           f"{main.name} and after re-initialising down to the level named (each normalised to its maximum)")
plt.show()

# %% [markdown]
# ## Localisation against radiologists' boxes
#
# The NIH box list holds 984 boxes drawn by radiologists for 8 findings, all on images of the
# official test list, in the pixels of the 1024 x 1024 originals; they are scaled to the model's
# input size (`cxrlib.stats.localisation.rescale_box`). For each boxed image and the class of its
# box, Grad-CAM gives a map, and two scores: the **pointing game** (is the map's maximum inside
# the box?) and the **energy in the box** (the share of the map's mass inside it). A uniform map
# scores the box's share of the image on both, which the tables give as the chance level.
#
# First, the scores on constructed maps whose answers are known: a check of the scoring code that
# the reader can see.

# %% tags=["remove-output"]
names, known_maps, known_boxes = chapter.known_answer_cases()
known = pd.concat([names, localisation.localisation_scores(known_maps, known_boxes)], axis=1)
run.table(known, "ex_localisation_check", "Pointing game and energy in the box on constructed 64 x 64 maps with a "
          "16 x 16 box: a bump inside the box (expected: hit, energy near 1), the same bump outside (miss, near 0), "
          "a uniform map (energy = box share) and an empty map (miss, 0)",
          dataset="constructed maps (no images)", split="none", weights="none", image_size="64 px")

# %% [markdown]
# Then the runs. A run scores on its own test images when they carry boxes of its classes (document
# 000's NIH task does). The Kermany task of the classroom run has none: its images are children's
# radiographs from another hospital. With `box_transfer_folder` set, the notebook then scores the run
# on the NIH images in that folder that have a box of one of its classes (out of domain for a model
# trained on Kermany: a demonstration of the method, not a finding) and says so in every caption.

# %% tags=["remove-output"]
all_boxes = box_list.read_nih_boxes()
on_test = box_list.boxes_for_classes(all_boxes, main.task.classes, test["image_id"])
source_note, box_rows = "the run's own test images", on_test.merge(test[["image_id", "path"]], on="image_id")
in_domain = True
if box_rows.empty and box_transfer_folder:
    from cxrlib.data.root import data_root as resolve_root

    folder = resolve_root(data_root or main.params.get("data_root")) / "nih-cxr14" / box_transfer_folder
    present = {p.name for p in folder.glob("*.png")} if folder.is_dir() else set()
    box_rows = box_list.boxes_for_classes(all_boxes, main.task.classes, present)
    box_rows = box_rows.assign(path=[str(folder / i) for i in box_rows["image_id"]])
    source_note = f"NIH images in nih-cxr14/{box_transfer_folder} (OUT OF DOMAIN for a {main.task.name} run)"
    in_domain = False
if max_box_images is not None and len(box_rows) > max_box_images:
    box_rows = box_rows.sample(max_box_images, random_state=seed).sort_index()
counts = chapter.box_counts(all_boxes, test["image_id"], box_rows, main.task.classes)
print(f"{len(on_test)} boxes on the run's test images; scored: {len(box_rows)} from {source_note}")
run.table(counts, "ex_boxes", f"NIH boxes per finding: in the box list, on the test images of {main.name}, and "
          f"scored below (source: {source_note})", float_format="{:.0f}")

# %% tags=["remove-output"]
box_dataset = "NIH ChestX-ray14 box list (BBox_List_2017) on " + source_note
rows, shown = [], {}
for r in runs:
    if box_rows.empty:
        rows.append(localisation.localisation_summary(localisation.localisation_scores([], []), n_boot=n_boot, seed=seed)
                    .assign(run=r.name, source=source_note))
        continue
    x, grey = chapter.load_inputs(box_rows["path"].tolist(), r.params["preprocess"], r.image_size, cache_dir)
    targets = [r.task.classes.index(c) for c in box_rows["class"]]
    maps = gradcam.explain_batches(models[r.name], x.to(dev), targets, "Grad-CAM", batch_size,
                                   layer=layers[r.name].path)
    pad = "pad_square" in preprocess_config(r.params["preprocess"], r.image_size).steps
    scaled = [localisation.rescale_box(b, localisation.NIH_BOX_SPACE, r.image_size, pad_square=pad)
              for b in box_rows[["x", "y", "w", "h"]].to_numpy()]
    scores = localisation.localisation_scores(maps, scaled)
    patients = box_rows["image_id"].map(patient_of_image).to_numpy()
    rows.append(localisation.localisation_summary(scores, n_boot=n_boot, seed=seed, groups=patients)
                .assign(run=r.name, source=source_note))
    shown[r.name] = (grey, gradcam.normalise_maps(maps), scaled)
local = pd.concat(rows, ignore_index=True)[["run", "metric", "estimate", "ci_low", "ci_high", "n", "interval", "source"]]
run.table(local, "ex_localisation", f"Grad-CAM against the radiologists' boxes: pointing-game hit rate (95% exact "
          f"binomial CI, Clopper-Pearson), mean energy in the box and the chance level (95% bootstrap CIs over patients, "
          f"{n_boot} redraws); n = boxes scored"
          + ("" if len(box_rows) else " (none: no boxed images for this task)"),
          dataset=box_dataset, split="official test list (the boxes are on test images)")
run.text("\n\n".join(chapter.localisation_reading(local, r, source=source_note, in_domain=in_domain) for r in runs),
         "ex_localisation_reading", dataset=box_dataset, split="official test list (the boxes are on test images)")

# %% tags=["remove-output"]
first = next(iter(shown.values()), None)
fig = chapter.plot_overlays(first[0][:8] if first else [], {f"Grad-CAM {k}": v[1][:8] for k, v in shown.items()},
                            [f"{c.image_id}\n{c.finding}" for c in box_rows.head(8).itertuples()],
                            boxes=first[2][:8] if first else None)
run.figure(fig, "ex_localisation_maps", "Grad-CAM of the boxed finding's class with the radiologist's box (green), "
           "at most 8 of the scored images", dataset=box_dataset, split="official test list (the boxes are on test images)")
plt.show()

# %% [markdown]
# ## Summary
# - Confusion matrices show *which* mistakes a model makes; row percentages keep rare classes
#   visible. Document 000's published counts sit beside ours when the run is its task.
# - t-SNE maps are pictures of neighbourhoods, drawn with a stated seed and perplexity; they do not
#   measure distances between clusters.
# - Grad-CAM runs on every backbone of the registry; for ViTs the token-to-grid reshape follows the
#   model's own prefix tokens and patch grid.
# - Heat maps are tested, not only drawn: the model-randomisation check says whether they depend on
#   the learned weights, and the NIH boxes say whether they point at the finding. A classroom run on
#   Kermany images has no boxes of its own: the notebook says so rather than inventing a number.
#
# ## Exercises
# 1. Re-run with `-p cases_per_kind 4`. Do the false positives share a pattern (markers, text, the
#    edge of the image)? What would you check next to tell a shortcut from a finding?
# 2. Change `tsne_perplexity` to 5 and to 50 (seed fixed), then the seed (perplexity fixed). Which
#    features of the picture survive both changes? Only those deserve a sentence in a paper.
# 3. In the sanity check, at which level does each method's curve first reach the level of other
#    images' maps (the dotted line; p-value above `sanity_alpha`)? Why does the input gradient of a
#    random network still look like a chest X-ray?
# 4. In the localisation table, compare the hit rate with the chance level and read the width of
#    the CI. How many boxed images would you need to tell a hit rate of 0.5 from 0.4?

# %%
run.finish()

# %% [markdown]
# ## What's next
# [Is the self-supervised backbone any good?](/book/linear_probe.md) (notebook 06) measures what
# pre-training put into the features with a linear probe, and fine-tunes from the checkpoint.
