"""The kinds of model jepawatch trains, one object each: what differs between MTS-JEPA and the
single-scale Temporal JEPA baseline is said here, not in string checks spread over the package.

A kind knows its config class, how to build its network and its objective, what its training
samples are, how its forward pass is called, which health metrics its validation reports, what
the evaluation head reads from it, and whether it can be scored (`score`, `watch`, `export`).
`kind_of(name)` returns the kind a bundle's `model_kind` names.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from jepawatch.data.windows import ChannelPairs, WindowPairs, concat_samples
from jepawatch.errors import ConfigError
from jepawatch.model.config import MTSJEPAConfig, TemporalJEPAConfig
from jepawatch.model.mts_jepa import MTSJEPA
from jepawatch.model.temporal_jepa import TemporalJEPA, generate_temporal_mask
from jepawatch.training.health import HealthAccumulator
from jepawatch.training.losses import MTSJEPAObjective, TemporalJEPAObjective


def check_scorable(model: MTSJEPA) -> None:
    """A ConfigError when an MTS-JEPA model was trained without the codebook or the predictors (an
    ablation): the risk, the codes and the predictions need both."""
    cfg = model.cfg
    if not (cfg.use_codebook and cfg.use_prediction):
        raise ConfigError("this bundle was trained without the codebook or the predictors (an ablation); "
                          "scoring needs both: train with the default model settings")


class ModelKind:
    """What one kind of model is; subclasses fill in the differences."""

    name: str  # as `train --model` and config.json's model_kind write it
    title: str  # as a table names it
    config_class: type
    model_class: type[nn.Module]
    objective_class: type
    takes_presets: bool  # `--preset` names settings of this kind
    scorable: bool  # has the codes and predictors `score`, `watch` and `export` read
    head_features: tuple[str, ...]  # what `evaluate --features` may ask for
    # The same weights apply to any number of channels (each channel encoded on its own): the kind can
    # train on sources with different channels and score a system it was not trained on (`--adapt`).
    channel_independent: bool

    def build(self, cfg: Any) -> nn.Module:
        return self.model_class(cfg)

    def objective(self, cfg: Any):
        return self.objective_class(cfg)

    def samples(self, pairs: list[WindowPairs]) -> Dataset:
        """The training samples made of the pairs of every segment."""
        return concat_samples(pairs)

    def adapt_channels(self, state: dict[str, torch.Tensor], affine_of: list[int | None]) -> dict[str, torch.Tensor]:
        """The state dict for a model of `len(affine_of)` channels from one trained on others
        (`affine_of[i]`: the trained channel whose per-channel parameters channel i takes; None for
        a channel it never saw). Only a channel-independent kind can."""
        raise ConfigError(f"a {self.name} model mixes the channels it was trained on in its first layer, so its "
                          f"weights do not apply to other channels; train it on this data (`jepawatch train DATA`)")

    def set_channels(self, cfg: Any, n_channels: int) -> None:
        raise NotImplementedError

    def forward(self, model: nn.Module, cfg: Any, batch: tuple[torch.Tensor, ...],
                mask_generator: torch.Generator | None = None) -> dict:
        return model(*batch)

    def anneals_reconstruction(self) -> bool:
        """Whether the loop anneals lambda_r (only a model with a reconstruction term has one)."""
        return False

    def add_health(self, health: HealthAccumulator, out: dict) -> None:
        raise NotImplementedError

    def default_features(self, cfg: Any) -> str:
        return self.head_features[0]

    def representation(self, model: nn.Module, windows: torch.Tensor, features: str) -> torch.Tensor:
        """What the evaluation head reads of `windows` (B, T, V) preprocessed."""
        raise NotImplementedError

    def check_scorable(self, bundle_name: str, model: nn.Module, purpose: str = "scoring") -> None:
        """A ConfigError when a bundle of this kind (or this ablation) cannot be scored."""
        if not self.scorable:
            raise ConfigError(f"{bundle_name} is a {self.name} bundle; {purpose} needs an "
                              f"{' or '.join(k.name for k in KINDS.values() if k.scorable)} bundle")
        check_scorable(model)  # type: ignore[arg-type]  # only a scorable kind (MTS-JEPA) gets here

    def __repr__(self) -> str:
        return f"<ModelKind {self.name}>"


class MTSJEPAKind(ModelKind):
    name, title = "mts-jepa", "MTS-JEPA"
    config_class, model_class, objective_class = MTSJEPAConfig, MTSJEPA, MTSJEPAObjective
    takes_presets, scorable, channel_independent = True, True, True
    head_features = ("codes", "codes-mean", "latent", "codes+stats")

    def samples(self, pairs: list[WindowPairs]) -> Dataset:
        # channel independence: a batch is univariate (window, channel) samples, as in the authors' code
        return concat_samples([ChannelPairs(p) for p in pairs])

    def adapt_channels(self, state, affine_of):
        # Everything but RevIN's affine is shared by all channels. A channel the model never saw takes
        # the mean affine over the trained channels (a typical channel's), one it saw keeps its own.
        out = dict(state)
        for key in ("revin.weight", "revin.bias"):
            if key in state:
                trained = state[key]  # (V_trained,)
                out[key] = torch.stack([trained[i] if i is not None else trained.mean() for i in affine_of])
        return out

    def set_channels(self, cfg: MTSJEPAConfig, n_channels: int) -> None:
        cfg.n_channels = n_channels

    def forward(self, model, cfg, batch, mask_generator=None) -> dict:
        return model(*batch)  # (context (N, T), target (N, T), channel (N,))

    def anneals_reconstruction(self) -> bool:
        return True

    def add_health(self, health: HealthAccumulator, out: dict) -> None:
        online = out["online"]
        if online.codes is not None:
            health.add_codes(online.codes.probs)
        health.add_latents(online.latent)

    def default_features(self, cfg: MTSJEPAConfig) -> str:
        return "codes" if cfg.use_codebook else "latent"  # an ablation without codes: the encoder tokens

    def representation(self, model, windows, features):
        encoding = model.encode_window(windows)  # per channel: (B, V, P, .)
        if features == "latent":
            return encoding.h.amax(dim=1)  # (B, P, D)
        if features == "codes-mean":
            return encoding.codes.probs.mean(dim=1)  # (B, P, K)
        return encoding.codes.probs.amax(dim=1)  # (B, P, K), the paper's eq. 31


class TemporalJEPAKind(ModelKind):
    name, title = "temporal-jepa", "Temporal JEPA"
    config_class, model_class, objective_class = TemporalJEPAConfig, TemporalJEPA, TemporalJEPAObjective
    takes_presets, scorable, channel_independent = False, False, False
    head_features = ("context",)

    def set_channels(self, cfg: TemporalJEPAConfig, n_channels: int) -> None:
        cfg.input_dim = n_channels

    def forward(self, model, cfg, batch, mask_generator=None) -> dict:
        visible = generate_temporal_mask(cfg.seq_len, cfg.mask_ratio, mask_generator)
        return model(*batch, visible)

    def add_health(self, health: HealthAccumulator, out: dict) -> None:
        health.add_latents(out["context_repr"])

    def representation(self, model, windows, features):
        return model.embed(windows)  # (B, E): the context representation of the whole window


KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (MTSJEPAKind(), TemporalJEPAKind())}
DEFAULT_KIND = "mts-jepa"


def kind_of(name: str) -> ModelKind:
    """The kind called `name`; a ConfigError naming the known ones otherwise."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(KINDS)}") from None
