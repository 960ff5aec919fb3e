"""The leakage guard and the patient-disjoint splitter."""
import pandas as pd
import pytest

from cxrlib.data.splits import LeakageError, assert_patient_disjoint, leakage_report, split_by_patient


def table(n_patients=50, images_each=3):
    rows = [{"patient_id": f"p{p}", "image_id": f"p{p}_{i}", "label": p % 2}
            for p in range(n_patients) for i in range(images_each)]
    return pd.DataFrame(rows)


def test_guard_raises_with_examples():
    with pytest.raises(LeakageError, match="train & test: 1 shared patients \\(e.g. p2\\)"):
        assert_patient_disjoint({"train": ["p1", "p2"], "test": ["p2", "p3"]})


def test_report_counts():
    report = leakage_report({"a": ["1", "2"], "b": ["3"], "c": ["2"]})
    assert report["shared_patients"].tolist() == [0, 1, 0]


def test_split_is_disjoint_seeded_and_sized():
    frame = table()
    split = split_by_patient(frame, {"train": 0.8, "val": 0.2}, seed=3, stratify_col="label")
    assert split.notna().all()
    assert split.equals(split_by_patient(frame, {"train": 0.8, "val": 0.2}, seed=3, stratify_col="label"))
    assert not split.equals(split_by_patient(frame, {"train": 0.8, "val": 0.2}, seed=4, stratify_col="label"))
    per_patient = frame.assign(split=split).groupby("patient_id")["split"].nunique()
    assert (per_patient == 1).all()
    assert frame.assign(split=split).query("split == 'val'")["patient_id"].nunique() == 10


def test_fractions_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        split_by_patient(table(), {"train": 0.5, "val": 0.2})
