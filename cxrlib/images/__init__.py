"""From image files to tensors: preprocessing with its cache, augmentation policies, resampling, the
task rows (label set, split rule, image source) and the torch dataset.

Imports :mod:`cxrlib.data` and :mod:`cxrlib.core`; :mod:`.tasks` stays light (no torch). Every name below is
importable from the package and loaded on first use, so ``import cxrlib.images.tasks`` loads no torch.
"""
from cxrlib.core.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "tasks": [
        "TaskSpec", "get_task", "nih_image_paths", "require_images", "patient_split", "chexpert_tables",
    ],
    "task_tables": ["split_tables", "stratum", "subsample", "label_fraction", "class_counts", "target_names"],
    "preprocess": [
        "PreprocessConfig", "PreprocessCache", "CacheStats", "ImageDecodeError", "preprocess_config", "decode_image",
        "pad_square", "resize_square", "min_max_stretch", "apply_clahe", "equalize_histogram", "scale_to_unit",
        "min_max_scale", "grey_to_channels", "normalize_channels", "to_model_input", "apply_steps",
        "load_preprocessed", "default_cache_dir",
    ],
    "augment": [
        "AugmentStep", "AugmentPolicy", "ResizedCropSameSize", "GaussianBlurFraction", "GaussianNoise", "get_policy",
        "build_augmentation", "apply_variant",
    ],
    "sampling": ["resample_plan", "resample_table"],
    "dataset": ["CxrDataset", "single_thread_torch"],
})
