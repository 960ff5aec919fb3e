"""Linear evaluation glue: task tables, checkpoint index -> initialisations, paired DeLong, t-SNE; configs; build."""
import json

import numpy as np
import pandas as pd
import pytest

from cxrlib.chapters import linear_probe as linear_eval
from cxrlib.book.build import Run, upstream_stamps
from cxrlib.core.config import ParamsMixin, UnknownKeyError, lookup
from cxrlib.training.ssl.runs import chance_loss, fraction_label, fraction_run_name


def test_task_table_roles_and_fit_limit(data_root):
    table = linear_eval.task_table("kermany_pneumonia", data_root, seed=0, fit_limit=200)
    fit, test = table[table["role"] == "fit"], table[table["role"] == "test"]
    assert len(fit) <= 200 and set(fit["split"]) == {"train", "val"}
    assert len(test) == 624  # the official test part is always whole
    assert set(fit["target"]) == {0, 1}


def test_checkpoint_inits_from_an_index():
    index = pd.DataFrame({
        "fraction": [1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01],
        "epoch": [0, 2, 4, 0, 4, 0, 4],
        "path": [f"/x/{i}.pt" for i in range(7)],
    })
    finals, per_epoch = linear_eval.checkpoint_inits(index)
    assert [i.name for i in finals] == ["SSL 1%", "SSL 10%", "SSL 100%"]
    assert all(i.epoch == 4 for i in finals) and finals[-1].weights == "/x/2.pt"
    assert [i.epoch for i in per_epoch] == [0, 2, 4] and {i.fraction for i in per_epoch} == {1.0}
    assert linear_eval.encoder_init(finals, per_epoch, "/x/2.pt") is finals[-1]  # the last checkpoint, under its row's name


def test_checkpoint_inits_compare_the_fractions_at_their_compared_epoch():
    # the largest pool trained on after the epoch whose steps the smaller pools matched
    index = pd.DataFrame({
        "fraction": [1.0, 1.0, 1.0, 1.0, 0.1, 0.1],
        "epoch": [0, 1, 2, 3, 0, 10],
        "compared_epoch": [1, 1, 1, 1, 10, 10],
        "path": [f"/x/{i}.pt" for i in range(6)],
    })
    finals, per_epoch = linear_eval.checkpoint_inits(index)
    assert [(i.name, i.epoch, i.weights) for i in finals] == [("SSL 10%", 10, "/x/5.pt"), ("SSL 100%", 1, "/x/1.pt")]
    encoder = linear_eval.encoder_init(finals, per_epoch, "/x/3.pt")
    assert (encoder.name, encoder.weights) == ("SSL 100% epoch 3", "/x/3.pt")


def test_evaluate_features_and_paired_delong():
    rng = np.random.default_rng(0)
    n = 240
    y = np.tile([0, 1], n // 2)
    table = pd.DataFrame({"target": y, "patient_id": [f"p{i // 2}" for i in range(n)],
                          "role": np.where(np.arange(n) < 160, "fit", "test"), "image_id": [f"i{i}" for i in range(n)]})
    good = np.c_[y + rng.normal(0, 0.7, n), rng.normal(size=(n, 3))]
    bad = rng.normal(size=(n, 4))
    report, fitted, prob = linear_eval.evaluate_features(good, table, "kermany_pneumonia", n_boot=100)
    assert report["auc"] > 0.75 and report["auc_ci_low"] <= report["auc"] <= report["auc_ci_high"]
    assert report["n_fit"] == 160 and report["n_test"] == 80 and fitted.c in (0.01, 0.05, 0.1, 0.2, 0.5, 1.0)
    _, _, prob_bad = linear_eval.evaluate_features(bad, table, "kermany_pneumonia", n_boot=100)
    outputs = {("good", "kermany_pneumonia"): {"prob": prob}, ("bad", "kermany_pneumonia"): {"prob": prob_bad}}
    tests = linear_eval.paired_delong_by_init(outputs, {"kermany_pneumonia": table}, [("good", "bad"), ("good", "absent")])
    assert len(tests) == 1 and tests.loc[0, "difference"] > 0 and tests.loc[0, "p_fdr"] >= tests.loc[0, "p_value"]


def test_tsne_is_seeded():
    x = np.random.default_rng(1).normal(size=(40, 8))
    a, b = linear_eval.tsne_embedding(x, seed=3), linear_eval.tsne_embedding(x, seed=3)
    assert a.shape == (40, 2) and np.allclose(a, b)


def test_fraction_names_and_chance_levels():
    assert [fraction_label(f) for f in (0.01, 0.1, 1.0)] == ["1%", "10%", "100%"]
    assert [fraction_run_name(f) for f in (0.01, 0.1, 1.0)] == ["pool_001", "pool_010", "pool_100"]
    assert chance_loss("simclr", 32) == pytest.approx(np.log(63))
    assert chance_loss("moco_v2", 32, queue_size=1024) == pytest.approx(np.log(1025))


def test_configs_share_checks():
    from dataclasses import dataclass

    @dataclass
    class Demo(ParamsMixin):
        a: int = 1

    assert Demo.from_namespace({"a": 3, "other": 1}).a == 3
    with pytest.raises(ValueError, match="unknown Demo parameter"):
        Demo.from_dict({"b": 2})
    with pytest.raises(UnknownKeyError, match="unknown optimizer 'lbfgs'; known: adam, sgd"):
        lookup(["adam", "sgd"], "lbfgs", what="optimizer")


def test_a_run_reading_another_runs_output_depends_on_its_stamp(tmp_path):
    generated = tmp_path / "book" / "_generated" / "02_pretrain"
    generated.mkdir(parents=True)
    (generated / ".build-stamp.json").write_text(json.dumps({"fingerprint": "abc"}))
    run = Run("06_linear_probe", tmp_path / "nb.ipynb", tmp_path / "p.yaml",
              {"pretrain_dir": "book/_generated/02_pretrain", "other": 3, "elsewhere": "/tmp"})
    assert upstream_stamps(run, tmp_path) == [generated.resolve() / ".build-stamp.json"]


def test_compare_runs_pairs_two_runs_by_image():
    rng = np.random.default_rng(2)
    y = np.tile([0, 1], 50)
    ids = [f"i{i}" for i in range(100)]
    a = pd.DataFrame({"image_id": ids, "pneumonia": y, "prob_pneumonia": y + rng.normal(0, 0.5, 100)})
    b = pd.DataFrame({"image_id": ids[::-1], "pneumonia": y[::-1], "prob_pneumonia": rng.normal(size=100)})
    table = linear_eval.compare_runs(a, b, "pneumonia", names=("a", "b"))
    assert table.loc[0, "auc_a"] > 0.8 and table.loc[0, "p_value"] < 0.05
    with pytest.raises(ValueError, match="same test images"):
        linear_eval.compare_runs(a, b.iloc[:50], "pneumonia")
