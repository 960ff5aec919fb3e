"""Notebook 13's rows: replicated over seeds, compared by paired differences, failing rows left out."""
import numpy as np
import pandas as pd

from cxrlib.chapters import sweep_rows


def rows_of(learned_labels):
    """Three rows (unfrozen 0, 1, all) x 3 seeds on 300 test images of 100 patients: row 'all' separates the
    classes well, row 0 barely, row 1 as row 0 plus noise."""
    rng = np.random.default_rng(0)
    y = np.tile([0, 1, 1], 100)
    groups = np.repeat(np.arange(100), 3)
    records, scores = [], {}
    for row, signal in (((("resnet18", 0)), 0.3), (("resnet18", 1), 0.3), (("resnet18", "all"), 3.0)):
        for seed in (0, 1, 2):
            scores.setdefault(row, {})[seed] = signal * y + rng.normal(size=y.size)
            records.append({"backbone": row[0], "unfrozen_blocks": row[1], "seed": seed,
                            "learned": learned_labels.get((row[1], seed), "learned"), "trial_key": f"{row}-{seed}"})
    return sweep_rows.SweepRows(("backbone", "unfrozen_blocks"), pd.DataFrame(records), y, groups, scores=scores)


def test_a_clearly_better_row_is_concluded_from_paired_differences_over_three_seeds():
    data = rows_of({})
    differences = sweep_rows.row_differences(data, {"unfrozen_blocks": 0}, n_boot=200)
    by_name = {d.name: d for d in differences}
    better = by_name["backbone resnet18, unfrozen_blocks all minus backbone resnet18, unfrozen_blocks 0"]
    assert better.n_seeds == 3 and better.verdict == "above" and better.ci_low > 0
    assert len(differences) == 2  # the reference row is not compared with itself
    assert "the first is better" in sweep_rows.difference_sentences([better])


def test_a_row_with_a_seed_that_did_not_learn_is_marked_and_not_compared():
    data = rows_of({(1, 2): "did not learn"})
    differences = sweep_rows.row_differences(data, {"unfrozen_blocks": 0}, n_boot=50)
    assert [d.name.split(" minus ")[0] for d in differences] == ["backbone resnet18, unfrozen_blocks all"]
    table = sweep_rows.learning_table(data).set_index("unfrozen_blocks")
    assert table.loc[1, "learned"] == 2 and table.loc[1, "interpreted"].startswith("NO")
    assert table.loc["all", "interpreted"] == "yes"


def test_row_aurocs_give_one_replicated_auroc_per_row():
    data = rows_of({})
    aurocs = sweep_rows.row_aurocs(data, n_boot=50)
    assert [a.n_seeds for a in aurocs] == [3, 3, 3]
    assert aurocs[2].mean > 0.9 > aurocs[0].mean
