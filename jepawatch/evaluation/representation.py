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

WITH_STATS = "codes+stats"


def default_features(bundle: Bundle) -> str:
    return bundle.run.kind.default_features(bundle.run.model)


class Representation:
    """features(windows (N, T, V) preprocessed) -> (N, ...) for the head; stats are added by the protocol."""

    def __init__(self, bundle: Bundle, device: torch.device, features: str | None = None, batch_size: int = 64):
        self.kind = bundle.run.kind
        self.features = features or default_features(bundle)
        allowed = self.kind.head_features
        if self.features not in allowed:
            raise ConfigError(f"--features {self.features} does not apply to a {self.kind.name} bundle; "
                              f"choose one of {', '.join(allowed)}")
        if not getattr(bundle.run.model, "use_codebook", True) and self.features != "latent":
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
        return self.kind.representation(self.model, batch, self.features)
