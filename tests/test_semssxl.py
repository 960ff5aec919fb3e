"""SemSSXL (document 003, problem statement 1): the multi-scale neck, the combined objective, the labelled
fractions and a tiny training run (notebook 09)."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

timm = pytest.importorskip("timm")

from cxrlib.data.splits import LeakageError  # noqa: E402
from cxrlib.models.multiscale import (  # noqa: E402
    NECKS,
    AveragePool2d,
    ScaleAttention,
    build_multiscale_net,
)
from cxrlib.models.registry import REGISTRY  # noqa: E402
from cxrlib.training.semssxl import (  # noqa: E402
    SEMSSXL_VARIANTS,
    SemiConfig,
    SemSSXL,
    combined_loss,
    fit_semi,
    labelled_fractions,
)

STAGES = (0, 1, 2)


def tiny_model(neck="multiscale_attention", stages=STAGES, dim=16, seed=0):
    net, info = build_multiscale_net("legacy_xception", "none", stages, neck, dim, seed=seed)
    return SemSSXL(net, 5, "d004_simclr", 0.5), info


def batch(n=6, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), (torch.rand(n, 5, generator=g) > 0.5).float()


def test_xception_row_points_where_timm_does():
    spec = REGISTRY["legacy_xception"]
    src = spec.source(spec.default_weights)
    cfg = timm.models.get_pretrained_cfg("legacy_xception.tf_in1k")
    assert src.url == cfg.url and src.torch_hub_filename == cfg.url.rsplit("/", 1)[-1]
    assert (spec.mean, spec.std) == (tuple(cfg.mean), tuple(cfg.std)) and spec.input_size == cfg.input_size[-1]
    assert "003" in spec.documents


def test_scale_attention_weights_sum_to_one_and_differ_between_images():
    torch.manual_seed(0)
    levels = torch.randn(4, 3, 8)
    fused, weights = ScaleAttention(8)(levels)
    assert weights.shape == (4, 3) and torch.allclose(weights.sum(dim=1), torch.ones(4))
    assert (weights > 0).all() and not torch.allclose(weights[0], weights[1])
    assert torch.allclose(fused, (levels * weights.unsqueeze(-1)).sum(dim=1))


def test_full_net_weights_are_a_distribution_over_its_stages():
    model, info = tiny_model()
    x, _ = batch()
    model.eval()
    embedding, weights = model.net.embed(x)
    assert info.random and embedding.shape == (6, 16) and weights.shape == (6, len(STAGES))
    assert torch.allclose(weights.sum(dim=1), torch.ones(6), atol=1e-6)


def test_single_scale_uses_one_stage_only():
    model, _ = tiny_model("single_scale_attention")
    assert model.net.stages == (STAGES[-1],)
    maps = model.net.encoder(batch()[0])
    assert len(maps) == 1 and maps[0].shape[1] == model.net.encoder.channels[0] == 256  # block2's output
    assert len(model.net.neck.pools) == 1 and len(model.net.neck.fusion.mix) == 0
    model.eval()
    assert torch.equal(model.net.embed(batch()[0])[1], torch.ones(6, 1))
    # the backbone's later layers are gone (pruned): its parameters end with block2, the stage used
    names = {n.split(".")[0] for n, _ in model.net.encoder.backbone.named_parameters()}
    assert names == {"conv1", "bn1", "conv2", "bn2", "block1", "block2"}


def test_no_attention_weighs_stages_equally_and_pools_by_average():
    model, _ = tiny_model("multiscale_average")
    model.eval()
    weights = model.net.embed(batch()[0])[1]
    assert torch.allclose(weights, torch.full_like(weights, 1 / len(STAGES)))
    assert all(isinstance(p, AveragePool2d) for p in model.net.neck.pools)


@pytest.mark.parametrize("name", SEMSSXL_VARIANTS)
def test_every_variant_row_builds_and_takes_a_step(name):
    variant = SEMSSXL_VARIANTS[name]
    assert variant.neck in NECKS
    model, _ = tiny_model(variant.neck)
    x, y = batch()
    views = (x + 0.1, x - 0.1) if variant.contrastive else None
    parts = model.losses(x, y, views, 0.5)
    parts["total"].backward()
    assert (parts["contrastive"] is None) == (not variant.contrastive)
    assert all(p.grad is not None for p in model.classifier.parameters())


def test_contrastive_weight_zero_gives_exactly_the_supervised_loss():
    model, _ = tiny_model()
    model.eval()  # fixed BatchNorm statistics, so two passes see the same network
    x, y = batch()
    views = (x.flip(-1), x + 0.05)
    bce = nn.functional.binary_cross_entropy_with_logits(model(x), y)
    zero = model.losses(x, y, views, 0.0)
    assert zero["contrastive"] is None and torch.equal(zero["total"], zero["supervised"])
    assert torch.allclose(zero["total"], bce)
    half = model.losses(x, y, views, 0.5)
    assert half["contrastive"] > 0 and torch.allclose(half["total"], bce + 0.5 * half["contrastive"])
    assert torch.equal(combined_loss(bce, None, 0.7), bce)


def patients_table(n_patients=40, per_patient=3, prefix="p"):
    rows = [{"image_id": f"{prefix}{p}_{k}", "patient_id": f"{prefix}{p}", "path": ""}
            for p in range(n_patients) for k in range(1 + p % per_patient)]
    return pd.DataFrame(rows)


def test_labelled_fractions_are_nested_whole_patients_and_never_test_patients():
    train, test = patients_table(), patients_table(10, prefix="t")
    parts = labelled_fractions(train, [1.0, 0.1, 0.5], seed=3, held_out={"test": test})
    assert list(parts) == [0.1, 0.5, 1.0]
    ids = {f: set(t["patient_id"]) for f, t in parts.items()}
    assert ids[0.1] < ids[0.5] < ids[1.0] == set(train["patient_id"])
    assert len(ids[0.1]) == 4 and len(ids[0.5]) == 20
    for frame in parts.values():  # every image of a drawn patient comes along
        assert len(frame) == train["patient_id"].isin(frame["patient_id"]).sum()
        assert not set(frame["patient_id"]) & set(test["patient_id"])
    other = labelled_fractions(train, [0.1, 0.5], seed=4)
    assert set(other[0.1]["patient_id"]) != ids[0.1]  # the seed draws the patients
    with pytest.raises(LeakageError):
        labelled_fractions(train, [0.5], seed=3, held_out={"test": train.iloc[:2]})


def test_a_tiny_training_run_lowers_the_training_loss(data_root):
    from cxrlib.chapters import semssxl as chapter

    parts, cache = chapter.load_task("nih_competition5", data_root, task_options={"nih_images": "images-256"},
                                     subset={"train": 32, "val": 4, "test": 8}, preprocess="classroom",
                                     image_size=32, seed=0)
    labelled = labelled_fractions(parts["train"], [1.0], seed=0, held_out={"test": parts["test"]})
    config = SemiConfig(weights="none", stages=(0, 1), dim=16, epochs=4, batch_size=16, unlabeled_batch_size=8, lr=3e-3)
    result = fit_semi("full", config, "nih_competition5", cache, labelled[1.0], parts["train"])
    assert result.loss_after < result.loss_before
    assert len(result.history) == 4 and result.history["contrastive"].notna().all()
    assert (result.history["steps"] == 2).all()  # ceil(32 training images / 16)
    assert "random initialisation" in result.weights_caption
    again = fit_semi("full", config, "nih_competition5", cache, labelled[1.0], parts["train"])
    assert np.isclose(again.loss_after, result.loss_after)  # seeded


def test_labelled_steps_use_full_batches_when_the_labelled_set_is_not_a_multiple_of_the_batch(data_root, monkeypatch):
    """Cycling 66 labelled images in batches of 32 once made every third step a batch of 2 (a noisy BCE, and
    BatchNorm statistics of two images): the notebook's 10 % models then ended at the base-rate loss."""
    from cxrlib.chapters import semssxl as chapter

    parts, cache = chapter.load_task("nih_competition5", data_root, task_options={"nih_images": "images-256"},
                                     subset={"train": 32, "val": 4, "test": 8}, preprocess="classroom",
                                     image_size=32, seed=0)
    labelled = parts["train"].iloc[:11]  # 11 = 8 + 3: a batch of 3 without the fix
    sizes, losses = [], SemSSXL.losses

    def spy(self, x, y, views, weight):
        sizes.append(len(x))
        return losses(self, x, y, views, weight)

    monkeypatch.setattr(SemSSXL, "losses", spy)
    config = SemiConfig(weights="none", stages=(0, 1), dim=16, epochs=2, batch_size=8, unlabeled_batch_size=8)
    result = fit_semi("no_contrastive", config, "nih_competition5", cache, labelled, parts["train"])
    assert (result.history["steps"] == 4).all()  # ceil(32 training images / 8), the labelled batches cycling
    assert sizes == [8] * 8
    sizes.clear()
    fit_semi("no_contrastive", config, "nih_competition5", cache, parts["train"].iloc[:5], parts["train"])
    assert sizes == [5] * 8  # a labelled set smaller than a batch is one batch, every step


def test_comparison_switches_to_clustered_delong_when_patients_have_several_test_images():
    from cxrlib.chapters.semssxl import comparison_table

    rng = np.random.default_rng(0)
    labels = ["a", "b"]
    n = 60
    y = (rng.random((n, 2)) < 0.4).astype(int)
    runs = {("full", 1.0): {"probs": y + rng.normal(0, 0.8, (n, 2))},
            ("supervised", 1.0): {"probs": y + rng.normal(0, 1.2, (n, 2))}}
    one = pd.DataFrame({"patient_id": [f"p{i}" for i in range(n)], "a": y[:, 0], "b": y[:, 1]})
    two = one.assign(patient_id=[f"p{i // 2}" for i in range(n)])
    plain, clustered = comparison_table(runs, one, labels, [1.0]), comparison_table(runs, two, labels, [1.0])
    assert set(plain["test"]) == {"DeLong (one image per patient)"}
    assert set(clustered["test"]) == {"clustered DeLong (Obuchowski)"}
    assert np.allclose(plain["difference"], clustered["difference"])  # same AUROCs, other variance
    assert not np.allclose(plain["p"], clustered["p"])
    assert (plain["p_fdr"] >= plain["p"] - 1e-12).all()


def test_run_plan_replicates_every_variant_at_the_ablation_fraction_only():
    from cxrlib.chapters.semssxl import run_plan

    plan = run_plan([0.1, 1.0], 0.1, ["no_contrastive", "single_scale"], [0, 1, 2])
    assert len(plan) == len(set(plan))
    assert {(v, s) for v, f, s in plan if f == 0.1} == {(v, s) for v in ("full", "no_contrastive", "single_scale",
                                                                          "supervised") for s in (0, 1, 2)}
    assert {(v, s) for v, f, s in plan if f == 1.0} == {("full", 0), ("supervised", 0)}


class _History:
    """A stand-in for a SemiResult: only the history the learning check reads."""

    def __init__(self, supervised, contrastive=None):
        self.history = pd.DataFrame({"supervised": supervised,
                                     "contrastive": contrastive if contrastive is not None else [np.nan] * len(supervised)})


def _constructed_runs(seed=0, n=80):
    """Validation data where 'full' separates the labels and 'supervised' is noise; 'full' ends below the
    base-rate entropy and its NT-Xent below ln(2B - 1); 'supervised' ends at the base-rate entropy."""
    from cxrlib.stats.learning import binary_no_information_loss

    rng = np.random.default_rng(seed)
    labels = ["a", "b"]
    y = (rng.random((n, 2)) < 0.4).astype(int)
    val = pd.DataFrame({"patient_id": [f"v{i}" for i in range(n)], "a": y[:, 0], "b": y[:, 1]})
    parts = {"train": val.assign(patient_id=[f"t{i}" for i in range(n)]), "val": val, "test": val}
    labelled = {0.5: parts["train"]}
    floor = binary_no_information_loss(y.astype(float))
    runs = {("full", 0.5, 0): {"result": _History([0.7, 0.3 * floor], [3.0, 1.0]), "val_probs": y + rng.normal(0, 0.3, (n, 2)),
                               "probs": y + rng.normal(0, 0.3, (n, 2))},
            ("supervised", 0.5, 0): {"result": _History([0.7, floor]), "val_probs": rng.random((n, 2)),
                                     "probs": rng.random((n, 2))}}
    return runs, parts, labelled, labels


def test_learning_checks_pass_a_model_that_learned_and_fail_one_at_the_base_rates():
    from cxrlib.chapters.semssxl import model_learned, learning_checks, semssxl_learning_summary, semssxl_learning_table

    runs, parts, labelled, labels = _constructed_runs()
    checks = learning_checks(runs, parts, labelled, labels, unlabeled_batch_size=16, n_boot=200, seed=0)
    assert model_learned(checks[("full", 0.5, 0)])
    assert checks[("full", 0.5, 0)]["contrastive"].no_information_loss == pytest.approx(np.log(31))
    assert not model_learned(checks[("supervised", 0.5, 0)]) and checks[("supervised", 0.5, 0)]["contrastive"] is None
    table = semssxl_learning_table(checks)
    assert list(table["learned"]) == ["yes", "NO"]
    text = semssxl_learning_summary(checks)
    assert text.startswith(":::{warning}") and "supervised at fraction 0.5" in text
    # a contrastive term at its chance level fails the model even when its classifier learned
    runs[("full", 0.5, 0)]["result"] = _History([0.7, 0.1], [3.5, np.log(31)])
    checks = learning_checks(runs, parts, labelled, labels, unlabeled_batch_size=16, n_boot=200, seed=0)
    assert checks[("full", 0.5, 0)]["classifier"].learned and not model_learned(checks[("full", 0.5, 0)])


def test_write_learning_checks_writes_one_record_per_model_for_the_build_summary(tmp_path):
    from cxrlib.chapters.semssxl import learning_checks, write_learning_checks
    from cxrlib.stats.learning import read_learning_checks

    runs, parts, labelled, labels = _constructed_runs()
    checks = learning_checks(runs, parts, labelled, labels, unlabeled_batch_size=16, n_boot=100, seed=0)
    write_learning_checks(tmp_path, checks)
    read = read_learning_checks(tmp_path)
    assert set(read) == {"runs/full_f0.5_s0", "runs/full_f0.5_s0/contrastive", "runs/supervised_f0.5_s0"}
    assert read["runs/full_f0.5_s0"].learned and not read["runs/supervised_f0.5_s0"].learned


def test_replicated_sentences_conclude_only_with_three_agreeing_seeds_and_never_on_a_failed_model():
    from cxrlib.chapters.semssxl import replicated_comparisons, semssxl_verdicts

    rng = np.random.default_rng(1)
    n, labels = 120, ["a", "b"]
    y = (rng.random((n, 2)) < 0.4).astype(int)
    test = pd.DataFrame({"patient_id": [f"p{i}" for i in range(n)], "a": y[:, 0], "b": y[:, 1]})
    runs = {}
    for s in (0, 1, 2):
        runs[("full", 0.1, s)] = {"probs": y + rng.normal(0, 0.4, (n, 2))}
        runs[("no_attention", 0.1, s)] = {"probs": y + rng.normal(0, 3.0, (n, 2))}
    ok = {"classifier": type("C", (), {"learned": True})(), "contrastive": None}
    checks = {key: ok for key in runs}
    [result] = replicated_comparisons(runs, checks, test, labels, 0.1, ["no_attention"], n_boot=200, seed=0)
    assert result.verdict == "above" and result.n_seeds == 3
    assert semssxl_verdicts([result], runs, checks, 0.1).startswith("- The attention raises the macro AUROC")
    bad = {"classifier": type("C", (), {"learned": False})(), "contrastive": None}
    checks[("no_attention", 0.1, 2)] = bad
    text = semssxl_verdicts([result], runs, checks, 0.1)
    assert "not interpreted" in text and "no_attention seed 2" in text and "raises" not in text
    two = {k: v for k, v in runs.items() if k[2] < 2}
    [short] = replicated_comparisons(two, checks, test, labels, 0.1, ["no_attention"], n_boot=200, seed=0)
    assert short.verdict == "not replicated"
    assert "raises" not in semssxl_verdicts([short], two, checks, 0.1)
