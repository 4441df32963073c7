"""The dual-resolution predictor (§3.3): fine Transformer and coarse cross-attention with a learned query.

Both read the code sequence Pi_t (P tokens of size K, or of size D when the codebook module is
ablated) and return logits for the next window's code distributions (or embeddings when ablated).
"""

from __future__ import annotations

import torch
from torch import nn


class FinePredictor(nn.Module):
    """Pi_t (N, P, in_dim) -> logits of Pi_hat_{t+1}^fine (N, P, out_dim)."""

    def __init__(self, in_dim: int, out_dim: int, n_tokens: int, hidden: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.input = nn.Linear(in_dim, hidden)
        self.position = nn.Parameter(torch.zeros(n_tokens, hidden))
        nn.init.trunc_normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model=hidden, nhead=heads, dim_feedforward=2 * hidden, dropout=dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        self.output = nn.Linear(hidden, out_dim)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        x = self.input(codes) + self.position  # (N, P, H)
        return self.output(self.norm(self.transformer(x)))  # (N, P, out_dim)


class CoarsePredictor(nn.Module):
    """A learnable query q cross-attends over Pi_t (eq. 4): (N, P, in_dim) -> logits (N, 1, out_dim)."""

    def __init__(self, in_dim: int, out_dim: int, n_tokens: int, hidden: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.input = nn.Linear(in_dim, hidden)
        self.position = nn.Parameter(torch.zeros(n_tokens, hidden))
        self.query = nn.Parameter(torch.zeros(1, 1, hidden))
        nn.init.trunc_normal_(self.position, std=0.02)
        nn.init.trunc_normal_(self.query, std=0.02)
        layer = nn.TransformerDecoderLayer(
            d_model=hidden, nhead=heads, dim_feedforward=2 * hidden, dropout=dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )
        self.cross_attention = nn.TransformerDecoder(layer, layers)
        self.norm = nn.LayerNorm(hidden)
        self.output = nn.Linear(hidden, out_dim)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        memory = self.input(codes) + self.position  # (N, P, H)
        query = self.query.expand(codes.shape[0], -1, -1)  # (N, 1, H)
        return self.output(self.norm(self.cross_attention(query, memory)))  # (N, 1, out_dim)
