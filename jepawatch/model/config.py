"""Configuration dataclasses for the two models. Saved in every bundle; models are rebuilt from them.

Defaults are the paper's (MTS-JEPA, App. B.2) and the Temporal JEPA card's (seed 002).
Where the paper is silent the choice is ours and is marked "decision" with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MTSJEPAConfig:
    """MTS-JEPA architecture, loss weights and the six ablation switches of Table 3."""

    n_channels: int = 1  # V after constant-channel removal; set from the data at train time
    window: int = 100  # T_w
    n_patches: int = 5  # P; patch length L = window // n_patches
    d_model: int = 256  # D
    codebook_size: int = 128  # K
    temperature: float = 0.1  # tau of eq. 3
    # Encoder: residual CNN tokenizer -> MLP projection -> Transformer (App. B.2).
    tokenizer_channels: int = 32  # decision: width of the residual CNN over one patch
    tokenizer_blocks: int = 2  # decision: residual blocks in the CNN tokenizer
    projection_hidden: tuple[int, int] = (64, 32)  # "2-layer MLP (hidden 64->32) mapping to D"
    encoder_layers: int = 6
    encoder_heads: int = 8
    encoder_ff_mult: int = 4  # decision: Transformer feed-forward width = 4 * D (standard)
    dropout: float = 0.1
    # Predictors: 2-layer Transformers, 4 heads, hidden 128 (App. B.2).
    predictor_layers: int = 2
    predictor_heads: int = 4
    predictor_hidden: int = 128
    decoder_hidden: int = 256  # decision: per-token MLP decoder z -> patch
    revin_eps: float = 1e-5
    revin_affine: bool = True
    # Not in the paper (issue 7): False drops RevIN's per-window mean/std (the affine stays), so the
    # encoder also sees each window's level and scale, which per-window normalisation removes. On MSL
    # 32 of 33 channels are binary flags: with RevIN a flag held at 0 and one held at 1 look the same.
    revin_per_window: bool = True
    # Loss weights (§3.4, App. B.2).
    lambda_fine: float = 1.0
    lambda_coarse: float = 0.5
    gamma_mse: float = 0.1
    lambda_emb: float = 1.0
    lambda_com: float = 0.25
    lambda_ent_sample: float = 0.005
    lambda_ent_batch: float = 0.01
    # Which term each alignment weight moves (decision; the paper's §3.4, eq. 11-12): "vq-vae" puts lambda_emb
    # on ||z - sg(h)||^2 (moves the prototypes) and lambda_com on ||sg(z) - h||^2 (commits the encoder),
    # as VQ-VAE and the authors' released code do; "as-printed" follows eq. 11-12 literally (lambda_emb
    # pulls the encoder onto z, which with diffuse codes is near the prototype centroid).
    alignment: str = "vq-vae"
    lambda_rec_start: float = 0.5
    lambda_rec_end: float = 0.1
    # Ablation switches (Table 3); all True is the full model.
    use_kl: bool = True  # False: "w/o KL", predictive terms become MSE between expected embeddings
    use_reconstruction: bool = True  # False: "w/o Reconstruction", no decoder, no L_rec
    use_prediction: bool = True  # False: "w/o Predictive Objective", no L_pred
    use_codebook_losses: bool = True  # False: "w/o Codebook Loss", L_emb, L_com, entropies weighted 0
    use_codebook: bool = True  # False: "w/o Codebook Module", continuous latents, MSE prediction
    use_coarse: bool = True  # False: "w/o Downsample", no coarse view, no coarse predictor

    @property
    def patch_len(self) -> int:
        return self.window // self.n_patches

    def validate(self) -> None:
        """Raise ValueError for an inconsistent configuration."""
        if self.window % self.n_patches:
            raise ValueError(f"window ({self.window}) must be a multiple of n_patches ({self.n_patches})")
        if self.d_model % self.encoder_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by encoder_heads ({self.encoder_heads})")
        if self.predictor_hidden % self.predictor_heads:
            raise ValueError(
                f"predictor_hidden ({self.predictor_hidden}) must be divisible by predictor_heads ({self.predictor_heads})"
            )
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0")
        if self.alignment not in ("vq-vae", "as-printed"):
            raise ValueError(f"alignment must be 'vq-vae' or 'as-printed', not {self.alignment!r}")
        if self.codebook_size < 2:
            raise ValueError("codebook_size must be at least 2")
        if not (self.use_prediction or self.use_reconstruction or (self.use_codebook and self.use_codebook_losses)):
            raise ValueError("every loss term is switched off: nothing would be trained")


@dataclass
class TemporalJEPAConfig:
    """Single-scale Temporal JEPA (seed 002), the card's options and defaults.

    `input_dim` is required by the card; here it is the number of kept channels, set from the data.
    """

    input_dim: int = 1
    embed_dim: int = 128
    predictor_embed_dim: int = 64
    encoder_depth: int = 4
    predictor_depth: int = 2
    num_heads: int = 8
    dropout: float = 0.1
    seq_len: int = 60
    mask_ratio: float = 0.5
    # The card's EMA momentum (default 0.996) is `train.ema_decay`, shared with MTS-JEPA.

    @property
    def window(self) -> int:
        return self.seq_len

    @property
    def output_size(self) -> int:
        """The card's `output_size`: the size of the context representation."""
        return self.embed_dim

    def validate(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError("mask_ratio must be strictly between 0 and 1")
        if self.seq_len < 2:
            raise ValueError("seq_len must be at least 2")

