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
# # Notebook 01: counting the data sets
#
# ## Overview
# Before any model is trained, the documents disagree with each other, and sometimes with the data,
# about what their data sets contain. This chapter recomputes the documents' data-set tables from the
# metadata that ships with the data sets, shows them beside the published numbers, explains the
# differences, and looks at real images of each classroom data set.
#
# ## Prerequisites
# - pandas DataFrames (group-by, cross-tabulation);
# - the idea of a *patient-disjoint* split: no patient's images in two parts.
#
# The metadata of NIH ChestX-ray14, CheXpert, PadChest and VinDr-CXR comes from the `torchxrayvision`
# wheel; the official split lists and the images come from the data root (see the README).

# %% tags=["parameters"]
out_dir = "out/01_data"
profile = "classroom"
seed = 0
data_root = None
nih_metadata = None
val_fraction = 0.2
chexpert_selection = "authors-reconstructed"
examples_per_class = 4

# %% [markdown]
# ## Imports and run context

# %%
from cxrlib.core.params import validate_params

validate_params(globals(), "01_data", rules={
    "data_root": "str|None", "nih_metadata": "str|None", "val_fraction": ">0 <1",
    "chexpert_selection": "in:chexpert_selection", "examples_per_class": ">=1",
})

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from cxrlib.book.artifacts import RunArtifacts
from cxrlib.data import chexpert, covid, d000, d001, d004, nih, pediatric, splits
from cxrlib.data.metadata import shipped_path
from cxrlib.data.root import data_root as resolve_data_root, require_file
from cxrlib.chapters import plots
from cxrlib.images.preprocess import decode_image

root = resolve_data_root(data_root)
nih_metadata_file = nih_metadata or shipped_path("nih")
official_lists_file = require_file("nih-cxr14", "test_list.txt", root)  # absent: how to get the data set
run = RunArtifacts(
    out_dir,
    notebook="01_data",
    params=dict(profile=profile, seed=seed, data_root=str(root), nih_metadata=str(nih_metadata_file),
                val_fraction=val_fraction, chexpert_selection=chexpert_selection, examples_per_class=examples_per_class),
    context=dict(image_size="not applicable (counts from metadata)", weights="none (no model involved)",
                 profile=profile, seed=seed),
)
run.record_data("nih_metadata", nih_metadata_file)
run.record_data("nih_official_lists", official_lists_file)
print(f"data root: {root}\nNIH metadata: {nih_metadata_file}")

# %% [markdown]
# ## NIH ChestX-ray14 and its official split
#
# NIH released 112,120 frontal chest X-rays of 30,805 patients with 14 findings text-mined from the
# radiology reports, and an official split into `train_val` and `test` lists that keeps every patient
# on one side. Document 000 carves a validation part out of `train_val`; we do the same, by
# **patients** (seeded), so that no patient is in two parts. The CheXNet re-implementations use a
# different, random 70/10/20 split: we load it too, labelled as what it is, and check both for leakage.

# %% tags=["remove-output"]
meta = nih.load_metadata(nih_metadata_file)
official = nih.official_split(meta, root=root, val_fraction=val_fraction, seed=seed)
chexnet = nih.chexnet_split(meta, root=root)
leakage = pd.concat(
    [
        splits.leakage_report({p: meta.loc[official == p, "patient_id"] for p in nih.SPLIT_PARTS}).assign(split="nih-official"),
        splits.leakage_report({p: meta.loc[chexnet == p, "patient_id"] for p in nih.SPLIT_PARTS}).assign(split="chexnet-random"),
    ],
    ignore_index=True,
)[["split", "part_a", "part_b", "patients_a", "patients_b", "shared_patients"]]
run.table(
    leakage, "nih_leakage",
    "Patients shared between the parts of the two NIH splits (0 everywhere: no leakage)",
    dataset="NIH ChestX-ray14 metadata (all 112,120 images)",
    split=f"official lists + patient-disjoint val ({val_fraction:.0%} of train_val patients, seed {seed}); CheXNet random 70/10/20",
)
print(f"CheXNet lists disagree with the metadata on {chexnet.attrs['label_disagreements']} images (labels revised since 2017)")

# %% [markdown]
# ## Document 000, Table 1: the 15-class single-label subset
#
# Document 000 keeps the images with exactly one label, counting *No Finding* as a label: 15 classes.
# Each class gets the weight $W_c = n / (c \cdot n_c)$ on the training part ($n$ training images,
# $c = 15$ classes, $n_c$ images of class $c$), and the training part is resampled by the weight:
# classes with $W_c \ge 2$ are oversampled six-fold (the image, its mirror and four rotations), classes
# with $W_c < 0.1$ are undersampled to 40%.
#
# *Total* and *Test* depend only on the metadata and the official test list, so they must come out
# exactly as published. *Val* and *Train* depend on how the validation part was drawn.

# %% tags=["remove-output"]
table1 = d000.table1(meta, official)
split_text = f"official test list; val = {val_fraction:.0%} of train_val patients (patient-disjoint, seed {seed})"
run.table(table1, "d000_table1", "Document 000 Table 1 recomputed: images per class and part, class weight on Train, Train after resampling",
          dataset="NIH ChestX-ray14, 15-class single-label subset", split=split_text, float_format="{:.3f}")
comparison = d000.compare_with_published(table1).reset_index()
run.table(comparison[["class", "total_ours", "total_published", "total_diff", "test_ours", "test_published", "test_diff",
                      "val_ours", "val_published", "val_diff", "train_ours", "train_published", "train_diff"]],
          "d000_table1_vs_published", "Our Table 1 counts beside the published ones (difference = ours - published)",
          dataset="NIH ChestX-ray14, 15-class single-label subset", split=split_text, float_format="{:.0f}")

# %%
exact_total = int((comparison["total_diff"].fillna(0) == 0).all())
exact_test = int((comparison["test_diff"].fillna(0) == 0).all())
print(f"Total column identical to the published one: {bool(exact_total)}; Test column identical: {bool(exact_test)}")

# %% [markdown]
# The validation part is where we differ. Every published *Val* count equals
# $\lfloor 0.2 \cdot (\text{Total} - \text{Test}) \rfloor$ for its class: the authors cut 20% of each
# class's images, image by image. That keeps the class balance exact, but it lets one patient's images
# sit in both training and validation. Applying that reading to the same metadata reproduces the
# published table column by column, class weights and resampled counts included:

# %% tags=["remove-output"]
document_counts = d000.document_val_counts(d000.split_counts(meta, official))
document_table = d000.table1_from_counts(document_counts)
document_check = d000.compare_with_published(document_table).reset_index()
run.table(document_check[["class", "val_ours", "val_published", "train_ours", "train_published", "class_weight_ours",
                          "class_weight_published", "resampled_ours", "resampled_published"]],
          "d000_table1_document_rule", "Table 1 with the document's per-class image-level 20% validation cut (our reading of its numbers) beside the published table",
          dataset="NIH ChestX-ray14, 15-class single-label subset", split="official test list; val = floor(20% of each class's train_val images), not patient-disjoint",
          float_format="{:.3f}")

# %% tags=["remove-output"]
fig = plots.paired_bars(
    comparison.query("`class` != 'Total'").assign(ours=lambda f: f["train_ours"], published=lambda f: f["train_published"]),
    "class", ["ours", "published"], title="Training images per class: our patient-disjoint split vs. document 000", log=True,
)
run.figure(fig, "d000_table1_train_bars", "Training images per class, ours (patient-disjoint validation) and published (log scale)",
           dataset="NIH ChestX-ray14, 15-class single-label subset", split=split_text)
plt.show()

# %% [markdown]
# ## Document 001, Table 2: label distributions of four public data sets
#
# Document 001 lists, per data set, how many frontal images are certainly positive for each label.
# We recompute four of its six columns from the metadata that ships with torchxrayvision (MIMIC-CXR and
# the internal UKA-CXR are not public). ChestX-ray14 uses every image; for the other three the authors
# selected images in ways the paper does not state, and the comparison below shows how far each
# selection can be reconstructed.

# %% tags=["remove-output"]
train_chexpert = chexpert.load_train()
run.record_data("chexpert_train_metadata", shipped_path("chexpert_train"))
run.record_data("padchest_metadata", shipped_path("padchest"))
run.record_data("vindr_train_metadata", shipped_path("vindr_train"))
run.record_data("chexpert_valid_labels", root / "chexpert" / "valid.csv")
columns = d001.our_columns()
columns["CheXpert"] = d001.chexpert_column(selection=chexpert_selection, valid_root=root, train=train_chexpert)
table2 = d001.table2(columns)
flat = table2.copy()
flat.columns = [f"{dataset} {field}" for dataset, field in flat.columns]
run.table(flat.reset_index(), "d001_table2", "Document 001 Table 2 recomputed beside the published columns (n, % of the data set's frontal images, ours - published)",
          dataset="shipped metadata of ChestX-ray14, CheXpert, PadChest, VinDr-CXR", split="entire data sets (frontal images)",
          chexpert_selection=chexpert_selection, float_format="{:.1f}")
for name in d001.DATASETS:
    block = table2[name].dropna(how="all", subset=["ours_n", "published_n"]).reset_index()
    run.table(block, f"d001_table2_{name.lower().replace('-', '')}", f"Document 001 Table 2, {name} column: ours beside published",
              dataset=f"{name} metadata shipped with torchxrayvision", split="entire data set (frontal images)",
              selection=columns[name].description, float_format="{:.1f}")

# %% [markdown]
# How each selection was made, and why the columns differ:

# %%
display(Markdown("\n\n".join(f"**{name}.** {text}" for name, text in d001.EXPLANATIONS.items())))

# %% [markdown]
# ## Document 004: CheXpert positive counts and the CheXpert-Rare subset
#
# Document 004 counts the positives of each CheXpert class with *uncertain counted as positive*, calls
# the classes under 25,000 positives rare, and builds **CheXpert-Rare**: the frontal images with at least
# one positive among five rare classes and *No Finding*, with a seventh label *Other* for any positive
# among the remaining classes.

# %% tags=["remove-output"]
counts = d004.class_frequency_table(train_chexpert)
run.table(counts.reset_index(), "d004_fig3_1", "Document 004 Figure 3.1 recomputed: positives per CheXpert class, uncertain counted positive",
          dataset="CheXpert train labels (torchxrayvision wheel, all views)", split="train")
fig = plots.paired_bars(counts.reset_index(), "class", ["positives"], title="CheXpert positives per class (uncertain = positive)")
fig.axes[0].axvline(d004.RARE_THRESHOLD, color="black", linestyle="--", linewidth=1)
fig.axes[0].text(d004.RARE_THRESHOLD, -0.6, " rare threshold", fontsize=8)
run.figure(fig, "d004_fig3_1_bars", "Positives per CheXpert class with uncertain labels counted positive; dashed: the document's 25,000 threshold",
           dataset="CheXpert train labels (all views)", split="train")
plt.show()

# %% tags=["remove-output"]
rare = d004.chexpert_rare(train_chexpert)
distribution = d004.rare_distribution(rare).rename_axis("label").reset_index()
run.table(distribution, "d004_fig3_2", f"Document 004 Figure 3.2 recomputed: positives per CheXpert-Rare label ({len(rare):,} images; published size {d004.published_size():,})",
          dataset="CheXpert train labels, frontal images", split="train")
fig = plots.paired_bars(distribution, "label", ["positives"], title=f"CheXpert-Rare: {len(rare):,} frontal images")
run.figure(fig, "d004_fig3_2_bars", "Positives per CheXpert-Rare label", dataset="CheXpert train labels, frontal images", split="train")
plt.show()

# %% [markdown]
# The definition applied to the shipped labels does not give exactly the published 82,942 images. The
# table tries every reading of the text we could think of:

# %% tags=["remove-output"]
variants = d004.rare_variants(train_chexpert, chexpert.load_valid(root))
run.table(variants, "d004_rare_variants", "Size of CheXpert-Rare under different readings of the definition, beside the published size",
          dataset="CheXpert train (and validation) labels", split="train (+ valid where stated)")

# %% [markdown]
# ## Data cards: the classroom data sets, with real images
#
# The classroom profile trains and evaluates on three small real data sets. Each card shows a few
# randomly drawn images per class (seeded), the counts per split, and, for the COVID-19 collection,
# the licence of every image shown (the collection's images carry per-image licences).

# %% tags=["remove-output"]
kermany = pediatric.load_kermany(root=root, seed=seed)
covid_table = covid.load_covid(root=root, seed=seed)
nih_sample = nih.sample_images(root=root, meta=meta)
run.record_data("kermany_images", root / "kermany-pneumonia")
run.record_data("covid_metadata", root / "covid-chestxray" / "metadata.csv")
run.record_data("nih_sample_images", root / "nih-cxr14" / "images-256")

kermany_counts = (kermany.groupby(["split", "label"]).agg(images=("image_id", "size"), patients=("patient_id", "nunique"))
                  .reset_index().assign(label=lambda f: f["label"].map({0: "normal", 1: "pneumonia"})))
run.table(kermany_counts, "card_kermany_counts", "Kermany pediatric pneumonia: images and patients per part",
          dataset="Kermany et al. 2018 (CC BY 4.0)", split=f"official test; val = 10% of official-train patients (seed {seed})")
run.table(pediatric.official_leakage(kermany), "card_kermany_official_leakage",
          "Patients (person numbers) with images in both the official Kermany train and test folders; images_a/images_b count their train/test images",
          dataset="Kermany et al. 2018", split="official train vs. test", patient_rule="person number from the file name")

# %% tags=["remove-output"]
shown = plots.sample_rows(kermany.assign(cls=kermany["label"].map({0: "normal", 1: "pneumonia"})), "cls", examples_per_class, seed)
fig = plots.image_grid([decode_image(p) for p in shown["path"]], [f"{c} ({pa})" for c, pa in zip(shown["cls"], shown["pathogen"])],
                       ncols=examples_per_class)
run.figure(fig, "card_kermany_examples", "Kermany pediatric pneumonia: random examples per class (pathogen in brackets)",
           dataset="Kermany et al. 2018 (CC BY 4.0)", split="all", image_size="224 px copies, shown as distributed")
plt.show()

# %% tags=["remove-output"]
run.table(covid.task_counts(covid_table).assign(label=lambda f: f["label"].map({1: "COVID-19", 0: "other pneumonia"})),
          "card_covid_counts", "COVID-19 image collection, task COVID-19 vs. other pneumonia: images and patients per part",
          dataset="Cohen et al. COVID-19 image data collection (mid-2020 copy, frontal views)", split=f"patient-disjoint 70/10/20 (seed {seed})")
task = covid.covid_task(covid_table)
shown = plots.sample_rows(task.assign(cls=task["label"].map({1: "COVID-19", 0: "other pneumonia"})), "cls", examples_per_class, seed)
fig = plots.image_grid([decode_image(p) for p in shown["path"]],
                       [f"{f[:22]}\n{lic[:24]}" for f, lic in zip(shown["finding"], shown["license"])], ncols=examples_per_class)
run.figure(fig, "card_covid_examples", "COVID-19 image collection: random examples per class, finding and per-image licence under each",
           dataset="Cohen et al. COVID-19 image data collection", split="all", image_size="256 px copies")
plt.show()

# %% tags=["remove-output"]
labelled = nih_sample.assign(cls=nih_sample["labels"].map(lambda labels: labels[0] if len(labels) == 1 else "several findings"))
shown = plots.sample_rows(labelled[labelled["cls"].isin(["No Finding", "Effusion", "Infiltration", "several findings"])], "cls", examples_per_class, seed)
fig = plots.image_grid([decode_image(p) for p in shown["path"]], ["|".join(l)[:28] for l in shown["labels"]], ncols=examples_per_class)
run.figure(fig, "card_nih_examples", "NIH ChestX-ray14 sample: random examples of four label groups, NIH text-mined labels under each",
           dataset=f"NIH ChestX-ray14, {len(nih_sample)}-image sample (public domain)", split="all", image_size="256 px")
plt.show()

# %% [markdown]
# ## Summary
# - The Total and Test columns of document 000's Table 1 are reproduced exactly from the metadata.
# - Its Val/Train columns come from an image-level 20% cut per class, which does not keep patients
#   apart; our patient-disjoint split moves a few dozen images per class and leaves every class in the
#   same resampling band.
# - Document 001's ChestX-ray14 column is reproduced exactly; its CheXpert column is reproduced by a
#   selection rule inferred from the published numbers; PadChest and VinDr-CXR differ by image selection.
# - CheXpert-Rare built by document 004's definition comes close to, but not exactly to, the published size.
# - Patient ids matter: read from the file names, the official Kermany split shares person numbers
#   between train and test, and the COVID collection has several images per patient, so every split in
#   this book is drawn by patient and checked.
#
# ## Exercises
# 1. Re-run this notebook with `-p val_fraction 0.1`. Which classes change resampling band?
# 2. Pass `-p nih_metadata path/to/Data_Entry_2017.csv` (the 2017 labels) and compare Table 1.
# 3. Why does a patient-level split give a slightly different image share than 20%?
# 4. Run with `-p chexpert_selection frontal-train`: which CheXpert rows of Table 2 move most, and why?

# %%
run.finish()

# %% [markdown]
# ## What's next
# [The ROC primer](/book/roc_primer.md) explains the AUROC that every later chapter reports. Then
# [self-supervised pre-training](/book/pretrain.md) (notebook 02) trains a backbone on these images
# without their labels. Its unlabeled pool is drawn by patient from the training parts counted here, and
# never holds a test image or an image of a test patient.
