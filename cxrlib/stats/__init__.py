"""Statistics without torch: point metrics, DeLong's and the bootstrap's uncertainty, evaluation tables.

* :mod:`.metrics`: AUROC and its averages, ROC curves, Youden operating points, agreement (kappa, PPV, NPV),
  the multi-class report of document 000;
* :mod:`.delong_auc`: DeLong's variance and paired test of AUCs, Obuchowski's clustered (patient) version;
* :mod:`.bootstrap`: percentile bootstrap (images or patients), vectorised for AUROC, paired differences;
* :mod:`.agreement`: kappa, PPV, NPV, sensitivity and specificity with bootstrap intervals;
* :mod:`.learning`: did a model learn? its metric's interval against chance and its final loss against the
  no-information loss;
* :mod:`.replication`: training seeds: the seed spread beside the test-set interval, and when a comparison
  concludes;
* :mod:`.multiplicity`: Benjamini–Hochberg's FDR; :mod:`.checks`: the input checks these share;
* :mod:`.evaluate`: tables of prediction files; :mod:`.simulate`: label noise; :mod:`.localisation`: pointing
  game and energy in a box;
  :mod:`.proportion`: exact (Clopper-Pearson) intervals of small-sample proportions, the matched-pair
  permutation test.

Every name below is importable from the package (``from cxrlib.stats import delong_test``) and loaded on
first use. Imports only :mod:`cxrlib.core` (and numpy, pandas, scipy, scikit-learn); never torch.
"""
from cxrlib.core.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "metrics": [
        "UndefinedMetricWarning", "RocCurve", "ConfusionCounts", "OperatingPoint", "AgreementRates", "MulticlassReport",
        "CONFUSION_METRICS", "as_binary", "as_scores", "label_names", "doubled_midranks", "auroc", "auroc_per_label",
        "macro_auroc", "weighted_auroc", "micro_auroc", "auroc_table", "roc_curve", "youden_threshold",
        "confusion_counts", "operating_point", "youden_operating_points", "youden_operating_points_optimistic",
        "agreement_rates", "cohen_kappa", "confusion_matrix", "multiclass_report",
    ],
    "checks": ["check_alpha", "check_n_boot", "check_boot_args", "group_codes"],
    "delong_auc": [
        "DegenerateAUCWarning", "DelongResult", "DelongTestResult", "CLUSTER_CORRECTIONS", "delong_placements",
        "delong", "delong_covariance", "delong_test", "obuchowski_covariance", "obuchowski_auc",
        "clustered_delong_test", "detectable_difference",
    ],
    "bootstrap": [
        "DOCUMENT_001_REDRAWS", "DOCUMENT_004_REDRAWS", "BootstrapAurocResult", "PairedBootstrapResult",
        "BootstrapResult", "redraw_counts", "percentile_ci", "summary_table", "resampling_unit", "bootstrap_auroc",
        "bootstrap_p_value", "paired_bootstrap_auroc", "bootstrap_ci", "auroc_replicates",
    ],
    "multiplicity": ["fdr_bh"],
    "replication": [
        "MIN_SEEDS", "VERDICTS", "Replicated", "replicated_values", "replicated_auroc", "replicated_auroc_difference",
        "replication_table",
    ],
    "learning": [
        "LearningCheck", "check_learning", "no_information_loss", "binary_no_information_loss",
        "contrastive_no_information_loss", "read_learning_checks", "auroc_intervals_below_chance",
    ],
    "agreement": ["KappaResult", "bootstrap_agreement", "kappa_ci"],
    "evaluate": [
        "EvaluationSet", "read_predictions", "check_predictions", "attach_labels", "label_counts", "evaluation_set",
        "arrays", "auroc_ci_table", "metadata_features", "metadata_covariates",
        "metadata_baseline", "paired_delong", "paired_delong_clustered", "interval_widths", "nested_metadata_models",
        "patient_halves", "operating_points_by_halves", "mean_sd_summary", "roc_curves",
    ],
    "simulate": [
        "NOISE_SCENARIOS", "binormal_separation", "binormal_problem", "flip_labels", "expected_auroc_under_flips",
        "label_flip_curve", "summarise_curve", "plot_flip_curve",
    ],
    "localisation": [
        "NIH_BOX_SPACE", "rescale_box", "box_mask", "pointing_hit", "energy_in_box", "localisation_scores",
        "localisation_summary",
    ],
    "proportion": ["BinomialInterval", "binomial_ci", "MatchedPermutationResult", "matched_permutation_test"],
})
