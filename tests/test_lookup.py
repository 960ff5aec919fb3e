"""``cxrlib.core.config.lookup``: the one way a registry row is found by name, and every getter built on it."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
import torch

from cxrlib.core.config import lookup
from cxrlib.data import chexpert, metadata, nih, padchest, pool, vindr
from cxrlib.images import augment, tasks
from cxrlib.models import dual_stream, multiscale, registry
from cxrlib.training import semssxl
from cxrlib.training.ssl import methods


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


def test_lookup_names_the_known_keys_and_suggests_a_close_one():
    with pytest.raises(KeyError) as error:
        lookup(TABLE, "densenet12", what="backbone")
    assert _message(error) == ("unknown backbone 'densenet12'; known: resnet18, densenet121, vit_small; "
                               "did you mean 'densenet121'?")
    with pytest.raises(KeyError) as error:
        lookup(TABLE, "xception", what="backbone")
    assert _message(error) == "unknown backbone 'xception'; known: resnet18, densenet121, vit_small"


def _variant(name):  # apply_variant looks the transform up; the image is a stand-in
    return augment.apply_variant(torch.zeros(1, 8, 8, dtype=torch.uint8), name)


_EMPTY = pd.DataFrame()  # the data functions below look their rule up before they read anything


GETTERS = {
    "registry.get_spec": (registry.get_spec, registry.REGISTRY, registry.BackboneSpec),
    "multiscale.get_neck": (multiscale.get_neck, multiscale.NECKS, multiscale.NeckSpec),
    "dual_stream.get_dual_stream_variant": (dual_stream.get_dual_stream_variant, dual_stream.DUAL_STREAM_VARIANTS,
                                            dual_stream.DualStreamVariant),
    "semssxl.get_semssxl_variant": (semssxl.get_semssxl_variant, semssxl.VARIANTS, semssxl.VariantSpec),
    "methods.get_method": (methods.get_method, methods.METHODS, methods.MethodSpec),
    "augment.get_policy": (augment.get_policy, augment.POLICIES, augment.AugmentPolicy),
    "augment.apply_variant": (_variant, augment.VARIANTS, None),
    "tasks.get_task": (tasks.get_task, tasks.TASKS, tasks.TaskSpec),
    "chexpert.resolve_policy": (chexpert.resolve_policy, chexpert.UNCERTAINTY_POLICIES, chexpert.UncertaintyPolicy),
    "pool.source_table": (pool.source_table, pool.SOURCE_TABLES, None),
    "nih.make_split": (lambda name: nih.make_split(name, _EMPTY), nih.SPLITS, None),
    "padchest.label_indicators": (lambda name: padchest.label_indicators(_EMPTY, {}, match=name),
                                  padchest.MATCH_RULES, None),
    "metadata.shipped_path": (metadata.shipped_path, metadata.SHIPPED, None),
    "vindr.image_labels": (lambda name: vindr.image_labels(_EMPTY, rule=name), vindr.READER_RULES, None),
    "vindr.load_image_labels": (lambda name: vindr.load_image_labels(rule=name), vindr.READER_RULES, None),
}


@pytest.mark.parametrize("name", GETTERS)
def test_every_getter_finds_its_rows_and_names_its_keys(name):
    getter, table, row_type = GETTERS[name]
    if row_type is not None:
        for key, row in table.items():
            assert getter(key) is row and getter(row) is row
    with pytest.raises(KeyError) as error:
        getter("no-such-row")
    message = _message(error)
    assert message.startswith("unknown ") and "'no-such-row'" in message
    assert f"known: {', '.join(table)}" in message
