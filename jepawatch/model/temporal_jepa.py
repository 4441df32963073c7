"""The single-scale Temporal JEPA of seed 002, the baseline MTS-JEPA is compared with.

Context encoder: input projection + positional embedding + N bidirectional attention blocks +
LayerNorm + mean pool -> (B, E). Predictor: project to pred_dim, M MLP blocks, LayerNorm,
project back to E. Target encoder: an EMA copy of the context encoder (momentum 0.996).
A random temporal mask hides `mask_ratio` of the time steps; the context encoder sees the
visible steps, the target encoder the hidden ones, and the predictor maps one to the other.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from jepawatch.model.config import TemporalJEPAConfig


class ContextEncoder(nn.Module):
    """[batch, steps, input_dim] at given positions -> [batch, embed_dim]."""

    def __init__(self, cfg: TemporalJEPAConfig):
        super().__init__()
        self.input_projection = nn.Linear(cfg.input_dim, cfg.embed_dim)
        self.position = nn.Parameter(torch.zeros(cfg.seq_len, cfg.embed_dim))
        nn.init.trunc_normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model=cfg.embed_dim, nhead=cfg.num_heads, dim_feedforward=4 * cfg.embed_dim,
            dropout=cfg.dropout, activation="gelu", batch_first=True, norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, cfg.encoder_depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.embed_dim)

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, S, input_dim); positions: (S,) indices into the sequence (all steps when None)
        pos = self.position if positions is None else self.position[positions]
        tokens = self.input_projection(x) + pos  # (B, S, E)
        return self.norm(self.blocks(tokens)).mean(dim=1)  # (B, E)


class MLPBlock(nn.Module):
    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class Predictor(nn.Module):
    """[batch, embed_dim] -> [batch, embed_dim]."""

    def __init__(self, cfg: TemporalJEPAConfig):
        super().__init__()
        self.down = nn.Linear(cfg.embed_dim, cfg.predictor_embed_dim)
        self.blocks = nn.Sequential(*[MLPBlock(cfg.predictor_embed_dim, cfg.dropout) for _ in range(cfg.predictor_depth)])
        self.norm = nn.LayerNorm(cfg.predictor_embed_dim)
        self.up = nn.Linear(cfg.predictor_embed_dim, cfg.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.norm(self.blocks(self.down(x))))


def generate_temporal_mask(seq_len: int, mask_ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A (seq_len,) boolean mask, True = visible, with round(mask_ratio * seq_len) steps hidden.

    At least one step stays visible and at least one is hidden.
    """
    n_masked = min(max(int(round(mask_ratio * seq_len)), 1), seq_len - 1)
    order = torch.randperm(seq_len, generator=generator)
    visible = torch.ones(seq_len, dtype=torch.bool)
    visible[order[:n_masked]] = False
    return visible


class TemporalJEPA(nn.Module):
    def __init__(self, cfg: TemporalJEPAConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.context_encoder = ContextEncoder(cfg)
        self.predictor = Predictor(cfg)
        self.target_encoder = copy.deepcopy(self.context_encoder)
        for p in self.target_encoder.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "TemporalJEPA":
        """The target encoder always runs in eval mode (no dropout): its targets are deterministic."""
        super().train(mode)
        self.target_encoder.eval()
        return self

    def ema_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.context_encoder, self.target_encoder)]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Context representation of whole windows: (B, seq_len, V) -> (B, E)."""
        return self.context_encoder(x)

    def forward(self, context: torch.Tensor, target: torch.Tensor | None = None,
                visible: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Masked-step prediction inside one window (B, seq_len, V); `target` (the next window) is unused."""
        if visible is None:
            visible = generate_temporal_mask(self.cfg.seq_len, self.cfg.mask_ratio)
        visible_idx = visible.nonzero().squeeze(1).to(context.device)
        masked_idx = (~visible).nonzero().squeeze(1).to(context.device)
        represented = self.context_encoder(context[:, visible_idx], visible_idx)  # (B, E)
        predicted = self.predictor(represented)  # (B, E)
        with torch.no_grad():
            target_repr = self.target_encoder(context[:, masked_idx], masked_idx)  # (B, E)
        return {"predicted": predicted, "target": target_repr, "context_repr": represented}
