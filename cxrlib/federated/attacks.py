"""Attacks measured by the federated chapter: poisoned updates and loss-threshold membership inference.

* :func:`poison`: a malicious client replaces its update ``delta = local - global`` by
  ``factor x delta`` (``"scale"``, a boosted update) or ``-factor x delta`` (``"sign_flip"``); it signs
  the poisoned model with its own registered key, so signatures alone cannot stop it: the validators must.
* :func:`membership_inference`: the loss-threshold attack (Yeom et al., CSF 2018): guess "member of the
  training data" when the model's loss on an example is low. Its AUROC over members (training images) and
  non-members (held-out images) measures how much the model leaks about who was in the training set;
  0.5 = nothing.
"""
from __future__ import annotations

import numpy as np

from cxrlib.core.config import lookup

ATTACKS = ("none", "scale", "sign_flip")


def poison(local: list[np.ndarray], global_params: list[np.ndarray], kind: str, factor: float) -> list[np.ndarray]:
    if lookup(ATTACKS, kind, what="attack") == "none":
        return local
    sign = 1.0 if kind == "scale" else -1.0
    return [(g + sign * factor * (p - g)).astype(p.dtype) for p, g in zip(local, global_params)]


def membership_inference(member_losses, nonmember_losses, *, member_groups=None, nonmember_groups=None,
                         n_boot: int = 1000, seed: int = 0) -> dict:
    """Attack AUROC of the score ``-loss`` (members positive), with a 95% bootstrap CI (by patient when
    groups are given)."""
    from cxrlib.stats import bootstrap_auroc  # lazy: institution processes never need scipy

    losses = np.concatenate([np.asarray(member_losses, float), np.asarray(nonmember_losses, float)])
    is_member = np.concatenate([np.ones(len(member_losses)), np.zeros(len(nonmember_losses))]).astype(int)
    groups = None
    if member_groups is not None and nonmember_groups is not None:
        groups = np.concatenate([[f"m:{g}" for g in member_groups], [f"n:{g}" for g in nonmember_groups]])
    result = bootstrap_auroc(is_member, -losses, n_boot=n_boot, seed=seed, groups=groups, averages=())
    row = result.table.iloc[0]
    return {"attack_auroc": float(row["auc"]), "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]),
            "n_members": int(len(member_losses)), "n_nonmembers": int(len(nonmember_losses)),
            "mean_member_loss": float(np.mean(member_losses)), "mean_nonmember_loss": float(np.mean(nonmember_losses))}


def membership_table(rows: dict[str, dict]):
    """One row per model of :func:`membership_inference` results (``rows``: model name -> its result)."""
    import pandas as pd

    return pd.DataFrame([{"model": name, **values} for name, values in rows.items()])
