"""The training objectives: MTS-JEPA's (§3.4, eq. 5-14) and the Temporal JEPA's smooth-L1.

Reductions. KL (a decision; the paper is silent): summed over codes and patches, averaged over windows and channels.
Squared errors (decision): the paper writes sum_i ||.||^2; we take ||.||^2 / D per patch (per
element of the latent, or of the patch for L_rec), summed over patches like the KL, averaged over
sequences (windows x channels). A literal sum over D = 256 makes L_emb/L_com ~1e3 at initialisation and
swamps the predictive terms under the paper's weights (measured: total loss 1.34e3 after one
epoch on examples/machine_metrics.csv, codes collapsed); the authors' released code also uses
mean-reduced squared errors with these weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from jepawatch.model.config import MTSJEPAConfig, TemporalJEPAConfig


def kl_divergence(target_log_probs: torch.Tensor, predicted_logits: torch.Tensor) -> torch.Tensor:
    """sum_i KL(p_i || p_hat_i) over codes and tokens, averaged over sequences. Inputs (N, S, K)."""
    predicted_log_probs = F.log_softmax(predicted_logits.float(), dim=-1)
    kl = F.kl_div(predicted_log_probs, target_log_probs, log_target=True, reduction="none")  # (N, S, K)
    return kl.sum(dim=(-1, -2)).mean()


def squared_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum_i ||a_i - b_i||^2 / D: mean over the last axis, sum over the token axis, mean over the rest."""
    return (a.float() - b.float()).pow(2).mean(dim=-1).sum(dim=-1).mean()


def mean_entropy(probs: torch.Tensor) -> torch.Tensor:
    """E[H(p)]: the average entropy of the per-token code distributions (..., K)."""
    return -(probs * torch.log(probs.clamp_min(1e-12))).sum(-1).mean()


def entropy_of_mean(probs: torch.Tensor) -> torch.Tensor:
    """H(E[p]): the entropy of the batch-mean code distribution (..., K)."""
    mean = probs.reshape(-1, probs.shape[-1]).mean(0)
    return -(mean * torch.log(mean.clamp_min(1e-12))).sum()


def reconstruction_error(reconstruction: torch.Tensor, context: torch.Tensor, n_patches: int) -> torch.Tensor:
    """L_rec (eq. 14) in input units: per patch the mean over its L steps, summed over the P patches,
    averaged over sequences. (N, T) each."""
    return (reconstruction.float() - context.float()).pow(2).mean(dim=-1).mul(n_patches).mean()


class MTSJEPAObjective:
    """L = lambda_f (KL_fine + gamma MSE_fine) + lambda_c KL_coarse
         + lambda_emb L_emb + lambda_com L_com + lambda_s E[H(p)] - lambda_b H(E[p]) + lambda_r L_rec.

    Ablations: without KL (or without the codebook module) each predictive term is the squared
    error between expected embeddings at its resolution: lambda_f MSE_fine + lambda_c MSE_coarse
    (decision: gamma only weighs MSE when KL is there to weigh it against).
    """

    def __init__(self, cfg: MTSJEPAConfig):
        self.cfg = cfg

    def __call__(self, model, out: dict, lambda_rec: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        terms: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=out["context"].device)
        online = out["online"]
        if "fine_prediction" in out:
            total = total + self._predictive(model, out, terms)
        if cfg.use_codebook and cfg.use_codebook_losses:
            codes = online.codes
            moves_codebook = squared_error(codes.z, online.h.detach())
            moves_encoder = squared_error(codes.z.detach(), online.h)
            if cfg.alignment == "vq-vae":
                terms["emb"], terms["com"] = moves_codebook, moves_encoder
            else:  # eq. 11-12 as printed: L_emb = ||sg(z) - h||^2, L_com = ||z - sg(h)||^2
                terms["emb"], terms["com"] = moves_encoder, moves_codebook
            terms["ent_sample"] = mean_entropy(codes.probs)
            terms["ent_batch"] = entropy_of_mean(codes.probs)
            total = total + (
                cfg.lambda_emb * terms["emb"] + cfg.lambda_com * terms["com"]
                + cfg.lambda_ent_sample * terms["ent_sample"] - cfg.lambda_ent_batch * terms["ent_batch"]
            )
        if "reconstruction" in out:
            terms["rec"] = reconstruction_error(out["reconstruction"], out["context"], cfg.n_patches)
            total = total + lambda_rec * terms["rec"]
        terms["total"] = total
        return total, terms

    def _predictive(self, model, out: dict, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        cfg = self.cfg
        fine_target, coarse_target = out["fine_target"], out.get("coarse_target")
        fine_pred, coarse_pred = out["fine_prediction"], out["coarse_prediction"]
        if cfg.use_codebook:
            codebook = model.codebook
            fine_z_hat = codebook.embed(F.softmax(fine_pred.float(), dim=-1))  # (N, P, D)
            terms["mse_fine"] = squared_error(fine_target.codes.z, fine_z_hat)
            if cfg.use_kl:
                terms["kl_fine"] = kl_divergence(fine_target.codes.log_probs, fine_pred)
                loss = cfg.lambda_fine * (terms["kl_fine"] + cfg.gamma_mse * terms["mse_fine"])
                if coarse_pred is not None:
                    terms["kl_coarse"] = kl_divergence(coarse_target.codes.log_probs, coarse_pred)
                    loss = loss + cfg.lambda_coarse * terms["kl_coarse"]
                return loss
            loss = cfg.lambda_fine * terms["mse_fine"]
            if coarse_pred is not None:
                coarse_z_hat = codebook.embed(F.softmax(coarse_pred.float(), dim=-1))
                terms["mse_coarse"] = squared_error(coarse_target.codes.z, coarse_z_hat)
                loss = loss + cfg.lambda_coarse * terms["mse_coarse"]
            return loss
        # "w/o Codebook Module": continuous latents, the predictors regress the EMA tokens.
        terms["mse_fine"] = squared_error(fine_target.h, fine_pred)
        loss = cfg.lambda_fine * terms["mse_fine"]
        if coarse_pred is not None:
            terms["mse_coarse"] = squared_error(coarse_target.h, coarse_pred)
            loss = loss + cfg.lambda_coarse * terms["mse_coarse"]
        return loss


class TemporalJEPAObjective:
    """Smooth-L1 between the predicted and the target representation of the hidden steps (seed 002)."""

    def __init__(self, cfg: TemporalJEPAConfig):
        self.cfg = cfg

    def __call__(self, model, out: dict, lambda_rec: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = F.smooth_l1_loss(out["predicted"].float(), out["target"].float())
        return loss, {"smooth_l1": loss, "total": loss}

