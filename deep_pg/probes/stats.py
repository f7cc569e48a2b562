"""The statistics every probe reports: cosine similarity, mean relative error, bootstrap CIs."""
from __future__ import annotations

import numpy as np
import torch

CI_LEVEL = 0.95


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """cos(a, b) of two flat vectors; NaN when either is the zero vector (no direction: e.g. the
    step of an update whose annealed learning rate has reached 0)."""
    denom = a.norm() * b.norm()
    return float(a @ b / denom) if denom > 0 else float("nan")


def pairwise_cosine(estimates: torch.Tensor) -> np.ndarray:
    """For K estimates (rows), each one's mean cosine similarity to the K-1 others, shape (K,).

    Their mean is the average pairwise cosine similarity the paper plots (Figure 1).
    """
    k = estimates.shape[0]
    if k < 2:
        raise ValueError("pairwise similarity needs at least two estimates")
    norms = estimates.norm(dim=1, keepdim=True)
    unit = torch.where(norms > 0, estimates / norms.clamp_min(1e-30), torch.full_like(estimates, float("nan")))
    cos = (unit @ unit.T).double().numpy()
    return (cos.sum(axis=1) - np.diag(cos)) / (k - 1)


def mean_relative_error(predictions: np.ndarray, targets: np.ndarray) -> float:
    """MRE = mean over states of |V - target| / |target| (DESIGN.md)."""
    predictions, targets = np.asarray(predictions, float), np.asarray(targets, float)
    return float(np.mean(np.abs(predictions - targets) / np.abs(targets)))


def bootstrap_ci(values: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of ``values`` (fixed RNG: reproducible).

    Vectorized: one (resamples, n) index draw. A single value has no spread: (nan, nan).
    """
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    alpha = (1.0 - CI_LEVEL) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)
