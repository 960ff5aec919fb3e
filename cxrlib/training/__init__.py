"""Engines that turn images and a backbone into run folders: fine-tuning (:mod:`.finetune`, its run
folder :mod:`.run_folder`), losses, frozen features and the linear probe, and self-supervised
pre-training (:mod:`.ssl`).

Imports :mod:`cxrlib.models`, :mod:`cxrlib.images`, :mod:`cxrlib.stats`, :mod:`cxrlib.data`, :mod:`cxrlib.core`.
"""
