"""The statistics every probe reports: cosine similarity, mean relative error, the interval of
pairwise similarity (other intervals: ``deep_pg.bootstrap``)."""

from __future__ import annotations

import numpy as np
import torch

from deep_pg.bootstrap import CONFIDENCE


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """cos(a, b) of two flat vectors; NaN when either is the zero vector (no direction: e.g. the
    step of an update whose annealed learning rate has reached 0)."""
    denom = a.norm() * b.norm()
    return float(a @ b / denom) if denom > 0 else float("nan")


def cosine_matrix(estimates: torch.Tensor) -> np.ndarray:
    """(K, K) cosine similarities of K estimates (rows); NaN rows/columns for zero vectors."""
    if estimates.shape[0] < 2:
        raise ValueError("pairwise similarity needs at least two estimates")
    norms = estimates.norm(dim=1, keepdim=True)
    unit = torch.where(
        norms > 0, estimates / norms.clamp_min(1e-30), torch.full_like(estimates, float("nan"))
    )
    return (unit @ unit.T).double().numpy()


def pairwise_cosine(estimates: torch.Tensor) -> np.ndarray:
    """For K estimates (rows), each one's mean cosine similarity to the K-1 others, shape (K,).

    Their mean is the average pairwise cosine similarity the paper plots (Figure 1).
    """
    cos = cosine_matrix(estimates)
    return (cos.sum(axis=1) - np.diag(cos)) / (cos.shape[0] - 1)


def pairwise_bootstrap_ci(
    estimates: torch.Tensor, resamples: int, seed: int
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean pairwise cosine similarity of K independent
    estimates, resampling the estimates themselves: each resample's mean is over its pairs of
    distinct original estimates (a duplicate's pair with itself would count a cosine of 1).

    The K per-estimate means share pairs, so bootstrapping them as if independent is too narrow.
    NaN when a cosine is undefined (a zero estimate).
    """
    cos = cosine_matrix(estimates)
    if np.isnan(cos).any():
        return float("nan"), float("nan")
    k = cos.shape[0]
    idx = np.random.default_rng(seed).integers(0, k, size=(resamples, k))
    distinct = idx[:, :, None] != idx[:, None, :]
    sums = np.where(distinct, cos[idx[:, :, None], idx[:, None, :]], 0.0).sum(axis=(1, 2))
    counts = distinct.sum(axis=(1, 2))
    means = sums[counts > 0] / counts[counts > 0]  # a resample of one estimate has no pair
    alpha = (1.0 - CONFIDENCE) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def spearman_brown(rho_half: float) -> float:
    """rho_N = 2 rho / (1 + rho): the cosine two independent N-pair estimates are expected to have,
    from the cosine ``rho_half`` of two independent N/2-pair ones (signal g, noise of variance
    s^2/n: rho_n = |g|^2 / (|g|^2 + s^2/n)). NaN where it is undefined (rho_half <= -1)."""
    return 2 * rho_half / (1 + rho_half) if rho_half > -1 else float("nan")


def corrected_cosine(measured: float, reliability: float) -> float:
    """cos(estimate, noisy truth) / sqrt(rho_N): a noisy truth shrinks every cosine to it by
    sqrt(rho_N) (its own cosine with the noise-free direction). NaN unless rho_N > 0. Not clipped:
    a value above 1 means noise in ``measured`` or in rho_N, and is kept as such."""
    return measured / np.sqrt(reliability) if reliability > 0 else float("nan")


def mean_relative_error(predictions: np.ndarray, targets: np.ndarray) -> float:
    """MRE = mean over states of |V - target| / |target| (docs/probes.md)."""
    predictions, targets = np.asarray(predictions, float), np.asarray(targets, float)
    return float(np.mean(np.abs(predictions - targets) / np.abs(targets)))
