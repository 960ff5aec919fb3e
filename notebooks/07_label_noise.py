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
# # NIH label noise, measured
#
# ## Overview
# Document 000 ends by blaming the labels of NIH ChestX-ray14 for its modest results, "especially in
# the 'No Finding' class", and quotes a share of labels that "did not match" the images. It never
# measures that share. This notebook does, with real data only: the radiologist re-read of 4,376 NIH
# images by Majkowska et al. (four findings: pneumothorax, nodule or mass, airspace opacity, fracture),
# which ships with the `torchxrayvision` wheel, set beside the NIH labels of the same images. We ask
# four questions:
#
# 1. How well does each text-mined NIH label agree with the experts (2×2 tables, Cohen's kappa, PPV, NPV)?
# 2. How often did the experts find something in an image that NIH calls "No Finding"?
# 3. What does the choice of reference standard do to the AUROC of a real model (a DenseNet-121
#    CheXNet reproduction)?
# 4. Why: what do flipped labels do to a measured AUROC in a problem where we know the truth?
#
# ## Prerequisites
# - The 2×2 table of a binary label against a reference: sensitivity, specificity, PPV, NPV.
# - Cohen's kappa: agreement beyond what two raters would reach by chance (0 = chance, 1 = perfect).
# - The bootstrap: resampling to get a confidence interval; here patients are resampled, because
#   one patient contributes several images and those are not independent.
# - The AUROC: the probability that a random positive image scores higher than a random negative one.

# %% tags=["parameters"]
out_dir = "out/07_label_noise"
profile = "classroom"
seed = 0
data_root = None
relabel_file = None
nih_metadata = None
predictions_file = None
n_boot = 1000
finding_map = {
    "Pneumothorax": ["Pneumothorax"],
    "Nodule or mass": ["Nodule", "Mass"],
    "Airspace opacity": ["Consolidation", "Infiltration", "Pneumonia", "Edema"],
    "Fracture": [],
}
auroc_findings = ["Pneumothorax", "Nodule or mass"]
age_edges = [0, 30, 45, 60, 75]
follow_up_edges = [0, 1, 5, 20]
sim_auc = 0.85
sim_prevalence = 0.1
sim_images = 2000
sim_repeats = 100

# %% [markdown]
# ## Imports and run context

# %%
from cxrlib.core.params import validate_params

validate_params(globals(), "07_label_noise", rules={
    "data_root": "str|None", "nih_metadata": "str|None", "finding_map": "nonempty",
    "auroc_findings": "nonempty", "age_edges": "nonempty >=0", "follow_up_edges": "nonempty >=0",
    "sim_auc": ">0 <1", "sim_prevalence": ">0 <1", "sim_images": ">=2", "sim_repeats": ">=1",
})

import matplotlib.pyplot as plt
import pandas as pd

from cxrlib.chapters import label_noise as ln
from cxrlib import published
from cxrlib.stats import simulate
from cxrlib.book.artifacts import RunArtifacts
from cxrlib.data import nih, nih_relabels
from cxrlib.data.metadata import shipped_path
from cxrlib.data.root import data_root as resolve_data_root

root = resolve_data_root(data_root)
relabel_path = relabel_file or shipped_path("nih_google_relabels")
metadata_path = nih_metadata or shipped_path("nih")
mapping_text = ln.describe_finding_map(finding_map)
bootstrap_text = f"{n_boot} patient-level bootstrap redraws, percentile 95% CI"
run = RunArtifacts(
    out_dir,
    notebook="07_label_noise",
    params=dict(profile=profile, seed=seed, data_root=str(root), relabel_file=str(relabel_path),
                nih_metadata=str(metadata_path), predictions_file=predictions_file, n_boot=n_boot,
                finding_map=finding_map, auroc_findings=auroc_findings, age_edges=age_edges,
                follow_up_edges=follow_up_edges, sim_auc=sim_auc, sim_prevalence=sim_prevalence,
                sim_images=sim_images, sim_repeats=sim_repeats),
    context=dict(dataset="NIH ChestX-ray14 images re-read by radiologists (Majkowska et al. 2020)",
                 image_size="labels only, no images", weights="none", profile=profile, seed=seed),
)
run.record_data("nih_google_relabels", relabel_path)
run.record_data("nih_metadata", metadata_path)
print(f"relabels: {relabel_path}\nNIH metadata: {metadata_path}\nmapping: {mapping_text}")

# %% [markdown]
# ## The expert re-read and the images it covers
#
# Each row of the relabel file is one image with one adjudicated YES/NO per finding; the file's
# `Set Id` says which of Majkowska et al.'s two sets (`val`, `test`) the image belongs to. We join it
# with the NIH metadata on the image name. Before measuring anything we check *which* images were
# re-read: where they lie in the official NIH split, and whether they look like the rest of it.

# %%
relabels = nih_relabels.load_relabels(relabel_path)
meta = nih.load_metadata(metadata_path)
joined = nih_relabels.join_metadata(relabels, meta)
lists = nih.official_lists(root)
run.record_data("nih_official_test_list", root / "nih-cxr14" / "test_list.txt")
print(f"{len(joined)} re-read images of {joined['patient_id'].nunique()} patients; "
      f"NIH label strings differing between the two files: {joined.attrs['label_string_differences']}")

# %% tags=["remove-output"]
sample = ln.representativeness(meta, joined, lists, finding_map)
run.table(sample, "relabel_sample",
          "The re-read images beside the rest of the official NIH list they lie in: share in the official test list, "
          "AP views, median age and follow-up number, and the share of NIH-positive images (No Finding and each mapped finding)",
          split="official NIH lists", nih_to_expert_mapping=mapping_text, float_format="{:.3g}")

# %%
majkowska = published.load("majkowska2020_abstract")
test_size = majkowska.frame.set_index("quantity").loc["chestxray14_test_images", "value"]
print(f"Set Id 'test' images in the file: {int((joined['set_id'] == 'test').sum())}; "
      f"ChestX-ray14 test set in Majkowska et al.'s abstract: {int(test_size)}")

# %% [markdown]
# The `test` part is a near-copy of the official test list in its make-up. The `val` part comes from
# the official training pool and is not a random sample of it (compare its share of AP views and of
# NIH pneumothorax labels with the rest of `train_val`). Every share below is therefore a share *of
# these images*; where the two parts differ, the table says so.
#
# ## Agreement, finding by finding
#
# The NIH file has fourteen findings, the re-read four, and they are not the same words. The mapping is
# a parameter (`finding_map`); by default pneumothorax and nodule or mass map onto their NIH namesakes,
# and airspace opacity onto the NIH findings whose radiographic sign is an opacity filling the air
# spaces (Consolidation, Infiltration, Pneumonia, Edema). NIH has no fracture label at all, so the
# fracture row has expert counts and nothing to compare them with.

# %% tags=["remove-output"]
tables = ln.contingency_tables(joined, finding_map)
run.table(tables, "nih_vs_expert_2x2",
          "NIH text-mined label (rows) against the expert label (columns), per expert finding",
          split="all re-read images (Set Id val and test)", nih_to_expert_mapping=mapping_text, float_format="{:.0f}")

# %% tags=["remove-output"]
agreement = ln.agreement_table(joined, finding_map, n_boot=n_boot, seed=seed)
run.table(agreement[["finding", "nih_labels", "expert_positive", "nih_positive", "kappa", "kappa_low", "kappa_high",
                     "ppv", "ppv_low", "ppv_high", "npv", "npv_low", "npv_high", "sensitivity", "specificity"]],
          "nih_vs_expert_agreement",
          "Agreement of the NIH label with the expert label as reference: Cohen's kappa, PPV = P(expert positive | NIH positive), "
          "NPV = P(expert negative | NIH negative), and the NIH label's sensitivity and specificity, with 95% CIs",
          split="all re-read images (Set Id val and test)", nih_to_expert_mapping=mapping_text, bootstrap=bootstrap_text)

# %% [markdown]
# Airspace opacity is the finding where the mapping is a judgement call, so here is the same agreement
# under several candidate NIH label sets (same redraws for all). Adding NIH labels raises the NIH
# label's sensitivity and lowers its PPV; kappa moves less than either.

# %% tags=["remove-output"]
alternatives = ln.mapping_alternatives(joined, "Airspace opacity", default=ln.normalise_finding_map(finding_map)["Airspace opacity"],
                                       n_boot=n_boot, seed=seed)
run.table(alternatives[["nih_labels", "in_use", "nih_positive", "kappa", "kappa_low", "kappa_high", "ppv", "npv",
                        "sensitivity", "specificity"]],
          "airspace_mapping_alternatives",
          "Airspace opacity: agreement of the NIH label with the experts for several candidate NIH label sets (in_use marks this run's mapping)",
          split="all re-read images (Set Id val and test)", bootstrap=bootstrap_text)

# %% [markdown]
# ## "No Finding" that is not
#
# NIH labels an image "No Finding" when the text miner found none of its fourteen findings in the
# report. How often did the radiologists find one of their four in such an image? Fracture is not one of
# NIH's fourteen, so the table also gives the share restricted to findings NIH does label: that is the
# share of "No Finding" labels that are wrong by NIH's own definition.

# %% tags=["remove-output"]
no_finding = ln.no_finding_table(joined, finding_map, n_boot=n_boot, seed=seed)
run.table(no_finding, "no_finding_share",
          "Share of NIH 'No Finding' images in which the experts found each finding, at least one of the four, or at least one that NIH labels",
          split="NIH 'No Finding' images among the re-read ones, all and per Set Id", nih_to_expert_mapping=mapping_text,
          bootstrap=bootstrap_text)

# %% [markdown]
# Document 000's number, the source it cites, and our shares side by side. They are not the same
# quantity: the document's sentence speaks of "labels" in general, its source (Jang et al. 2020) of
# readers' accuracy on randomly chosen images of public data sets, and ours of four named findings.
# Each row says what it counts.

# %% tags=["remove-output"]
claims = published.load("d000_label_noise_claim")
label_errors = ln.label_error_table(joined, claims.frame, finding_map, n_boot=n_boot, seed=seed)
run.table(label_errors, "label_error_vs_claims",
          "How often NIH labels are wrong, four ways of counting, beside the published statements (value = share; quotes verbatim)",
          split="all re-read images (Set Id val and test)", nih_to_expert_mapping=mapping_text, bootstrap=bootstrap_text)

# %% [markdown]
# Does the share depend on who was imaged and how? Portable AP films are taken of sicker, often bedridden
# patients; a high follow-up number means a patient imaged many times, usually in hospital.

# %% tags=["remove-output"]
by_group = {
    "view position": ln.share_by_group(joined, "view", None, finding_map, n_boot=n_boot, seed=seed),
    "age (years)": ln.share_by_group(joined, "age", age_edges, finding_map, n_boot=n_boot, seed=seed),
    "follow-up number": ln.share_by_group(joined, "follow_up", follow_up_edges, finding_map, n_boot=n_boot, seed=seed),
}
overall = no_finding.iloc[0]
claim = claims.frame.set_index("quantity").loc["label_mismatch_share"]
fig = ln.plot_share_by_group(by_group, overall=overall["share"], reference=claim["value"],
                             reference_label="document 000: share of labels that 'did not match'")
run.figure(fig, "no_finding_by_group",
           "Share of NIH 'No Finding' images with at least one of the four expert findings, by view position, age and follow-up "
           "number (95% CIs; grey: all No-Finding images; red dashed: document 000's share, a differently defined quantity)",
           split="NIH 'No Finding' images among the re-read ones", bootstrap=bootstrap_text)
plt.show()

# %% tags=["remove-output"]
run.table(pd.concat(by_group.values(), ignore_index=True), "no_finding_by_group_table",
          "The numbers behind the figure: share of NIH 'No Finding' images with at least one of the four expert findings per group",
          split="NIH 'No Finding' images among the re-read ones", bootstrap=bootstrap_text)

# %% [markdown]
# ## What the reference standard does to a measured AUROC
#
# The DenseNet-121 predictions in the data root come from a CheXNet reproduction trained on the NIH
# labels of the CheXNet random split; its test list overlaps the re-read images in part. On those
# images we score the *same* predictions twice, once against the NIH labels and once against the
# experts, and bootstrap the difference with the same patient redraws for both. The score for nodule or
# mass is the larger of the model's Nodule and Mass probabilities.
#
# The last column is a what-if: the AUROC we would expect against the NIH labels if NIH's errors on
# these images (its miss rate and false-positive rate with the experts as reference) were random with
# respect to the model's score.

# %% tags=["remove-output"]
predictions = ln.load_predictions(predictions_file, root=root)
run.record_data("predictions", predictions.attrs["source"])
aurocs, scored = ln.auroc_two_truths(joined, predictions, finding_map, auroc_findings, n_boot=n_boot, seed=seed)
run.table(aurocs.drop(columns=["images", "patients"]), "auroc_nih_vs_expert",
          f"AUROC of the same DenseNet-121 predictions against the expert labels and against the NIH labels, "
          f"difference = expert − NIH with its paired 95% CI and bootstrap p-value; auroc_nih_if_random: expected against "
          f"NIH labels if NIH's errors were random ({len(scored)} images of {scored['patient_id'].nunique()} patients)",
          split="re-read images in the CheXNet random test list", weights="DenseNet-121 CheXNet reproduction (predictions file)",
          nih_to_expert_mapping=mapping_text, bootstrap=bootstrap_text)

# %% [markdown]
# What does the table support? The next cell writes the reading from the table's numbers, so the words
# follow the intervals: a difference whose paired CI includes 0 is reported as "not detectable", not as
# a direction.

# %% tags=["remove-output"]
shift_table, shift_reading = ln.reading_of_shift(aurocs, n_boot=n_boot)
run.table(shift_table, "auroc_shift_reading", shift_reading, split="re-read images in the CheXNet random test list",
          weights="DenseNet-121 CheXNet reproduction (predictions file)", nih_to_expert_mapping=mapping_text,
          bootstrap=bootstrap_text)

# %%
from IPython.display import Markdown

Markdown(shift_reading)

# %% [markdown]
# ## The mechanism, simulated
#
# A clean problem with a known AUROC: scores of negatives drawn from N(0, 1), of positives from
# N(d, 1), with d chosen so that the true AUROC is `sim_auc`. We then flip a known fraction of the
# labels (of the positives only, of the negatives only, or of both) and measure the AUROC of the
# unchanged scores against the flipped labels. The dashed lines are the value expected when the flips
# are random; the right panel repeats the real measurement of the previous section, whose diamonds
# apply the same formula to NIH's measured error rates.

# %% tags=["remove-output"]
curve = simulate.label_flip_curve(auc=sim_auc, prevalence=sim_prevalence, n_images=sim_images,
                                  n_repeats=sim_repeats, seed=seed)
simulation = simulate.summarise_curve(curve)
sim_context = dict(dataset=f"simulated binormal problem ({sim_images} images, prevalence {sim_prevalence}, AUROC {sim_auc})",
                   split=f"{sim_repeats} repeats")
run.table(simulation, "simulation_label_flips",
          "Simulation: AUROC of unchanged scores against labels with a known fraction flipped (mean and 2.5–97.5% quantiles "
          "over repeats; expected = formula for random flips; mean_drop = clean minus noisy AUROC)", **sim_context)
fig = ln.plot_noise_mechanism(simulation, sim_auc, aurocs)
run.figure(fig, "label_noise_mechanism",
           "Left: simulated AUROC against labels with a fraction flipped (bands: 95% of repeats; dashed: expected for random flips). "
           "Right: the real DenseNet-121 against expert and NIH labels (95% CIs) and the value expected if NIH's errors were random",
           dataset=f"left: simulated binormal problem ({sim_images} images, prevalence {sim_prevalence}, AUROC {sim_auc}, "
                   f"{sim_repeats} repeats); right: {len(scored)} re-read NIH images in the CheXNet test list",
           split=f"left: {sim_repeats} simulated repeats; right: re-read images of the CheXNet test list",
           weights="right: DenseNet-121 CheXNet reproduction", nih_to_expert_mapping=mapping_text)
plt.show()

# %% [markdown]
# ## Key numbers

# %% tags=["remove-output"]
d001 = published.load("d001_table4").frame
key = ln.key_numbers(agreement, label_errors, aurocs, simulation, claim=claims.frame.iloc[0].to_dict(), d001_table4=d001)
run.table(key, "label_noise_key_numbers", "The chapter's answers in one table (ours computed in this run; published values from the data files)",
          split="as in the tables above", nih_to_expert_mapping=mapping_text, bootstrap=bootstrap_text)

# %% [markdown]
# ## Summary
# - Cohen's kappa of the text-mined NIH labels against a radiologist re-read has its CI well above 0
#   (chance) and far below 1 (perfect), for every finding that can be compared; fracture cannot be
#   compared at all.
# - A sizeable share of NIH "No Finding" images show one of the four findings to the experts, and the
#   share grows with the follow-up number and is higher on AP films: "No Finding" is least reliable
#   for the patients imaged most often.
# - Document 000's figure is a different quantity from any of ours; the tables put the numbers side by
#   side with what each one counts.
# - Scoring the same model against NIH labels or against expert labels: the paired patient-bootstrap
#   intervals of the difference are wide on the few hundred patients that have both, and the sentence
#   generated above from the table says whether any of them excludes 0. Against NIH labels the model
#   scores above what random label errors would leave (compare `auroc_nih_if_random` with the CI of
#   `auroc_nih`); two explanations fit: the model was trained on NIH labels and reproduces their habits,
#   and NIH's errors cluster on hard images, where they cost less AUROC than random errors.
# - Random label flips drag a measured AUROC towards 0.5; how far depends on which class is
#   contaminated and on the prevalence.
#
# ## Exercises
# 1. Re-run with Atelectasis added to airspace opacity (`-p finding_map ...` in a parameter file).
#    Which numbers move, and which way?
# 2. Set `sim_prevalence` to 0.5. Why do "missed" and "spurious" findings now hurt the AUROC equally?
# 3. The confidence interval of the difference in `auroc_nih_vs_expert` is wide. How many images would
#    you need to tell a 0.01 AUROC difference from zero? (Hint: halving the width takes four times the
#    patients.)
# 4. Which patients drive the follow-up trend? Restrict `joined` to one view position and repeat
#    `ln.share_by_group`.

# %%
run.finish()

# %% [markdown]
# ## What's next
# [Document 003: the research plan, built](/book/d003_built.md) introduces the three systems of document
# 003's plan; the first, [federated learning with a verifiable ledger](/book/federated.md) (notebook 08),
# trains across institutions that never share their images.
