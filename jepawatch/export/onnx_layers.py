"""The same network, written for ONNX Runtime: what `export --onnx` exports instead of the PyTorch modules.

PyTorch's `nn.TransformerEncoderLayer` exports the way `nn.MultiheadAttention` spells itself out:
tokens turned sequence-first and back, Q, K and V each reshaped and transposed to (N, heads, S, d)
and back, one packed projection split in three — 981 nodes for the paper-size bundle, 170 of them
Transposes, each a copy of the activations (0.86 s of 5.3 s at batch 256 on 2 CPU cores). And
ONNX Runtime runs 1-D convolutions with its plain kernel. The modules here compute the same thing
on the same weights (shared, not copied):

- attention is one ONNX `Attention` node on 3-D (N, S, D) inputs with the head count as an
  attribute (`torch.onnx.ops.attention`), so the heads are split inside the node: no Transpose;
- Q, K and V are three MatMuls on the blocks of the packed weight, not one MatMul and a Split
  (which copies every output once more);
- the tokenizer's 1-D convolutions run as 2-D ones of height 1, which ONNX Runtime's CPU provider
  moves to its blocked NCHWc kernels (3.6x faster at batch 1, 2.8x at 32,000 patches);
- the EMA branch encodes a window's fine and coarse views in one pass (`ema_views_in_one_pass`):
  544 nodes in all (676 without it, 981 as PyTorch exports it), and at batch 1 one MatMul of 6V
  rows per layer instead of one of 5V and one of V.

Measured 2026-12-02 (Intel Xeon, 2 cores, `benchmarks/inference_speed.py`, paper-size bundle):
ONNX Runtime / torch eager 1.37x -> 1.71-1.84x at batch 1 and 0.68x -> 0.91-0.93x in one call of 256
(1.06-1.10x in the ONNX backend's runs of 40). Tokens stay 3-D: as 2-D (N*S, D) every linear layer
becomes a Gemm with its bias, which ONNX Runtime ran slower than MatMul + Add at large batches
(3.6 s against 2.9 s at batch 256).

They are used only to export; the graph is checked against the PyTorch modules themselves
(`onnx_export.compare`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from jepawatch.kinds import check_scorable
from jepawatch.model.encoder import PatchTokenizer
from jepawatch.model.mts_jepa import MTSJEPA
from jepawatch.model.views import channel_sequences, down_avg, fine_view
from jepawatch.scoring.features import WindowOutputs, online_and_predictions


# ONNX's Attention operator exists from opset 23; below it the Transformer stacks export as PyTorch writes them.
ATTENTION_OPSET = 23


def onnx_friendly(module: nn.Module, opset: int = ATTENTION_OPSET) -> nn.Module:
    """A shallow copy of `module` with its tokenizers and Transformer stacks replaced by the forms
    below (same weights); a stack of layers those forms do not cover stays as it is."""
    module = copy.copy(module)
    module._modules = dict(module._modules)
    for name, child in module._modules.items():
        if isinstance(child, PatchTokenizer):
            module._modules[name] = TokenizerAs2d(child)
        elif isinstance(child, (nn.TransformerEncoder, nn.TransformerDecoder)):
            if opset >= ATTENTION_OPSET and all(_has_flat_form(layer) for layer in child.layers):
                flat = FlatTransformerEncoder if isinstance(child, nn.TransformerEncoder) else FlatTransformerDecoder
                module._modules[name] = flat(child)
        elif child is not None:
            module._modules[name] = onnx_friendly(child, opset)
    return module


def _has_flat_form(layer: nn.Module) -> bool:
    return bool(layer.norm_first and layer.activation is F.gelu and layer.self_attn.batch_first)


class TokenizerAs2d(nn.Module):
    """`PatchTokenizer` with its 1-D convolutions run as 2-D ones of height 1 on (N, C, 1, L): ONNX
    Runtime's CPU provider moves 2-D convolutions to its blocked NCHWc kernels, which it does not
    for 1-D ones (measured 2026-12-02, 32,000 paper-size patches: 146 ms against 416 ms)."""

    def __init__(self, tokenizer: PatchTokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        # patches: (N, L) -> tokens (N, D)
        x = _conv(self.tokenizer.stem, patches[:, None, None, :])  # (N, C, 1, L)
        for block in self.tokenizer.blocks:
            x = block.act(x + _conv(block.conv2, block.act(_conv(block.conv1, x))))
        return self.tokenizer.projection(x.flatten(1))


def _conv(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    # x: (N, C_in, 1, L) -> (N, C_out, 1, L)
    return F.conv2d(x, conv.weight.unsqueeze(2), conv.bias, padding=(0, conv.padding[0]))


class FlatTransformerEncoder(nn.Module):
    """`nn.TransformerEncoder` of pre-norm GELU layers, in eval mode: (N, S, D) -> (N, S, D)."""

    def __init__(self, stack: nn.TransformerEncoder):
        super().__init__()
        self.layers = stack.layers
        self.norm = stack.norm

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # mask: (S, S), True where a token may not attend (PyTorch's convention; ONNX's is the opposite)
        allowed = None if mask is None else ~mask
        for layer in self.layers:
            x = x + _self_attention(layer.self_attn, layer.norm1(x), allowed)
            x = x + _feed_forward(layer, layer.norm2(x))
        return self.norm(x) if self.norm is not None else x


class FlatTransformerDecoder(nn.Module):
    """`nn.TransformerDecoder` of pre-norm GELU layers, in eval mode: target (N, S, D), memory (N, M, D)."""

    def __init__(self, stack: nn.TransformerDecoder):
        super().__init__()
        self.layers = stack.layers
        self.norm = stack.norm

    def forward(self, target: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = target
        for layer in self.layers:
            x = x + _self_attention(layer.self_attn, layer.norm1(x))
            x = x + _cross_attention(layer.multihead_attn, layer.norm2(x), memory)
            x = x + _feed_forward(layer, layer.norm3(x))
        return self.norm(x) if self.norm is not None else x


def _self_attention(attention: nn.MultiheadAttention, x: torch.Tensor,
                    allowed: torch.Tensor | None = None) -> torch.Tensor:
    """x (N, S, D) -> (N, S, D): each sequence attends to its own tokens (`allowed` (S, S): where it may)."""
    return _attend(attention, *_projections(attention, x, x), allowed)


def _cross_attention(attention: nn.MultiheadAttention, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """x (N, S, D) attends over memory (N, M, D) -> (N, S, D)."""
    return _attend(attention, *_projections(attention, x, memory))


def _projections(attention: nn.MultiheadAttention, x: torch.Tensor, memory: torch.Tensor):
    """Q of x (N, S, D), K and V of memory (N, M, D): three MatMuls on the three blocks of the packed
    projection (one MatMul and a Split copies every output once more: 0.21 s of 5 s at batch 256)."""
    weights = attention.in_proj_weight.chunk(3)  # (D, D) each
    biases = attention.in_proj_bias.chunk(3)  # (D,) each
    return (F.linear(x, weights[0], biases[0]), F.linear(memory, weights[1], biases[1]),
            F.linear(memory, weights[2], biases[2]))


def _attend(attention: nn.MultiheadAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
            allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Scaled dot-product attention of (N, S, D) queries over (N, M, D) keys and values, heads split
    inside the ONNX node; then the output projection -> (N, S, D)."""
    heads = attention.num_heads
    out = torch.onnx.ops.attention(q, k, v, allowed, q_num_heads=heads, kv_num_heads=heads)[0]  # (N, S, D)
    return attention.out_proj(out)


def _feed_forward(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    # x: (N, S, D) -> (N, S, D)
    return layer.linear2(F.gelu(layer.linear1(x)))


@torch.no_grad()
def export_window_outputs(model: MTSJEPA, windows: torch.Tensor) -> WindowOutputs:
    """`scoring.features.window_outputs`, with the EMA branch's two views of each window in one pass
    (from opset 23: the masked pass needs the flat Transformer stacks)."""
    check_scorable(model)
    online, next_fine, next_coarse = online_and_predictions(model, windows)
    ema_fine, ema_coarse = ema_views_in_one_pass(model, windows)
    return WindowOutputs(codes=online.codes.probs, next_fine=next_fine, next_coarse=next_coarse,
                         ema_fine=ema_fine, ema_coarse=ema_coarse)


def ema_views_in_one_pass(model: MTSJEPA, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The EMA branch's code log-probabilities of windows (B, T, V) at both resolutions, fine
    (B, V, P, K) and coarse (B, V, 1, K), as one Transformer pass over the P fine tokens and the
    coarse one side by side, each view attending only to itself (a block-diagonal mask).

    The same values as two passes (`MTSJEPA.encode_window` with and without `coarse`), in half the
    nodes and one larger MatMul per layer instead of two, one of them only V rows high at batch 1.
    """
    batch, _, n_channels = windows.shape
    p = model.cfg.n_patches
    sequences, channel = channel_sequences(windows)  # (B*V, T), (B*V,)
    normalised, _ = model.revin.normalise(sequences, channel)
    encoder = model.ema_encoder
    tokens = torch.cat([encoder.embed(fine_view(normalised, p)),
                        encoder.embed(down_avg(normalised, p), coarse=True)], dim=1)  # (B*V, P+1, D)
    view = torch.tensor([0] * p + [1], device=windows.device)  # (P+1,) which view each token is of
    h = encoder.contextualise(tokens, mask=view[:, None] != view[None, :])  # (B*V, P+1, D)
    log_probs = model.ema_codebook(h).log_probs.reshape(batch, n_channels, p + 1, -1)  # (B, V, P+1, K)
    return log_probs[:, :, :p], log_probs[:, :, p:]
