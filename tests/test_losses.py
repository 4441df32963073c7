"""Each loss term on small inputs computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from jepawatch.training.losses import (
    entropy_of_mean, kl_divergence, mean_entropy, reconstruction_error, squared_error,
)
from jepawatch.training.schedules import linear


def test_kl_is_summed_over_codes_and_patches_and_averaged_over_sequences():
    p = torch.tensor([[[0.5, 0.5], [1.0, 0.0]]])  # (N=1, S=2, K=2) EMA targets
    q = torch.tensor([[[0.25, 0.75], [0.5, 0.5]]])  # predicted
    # KL(p||q) patch 1: .5 ln(.5/.25) + .5 ln(.5/.75); patch 2: 1 ln(1/.5)
    expected = 0.5 * math.log(2) + 0.5 * math.log(2 / 3) + math.log(2)
    got = kl_divergence(torch.log(p.clamp_min(1e-30)), torch.log(q))
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # averaged over sequences: two copies give the same value
    assert float(kl_divergence(torch.log(p.repeat(2, 1, 1).clamp_min(1e-30)), torch.log(q.repeat(2, 1, 1)))) == pytest.approx(expected, rel=1e-5)
    assert float(kl_divergence(torch.log(q), torch.log(q))) == pytest.approx(0.0, abs=1e-6)


def test_squared_error_is_per_dimension_mean_summed_over_patches():
    a = torch.tensor([[[1.0, 2.0], [0.0, 0.0]]])  # (N=1, S=2, D=2)
    b = torch.tensor([[[0.0, 0.0], [3.0, 1.0]]])
    # patch 1: (1 + 4) / 2, patch 2: (9 + 1) / 2 -> 2.5 + 5
    assert float(squared_error(a, b)) == pytest.approx(7.5)


def test_entropies():
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # two sharp, different codes
    assert float(mean_entropy(p)) == pytest.approx(0.0, abs=1e-6)
    assert float(entropy_of_mean(p)) == pytest.approx(math.log(2))
    uniform = torch.full((3, 4), 0.25)
    assert float(mean_entropy(uniform)) == pytest.approx(math.log(4))


def test_reconstruction_error_sums_patch_means():
    x = torch.zeros(1, 4)
    xhat = torch.tensor([[1.0, 1.0, 2.0, 0.0]])  # P = 2 patches of L = 2: means (1+1)/2, (4+0)/2
    assert float(reconstruction_error(xhat, x, n_patches=2)) == pytest.approx(1.0 + 2.0)


def test_lambda_rec_anneals_linearly_over_the_whole_run():
    assert linear(0.5, 0.1, 0, 11) == pytest.approx(0.5)
    assert linear(0.5, 0.1, 5, 11) == pytest.approx(0.3)
    assert linear(0.5, 0.1, 10, 11) == pytest.approx(0.1)
    assert linear(0.5, 0.1, 99, 11) == pytest.approx(0.1)


def _objective_terms(**changes):
    import dataclasses

    from jepawatch.model import MTSJEPA
    from jepawatch.training.losses import MTSJEPAObjective

    from conftest import tiny_run
    cfg = dataclasses.replace(tiny_run().model, n_channels=2, **changes)
    torch.manual_seed(0)
    model = MTSJEPA(cfg)
    out = model(torch.randn(4, 20), torch.randn(4, 20), torch.tensor([0, 1, 0, 1]))
    total, terms = MTSJEPAObjective(cfg)(model, out, lambda_rec=0.3)
    return model, cfg, total, terms


def test_total_uses_the_papers_weights():
    _, cfg, total, t = _objective_terms()
    assert (cfg.lambda_fine, cfg.lambda_coarse, cfg.gamma_mse) == (1.0, 0.5, 0.1)
    assert (cfg.lambda_emb, cfg.lambda_com, cfg.lambda_ent_sample, cfg.lambda_ent_batch) == (1.0, 0.25, 0.005, 0.01)
    expected = (
        1.0 * (t["kl_fine"] + 0.1 * t["mse_fine"]) + 0.5 * t["kl_coarse"]
        + 1.0 * t["emb"] + 0.25 * t["com"] + 0.005 * t["ent_sample"] - 0.01 * t["ent_batch"]
        + 0.3 * t["rec"]
    )
    assert float(total.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)


@pytest.mark.parametrize("alignment", ["vq-vae", "as-printed"])
def test_alignment_routing(alignment):
    """The sg() side decides whether a term reaches the prototypes; z = p(h) C still depends on h
    through p in a soft codebook, so both terms reach the encoder (as in the authors' code)."""
    for name in ("emb", "com"):
        model, _, _, terms = _objective_terms(alignment=alignment)
        terms[name].backward()
        grad = model.codebook.prototypes.grad
        reaches_prototypes = grad is not None and float(grad.abs().sum()) > 0
        moves_codebook = (name == "emb") == (alignment == "vq-vae")
        assert reaches_prototypes == moves_codebook, (alignment, name)
        assert float(model.encoder.norm.weight.grad.abs().sum()) > 0
