"""The shared channel-independent encoder: residual CNN tokenizer -> MLP projection -> Transformer.

Every channel of every window is its own sequence (N = windows x channels) of patch tokens; the same weights encode the
P fine tokens and the single coarse token (§3.3).
"""

from __future__ import annotations

import torch
from torch import nn

from jepawatch.model.config import MTSJEPAConfig


class ResidualConvBlock(nn.Module):
    """conv -> GELU -> conv, plus the input. No batch norm: the EMA copy must not depend on batch stats."""

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(channels, channels, kernel_size, padding=pad)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size, padding=pad)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, C, L)
        return self.act(x + self.conv2(self.act(self.conv1(x))))


class PatchTokenizer(nn.Module):
    """Residual CNN over one patch, then the MLP projection to D (hidden 64 -> 32, App. B.2)."""

    def __init__(self, cfg: MTSJEPAConfig):
        super().__init__()
        c = cfg.tokenizer_channels
        self.stem = nn.Conv1d(1, c, kernel_size=3, padding=1)
        self.blocks = nn.Sequential(*[ResidualConvBlock(c) for _ in range(cfg.tokenizer_blocks)])
        h1, h2 = cfg.projection_hidden
        self.projection = nn.Sequential(
            nn.Linear(c * cfg.patch_len, h1),
            nn.GELU(),
            nn.Linear(h1, h2),
            nn.GELU(),
            nn.Linear(h2, cfg.d_model),
        )

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        # patches: (N, L) -> tokens (N, D)
        x = self.blocks(self.stem(patches.unsqueeze(1)))  # (N, C, L)
        return self.projection(x.flatten(1))


class Encoder(nn.Module):
    """E: (N, S, L) patches -> (N, S, D) tokens, for S = P (fine) or S = 1 (coarse).

    Decision: fine tokens get learned positional embeddings 0..P-1; the coarse token gets its own
    fixed "whole window" embedding, so the shared Transformer can tell the resolutions apart.
    """

    def __init__(self, cfg: MTSJEPAConfig):
        super().__init__()
        self.tokenizer = PatchTokenizer(cfg)
        self.fine_position = nn.Parameter(torch.zeros(cfg.n_patches, cfg.d_model))
        nn.init.trunc_normal_(self.fine_position, std=0.02)
        # Only the EMA branch encodes the coarse view, so no gradient ever reaches the coarse token's
        # embedding: it is a fixed random vector (a buffer), shared by both branches.
        self.register_buffer("coarse_position", torch.nn.init.trunc_normal_(torch.zeros(1, cfg.d_model), std=0.02))
        layer = nn.TransformerEncoderLayer(
            d_model=cfg.d_model,
            nhead=cfg.encoder_heads,
            dim_feedforward=cfg.encoder_ff_mult * cfg.d_model,
            dropout=cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, cfg.encoder_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, patches: torch.Tensor, coarse: bool = False) -> torch.Tensor:
        return self.contextualise(self.embed(patches, coarse))  # (N, S, D)

    def embed(self, patches: torch.Tensor, coarse: bool = False) -> torch.Tensor:
        """Tokens with their positions, before the Transformer: (N, S, L) -> (N, S, D)."""
        n, s, length = patches.shape
        tokens = self.tokenizer(patches.reshape(n * s, length)).reshape(n, s, -1)  # (N, S, D)
        return tokens + (self.coarse_position if coarse else self.fine_position[:s])

    def contextualise(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(N, S, D) -> (N, S, D); `mask` (S, S), True where a token may not attend (PyTorch's convention)."""
        return self.norm(self.transformer(tokens, mask=mask))
