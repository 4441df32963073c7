"""The forms `export --onnx` exports (export/onnx_layers.py) compute what the PyTorch modules compute."""

from __future__ import annotations

import pytest
import torch

from jepawatch.export.onnx_layers import (
    FlatTransformerDecoder, FlatTransformerEncoder, TokenizerAs2d, onnx_friendly,
)
from jepawatch.model.config import MTSJEPAConfig
from jepawatch.model.mts_jepa import MTSJEPA


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = MTSJEPAConfig(n_channels=3, window=20, n_patches=4, d_model=16, codebook_size=8, encoder_layers=2,
                        encoder_heads=4, predictor_layers=2, predictor_heads=2, predictor_hidden=16,
                        tokenizer_channels=4, projection_hidden=(8, 8), decoder_hidden=16)
    model = MTSJEPA(cfg).eval()
    with torch.no_grad():  # biases start at zero: give them values, so that a misplaced bias shows
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def test_each_form_computes_what_its_pytorch_module_computes(model):
    tokens = torch.randn(7, 4, 16)  # (N, S, D)
    query = torch.randn(7, 1, 16)
    patches = torch.randn(11, 5)  # (N, L)
    pairs = [
        (model.encoder.transformer, FlatTransformerEncoder(model.encoder.transformer), (tokens,)),
        (model.fine_predictor.transformer, FlatTransformerEncoder(model.fine_predictor.transformer), (tokens,)),
        (model.coarse_predictor.cross_attention, FlatTransformerDecoder(model.coarse_predictor.cross_attention),
         (query, tokens)),
        (model.encoder.tokenizer, TokenizerAs2d(model.encoder.tokenizer), (patches,)),
    ]
    with torch.no_grad():
        for original, form, inputs in pairs:
            expected, got = original(*inputs), form(*inputs)
            assert got.shape == expected.shape
            assert torch.allclose(got, expected, atol=1e-5), (type(original).__name__, (got - expected).abs().max())


def test_the_rewritten_model_shares_the_weights_and_leaves_the_original_alone(model):
    friendly = onnx_friendly(model)
    assert isinstance(friendly.encoder.transformer, FlatTransformerEncoder)
    assert isinstance(friendly.ema_encoder.tokenizer, TokenizerAs2d)
    assert isinstance(friendly.coarse_predictor.cross_attention, FlatTransformerDecoder)
    assert isinstance(model.encoder.transformer, torch.nn.TransformerEncoder)  # the original is untouched
    assert isinstance(model.encoder.tokenizer.stem, torch.nn.Conv1d)
    original = {id(p) for p in model.parameters()}
    assert {id(p) for p in friendly.parameters()} == original  # no copy of any weight
    windows = torch.randn(2, 20, 3)
    with torch.no_grad():
        expected = model.encode_window(windows, ema=True).codes.log_probs
        got = friendly.encode_window(windows, ema=True).codes.log_probs
    assert torch.allclose(got, expected, atol=1e-5)


def test_below_opset_23_the_transformer_stacks_stay_as_pytorch_writes_them(model):
    friendly = onnx_friendly(model, opset=18)
    assert isinstance(friendly.encoder.transformer, torch.nn.TransformerEncoder)
    assert isinstance(friendly.encoder.tokenizer, TokenizerAs2d)


def test_a_post_norm_stack_has_no_flat_form(model):
    layer = torch.nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, norm_first=False)
    holder = torch.nn.Module()
    holder.stack = torch.nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
    assert onnx_friendly(holder).stack is holder.stack


def test_the_ema_views_in_one_pass_equal_two_passes(model):
    from jepawatch.export.onnx_layers import ema_views_in_one_pass

    windows = torch.randn(5, 20, 3)  # (B, T, V)
    with torch.no_grad():
        fine = model.encode_window(windows, ema=True).codes.log_probs
        coarse = model.encode_window(windows, ema=True, coarse=True).codes.log_probs
        for form in (model, onnx_friendly(model)):  # the PyTorch stack with its mask, and the flat one
            joint_fine, joint_coarse = ema_views_in_one_pass(form, windows)
            assert joint_fine.shape == fine.shape and joint_coarse.shape == coarse.shape
            assert torch.allclose(joint_fine, fine, atol=1e-5) and torch.allclose(joint_coarse, coarse, atol=1e-5)
