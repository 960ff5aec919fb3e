"""From image files to tensors: preprocessing with its cache, augmentation policies, resampling, the
task rows (label set, split rule, image source) and the torch dataset.

Imports :mod:`cxrlib.data` and :mod:`cxrlib.core`; :mod:`.tasks` stays light (no torch).
"""
