"""Engines that turn images and a backbone into run folders: fine-tuning (:mod:`.finetune`, its run
folder :mod:`.run_folder`), losses, frozen features and the linear probe, document 003's semi-supervised
(:mod:`.semssxl`) and dual-stream (:mod:`.dual_stream`) training, and what they share (:mod:`.common`: the
device and precision every trainer names alike, the training step of the hand-written loops).

Self-supervised pre-training is the subpackage :mod:`cxrlib.training.ssl`; grids of runs are
:mod:`cxrlib.training.sweeps` (``cxrlib sweep``). Every name below is importable from the package and loaded on
first use. Imports :mod:`cxrlib.models`, :mod:`cxrlib.images`, :mod:`cxrlib.stats`, :mod:`cxrlib.data`,
:mod:`cxrlib.core`.
"""
from cxrlib.core.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "common": [
        "Hardware", "Precision", "PRECISIONS", "resolve_device", "train_step", "size_kwargs", "EpochSeededSampler",
        "check_resumable",
    ],
    "finetune": [
        "TrainConfig", "fit", "Prepared", "prepare", "CheckpointError", "build_module", "build_model",
        "resolve_unfrozen_blocks", "unfrozen_label", "FrozenRandomBlocksWarning", "weights_label", "load_run_model", "predict_probabilities", "load_tables",
        "rng_states", "set_rng_states",
    ],
    "run_folder": ["RunResult", "read_history", "prediction_columns", "predictions_frame"],
    "losses": [
        "WeightedCrossEntropy", "WeightedBCE", "build_loss", "class_weight_tensor", "inverse_frequency_pos_weight",
    ],
    "features": ["FeatureCacheWarning", "extract_features", "feature_cache_key", "image_ids_digest"],
    "probe": [
        "FoldReductionWarning", "ProbeSelection", "FittedProbe", "patient_folds", "make_probe_pipeline", "select_c",
        "fit_probe", "probe_metrics", "probe_report", "table3_layout", "flat_columns",
    ],
    "semssxl": [
        "SemiConfig", "SemiResult", "SemSSXL", "VariantSpec", "get_semssxl_variant", "combined_loss",
        "labelled_fractions", "fit_semi", "predict_semi",
    ],
    "dual_stream": [
        "StepConfig", "HeadResult", "InMemoryImages", "module_digest", "reconstruction_errors", "train_autoencoder",
        "stream_features", "predict_head", "head_gates", "fit_head",
    ],
})
