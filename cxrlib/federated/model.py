"""The federated model: a one-hidden-layer perceptron in numpy (no torch), small enough to train in
milliseconds per client and round on a CPU, so that a federation of processes fits a classroom budget.

Input: a flattened, per-image standardised grey image (``image_size**2`` values). Output: one logit
(pneumonia). Parameters (the list Flower ships): ``W1`` (d x h), ``b1`` (h), ``w2`` (h), ``b2`` (1), all
float32. Training: mini-batch Adam on the mean binary cross-entropy plus L2 weight decay, a fresh
optimiser state per call (a client round), batches drawn with a seeded generator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Params = list[np.ndarray]


def init_params(n_inputs: int, hidden: int, seed: int) -> Params:
    """He-initialised weights, zero biases (``weights: none``: nothing pre-trained)."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.0, np.sqrt(2.0 / n_inputs), size=(n_inputs, hidden))
    w2 = rng.normal(0.0, np.sqrt(1.0 / hidden), size=hidden)
    return [w1.astype(np.float32), np.zeros(hidden, np.float32), w2.astype(np.float32), np.zeros(1, np.float32)]


def n_parameters(params: Params) -> int:
    """The number of scalar parameters of the model."""
    return int(sum(p.size for p in params))


def logits(params: Params, x: np.ndarray) -> np.ndarray:
    """The model's logit for every row of ``x`` (ReLU hidden layer, linear output)."""
    w1, b1, w2, b2 = params
    return np.maximum(x @ w1 + b1, 0.0) @ w2 + b2[0]


def predict_proba(params: Params, x: np.ndarray) -> np.ndarray:
    """The probability of the positive class for every row of ``x`` (the logit's sigmoid, clipped at +-40)."""
    return 1.0 / (1.0 + np.exp(-np.clip(logits(params, x), -40, 40)))


def sample_losses(params: Params, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Binary cross-entropy of every example (the membership-inference attack's score)."""
    z = logits(params, x).astype(np.float64)
    return np.logaddexp(0.0, z) - y * z


def client_round_seed(seed: int, round_: int, k: int) -> int:
    """The batch-order seed of institution ``k``'s local training in round ``round_`` (from 1) of a federation
    started with ``seed``: one rule for the Flower clients and the in-process replicates
    (:func:`cxrlib.chapters.federated.fedavg_in_process`), so both train alike."""
    return int(seed) * 100_003 + int(round_) * 101 + int(k)


@dataclass
class TrainInfo:
    """What one call of :func:`train` (a client round) reports."""

    loss: float  # mean training loss over the last epoch's batches
    accuracy: float  # on the training data after training (threshold 0.5)
    steps: int


def train(params: Params, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, batch_size: int,
          seed: int, weight_decay: float = 1e-4) -> tuple[Params, TrainInfo]:
    """``epochs`` passes of Adam over ``(x, y)``; returns new parameters (inputs untouched)."""
    rng = np.random.default_rng(seed)
    p = [a.astype(np.float32).copy() for a in params]
    m = [np.zeros_like(a) for a in p]
    v = [np.zeros_like(a) for a in p]
    beta1, beta2, eps, step, last = 0.9, 0.999, 1e-8, 0, []
    y = y.astype(np.float32)
    for _ in range(epochs):
        last = []
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            xb, yb = x[idx], y[idx]
            w1, b1, w2, b2 = p
            h_pre = xb @ w1 + b1
            h = np.maximum(h_pre, 0.0)
            z = h @ w2 + b2[0]
            prob = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
            last.append(float(np.mean(np.logaddexp(0.0, z) - yb * z)))
            dz = (prob - yb) / len(idx)
            g_w2 = h.T @ dz + weight_decay * w2
            g_b2 = np.array([dz.sum()], np.float32)
            dh = np.outer(dz, w2) * (h_pre > 0)
            g_w1 = xb.T @ dh + weight_decay * w1
            g_b1 = dh.sum(axis=0)
            step += 1
            for i, g in enumerate((g_w1, g_b1, g_w2, g_b2)):
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                m_hat = m[i] / (1 - beta1 ** step)
                v_hat = v[i] / (1 - beta2 ** step)
                p[i] = (p[i] - lr * m_hat / (np.sqrt(v_hat) + eps)).astype(np.float32)
    accuracy = float(np.mean((predict_proba(p, x) >= 0.5) == (y >= 0.5))) if len(x) else float("nan")
    return p, TrainInfo(loss=float(np.mean(last)) if last else float("nan"), accuracy=accuracy, steps=step)
