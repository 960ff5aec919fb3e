"""Validators: each checks every update of a round by a stated rule and signs an approve/reject vote;
an update is aggregated only when a quorum of validators approves it.

The rule (:class:`ValidationRule`, recorded in the ledger's genesis):

1. **norm bound**: ``||client model - global model|| <= norm_factor x median`` of that distance over the
   round's updates (a boosted or scaled update stands out against the honest majority);
2. **held-out check**: on the validator's own check set, the AUROC of the client's model is at most
   ``tolerance`` below the AUROC of the current global model (a sign-flipped update that undoes
   learning shows up here even when its norm is ordinary).

Both must pass for an approval. ``quorum`` approvals of ``n_validators`` admit an update. Each validator
holds a patient-disjoint slice of the task's validation part; in this simulation the validators live
in the server process (a deployment would run them as separate parties).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cxrlib.federated import ledger, model


@dataclass(frozen=True)
class ValidationRule:
    """The validators' rule (see the module docstring): norm bound ``norm_factor``, held-out AUROC ``tolerance``,
    ``quorum`` approvals of ``n_validators``; recorded in the ledger's genesis."""

    norm_factor: float = 3.0
    tolerance: float = 0.05
    quorum: int = 2
    n_validators: int = 3
    validate: bool = True  # False: every update is aggregated (the attack baseline); votes still recorded

    def to_dict(self) -> dict:
        return asdict(self)


def distance(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Euclidean norm of ``a - b`` over all parameters."""
    return float(np.sqrt(sum(np.sum((x.astype(np.float64) - y.astype(np.float64)) ** 2) for x, y in zip(a, b))))


def norm_ratios(global_params: list[np.ndarray], client_params: list[list[np.ndarray]]) -> np.ndarray:
    """Each update's distance from the global model divided by the round's median distance."""
    norms = np.array([distance(p, global_params) for p in client_params])
    med = float(np.median(norms)) if len(norms) else 0.0
    return norms / med if med > 0 else np.where(norms > 0, np.inf, 1.0)


def check_auroc(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    """AUROC of the model ``params`` on a validator's check set (NaN when it holds one class only)."""
    from cxrlib.stats.metrics import auroc  # lazy: institution processes never need it

    score = model.predict_proba(params, x)
    return float(auroc(y, score)) if 0 < y.sum() < len(y) else float("nan")


@dataclass
class Validator:
    """One validator: its id, its signing key and its check set."""

    validator_id: str
    key: object  # Ed25519PrivateKey
    x: np.ndarray
    y: np.ndarray

    def vote(self, round_: int, client_id: str, update_hash: str, params: list[np.ndarray],
             global_auroc: float, norm_ratio: float, rule: ValidationRule) -> dict:
        """A signed vote body (see :mod:`cxrlib.federated.ledger`)."""
        score = check_auroc(params, self.x, self.y)
        norm_ok = bool(np.isfinite(norm_ratio) and norm_ratio <= rule.norm_factor)
        drop = float(global_auroc - score)
        check_ok = bool(np.isfinite(score) and (not np.isfinite(global_auroc) or drop <= rule.tolerance))
        reasons = ([] if norm_ok else [f"norm {norm_ratio:.2f} x median > {rule.norm_factor}"]) + \
                  ([] if check_ok else [f"check AUROC drop {drop:.3f} > {rule.tolerance}"])
        body = {"validator_id": self.validator_id, "client_id": client_id, "update_hash": update_hash,
                "approve": norm_ok and check_ok, "reasons": reasons,
                "checks": {"norm_ratio": round(float(norm_ratio), 6) if np.isfinite(norm_ratio) else None,
                           "check_auroc": round(score, 6) if np.isfinite(score) else None,
                           "global_check_auroc": round(float(global_auroc), 6) if np.isfinite(global_auroc) else None,
                           "n_check": int(len(self.y))}}
        return ledger.sign_body(self.key, "vote", round_, body)


def split_check_sets(x: np.ndarray, y: np.ndarray, patients: np.ndarray, n_validators: int, seed: int):
    """Patient-disjoint slices of the validation part, one per validator (shuffled patients, round robin)."""
    unique = np.unique(patients)
    order = np.random.default_rng(seed).permutation(len(unique))
    owner = {unique[j]: rank % n_validators for rank, j in enumerate(order)}
    which = np.array([owner[p] for p in patients])
    return [(x[which == v], y[which == v]) for v in range(n_validators)]
