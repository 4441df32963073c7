"""How often each regime code is dominant on the training windows (stored in every bundle).

- fine_token: dominant code of every (channel, patch) token of the online branch;
- fine_pooled: dominant code of every patch after the paper's variable-wise max-pooling (eq. 31);
- coarse_token: dominant code of the coarse view of every channel, through the EMA branch (the
  branch that makes the coarse targets).
"""

from __future__ import annotations

import torch

from jepawatch.model.mts_jepa import MTSJEPA
from jepawatch.training.health import perplexity


@torch.no_grad()
def code_frequencies(model: MTSJEPA, windows: torch.Tensor, device: torch.device, batch_size: int = 256) -> dict:
    """windows: (N, T, V) preprocessed -> {"fine_token": [K counts], "fine_pooled": [...], "coarse_token": [...]}."""
    model.eval()
    k = model.cfg.codebook_size
    counts = {name: torch.zeros(k, dtype=torch.long) for name in ("fine_token", "fine_pooled", "coarse_token")}
    for start in range(0, windows.shape[0], batch_size):
        x = windows[start : start + batch_size].to(device)
        fine = model.encode_window(x).codes.probs  # (B, V, P, K)
        coarse = model.encode_window(x, ema=True, coarse=True).codes.probs  # (B, V, 1, K)
        counts["fine_token"] += torch.bincount(fine.argmax(-1).flatten().cpu(), minlength=k)
        counts["fine_pooled"] += torch.bincount(fine.amax(dim=1).argmax(-1).flatten().cpu(), minlength=k)
        counts["coarse_token"] += torch.bincount(coarse.argmax(-1).flatten().cpu(), minlength=k)
    return {name: c.tolist() for name, c in counts.items()}


def code_usage(counts: list[int]) -> dict:
    """How many codes are dominant somewhere and the perplexity of the dominant-code histogram
    (exp of its entropy: K when every code is dominant equally often, 1 when one code always is)."""
    c = torch.tensor(counts, dtype=torch.float64)
    if c.sum() == 0:
        return {"dominant": 0, "perplexity": 0.0}
    return {"dominant": int((c > 0).sum()), "perplexity": perplexity(c)}
