"""What a trained MTS-JEPA says about each window: codes, predictions for the next window, surprise.

For windows W_t with their predecessors W_{t-1} (preprocessed, (N, T, V) each), `signals_from_outputs`
(via `scoring.scored_windows.signals_at`) returns per window:
- `pooled` (N, P, K): online fine code probabilities after variable-wise max-pooling (eq. 31),
  the downstream head's input; `regime` (N, P) its dominant codes; `coarse_regime` (N,) the
  dominant code of the coarse view (EMA branch, max-pooled over channels).
- `next_regime` (N, P): dominant codes of the predicted next window (predicted probabilities,
  max-pooled over channels).
- `surprise_fine`, `surprise_coarse` (N, V): KL(EMA codes of W_t || codes predicted for W_t from
  W_{t-1}), summed over patches and codes, per channel.
- `rarity` (N, V): expected surprisal of the codes predicted for W_{t+1} under the training code
  frequencies, sum_k p_hat(k) * -log f(k), averaged over patches, fine plus coarse, per channel.
- `stats` (N, V, 5): the window's own per-channel statistics (mean, std, min, max, last value of
  the preprocessed window), what per-window RevIN hides from the encoder; the label-free risk's
  statistics components and a `codes+stats` head read them; `recent_stats` (N, V, 5) the same of
  the window's last patch (its newest L rows), where a precursor that builds up is strongest.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from jepawatch.kinds import check_scorable
from jepawatch.model.codebook import SoftCodes
from jepawatch.model.mts_jepa import MTSJEPA, Encoding


WINDOW_STATISTICS = 5  # mean, std, min, max, last: what the supervised head and the baselines read


def window_statistics(windows: torch.Tensor) -> torch.Tensor:
    """(N, T, V) -> (N, V, 5): mean, std, min, max and last value of each channel in each window."""
    std = windows.std(1) if windows.shape[1] > 1 else torch.zeros_like(windows[:, 0])  # one row: no spread
    return torch.stack([windows.mean(1), std, windows.amin(1), windows.amax(1), windows[:, -1]], dim=-1)


def reference_statistics(windows: torch.Tensor) -> torch.Tensor:
    """(N, T, V) -> (N, V, 6): `window_statistics` and each channel's roughness, the std of its
    first differences: a view of its dynamics that its level and spread miss. A new fast oscillation,
    noise that collapses or grows, a smoothed or stuck sensor change the roughness before they change
    the level (issue 28, measured 2026-12-04, BENCHMARKS.md "Roughness"). Fewer than three rows: 0."""
    diffs = windows[:, 1:] - windows[:, :-1]
    roughness = diffs.std(1) if diffs.shape[1] > 1 else torch.zeros_like(windows[:, 0])
    return torch.cat([window_statistics(windows), roughness.unsqueeze(-1)], dim=-1)


@dataclass
class WindowSignals:
    pooled: torch.Tensor  # (N, P, K)
    regime: torch.Tensor  # (N, P) long
    coarse_regime: torch.Tensor  # (N,) long
    next_regime: torch.Tensor  # (N, P) long
    surprise_fine: torch.Tensor  # (N, V)
    surprise_coarse: torch.Tensor  # (N, V)
    rarity: torch.Tensor  # (N, V)
    stats: torch.Tensor  # (N, V, 6) reference_statistics of W_t (its first 5: window_statistics)
    recent_stats: torch.Tensor  # (N, V, 6) reference_statistics of the last patch of W_t

    @property
    def window_stats(self) -> torch.Tensor:
        """(N, V, 5) the window statistics the supervised head reads."""
        return self.stats[..., :WINDOW_STATISTICS]

    def __len__(self) -> int:
        return self.pooled.shape[0]

    @staticmethod
    def concat(parts: list["WindowSignals"]) -> "WindowSignals":
        return WindowSignals(*(torch.cat([getattr(p, f) for p in parts]) for f in WindowSignals.__dataclass_fields__))


def surprisal(frequencies: list[int]) -> torch.Tensor:
    """-log f(k) with add-one smoothing, (K,): a code never seen in training is the rarest."""
    counts = torch.tensor(frequencies, dtype=torch.float64) + 1.0
    return (-(counts / counts.sum()).log()).float()


@dataclass
class WindowOutputs:
    """What the network computes for one batch of windows (B, T, V), whatever runs it (torch, ONNX)."""

    codes: torch.Tensor  # (B, V, P, K) online fine code probabilities (Pi_t)
    next_fine: torch.Tensor  # (B, V, P, K) log-probabilities of the codes predicted for the next window
    next_coarse: torch.Tensor | None  # (B, V, 1, K) the same at the coarse resolution; None w/o Downsample
    ema_fine: torch.Tensor | None  # (B, V, P, K) EMA-branch fine code log-probabilities (the target view)
    ema_coarse: torch.Tensor | None  # (B, V, 1, K) EMA-branch coarse code log-probabilities
    # (the EMA views are left out, None, for a predecessor window: only its predictions are used)


@torch.no_grad()
def window_outputs(model: MTSJEPA, windows: torch.Tensor, targets: bool = True) -> WindowOutputs:
    """windows: (B, T, V) preprocessed, on the model's device; `targets=False` skips the EMA views."""
    check_scorable(model)
    online, next_fine, next_coarse = online_and_predictions(model, windows)
    return WindowOutputs(
        codes=online.codes.probs,
        next_fine=next_fine,
        next_coarse=next_coarse,
        ema_fine=model.encode_window(windows, ema=True).codes.log_probs if targets else None,
        ema_coarse=model.encode_window(windows, ema=True, coarse=True).codes.log_probs if targets else None,
    )


@torch.no_grad()
def signals_from_outputs(predicted_fine: torch.Tensor, predicted_coarse: torch.Tensor | None, current: WindowOutputs,
                         code_frequencies: dict, stats: torch.Tensor, recent_stats: torch.Tensor) -> WindowSignals:
    """The signals of each current window, given what its predecessor predicted for it (code
    log-probabilities, fine (N, V, P, K) and coarse (N, V, 1, K) or None) and the current windows'
    statistics, whole and of their last patch (N, V, 5) each."""
    device = current.codes.device
    fine_rarity = surprisal(code_frequencies["fine_token"]).to(device)  # (K,)
    coarse_rarity = surprisal(code_frequencies["coarse_token"]).to(device)  # (K,)
    surprise_fine = _kl(current.ema_fine, predicted_fine)  # (N, V)
    rarity = (current.next_fine.exp() * fine_rarity).sum(-1).mean(-1)  # (N, V)
    if current.next_coarse is not None and predicted_coarse is not None:
        surprise_coarse = _kl(current.ema_coarse, predicted_coarse)  # (N, V)
        rarity = rarity + (current.next_coarse.exp() * coarse_rarity).sum(-1).mean(-1)
    else:  # the "w/o Downsample" ablation has no coarse predictor
        surprise_coarse = torch.zeros_like(surprise_fine)
    pooled = current.codes.amax(dim=1)  # (N, P, K)
    return WindowSignals(
        pooled=pooled,
        regime=pooled.argmax(-1),
        coarse_regime=current.ema_coarse.exp().amax(dim=1)[:, 0].argmax(-1),
        next_regime=current.next_fine.exp().amax(dim=1).argmax(-1),
        surprise_fine=surprise_fine,
        surprise_coarse=surprise_coarse,
        rarity=rarity,
        stats=stats.to(device),
        recent_stats=recent_stats.to(device),
    )


def online_and_predictions(model: MTSJEPA, windows: torch.Tensor):
    """(B, T, V) -> the online encoding (B, V, P, .) and predicted next-window code log-probabilities,
    fine (B, V, P, K) and coarse (B, V, 1, K) or None."""
    batch, _, n_channels = windows.shape
    online = model.encode_window(windows)
    n = batch * n_channels
    codes = online.codes
    flat = Encoding(online.h.reshape(n, *online.h.shape[2:]),
                    SoftCodes(*(t.reshape(n, *t.shape[2:]) for t in (codes.probs, codes.log_probs, codes.z))))
    fine_logits, coarse_logits = model.predict(flat)  # (n, P, K), (n, 1, K) | None
    fine = F.log_softmax(fine_logits, dim=-1).reshape(batch, n_channels, *fine_logits.shape[1:])
    coarse = None
    if coarse_logits is not None:
        coarse = F.log_softmax(coarse_logits, dim=-1).reshape(batch, n_channels, *coarse_logits.shape[1:])
    return online, fine, coarse


def _kl(target_log_probs: torch.Tensor, predicted_log_probs: torch.Tensor) -> torch.Tensor:
    """(N, V, S, K) each -> (N, V): KL(target || predicted) summed over patches and codes."""
    kl = F.kl_div(predicted_log_probs, target_log_probs, log_target=True, reduction="none")
    return kl.sum(dim=(-1, -2))
