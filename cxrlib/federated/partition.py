"""Patient-disjoint partitions of a data set into simulated institutions, with label and size skew.

Every patient goes to exactly one institution (all of a patient's images, in every split, go with the
patient), so no patient is shared between institutions and each institution's train and test parts are
its own. Two kinds of heterogeneity, both our choices (document 003 names "data heterogeneity across
institutions" as a research question and gives no recipe):

* **size skew**: institution ``k`` receives a share ``sizes[k]`` of the patients (e.g. ``[0.4, 0.3, 0.2, 0.1]``);
* **label skew**: for every class, the share of that class's patients each institution gets is drawn
  from a Dirichlet distribution with concentration ``alpha`` (small ``alpha``: strong skew; large:
  none), multiplied by the size shares and renormalised (Hsu et al. 2019's Dirichlet partition, applied
  to patients instead of images). ``min_share`` keeps every institution at least that share of every
  class, so each can still measure an AUROC.

A patient's class is the largest label among its images. Light module (numpy and pandas).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def class_shares(n_clients: int, n_classes: int, sizes, alpha: float, min_share: float, seed: int) -> np.ndarray:
    """``n_classes x n_clients`` matrix: the share of each class's patients that goes to each client."""
    sizes = np.asarray(sizes, dtype=float)
    if len(sizes) != n_clients or np.any(sizes <= 0):
        raise ValueError(f"sizes must be {n_clients} positive numbers, got {sizes.tolist()}")
    if not 0 <= min_share * n_clients < 1:
        raise ValueError(f"min_share x clients must be < 1, got {min_share} x {n_clients}")
    sizes = sizes / sizes.sum()
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.full(n_clients, float(alpha)), size=n_classes) * sizes
    shares = shares / shares.sum(axis=1, keepdims=True)
    return min_share + (1 - min_share * n_clients) * shares


def partition_patients(table: pd.DataFrame, n_clients: int, *, sizes=None, alpha: float = 1.0,
                       min_share: float = 0.05, seed: int = 0, label: str = "target",
                       patient: str = "patient_id") -> pd.Series:
    """The institution (0 .. n_clients-1) of every row of ``table``, assigned by patient.

    For each class, that class's patients are shuffled (seeded) and cut into consecutive runs whose
    lengths follow :func:`class_shares`. Returns an int Series aligned with ``table``; its ``attrs`` hold
    the share matrix and the arguments.
    """
    sizes = [1.0] * n_clients if sizes is None else list(sizes)
    patient_class = table.groupby(patient, sort=True)[label].max()
    classes = np.sort(patient_class.unique())
    shares = class_shares(n_clients, len(classes), sizes, alpha, min_share, seed)
    rng = np.random.default_rng(seed + 1)
    owner: dict = {}
    for c, cls in enumerate(classes):
        patients = patient_class.index[patient_class.to_numpy() == cls].to_numpy()
        patients = patients[rng.permutation(len(patients))]
        cuts = np.round(np.cumsum(shares[c]) * len(patients)).astype(int)
        start = 0
        for k, end in enumerate(cuts):
            for p in patients[start:end]:
                owner[p] = k
            start = end
    client = table[patient].map(owner).astype(int).rename("client")
    client.attrs = {"shares": shares.tolist(), "classes": classes.tolist(), "sizes": sizes, "alpha": alpha,
                    "min_share": min_share, "seed": seed}
    return client


MIN_TRAIN_IMAGES = 10
"""Fewest training images an institution may hold, with at least one of each class (our rule: fewer trains
nothing, and the rows it adds to every table are noise)."""
MIN_TEST_PER_CLASS = 5
"""Fewest test images of each class the institutions must hold together (our rule: below it a pooled AUROC
and its bootstrap interval say nothing, e.g. AUROC 1.0 [1.0, 1.0] from two images)."""


def check_institutions(table: pd.DataFrame, client: pd.Series, n_clients: int, *, label: str = "target",
                       split: str = "split", names=None) -> None:
    """Raise ``ValueError`` before any training when a partition is too small to measure anything: an
    institution with fewer than :data:`MIN_TRAIN_IMAGES` training images or without both classes among them,
    or a test part (all institutions) with fewer than :data:`MIN_TEST_PER_CLASS` images of a class."""
    names = list(names) if names is not None else [str(k) for k in range(n_clients)]
    is_train = (table[split] == "train").to_numpy()
    small = []
    for k in range(n_clients):
        y = table.loc[is_train & (client.to_numpy() == k), label]
        if len(y) < MIN_TRAIN_IMAGES or y.nunique() < 2:
            small.append(f"{names[k]} ({len(y)} images, {int((y > 0).sum())} positive)")
    test = table.loc[(table[split] == "test").to_numpy(), label]
    negatives, positives = int((test == 0).sum()), int((test > 0).sum())
    problems = []
    if small:
        problems.append(f"{len(small)} of {n_clients} institutions hold fewer than {MIN_TRAIN_IMAGES} training "
                        f"images or only one class: {', '.join(small[:5])}{f' and {len(small) - 5} more' if len(small) > 5 else ''}")
    if min(negatives, positives) < MIN_TEST_PER_CLASS:
        problems.append(f"their test parts hold {negatives} negative and {positives} positive images together (at "
                        f"least {MIN_TEST_PER_CLASS} of each are needed)")
    if problems:
        raise ValueError(f"the data are too small for {n_clients} institutions: {'; '.join(problems)}. Use fewer "
                         "institutions (n_clients, client_sizes), more images (subset) or a larger min_share.")


def assert_institutions_disjoint(table: pd.DataFrame, client: pd.Series, patient: str = "patient_id") -> None:
    """Raise ``AssertionError`` naming a patient found in two institutions."""
    per_patient = client.groupby(table[patient]).nunique()
    shared = per_patient[per_patient > 1]
    assert shared.empty, f"{len(shared)} patient(s) in several institutions, e.g. {shared.index[0]!r}"


def partition_summary(table: pd.DataFrame, client: pd.Series, *, label: str = "target",
                      patient: str = "patient_id", split: str = "split", names=None) -> pd.DataFrame:
    """Images, patients and positive share per institution and split."""
    frame = table.assign(client=client.to_numpy())
    rows = []
    for (k, part), group in frame.groupby(["client", split], sort=True):
        rows.append({"institution": names[k] if names else k, "split": part, "images": len(group),
                     "patients": group[patient].nunique(), "positive_share": float(group[label].mean())})
    return pd.DataFrame(rows)
