"""Simple label-free detectors that `evaluate` puts beside the label-free risk, in the same run.

Each is fitted on windows of the bundle's training data only (no labels, nothing of the scored
data) and scores a window: larger = more unusual. Window statistics are `window_statistics`
(mean, std, min, max, last per channel of the preprocessed window).

- robust_z_max / robust_z_sum: |s - median| / IQR of each statistic against the training windows,
  the largest / the sum over channels and statistics;
- isolation_forest: scikit-learn's IsolationForest on the statistics (200 trees, seed 0);
- knn: mean distance to the 5 nearest training windows, statistics standardised by their
  training mean and std;
- pca_reconstruction: squared error of the raw window (all channels, all steps) after projection
  on the principal components explaining 90% of the training windows' variance.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import NearestNeighbors

from jepawatch.errors import DataError
from jepawatch.scoring.features import window_statistics
from jepawatch.scoring.stats_reference import center_scale, robust_center_scale

BASELINES = ("robust_z_max", "robust_z_sum", "isolation_forest", "knn", "pca_reconstruction")
MAX_TRAINING_WINDOWS = 5000


def fit_baselines(training_windows: torch.Tensor) -> dict[str, Callable[[torch.Tensor], np.ndarray]]:
    """training_windows: (N, T, V) preprocessed -> name -> scorer of (M, T, V) windows, (M,) scores."""
    if len(training_windows) < 2:
        raise DataError(f"the training data holds {len(training_windows)} whole window(s); the label-free baselines "
                        "need at least 2: give the data the bundle was trained on with --train-data")
    if len(training_windows) > MAX_TRAINING_WINDOWS:
        keep = np.linspace(0, len(training_windows) - 1, MAX_TRAINING_WINDOWS).round().astype(int)
        training_windows = training_windows[keep]

    def stats_of(windows: torch.Tensor) -> np.ndarray:
        return window_statistics(windows).double().flatten(1).numpy()  # (N, V*5)

    train = stats_of(training_windows)
    median, iqr = robust_center_scale(train)
    mean, std = center_scale(train)
    forest = IsolationForest(n_estimators=200, random_state=0).fit(train)
    neighbours = NearestNeighbors(n_neighbors=min(5, len(train))).fit((train - mean) / std)
    raw = training_windows.double().flatten(1).numpy()  # (N, T*V)
    pca = _fit_pca(raw)

    def robust_z(windows: torch.Tensor) -> np.ndarray:
        return np.abs((stats_of(windows) - median) / iqr)

    def pca_error(windows: torch.Tensor) -> np.ndarray:
        x = windows.double().flatten(1).numpy()
        return ((x - pca.inverse_transform(pca.transform(x))) ** 2).sum(axis=1)

    return {
        "robust_z_max": lambda w: robust_z(w).max(axis=1),
        "robust_z_sum": lambda w: robust_z(w).sum(axis=1),
        "isolation_forest": lambda w: -forest.score_samples(stats_of(w)),
        "knn": lambda w: neighbours.kneighbors((stats_of(w) - mean) / std)[0].mean(axis=1),
        "pca_reconstruction": pca_error,
    }


def _fit_pca(raw: np.ndarray) -> PCA:
    """PCA keeping 90% of the variance. LAPACK's divide-and-conquer SVD (gesdd, scikit-learn's "full")
    fails to converge on some real matrices (MSL's 1,457 training windows of 40 rows x 33 channels,
    2026-12-02); the eigendecomposition of the covariance then gives the same components."""
    try:
        return PCA(n_components=0.9, svd_solver="full").fit(raw)
    except np.linalg.LinAlgError:
        return PCA(n_components=0.9, svd_solver="covariance_eigh").fit(raw)


def windows_of(series: np.ndarray, window: int) -> torch.Tensor:
    """(T, V) -> (N, T_w, V): the non-overlapping windows from the first row."""
    n = len(series) // window
    return torch.from_numpy(np.ascontiguousarray(series[: n * window])).reshape(n, window, -1)
