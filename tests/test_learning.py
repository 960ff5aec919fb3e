"""The "did it learn?" check (cxrlib.stats.learning) on constructed runs."""
import json
import math

import numpy as np
import pytest

from cxrlib.stats.learning import (
    LearningCheck,
    binary_no_information_loss,
    check_learning,
    contrastive_no_information_loss,
    no_information_loss,
)


def _best_constant_loss_by_search(y, pos_weight=1.0):
    """Brute force: the mean weighted BCE of every constant prediction q on a fine grid, minimised."""
    q = np.linspace(1e-6, 1 - 1e-6, 200_001)
    y = np.asarray(y, dtype=float)
    pos, n = y.sum(), y.size
    loss = (pos_weight * pos * -np.log(q) + (n - pos) * -np.log(1 - q)) / n
    return loss.min()


def test_balanced_binary_is_ln2():
    assert binary_no_information_loss([0, 1, 0, 1]) == pytest.approx(math.log(2))


def test_unweighted_binary_is_the_base_rate_entropy():
    y = np.array([1] * 3 + [0] * 17)
    p = 0.15
    assert binary_no_information_loss(y) == pytest.approx(-(p * math.log(p) + (1 - p) * math.log(1 - p)))
    assert binary_no_information_loss(y) == pytest.approx(_best_constant_loss_by_search(y), abs=1e-9)


def test_pos_weight_of_document_001_gives_twice_the_negative_share_ln2():
    y = np.array([1] * 3 + [0] * 17)
    pw = 17 / 3
    assert binary_no_information_loss(y, pos_weight=pw) == pytest.approx(2 * 0.85 * math.log(2))
    assert binary_no_information_loss(y, pos_weight=pw) == pytest.approx(
        _best_constant_loss_by_search(y, pw), abs=1e-9)


def test_multilabel_averages_over_labels_like_bce_mean():
    y = np.array([[1, 0], [0, 0], [0, 1], [0, 1]])
    expected = np.mean([binary_no_information_loss(y[:, 0]), binary_no_information_loss(y[:, 1])])
    assert binary_no_information_loss(y) == pytest.approx(expected)
    assert binary_no_information_loss(y) < math.log(2)


def test_label_without_positives_costs_nothing():
    # a constant 0 predicts an all-negative label perfectly
    assert binary_no_information_loss(np.zeros((5, 1))) == pytest.approx(0.0)


def test_softmax_unweighted_is_class_entropy_and_document_000_weights_give_ln_c():
    counts = np.array([50, 30, 20])
    p = counts / counts.sum()
    assert no_information_loss(counts) == pytest.approx(-(p * np.log(p)).sum())
    weights = counts.sum() / (3 * counts)  # document 000, equation 1
    for normalize in ("weights", "count"):
        assert no_information_loss(counts, weights=weights, normalize=normalize) == pytest.approx(math.log(3))


def test_contrastive_levels():
    assert contrastive_no_information_loss(2 * 32 - 1) == pytest.approx(math.log(63))
    with pytest.raises(ValueError):
        contrastive_no_information_loss(1)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="0 or 1"):
        binary_no_information_loss([0, 0.5, 1])
    with pytest.raises(ValueError, match="normalize"):
        no_information_loss([1, 2], normalize="mean")
    with pytest.raises(ValueError, match="together"):
        check_learning(estimate=0.7)
    with pytest.raises(ValueError, match="together"):
        check_learning(final_loss=0.3)


# constructed runs, named after what the book measured (issue 23)
def test_model_at_base_rate_loss_did_not_learn():
    # SemSSXL: final loss 0.275 against a base-rate loss 0.274, macro AUROC 0.556 [0.49, 0.62]
    check = check_learning(estimate=0.556, ci_low=0.49, ci_high=0.62, final_loss=0.275, no_information=0.274)
    assert not check.learned
    assert len(check.reasons) == 2
    assert "did not learn" == check.label
    assert "NO" in check.sentence()


def test_ci_wholly_below_chance_did_not_learn_even_with_a_low_loss():
    check = check_learning(estimate=0.439, ci_low=0.392, ci_high=0.495, final_loss=0.1, no_information=0.69)
    assert not check.learned
    assert "reaches down to chance" in check.reasons[0]


def test_learned_needs_both_parts_to_pass():
    check = check_learning(estimate=0.94, ci_low=0.92, ci_high=0.96, final_loss=0.25, no_information=math.log(2))
    assert check.learned and check.label == "learned" and not check.reasons
    assert "yes" in check.sentence() and "0.920" in check.sentence()
    # a loss within the margin of the no-information loss fails, however good the AUROC
    near = check_learning(estimate=0.94, ci_low=0.92, ci_high=0.96, final_loss=0.69, no_information=math.log(2))
    assert not near.learned


def test_sweep_row_at_ln2_did_not_learn():
    # ResNet-18 grid rows: validation loss 0.683-0.693, about ln 2
    for loss in (0.683, 0.690, 0.693):
        assert not check_learning(final_loss=loss, no_information=math.log(2)).learned


def test_undefined_auroc_fails_and_says_why():
    check = check_learning(estimate=float("nan"), ci_low=float("nan"), ci_high=float("nan"))
    assert not check.learned
    assert "undefined" in check.reasons[0]


def test_nothing_checked_is_not_learned():
    check = check_learning()
    assert not check.learned and check.label == "not checked"
    assert check.sentence().startswith("Did the model learn? Not checked")


def test_round_trip_through_json():
    check = check_learning(estimate=0.9, ci_low=0.85, ci_high=0.95, final_loss=0.3, no_information=0.6,
                           what="SSL start")
    again = LearningCheck.from_dict(json.loads(json.dumps(check.to_dict())))
    assert again == check


# the losses know their own no-information level; a run folder records the check; the build lists failures
def test_training_losses_report_the_level_a_constant_prediction_reaches():
    import torch

    from cxrlib.training.losses import build_loss

    targets = np.array([0] * 30 + [1] * 10)
    for weighting in ("inverse_frequency", "none"):
        loss = build_loss("binary", targets, 2, weighting=weighting)
        level = loss.no_information_loss(targets, 2)
        # the best constant logits reach exactly that level, and nothing constant goes lower
        grid = torch.linspace(-6, 6, 2401)
        values = [float(loss(torch.stack([torch.zeros(len(targets)), torch.full((len(targets),), g)], 1),
                             torch.as_tensor(targets))) for g in grid]
        assert min(values) == pytest.approx(level, abs=1e-5)
    assert build_loss("binary", targets, 2).no_information_loss(targets, 2) == pytest.approx(math.log(2))
    multi = np.array([[1, 0], [0, 0], [0, 1], [0, 1], [0, 0]])
    bce = build_loss("multilabel", multi, 2)
    best = torch.logit(torch.tensor(0.5))  # pos_weight = neg/pos puts the optimum at q = 0.5
    value = float(bce(best.repeat(len(multi), 2), torch.as_tensor(multi)))
    assert bce.no_information_loss(multi, 2) == pytest.approx(value, abs=1e-6)


def _run_folder_inputs(informative: bool, seed: int = 0):
    import pandas as pd

    from cxrlib.images.tasks import get_task

    task = get_task("kermany_pneumonia")
    rng = np.random.default_rng(seed)
    n = 300
    y = rng.integers(0, 2, n)
    score = (0.6 * y + 0.4 * rng.random(n)) if informative else rng.random(n)
    pos = task.positive_class
    neg = next(c for c in task.classes if c != pos)
    val = pd.DataFrame({"image_id": range(n), "patient_id": np.arange(n) // 2, pos: y, neg: 1 - y,
                        f"prob_{pos}": score, f"prob_{neg}": 1 - score})
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [0.69, 0.30 if informative else 0.69]})
    return task, val, history


def test_a_run_folder_records_whether_the_model_learned(tmp_path):
    from cxrlib.training.run_folder import learning_check, write_learning

    task, val, history = _run_folder_inputs(True)
    good = learning_check(task, val, history, no_information=math.log(2), n_boot=200)
    assert good.learned and good.ci_low > 0.5 and good.final_loss == 0.30
    task, val, history = _run_folder_inputs(False)
    bad = learning_check(task, val, history, no_information=math.log(2), n_boot=200)
    assert not bad.learned and bad.ci_low < 0.5 < bad.ci_high
    (tmp_path / "run" / "sub").mkdir(parents=True)
    write_learning(tmp_path / "run" / "sub", bad)
    write_learning(tmp_path / "run", good)
    from cxrlib.stats.learning import read_learning_checks

    found = read_learning_checks(tmp_path / "run")
    assert list(found) == [".", "sub"] and found["."] == good and found["sub"] == bad


def test_the_build_summary_warns_about_models_that_did_not_learn(tmp_path):
    from cxrlib.book import build
    from cxrlib.training.run_folder import write_learning

    run = build.Run("03_x", tmp_path / "n.ipynb", tmp_path / "p.yaml", {})
    folder = tmp_path / run.out_dir
    (folder / "seed1").mkdir(parents=True)
    write_learning(folder / "seed1", check_learning(final_loss=0.69, no_information=math.log(2)))
    write_learning(folder, check_learning(estimate=0.9, ci_low=0.85, ci_high=0.95))
    outcome = build.Outcome(done=["03_x"])
    outcome.note_learning(run, tmp_path)
    summary = outcome.summary(tmp_path)
    assert "WARNING 03_x: 1 trained model(s) did not learn" in summary
    assert "seed1: " in summary and "the final training loss 0.690 is not below the no-information loss 0.693" in summary
    assert outcome.ok  # a warning, not a failure


def test_a_chapter_shows_a_failed_model_as_a_warning_and_a_learned_one_as_a_sentence():
    failed = check_learning(estimate=0.52, ci_low=0.45, ci_high=0.6, final_loss=0.69, no_information=math.log(2))
    assert failed.markdown().startswith(":::{warning}") and failed.markdown().endswith(":::")
    assert "draws no conclusion" in failed.markdown()
    learned = check_learning(estimate=0.9, ci_low=0.85, ci_high=0.95, final_loss=0.3, no_information=math.log(2))
    assert learned.markdown() == learned.sentence() and "warning" not in learned.markdown()


def test_auroc_intervals_below_chance_are_found_by_what_the_interval_is_of():
    import pandas as pd

    from cxrlib.stats.learning import auroc_intervals_below_chance as below

    per_label = pd.DataFrame({"label": ["a", "b", "c"], "auc": [0.40, 0.50, 0.30],
                              "auc_ci_low": [0.30, 0.45, 0.20], "auc_ci_high": [0.45, 0.55, 0.50]})
    assert below(per_label) == ["a: auc_ci_low..auc_ci_high = [0.300, 0.450]"]  # c's interval touches 0.5
    assert below(per_label, chance=0.6) == ["a: auc_ci_low..auc_ci_high = [0.300, 0.450]",
                                            "b: auc_ci_low..auc_ci_high = [0.450, 0.550]",
                                            "c: auc_ci_low..auc_ci_high = [0.200, 0.500]"]
    # a difference of AUROCs (chance 0) and another metric's interval are not AUROC intervals
    assert below(pd.DataFrame({"label": ["a"], "difference": [-0.2], "ci_low": [-0.3], "ci_high": [-0.1]})) == []
    assert below(pd.DataFrame({"init": ["x"], "auc": [0.8], "spe": [0.2], "spe_ci_low": [0.0],
                               "spe_ci_high": [0.4]})) == []
    assert below(pd.DataFrame({"finding": ["x"], "auroc_expert": [0.4], "auroc_expert_low": [0.3],
                               "auroc_expert_high": [0.45], "difference": [0.1], "ci_low": [-0.3],
                               "ci_high": [0.2]})) == ["x: auroc_expert_low..auroc_expert_high = [0.300, 0.450]"]
    # a plain interval: the row's metric / quantity cell says what it is of, else the table's AUROC column
    assert below(pd.DataFrame({"run": ["r", "r"], "metric": ["AUROC", "energy in box"], "estimate": [0.3, 0.1],
                               "ci_low": [0.2, 0.0], "ci_high": [0.4, 0.3]})) == ["r, AUROC: ci_low..ci_high = [0.200, 0.400]"]
    assert below(pd.DataFrame({"quantity": ["AUROC(a) - AUROC(b)", "AUROC(a)"], "mean": [-0.3, 0.3],
                               "ci_low": [-0.4, 0.2], "ci_high": [-0.2, 0.4]})) == ["AUROC(a): ci_low..ci_high = [0.200, 0.400]"]
    assert below(pd.DataFrame({"model": ["x"], "test AUROC": [0.4], "CI low": [0.3], "CI high": [0.49]})) == [
        "x: CI low..CI high = [0.300, 0.490]"]
    assert below(pd.DataFrame({"model": ["x"], "share": [0.2], "ci_low": [0.1], "ci_high": [0.3]})) == []


def test_the_build_summary_warns_about_an_auroc_interval_below_chance(tmp_path):
    import pandas as pd

    from cxrlib.book import build
    from cxrlib.training.run_folder import write_learning

    run = build.Run("03_x", tmp_path / "n.ipynb", tmp_path / "p.yaml", {})
    folder = tmp_path / run.out_dir
    folder.mkdir(parents=True)
    write_learning(folder, check_learning(estimate=0.9, ci_low=0.85, ci_high=0.95))
    pd.DataFrame({"label": ["Edema", "Mass"], "auroc": [0.31, 0.8], "ci_low": [0.2, 0.7],
                  "ci_high": [0.42, 0.9]}).to_csv(folder / "per_label.csv", index=False)
    pd.DataFrame({"label": ["Mass"], "difference": [-0.3], "ci_low": [-0.4],
                  "ci_high": [-0.2]}).to_csv(folder / "paired.csv", index=False)
    (folder / "provenance.json").write_text(json.dumps({"artifacts": [
        {"id": "per_label", "file": "per_label.csv", "kind": "table", "caption": ""},
        {"id": "paired", "file": "paired.csv", "kind": "table", "caption": ""}]}))
    outcome = build.Outcome(done=["03_x"])
    outcome.note_learning(run, tmp_path)
    summary = outcome.summary(tmp_path)
    assert "WARNING 03_x: 1 AUROC interval(s) lie wholly below chance 0.5" in summary
    assert "per_label.csv: Edema: ci_low..ci_high = [0.200, 0.420]" in summary
    assert "paired.csv" not in summary and "did not learn" not in summary and outcome.ok
