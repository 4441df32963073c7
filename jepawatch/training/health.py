"""Training-health metrics the paper argues for (§3.3, App. A.3.2): is the latent space collapsing?

- code perplexity: exp H(E[p]) of the batch-mean code distribution; 1 means every token uses
  the same code, K means all codes are used equally;
- codes used: how many distinct dominant codes appear;
- trace of the covariance of z: 0 exactly when every latent is the same (the collapse the
  non-collapse certificate rules out).
"""

from __future__ import annotations

import math

import torch


class HealthAccumulator:
    """Accumulates code usage and latent moments over many batches without keeping the batches."""

    def __init__(self) -> None:
        self.code_mass: torch.Tensor | None = None  # (K,) summed probabilities
        self.code_hits: torch.Tensor | None = None  # (K,) dominant-code counts
        self.n_tokens = 0
        self.z_sum: torch.Tensor | None = None  # (D,)
        self.z_sq_sum: torch.Tensor | None = None  # (D,)
        self.n_latents = 0

    @torch.no_grad()
    def add_codes(self, probs: torch.Tensor) -> None:
        flat = probs.detach().float().reshape(-1, probs.shape[-1])  # (N, K)
        hits = torch.bincount(flat.argmax(-1), minlength=flat.shape[-1]).double().cpu()
        mass = flat.sum(0).double().cpu()
        self.code_mass = mass if self.code_mass is None else self.code_mass + mass
        self.code_hits = hits if self.code_hits is None else self.code_hits + hits
        self.n_tokens += flat.shape[0]

    @torch.no_grad()
    def add_latents(self, z: torch.Tensor) -> None:
        flat = z.detach().double().reshape(-1, z.shape[-1]).cpu()  # (N, D)
        s, sq = flat.sum(0), flat.pow(2).sum(0)
        self.z_sum = s if self.z_sum is None else self.z_sum + s
        self.z_sq_sum = sq if self.z_sq_sum is None else self.z_sq_sum + sq
        self.n_latents += flat.shape[0]

    def summary(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.code_mass is not None and self.n_tokens:
            out["code_perplexity"] = perplexity(self.code_mass)
            out["codes_used"] = float((self.code_hits > 0).sum())
        if self.z_sum is not None and self.n_latents:
            mean = self.z_sum / self.n_latents
            var = self.z_sq_sum / self.n_latents - mean.pow(2)
            out["z_cov_trace"] = float(var.clamp_min(0).sum())
        return out


def perplexity(weights: torch.Tensor) -> float:
    """exp H(w / sum w) of non-negative weights (probability mass or counts)."""
    dist = weights.double() / weights.double().sum().clamp_min(1e-300)
    return math.exp(float(-(dist * torch.log(dist.clamp_min(1e-12))).sum()))


def collapse_warning(health: dict[str, float], min_perplexity: float) -> str | None:
    """A one-line warning when the codes or latents have collapsed, else None."""
    if health.get("codes_used", 2) <= 1:
        return "codes collapsed: every validation token maps to one code (docs/method.md: known problem of --preset paper)"
    if "code_perplexity" in health and health["code_perplexity"] < min_perplexity:
        return f"code usage is collapsing: perplexity {health['code_perplexity']:.2f} < {min_perplexity:g}"
    if health.get("z_cov_trace", 1.0) < 1e-6:
        return "latents collapsed: the covariance trace of z is ~0"
    return None
