"""MTS-JEPA (§3): online branch, EMA target branch, dual-resolution predictor and decoder.

Channel independence: the model works on univariate sequences, N = windows x channels, each
with its channel index (for RevIN's per-channel affine). `encode_window` takes multivariate
windows (B, T, V) and returns per-channel results (B, V, ...).
Shapes: P patches of length L, T = T_w = P * L, D latent size, K codes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from jepawatch.model.codebook import SoftCodebook, SoftCodes
from jepawatch.model.config import MTSJEPAConfig
from jepawatch.model.decoder import PatchDecoder
from jepawatch.model.encoder import Encoder
from jepawatch.model.predictors import CoarsePredictor, FinePredictor
from jepawatch.model.revin import RevIN
from jepawatch.model.views import channel_sequences, down_avg, fine_view, unpatch


@dataclass
class Encoding:
    """What one branch makes of a batch of sequences at one resolution."""

    h: torch.Tensor  # (N, S, D) encoder tokens; S = P (fine) or 1 (coarse)
    codes: SoftCodes | None  # probs/log_probs (N, S, K), z (N, S, D); None without the codebook module

    @property
    def latent(self) -> torch.Tensor:
        """z when the codebook is in use, else the continuous h (the "w/o Codebook Module" ablation)."""
        return self.codes.z if self.codes is not None else self.h

    def per_channel(self, n_channels: int) -> "Encoding":
        """(B*V, S, .) -> (B, V, S, .)."""
        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(-1, n_channels, *t.shape[1:])
        codes = None
        if self.codes is not None:
            codes = SoftCodes(split(self.codes.probs), split(self.codes.log_probs), split(self.codes.z))
        return Encoding(split(self.h), codes)


class MTSJEPA(nn.Module):
    def __init__(self, cfg: MTSJEPAConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.revin = RevIN(cfg.n_channels, eps=cfg.revin_eps, affine=cfg.revin_affine, per_window=cfg.revin_per_window)
        self.encoder = Encoder(cfg)
        self.codebook = (
            SoftCodebook(cfg.codebook_size, cfg.d_model, cfg.temperature) if cfg.use_codebook else None
        )
        code_dim = cfg.codebook_size if cfg.use_codebook else cfg.d_model
        predictor_args = dict(
            in_dim=code_dim, out_dim=code_dim, n_tokens=cfg.n_patches, hidden=cfg.predictor_hidden,
            layers=cfg.predictor_layers, heads=cfg.predictor_heads, dropout=cfg.dropout,
        )
        self.fine_predictor = FinePredictor(**predictor_args) if cfg.use_prediction else None
        self.coarse_predictor = (
            CoarsePredictor(**predictor_args) if cfg.use_prediction and cfg.use_coarse else None
        )
        self.decoder = (
            PatchDecoder(cfg.d_model, cfg.patch_len, cfg.decoder_hidden) if cfg.use_reconstruction else None
        )
        self.apply(_zero_biases)
        # The EMA (target) branch: frozen copies, updated only by training.ema.ema_update.
        self.ema_encoder = _frozen_copy(self.encoder)
        self.ema_codebook = _frozen_copy(self.codebook) if self.codebook is not None else None

    def train(self, mode: bool = True) -> "MTSJEPA":
        """The EMA branch always runs in eval mode (no dropout): its targets are deterministic."""
        super().train(mode)
        for _, ema in self.ema_pairs():
            ema.eval()
        return self

    def ema_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """(online, EMA) module pairs that the EMA step updates."""
        pairs = [(self.encoder, self.ema_encoder)]
        if self.codebook is not None:
            pairs.append((self.codebook, self.ema_codebook))
        return pairs

    def encode(self, normalised: torch.Tensor, ema: bool = False, coarse: bool = False) -> Encoding:
        """Encode RevIN-normalised sequences (N, T) at one resolution with one branch."""
        encoder = self.ema_encoder if ema else self.encoder
        codebook = self.ema_codebook if ema else self.codebook
        patches = down_avg(normalised, self.cfg.n_patches) if coarse else fine_view(normalised, self.cfg.n_patches)
        h = encoder(patches, coarse=coarse)  # (N, S, D)
        return Encoding(h=h, codes=codebook(h) if codebook is not None else None)

    def encode_window(self, x: torch.Tensor, ema: bool = False, coarse: bool = False) -> Encoding:
        """Raw multivariate windows (B, T, V) -> per-channel encoding (B, V, S, .); online fine = Pi_t."""
        sequences, channel = channel_sequences(x)  # (B*V, T), (B*V,)
        normalised, _ = self.revin.normalise(sequences, channel)
        return self.encode(normalised, ema=ema, coarse=coarse).per_channel(x.shape[2])

    def predict(self, online: Encoding) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Next-window outputs from Pi_t (N, P, K): fine (N, P, K|D) and coarse (N, 1, K|D).

        With the codebook these are logits of p_hat; without it, predicted embeddings.
        """
        if self.fine_predictor is None:
            return None, None
        pi = online.codes.probs if online.codes is not None else online.h  # (N, P, K|D)
        fine = self.fine_predictor(pi)
        coarse = self.coarse_predictor(pi) if self.coarse_predictor is not None else None
        return fine, coarse

    def forward(self, context: torch.Tensor, target: torch.Tensor, channel: torch.Tensor) -> dict[str, object]:
        """One training pass on consecutive univariate windows W_t, W_{t+1} (N, T) of channels (N,).

        Returns the tensors the objective needs (training.losses.MTSJEPAObjective).
        """
        normalised, stats = self.revin.normalise(context, channel)
        online = self.encode(normalised)
        out: dict[str, object] = {"online": online, "context": context}
        if self.decoder is not None:
            patches = self.decoder(online.latent)  # (N, P, L), normalised space
            out["reconstruction"] = self.revin.denormalise(unpatch(patches), stats)  # (N, T), input units
        fine_pred, coarse_pred = self.predict(online)
        if fine_pred is not None:
            out["fine_prediction"] = fine_pred
            out["coarse_prediction"] = coarse_pred
            with torch.no_grad():
                # Targets: the EMA branch sees both views of W_{t+1}. RevIN has no EMA copy (decision):
                # the target branch normalises with the online affine, without gradient.
                target_normalised, _ = self.revin.normalise(target, channel)
                out["fine_target"] = self.encode(target_normalised, ema=True)
                if coarse_pred is not None:
                    out["coarse_target"] = self.encode(target_normalised, ema=True, coarse=True)
        return out


def _zero_biases(module: nn.Module) -> None:
    """Decision: start every bias at zero. PyTorch's default bias init dominates the narrow
    64 -> 32 -> D projection, so at initialisation every token points the same way (mean pairwise
    cosine 0.998 on examples/machine_metrics.csv), every token picks the same code, and the EMA
    targets start collapsed. With zero biases: cosine 0.77, 28 codes in use at step 0.
    """
    if isinstance(module, (nn.Linear, nn.Conv1d)) and module.bias is not None:
        nn.init.zeros_(module.bias)


def _frozen_copy(module: nn.Module) -> nn.Module:
    ema = copy.deepcopy(module)
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema
