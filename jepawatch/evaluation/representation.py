"""What the protocol's head reads from a frozen pre-trained bundle, for every model kind and ablation.

The paper's head input (eq. 31) is the online fine code probabilities of W_t max-pooled over
channels, (P, K). Bundles without codes need another input, and `evaluate --features` can ask
for a different one to find out where the information is (issue 7's investigation):

- `codes`: eq. 31, (P, K). The default for MTS-JEPA bundles with the codebook.
- `codes-mean`: the same probabilities averaged over channels instead of max-pooled, (P, K).
- `latent`: the online encoder tokens h max-pooled over channels, (P, D). The default for the
  "w/o Codebook Module" ablation (decision: the continuous analogue of eq. 31).
- `codes+stats`: `codes` beside the raw per-channel window statistics the baseline head reads
  (mean, std, min, max, last; standardised on the protocol's train part), i.e. the level and
  scale that RevIN removes before the encoder sees a window.
- `context`: the Temporal JEPA's context representation of the whole window (all steps
  visible), (E,) — the card's mean-pooled output. The only input for temporal-jepa bundles.
"""

from __future__ import annotations

import torch

from jepawatch.bundle import Bundle
from jepawatch.errors import ConfigError

MTS_FEATURES = ("codes", "codes-mean", "latent", "codes+stats")
TEMPORAL_FEATURES = ("context",)
FEATURES = MTS_FEATURES + TEMPORAL_FEATURES
WITH_STATS = "codes+stats"


def default_features(bundle: Bundle) -> str:
    if bundle.run.model_kind == "temporal-jepa":
        return "context"
    return "codes" if bundle.run.model.use_codebook else "latent"


class Representation:
    """features(windows (N, T, V) preprocessed) -> (N, ...) for the head; stats are added by the protocol."""

    def __init__(self, bundle: Bundle, device: torch.device, features: str | None = None, batch_size: int = 64):
        self.kind = bundle.run.model_kind
        self.features = features or default_features(bundle)
        allowed = TEMPORAL_FEATURES if self.kind == "temporal-jepa" else MTS_FEATURES
        if self.features not in allowed:
            raise ConfigError(f"--features {self.features} does not apply to a {self.kind} bundle; "
                              f"choose one of {', '.join(allowed)}")
        if self.kind == "mts-jepa" and not bundle.run.model.use_codebook and self.features != "latent":
            raise ConfigError(f"{bundle.name} was trained without the codebook (an ablation): it has no codes; "
                              "use --features latent")
        self.window = bundle.run.model.window
        self.model = bundle.model.to(device).eval()
        self.device = device
        self.batch_size = batch_size

    @property
    def adds_window_stats(self) -> bool:
        return self.features == WITH_STATS

    @torch.no_grad()
    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        parts = []
        for begin in range(0, len(windows), self.batch_size):
            batch = windows[begin : begin + self.batch_size].to(self.device)  # (B, T, V)
            parts.append(self._batch(batch).float().cpu())
        return torch.cat(parts)

    def _batch(self, batch: torch.Tensor) -> torch.Tensor:
        if self.kind == "temporal-jepa":
            return self.model.embed(batch)  # (B, E)
        encoding = self.model.encode_window(batch)  # per channel: (B, V, P, .)
        if self.features == "latent":
            return encoding.h.amax(dim=1)  # (B, P, D)
        if self.features == "codes-mean":
            return encoding.codes.probs.mean(dim=1)  # (B, P, K)
        return encoding.codes.probs.amax(dim=1)  # (B, P, K), eq. 31
