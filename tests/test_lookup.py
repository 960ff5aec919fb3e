"""``cxrlib.core.config.lookup``: the one way a registry row is found by name, and every getter built on it.

Every registry (every table the package passes to ``lookup`` or names in a parameter rule; found from the
source by ``tests/test_architecture.py``) has a row below that reaches it the way the code does, and a
misspelt name gives the one exception type, :class:`~cxrlib.core.config.UnknownKeyError`, with the known
names and the closest one.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from cxrlib import published
from cxrlib.book import teaching
from cxrlib.core import params
from cxrlib.core.config import UnknownKeyError, lookup
from cxrlib.data import chexpert, d001, d004, medmnist, metadata, nih, padchest, pediatric, pool, root, vindr
from cxrlib.data.download import recipes, unpack
from cxrlib.explain import gradcam
from cxrlib.federated import aggregation, attacks
from cxrlib.images import augment, preprocess, sampling, tasks
from cxrlib.models import converters, dual_stream, fixtures, heads, multiscale, registry, weights
from cxrlib.stats import evaluate, metrics
from cxrlib.training import common, losses, run_folder, semssxl
from cxrlib.training.ssl import loop, methods
from test_architecture import REGISTRIES


@dataclass(frozen=True)
class _Row:
    key: str


TABLE = {"resnet18": _Row("resnet18"), "densenet121": _Row("densenet121"), "vit_small": _Row("vit_small")}


def _message(error: pytest.ExceptionInfo) -> str:
    return error.value.args[0]


def test_lookup_returns_the_row_and_passes_a_row_through():
    assert lookup(TABLE, "densenet121", what="backbone") is TABLE["densenet121"]
    stray = _Row("not in the table")
    assert lookup(TABLE, stray, what="backbone", row_type=_Row) is stray
    # without row_type nothing passes through: a row is not a name
    with pytest.raises(KeyError):
        lookup(TABLE, stray, what="backbone")
    # a collection of names: the name itself
    assert lookup(("fedavg", "median"), "median", what="rule") == "median"


def test_lookup_names_the_known_keys_and_suggests_a_close_one():
    with pytest.raises(UnknownKeyError) as error:
        lookup(TABLE, "densenet12", what="backbone")
    assert _message(error) == ("unknown backbone 'densenet12'; known: resnet18, densenet121, vit_small; "
                               "did you mean 'densenet121'?")
    assert str(error.value) == _message(error)  # no quotes around the message, unlike a bare KeyError
    assert isinstance(error.value, KeyError) and isinstance(error.value, ValueError)
    with pytest.raises(UnknownKeyError) as error:
        lookup(TABLE, "xception", what="backbone")
    assert _message(error) == "unknown backbone 'xception'; known: resnet18, densenet121, vit_small"
    with pytest.raises(UnknownKeyError, match="unknown rule \\['a'\\]"):  # an unhashable key is no name either
        lookup(TABLE, ["a"], what="rule")


_IMAGE = np.zeros((8, 8), dtype=np.uint8)
_EMPTY = pd.DataFrame()  # the data functions below look their rule up before they read anything


def _variant(name):  # apply_variant looks the transform up; the image is a stand-in
    return augment.apply_variant(torch.zeros(1, 8, 8, dtype=torch.uint8), name)


def _augment_step(name):
    return augment.build_augmentation(augment.AugmentPolicy("x", (augment.AugmentStep(name),), "test"))


def _fusion(name):
    return dual_stream.DualStreamVariant("x", "x", (dual_stream.TRANSFER, dual_stream.AUTOENCODER), name, "")


def _neck_part(field):
    spec = next(iter(multiscale.NECKS.values()))
    return lambda name: multiscale.MultiScaleNeck([4], 4, SimpleNamespace(**{**vars(spec), field: name}))


def _model_input(**fields):
    return preprocess.to_model_input(_IMAGE, SimpleNamespace(**{"unit_scaling": "divide255", "channels": 3,
                                                                 "normalization": "none", **fields}))


def _direct(table, what):
    """For a table the code reads only with keys from other rows (tested where those rows are): lookup itself."""
    return lambda name: lookup(table, name, what=what)


# name -> (the call that reaches the registry with a name, the registry, its row type where rows pass through)
GETTERS = {
    "registry.get_spec": (registry.get_spec, registry.REGISTRY, registry.BackboneSpec),
    "multiscale.get_neck": (multiscale.get_neck, multiscale.NECKS, multiscale.NeckSpec),
    "multiscale pools": (_neck_part("pool"), multiscale.POOLS, None),
    "multiscale mixers": (_neck_part("mixer"), multiscale.SCALE_MIXERS, None),
    "dual_stream.get_dual_stream_variant": (dual_stream.get_dual_stream_variant, dual_stream.DUAL_STREAM_VARIANTS,
                                            dual_stream.DualStreamVariant),
    "dual_stream fusion rules": (_fusion, dual_stream.FUSION_RULES, None),
    "semssxl.get_semssxl_variant": (semssxl.get_semssxl_variant, semssxl.SEMSSXL_VARIANTS, semssxl.VariantSpec),
    "methods.get_method": (methods.get_method, methods.SSL_METHODS, methods.MethodSpec),
    "methods projection heads": (lambda name: methods.ContrastiveModel(None, methods.get_method("simclr"), name, 0.5),
                                 methods.PROJECTION_HEADS, None),
    "heads.build_classifier": (lambda name: heads.build_classifier("resnet18", 2, head=name), heads.HEADS, None),
    "augment.get_policy": (augment.get_policy, augment.POLICIES, augment.AugmentPolicy),
    "augment.apply_variant": (_variant, augment.IMAGE_VARIANTS, None),
    "augment steps": (_augment_step, augment.STEP_BUILDERS, None),
    "preprocess.preprocess_config": (preprocess.preprocess_config, preprocess.PIPELINES, preprocess.PreprocessConfig),
    "preprocess.apply_steps": (lambda name: preprocess.apply_steps(_IMAGE, SimpleNamespace(steps=(name,))),
                               preprocess.STEPS, None),
    "preprocess.resize_square": (lambda name: preprocess.resize_square(_IMAGE, 4, name), preprocess.INTERPOLATIONS, None),
    "preprocess interpolation names": (_direct(preprocess.INTERPOLATION_NAMES, "interpolation"),
                                       preprocess.INTERPOLATION_NAMES, None),
    "preprocess unit scalings": (lambda name: _model_input(unit_scaling=name), preprocess.UNIT_SCALINGS, None),
    "preprocess normalizations": (lambda name: _model_input(normalization=name), preprocess.NORMALIZATIONS, None),
    "sampling resamplers": (_direct(sampling.RESAMPLERS, "resample"), sampling.RESAMPLERS, None),
    "tasks.get_task": (tasks.get_task, tasks.TASKS, tasks.TaskSpec),
    "tasks kinds": (lambda name: tasks.TaskSpec(**{**vars(tasks.get_task("kermany_pneumonia")), "kind": name}),
                    tasks.TASK_KINDS, None),
    "tasks nih image folders": (lambda name: tasks.nih_image_paths(root.data_root(), _EMPTY, name),
                                tasks.NIH_IMAGE_FOLDERS, None),
    "chexpert.resolve_policy": (chexpert.resolve_policy, chexpert.UNCERTAINTY_POLICIES, chexpert.UncertaintyPolicy),
    "d001.get_chexpert_selection": (d001.get_chexpert_selection, d001.CHEXPERT_SELECTIONS, d001.ChexpertSelection),
    "d004 frontal rules": (lambda name: d004.variant_images(_EMPTY, None, d004.RareVariant("x", frontal=name)),
                           d004.FRONTAL_RULES, None),
    "d004 no-finding rules": (_direct(d004.NO_FINDING_RULES, "No Finding rule"), d004.NO_FINDING_RULES, None),
    "pool.source_table": (pool.source_table, pool.SOURCE_TABLES, None),
    "nih.make_split": (lambda name: nih.make_split(name, _EMPTY), nih.NIH_SPLITS, None),
    "padchest.label_indicators": (lambda name: padchest.label_indicators(_EMPTY, {}, match=name),
                                  padchest.MATCH_RULES, None),
    "metadata.shipped_path": (metadata.shipped_path, metadata.SHIPPED, None),
    "vindr.image_labels": (lambda name: vindr.image_labels(_EMPTY, rule=name), vindr.READER_RULES, None),
    "medmnist parts": (lambda name: medmnist.PneumoniaMNIST(_IMAGE, _IMAGE, _EMPTY).part(name), medmnist.PARTS, None),
    "pediatric.parse_name": (lambda name: pediatric.parse_name("person1_bacteria_1", patient_rule=name),
                             pediatric.PATIENT_RULES, None),
    "root.get_source": (root.get_source, root.SOURCES, None),
    "recipes.source_of": (recipes.source_of, recipes.RECIPES, None),
    "unpack post-steps": (_direct(unpack.POST_STEPS, "post-step"), unpack.POST_STEPS, None),
    "published.load": (published.load, published.index(), None),
    "gradcam.explain_batches": (lambda name: gradcam.explain_batches(None, torch.zeros(1, 3, 8, 8), 0, method=name),
                                gradcam.EXPLANATION_METHODS, None),
    "aggregation.aggregate": (lambda name: aggregation.aggregate(name, [], []), aggregation.AGGREGATION_RULES, None),
    "attacks.poison": (lambda name: attacks.poison([], [], name, 1.0), attacks.ATTACKS, None),
    "converters": (lambda name: weights.load_state_dict_strict(None, {}, None, "x", converter=name),
                   converters.CONVERTERS, None),
    "fixtures writers": (_direct(fixtures.FORMAT_WRITERS, "fake-file writer"), fixtures.FORMAT_WRITERS, None),
    "metrics confusion metrics": (_direct(metrics.CONFUSION_METRICS, "metric"), metrics.CONFUSION_METRICS, None),
    "evaluate label sources": (lambda name: evaluate.evaluation_set(_EMPTY, labels_from=name), evaluate.LABEL_SOURCES,
                               None),
    "common.get_optimizer": (common.get_optimizer, common.OPTIMIZERS, None),
    "common progress modes": (_direct(common.PROGRESS_MODES, "progress mode"), common.PROGRESS_MODES, None),
    "losses normalizations": (lambda name: losses.WeightedCrossEntropy(None, normalize=name), losses.LOSS_NORMALIZATIONS,
                              None),
    "ssl precisions": (_direct(loop.PRECISIONS, "precision"), loop.PRECISIONS, None),
    "run_folder metrics by kind": (_direct(run_folder.METRICS_BY_KIND, "task kind"), run_folder.METRICS_BY_KIND, None),
    "teaching.get_edition": (teaching.get_edition, teaching.EDITIONS, None),
    "params.resolve_registry": (params.resolve_registry, params.REGISTRIES, None),
}


def _misspelt(table) -> tuple[str, str]:
    """A name one letter longer than the table's longest key: closest to that key only."""
    longest = max(map(str, table), key=len)
    return longest + "x", longest


@pytest.mark.parametrize("name", GETTERS)
def test_every_getter_finds_its_rows_and_names_its_keys(name):
    getter, table, row_type = GETTERS[name]
    if row_type is not None:
        for key, row in table.items():
            assert getter(key) is row and getter(row) is row
    with pytest.raises(UnknownKeyError) as error:
        getter("no-such-row")
    message = _message(error)
    assert message.startswith("unknown ") and "'no-such-row'" in message
    assert f"known: {', '.join(map(str, table))}" in message


@pytest.mark.parametrize("name", GETTERS)
def test_every_registry_refuses_a_misspelt_key_with_did_you_mean(name):
    getter, table, _ = GETTERS[name]
    bad, meant = _misspelt(table)
    with pytest.raises(UnknownKeyError) as error:
        getter(bad)
    assert type(error.value) is UnknownKeyError  # the one exception type, not a bare KeyError
    assert _message(error).endswith(f"did you mean {meant!r}?"), _message(error)


def test_every_registry_of_the_package_has_a_getter_here():
    """A registry added to the package (a table passed to lookup, or named by a rule) needs a row in GETTERS."""
    tested = {id(table) for _, table, _ in GETTERS.values()}
    untested = [f"{module}.{name}" for module, name in REGISTRIES
                if id(getattr(importlib.import_module(module), name)) not in tested]
    assert not untested, f"registries without a misspelt-key test in GETTERS: {untested}"
    # the preprocessing pipeline named by the issue: a misspelt name was KeyError: 'clasroom'
    with pytest.raises(UnknownKeyError, match="did you mean 'classroom'"):
        preprocess.preprocess_config("clasroom")
