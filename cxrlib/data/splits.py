"""Patient-disjoint splitting and the leakage guard that every split passes through.

A chest X-ray data set often has many images per patient. If one patient's images land in two parts
(train and test, say), a model can recognise the patient instead of the finding and the test score is
optimistic. Every split made by :mod:`cxrlib.data` calls :func:`assert_patient_disjoint`.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


class LeakageError(ValueError):
    """Some patient has images in two or more parts of a split."""


def leakage_report(parts: Mapping[str, pd.Series | list]) -> pd.DataFrame:
    """One row per pair of parts: how many patients they share (0 everywhere means no leakage)."""
    sets = {name: set(pd.Series(ids).dropna().astype(str).unique()) for name, ids in parts.items()}
    names = list(sets)
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = sets[a] & sets[b]
            rows.append(
                {"part_a": a, "part_b": b, "patients_a": len(sets[a]), "patients_b": len(sets[b]),
                 "shared_patients": len(shared), "examples": ", ".join(sorted(shared)[:5])}
            )
    return pd.DataFrame(rows, columns=["part_a", "part_b", "patients_a", "patients_b", "shared_patients", "examples"])


def assert_patient_disjoint(parts: Mapping[str, pd.Series | list]) -> None:
    """Raise :class:`LeakageError` if any patient id occurs in two parts."""
    report = leakage_report(parts)
    leaks = report[report["shared_patients"] > 0]
    if len(leaks):
        lines = [
            f"{r.part_a} & {r.part_b}: {r.shared_patients} shared patients (e.g. {r.examples})" for r in leaks.itertuples()
        ]
        raise LeakageError("patient leakage between split parts:\n  " + "\n  ".join(lines))


def split_by_patient(
    table: pd.DataFrame,
    fractions: Mapping[str, float],
    seed: int = 0,
    patient_col: str = "patient_id",
    stratify_col: str | None = None,
) -> pd.Series:
    """Assign every row a part name so that each patient is in exactly one part.

    ``fractions`` maps part names to shares of *patients* (they must sum to 1). With ``stratify_col``
    the patients are shuffled within strata of their first row's value, so that class balance is kept
    roughly equal across parts. The result is a Series aligned with ``table`` (name ``split``).
    """
    total = sum(fractions.values())
    if not np.isclose(total, 1.0):
        raise ValueError(f"fractions must sum to 1, got {total}")
    rng = np.random.default_rng(seed)
    patients = table.groupby(patient_col, sort=True).first()
    strata = patients[stratify_col] if stratify_col else pd.Series(0, index=patients.index)
    assignment: dict = {}
    names = list(fractions)
    cuts = np.cumsum([fractions[n] for n in names])
    for _, members in strata.groupby(strata, sort=True):
        ids = members.index.to_numpy()
        ids = ids[rng.permutation(len(ids))]
        bounds = np.round(cuts * len(ids)).astype(int)
        start = 0
        for name, stop in zip(names, bounds):
            for pid in ids[start:stop]:
                assignment[pid] = name
            start = stop
    split = table[patient_col].map(assignment).rename("split")
    assert_patient_disjoint({n: table.loc[split == n, patient_col] for n in names})
    return split
