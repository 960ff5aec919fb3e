"""Data sets, official splits and metadata tables (pandas), kept apart from PyTorch datasets; no torch.

The data root and one row per data set (:mod:`.root`), the leakage guard (:mod:`.splits`), one loader per data set
(:mod:`.nih`, :mod:`.nih_relabels`, :mod:`.chexpert`, :mod:`.padchest`, :mod:`.vindr`, :mod:`.mimic`,
:mod:`.covid`, :mod:`.covidgr`, :mod:`.medmnist`, :mod:`.pediatric`), the SSL pool (:mod:`.pool`), class balance
(:mod:`.balance`), the documents' data tables (:mod:`.d000`, :mod:`.d001`, :mod:`.d004`), the download command
(:mod:`cxrlib.data.download`) and stand-in data sets for tests (:mod:`.fixtures`).

Every name below is importable from the package and loaded on first use. The per-source protocol names that
several loaders share (``load_metadata``, ``frontal``) are used through their module, e.g.
``cxrlib.data.nih.load_metadata``.
"""
from cxrlib.core.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "root": [
        "SOURCES", "DataNotFoundError", "DatasetSource", "data_root", "missing_markers", "how_to_get", "require",
        "require_file",
    ],
    "splits": ["LeakageError", "leakage_report", "assert_patient_disjoint", "split_by_patient"],
    "metadata": ["MetadataNotFoundError", "shipped_dir", "shipped_path", "read_csv"],
    "balance": ["ResampleBand", "class_weights", "resample_factors", "resampled_counts"],
    "nih": [
        "Finding", "patient_of_image", "single_label_subset", "multilabel_targets", "read_image_list",
        "official_lists", "patient_strata", "official_split", "chexnet_lists", "chexnet_label_disagreements",
        "chexnet_split", "make_split", "sample_images",
    ],
    "nih_relabels": ["expert_column", "load_relabels", "join_metadata"],
    "chexpert": [
        "UncertaintyPolicy", "load_train", "load_valid", "image_table", "normalise", "resolve_policy",
        "apply_uncertainty", "positive_counts",
    ],
    "padchest": ["parse_labels", "label_indicators", "label_vocabulary"],
    "vindr": ["load_annotations", "readers_per_class", "image_labels", "load_image_labels"],
    "mimic": ["image_path", "load_frontal"],
    "covid": ["finding_class", "read_metadata", "load_covid", "patient_class", "covid_task", "task_counts"],
    "covidgr": ["load_covidgr"],
    "medmnist": ["PneumoniaMNIST", "load_pneumoniamnist", "default_png_dir", "materialise_pngs", "png_table"],
    "pediatric": ["parse_name", "scan_files", "load_kermany", "official_leakage", "patients_in_test"],
    "pool": [
        "nih_sample", "source_table", "held_out_tables", "draw_patients", "unlabeled_pool", "assert_disjoint_from",
    ],
    "d000": [
        "split_counts", "document_val_counts", "table1_from_counts", "table1", "published_table1",
        "compare_with_published", "resampled_class_weights",
    ],
    "d001": [
        "ChexpertSelection", "OurColumn", "chestxray14_column", "select_chexpert", "chexpert_column",
        "padchest_column", "vindr_column", "our_columns", "published_table2", "table2",
        "uncertain_exclusion_candidates",
    ],
    "d004": [
        "RareVariant", "published_size", "class_frequency_table", "threshold_check", "rare_targets", "chexpert_rare",
        "rare_distribution", "variant_images", "rare_variants",
    ],
    "recipe_types": ["Extract", "RemoteFile", "Recipe"],
    "fixtures": ["write_image", "make_chexpert", "make_padchest", "make_vindr", "make_mimic", "make_covidgr"],
})
