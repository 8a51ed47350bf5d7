"""The textbook formulas of each loss, in NumPy float64, written independently of PyTorch.

These are the "closed forms" each loss declares (`suite.Loss.closed_form`), which the kit and
the agreement benchmark check it against: one formula per loss, row by row, with
`np.logaddexp.reduce` for the log-sum-exp. They are slow and only for checking.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "cross_entropy_closed_form",
    "focal_closed_form",
    "infonce_closed_form",
    "ranking_closed_form",
]


def _np(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    return z - np.logaddexp.reduce(z, axis=1, keepdims=True)


def cross_entropy_closed_form(
    logits: Any, target: Any, *, label_smoothing: float = 0.0, ignore_index: int = -100
) -> float:
    """1/M Σ_{i: y_i ≠ ignore} [(1-ε)(-log p_i[y_i]) + ε/C Σ_c -log p_i[c]]; NaN when M = 0."""
    z = _np(logits)
    y = np.asarray(target.tolist() if isinstance(target, torch.Tensor) else target, dtype=np.int64)
    keep = y != ignore_index
    if not keep.any():
        return float("nan")
    log_p = _log_softmax(z[keep])
    nll = -log_p[np.arange(log_p.shape[0]), y[keep]]
    uniform = -log_p.mean(axis=1)
    return float(np.mean((1.0 - label_smoothing) * nll + label_smoothing * uniform))


def focal_closed_form(
    logits: Any, target: Any, *, gamma: float = 2.0, alpha: Sequence[float] | None = None
) -> float:
    """1/N Σ_i -α[y_i] (1 - p_i[y_i])^γ log p_i[y_i]."""
    z = _np(logits)
    y = np.asarray(target.tolist() if isinstance(target, torch.Tensor) else target, dtype=np.int64)
    log_pt = _log_softmax(z)[np.arange(z.shape[0]), y]
    weights = np.ones_like(log_pt) if alpha is None else np.asarray(alpha, dtype=np.float64)[y]
    return float(np.mean(-weights * (1.0 - np.exp(log_pt)) ** gamma * log_pt))


def infonce_closed_form(anchors: Any, positives: Any, *, temperature: float = 0.05) -> float:
    """1/N Σ_i [-s_ii/τ + log Σ_j exp(s_ij/τ)], s_ij = cos(a_i, p_j) (a zero vector has cos 0)."""
    a, p = _np(anchors), _np(positives)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    s = a @ p.T / temperature
    return float(np.mean(np.logaddexp.reduce(s, axis=1) - np.diag(s)))


def ranking_closed_form(chosen: Any, rejected: Any) -> float:
    """1/N Σ_i log(1 + exp(-(c_i - r_i))), the Bradley-Terry negative log-likelihood."""
    d = _np(chosen) - _np(rejected)
    return float(np.mean(np.logaddexp(0.0, -d)))
