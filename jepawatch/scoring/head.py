"""The supervised next-window head of the paper's downstream protocol (the paper's App. B.4).

Frozen encoder and codebook; input h_t = the online fine code probabilities max-pooled over
channels (P, K), flattened; an MLP trained with binary cross-entropy on pairs (W_t, y_{t+1});
the decision threshold is the one that maximises F1 on a later, separate part of the data.
The paper does not give the MLP's size or schedule; `HeadConfig` holds ours (decision): one
hidden layer of 128 with ReLU and dropout 0.1, Adam 1e-3, weight decay 1e-4, 100 epochs of
minibatches of 64. The same head on other features (raw window statistics) is the baseline
`evaluate` puts beside it.

Head inputs a bundle's head can read (`calibrate --features`): `codes` (the paper's) and
`codes+stats` (our default for `calibrate`, issue 7): the pooled codes beside the window's
per-channel statistics (mean, std, min, max, last of the preprocessed window), standardised with
the statistics of the windows the head was fitted on, which the head keeps as buffers. On MSL the
paper's input is below chance for the next window and the statistics carry what is predictable
(BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from jepawatch.errors import BundleError


@dataclass
class HeadConfig:
    hidden: int = 128
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 100
    batch_size: int = 64


HEAD_FEATURES = ("codes", "codes+stats")


def fit_standardiser(stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std over windows (dim 0) of the fitting part only (leak-free); std at least 1e-6."""
    return stats.mean(dim=0), stats.std(dim=0).clamp_min(1e-6)


def head_inputs(pooled: torch.Tensor, stats: torch.Tensor | None = None,
                standardiser: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """(N, ...) pooled codes [beside (N, V, 5) window statistics scaled by (mean, std)] -> (N, F)."""
    x = pooled.float().flatten(1)
    if standardiser is None:
        return x
    return torch.cat([x, ((stats.float() - standardiser[0]) / standardiser[1]).flatten(1)], dim=1)


class RiskHead(nn.Module):
    def __init__(self, n_features: int, cfg: HeadConfig, stats_shape: tuple[int, int] | None = None):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
                                 nn.Linear(cfg.hidden, 1))
        self.features = "codes+stats" if stats_shape is not None else "codes"
        if stats_shape is not None:
            self.register_buffer("stats_mean", torch.zeros(stats_shape))  # (V, 5)
            self.register_buffer("stats_std", torch.ones(stats_shape))  # (V, 5)

    def inputs(self, pooled: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        """(N, P, K) pooled codes [and (N, V, 5) window statistics] -> (N, F) head input."""
        return head_inputs(pooled, stats, (self.stats_mean, self.stats_std) if self.features == "codes+stats" else None)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features.flatten(1)).squeeze(-1)  # (N, F...) -> (N,) logits


def train_head(features: torch.Tensor, labels: np.ndarray, cfg: HeadConfig, seed: int,
               standardiser: tuple[torch.Tensor, torch.Tensor] | None = None) -> RiskHead:
    """features: (N, ...) float; labels: (N,) 0/1 for the NEXT window. CPU; small data.

    standardiser: the (mean, std) of the window statistics when `features` is `RiskHead.inputs` of
    codes and statistics; the head keeps them to build the same input when it scores."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = features.float().flatten(1)
    y = torch.as_tensor(labels, dtype=torch.float32)
    head = RiskHead(x.shape[1], cfg, tuple(standardiser[0].shape) if standardiser is not None else None)
    if standardiser is not None:
        head.stats_mean.copy_(standardiser[0])
        head.stats_std.copy_(standardiser[1])
    optimiser = torch.optim.Adam(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    head.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(x), generator=generator)
        for begin in range(0, len(x), cfg.batch_size):
            batch = order[begin : begin + cfg.batch_size]
            optimiser.zero_grad()
            loss_fn(head(x[batch]), y[batch]).backward()
            optimiser.step()
    return head.eval()


@torch.no_grad()
def predict(head: RiskHead, features: torch.Tensor) -> np.ndarray:
    """(N,) probabilities that the next window is anomalous."""
    return torch.sigmoid(head(features.float().flatten(1))).numpy()


def best_f1_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The threshold delta maximising F1 of (p > delta) on this part (eq. 29); 0.5 without positives."""
    if labels.sum() == 0:
        return 0.5
    from sklearn.metrics import precision_recall_curve  # here: scikit-learn costs `score` and `watch` 1 s to import

    precision, recall, thresholds = precision_recall_curve(labels, probabilities)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = int(np.argmax(f1))
    # precision_recall_curve predicts p >= t; the paper predicts p > delta: step just below t
    return float(np.nextafter(thresholds[best], -np.inf))


def head_to_bundle(head: RiskHead, n_features: int, cfg: HeadConfig, threshold: float, provenance: dict) -> tuple[dict, dict]:
    """(head.json content, head.safetensors tensors)."""
    stats = {"stats_shape": list(head.stats_mean.shape)} if head.features == "codes+stats" else {}
    return ({"config": asdict(cfg), "n_features": n_features, "features": head.features, **stats,
             "threshold": threshold, **provenance}, dict(head.state_dict()))


def head_from_bundle(meta: dict, state: dict) -> tuple[RiskHead, float]:
    """A head saved by `head_to_bundle`; heads from before `features` was recorded read codes."""
    features = meta.get("features", "codes")
    if features not in HEAD_FEATURES:
        raise BundleError(f"the bundle's head reads {features!r}, which this jepawatch does not know; upgrade jepawatch")
    try:
        stats_shape = tuple(meta["stats_shape"]) if features == "codes+stats" else None
        head = RiskHead(meta["n_features"], HeadConfig(**meta["config"]), stats_shape)
        head.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise BundleError(f"the bundle's supervised head is corrupted ({str(exc).splitlines()[0]}); run "
                          "`jepawatch calibrate` again, or remove head.json and head.safetensors") from None
    return head.eval(), float(meta["threshold"])
