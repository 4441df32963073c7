"""The networks: shapes, views, RevIN, the codebook, EMA isolation, ablation switches, Temporal JEPA."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from jepawatch.model import MTSJEPA, MTSJEPAConfig, TemporalJEPA, TemporalJEPAConfig
from jepawatch.model.codebook import SoftCodebook
from jepawatch.model.revin import RevIN
from jepawatch.model.temporal_jepa import generate_temporal_mask
from jepawatch.model.views import channel_sequences, down_avg, fine_view, unpatch
from jepawatch.training.ema import ema_update
from jepawatch.training.losses import MTSJEPAObjective

from conftest import tiny_run


def tiny_cfg(**changes) -> MTSJEPAConfig:
    cfg = tiny_run().model
    cfg.n_channels = 3
    return dataclasses.replace(cfg, **changes)


def batch(n: int = 6, t: int = 20, v: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    context = torch.randn(n, t, generator=g)
    target = torch.randn(n, t, generator=g)
    channel = torch.arange(n) % v
    return context, target, channel


def test_shapes_through_every_module():
    cfg = tiny_cfg()
    model = MTSJEPA(cfg).eval()
    context, target, channel = batch()
    out = model(context, target, channel)
    n, p, length, d, k = 6, cfg.n_patches, cfg.patch_len, cfg.d_model, cfg.codebook_size
    assert out["online"].h.shape == (n, p, d)
    assert out["online"].codes.probs.shape == (n, p, k)
    assert out["online"].codes.z.shape == (n, p, d)
    assert out["reconstruction"].shape == (n, cfg.window)
    assert out["fine_prediction"].shape == (n, p, k)
    assert out["coarse_prediction"].shape == (n, 1, k)
    assert out["fine_target"].codes.probs.shape == (n, p, k)
    assert out["coarse_target"].h.shape == (n, 1, d)
    # The encoder takes P tokens and one token with the same weights.
    assert model.encoder(torch.randn(n, p, length)).shape == (n, p, d)
    assert model.encoder(torch.randn(n, 1, length), coarse=True).shape == (n, 1, d)
    # Multivariate windows -> per-channel encodings.
    enc = model.encode_window(torch.randn(2, cfg.window, 3))
    assert enc.codes.probs.shape == (2, 3, p, k)


def test_down_avg_is_eq_16():
    torch.manual_seed(0)
    p, length = 5, 4
    w = torch.randn(3, p * length)
    coarse = down_avg(w, p)
    assert coarse.shape == (3, 1, length)
    for ell in range(length):
        expected = sum(w[:, ell * p + j] for j in range(p)) / p  # eq. 16 with 0-based indices
        torch.testing.assert_close(coarse[:, 0, ell], expected)


def test_fine_view_patches_are_consecutive_and_invert():
    w = torch.arange(40.0).reshape(2, 20)
    patches = fine_view(w, 4)
    assert patches.shape == (2, 4, 5)
    assert patches[0, 1].tolist() == [5.0, 6.0, 7.0, 8.0, 9.0]
    assert torch.equal(unpatch(patches), w)
    seq, ch = channel_sequences(torch.arange(24.0).reshape(2, 4, 3))  # (B, T, V)
    assert seq.shape == (6, 4) and ch.tolist() == [0, 1, 2, 0, 1, 2]
    assert seq[1].tolist() == [1.0, 4.0, 7.0, 10.0]


def test_revin_round_trip_with_affine():
    revin = RevIN(3)
    with torch.no_grad():
        revin.weight.copy_(torch.tensor([0.5, 2.0, -1.5]))
        revin.bias.copy_(torch.tensor([0.1, -0.3, 2.0]))
    x = torch.randn(6, 20) * 7 + 3
    channel = torch.arange(6) % 3
    y, stats = revin.normalise(x, channel)
    torch.testing.assert_close(revin.denormalise(y, stats), x, rtol=1e-4, atol=1e-4)
    plain, _ = RevIN(3, affine=False).normalise(x, channel)
    torch.testing.assert_close(plain.mean(1), torch.zeros(6), atol=1e-5, rtol=0)
    torch.testing.assert_close(plain.std(1, unbiased=False), torch.ones(6), atol=1e-3, rtol=0)


def test_constant_window_normalises_to_zero():
    y, _ = RevIN(1, affine=False).normalise(torch.full((2, 20), 4.0), torch.zeros(2, dtype=torch.long))
    assert torch.equal(y, torch.zeros_like(y))


@pytest.mark.parametrize("length", [20, 100, 250])
def test_a_constant_window_of_any_value_normalises_to_exactly_zero(length):
    """The mean of equal floats can miss them by an ulp (0.1 over 100 steps does in PyTorch), which
    the std of sqrt(eps) magnifies; the statistics of the window shifted by its first value cannot."""
    values = torch.tensor([0.1, -1.0, 0.3, 1.7, -2.449, 123.456, 1e-3, 7.77])
    x = values[:, None].expand(-1, length).contiguous()  # (8, T), each row constant
    y, stats = RevIN(1, affine=False).normalise(x, torch.zeros(8, dtype=torch.long))
    assert torch.equal(y, torch.zeros_like(y))
    assert torch.equal(stats.mean[:, 0], values)
    x[:, -1] += 1.0  # not constant: zero mean and unit variance as before
    y, _ = RevIN(1, affine=False).normalise(x, torch.zeros(8, dtype=torch.long))
    torch.testing.assert_close(y.mean(1), torch.zeros(8), atol=1e-5, rtol=0)


def test_revin_without_per_window_statistics_keeps_level_and_scale():
    """model.revin_per_window=false: a flag held at 0 and one held at 1 stay different; still invertible."""
    revin = RevIN(1, per_window=False)
    with torch.no_grad():
        revin.weight.fill_(2.0)
        revin.bias.fill_(0.5)
    x = torch.stack([torch.zeros(20), torch.ones(20), torch.randn(20) * 3])
    channel = torch.zeros(3, dtype=torch.long)
    y, stats = revin.normalise(x, channel)
    torch.testing.assert_close(y, x * 2.0 + 0.5)
    assert not torch.equal(y[0], y[1])
    torch.testing.assert_close(revin.denormalise(y, stats), x, rtol=1e-4, atol=1e-4)
    with_revin, _ = RevIN(1).normalise(x, channel)
    assert torch.equal(with_revin[0], with_revin[1])  # the paper's RevIN cannot tell them apart


def test_soft_codes_on_simplex_and_z_in_convex_hull():
    torch.manual_seed(0)
    codebook = SoftCodebook(8, 5, temperature=0.1)
    codes = codebook(torch.randn(4, 3, 5))
    assert (codes.probs >= 0).all()
    torch.testing.assert_close(codes.probs.sum(-1), torch.ones(4, 3))
    torch.testing.assert_close(codes.log_probs.exp(), codes.probs)
    # z = C^T p, a convex combination: each coordinate lies between the prototypes' min and max.
    torch.testing.assert_close(codes.z, codes.probs @ codebook.prototypes)
    lo, hi = codebook.prototypes.min(0).values, codebook.prototypes.max(0).values
    assert ((codes.z >= lo - 1e-5) & (codes.z <= hi + 1e-5)).all()
    # eq. 3: cosine similarity over temperature.
    h = torch.randn(2, 5)
    cos = torch.nn.functional.cosine_similarity(h[:, None], codebook.prototypes[None], dim=-1)
    torch.testing.assert_close(codebook(h).probs, torch.softmax(cos / 0.1, -1))


def test_no_gradient_reaches_the_ema_branch():
    model = MTSJEPA(tiny_cfg())
    loss, _ = MTSJEPAObjective(model.cfg)(model, model(*batch()), lambda_rec=0.5)
    loss.backward()
    for p in list(model.ema_encoder.parameters()) + list(model.ema_codebook.parameters()):
        assert not p.requires_grad and p.grad is None
    assert model.encoder.tokenizer.stem.weight.grad is not None
    assert model.codebook.prototypes.grad is not None


def test_ema_branch_runs_without_dropout_in_training_mode():
    model = MTSJEPA(tiny_cfg(dropout=0.5)).train()
    assert model.encoder.training and not model.ema_encoder.training
    first, second = model(*batch()), model(*batch())
    torch.testing.assert_close(first["fine_target"].codes.probs, second["fine_target"].codes.probs)
    assert not torch.equal(first["online"].h, second["online"].h)  # the online branch does use dropout
    tj = TemporalJEPA(TemporalJEPAConfig(input_dim=2, embed_dim=8, predictor_embed_dim=4, num_heads=2, seq_len=6)).train()
    assert tj.context_encoder.training and not tj.target_encoder.training


def test_ema_step_is_rho_xi_plus_one_minus_rho_theta():
    model = MTSJEPA(tiny_cfg())
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(torch.randn_like(p))
    theta = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    xi = {k: v.clone() for k, v in model.ema_encoder.state_dict().items()}
    ema_update(model.ema_pairs(), 0.9)
    for k, new in model.ema_encoder.state_dict().items():
        torch.testing.assert_close(new, 0.9 * xi[k] + 0.1 * theta[k])


def _terms(**changes) -> dict:
    torch.manual_seed(0)
    model = MTSJEPA(tiny_cfg(**changes))
    _, terms = MTSJEPAObjective(model.cfg)(model, model(*batch()), lambda_rec=0.5)
    return terms


@pytest.mark.parametrize(
    "switch, absent, present",
    [
        ("use_kl", {"kl_fine", "kl_coarse"}, {"mse_fine", "mse_coarse"}),
        ("use_reconstruction", {"rec"}, {"kl_fine"}),
        ("use_prediction", {"kl_fine", "kl_coarse", "mse_fine"}, {"rec", "emb"}),
        ("use_codebook_losses", {"emb", "com", "ent_sample", "ent_batch"}, {"kl_fine", "rec"}),
        ("use_codebook", {"kl_fine", "kl_coarse", "emb", "com"}, {"mse_fine", "mse_coarse", "rec"}),
        ("use_coarse", {"kl_coarse", "mse_coarse"}, {"kl_fine"}),
    ],
)
def test_every_ablation_switch_changes_what_is_computed(switch, absent, present):
    full = _terms()
    ablated = _terms(**{switch: False})
    assert not (absent & set(ablated)), f"{switch}=False still computes {absent & set(ablated)}"
    assert present <= set(ablated)
    assert float(full["total"].detach()) != pytest.approx(float(ablated["total"].detach()))


def test_ablated_modules_are_not_built():
    assert MTSJEPA(tiny_cfg(use_codebook=False)).codebook is None
    assert MTSJEPA(tiny_cfg(use_coarse=False)).coarse_predictor is None
    assert MTSJEPA(tiny_cfg(use_reconstruction=False)).decoder is None
    assert MTSJEPA(tiny_cfg(use_prediction=False)).fine_predictor is None


def test_temporal_jepa_card_defaults_and_shapes():
    cfg = TemporalJEPAConfig(input_dim=3)
    assert (cfg.embed_dim, cfg.predictor_embed_dim, cfg.encoder_depth, cfg.predictor_depth) == (128, 64, 4, 2)
    assert (cfg.num_heads, cfg.dropout, cfg.seq_len, cfg.mask_ratio) == (8, 0.1, 60, 0.5)
    assert cfg.output_size == 128
    small = TemporalJEPAConfig(input_dim=3, embed_dim=16, predictor_embed_dim=8, num_heads=2, seq_len=12)
    model = TemporalJEPA(small)
    out = model(torch.randn(4, 12, 3))
    assert out["predicted"].shape == out["target"].shape == (4, 16)
    assert model.embed(torch.randn(4, 12, 3)).shape == (4, 16)
    assert all(not p.requires_grad for p in model.target_encoder.parameters())


def test_temporal_mask_hides_the_requested_fraction():
    g = torch.Generator().manual_seed(0)
    visible = generate_temporal_mask(60, 0.5, g)
    assert visible.shape == (60,) and visible.dtype == torch.bool
    assert int((~visible).sum()) == 30
    assert generate_temporal_mask(4, 0.99, g).sum() == 1  # at least one step stays visible
