"""The label-free next-window risk every MTS-JEPA bundle carries (our design; `evaluate` measures it).

Components, one number per window W_t, larger = more unusual (SPEC-free summary of each):
- model (MTS-JEPA): `surprise_fine`, `surprise_coarse` (KL between the EMA branch's codes of W_t
  and the codes predicted for W_t from W_{t-1}, largest over channels), `rarity` (expected
  surprisal of the codes predicted for W_{t+1} under the training code frequencies);
- statistics (`stats_reference`): `stats_deviation` (the largest robust z-score of a channel's
  window statistics against the training windows) and `stats_neighbours` (distance to the nearest
  training windows in the joint space of all channels' statistics).

Fusion, without labels (`FusedRisk`): each component's values on the validation windows (the
held-out 10% of the training data at every patch offset, never the data being scored) give it a
continuous CDF with an exponential upper tail (`tails.TailCDF`); a window's fused score is the
sum over the chosen components of their tail scores -log(1 - F_c(x_c)) (Fisher's combination:
several components that are each a little unusual add up); the risk is the fused score's own
CDF on the same validation windows, so an alert at risk >= 0.99 fires on about 1% of normal
validation windows. No steps, no ties: the risk moves continuously with its inputs.

Which components the default risk fuses is decided by measurement (`evaluate --ablate-risk`,
`benchmarks/early_warning.py`, docs/method.md's decisions table). Decision (measured 2026-12-01,
BENCHMARKS.md "Early warning"): the default is `stats_neighbours` alone. Adding any model
component lowered the fused next-window and normal-context AUC on held-out demo-generator data,
on MSL and on SKAB (each tried alone and together, with the paper's RevIN and with `--preset
levels`; also tried and not kept: a memory over the last windows, max instead of sum, latent
prediction errors, nearest-neighbour distances in the encoder's latent space, a ridge forecast
of the next window's statistics from the codes); adding `stats_deviation` lowered it too (demo
78.1 -> 77.5 next, 71.6 -> 69.4 normal context; MSL 62.2 -> 57.2, 65.9 -> 63.5). The other
components are still computed, reported in every scored row and can be fused with
`--set train.risk_components=...` at train time.

`fusion="max"` keeps the strongest component's tail score instead of the sum (issue 28: one channel
far out should not be diluted). Measured 2026-12-04 (`evaluate --ablate-risk` on the bundles of
BENCHMARKS.md "Events where an operator acts"): the statistics components fused by max detect at
the 0.99 level what the default detects on the demo families (20-23 of 80, none warned) and warn
more at a 1% budget (7-11 of 80 against 2 for their sum), but cost more false alarms on MSL (105.8
per 1,000 normal windows against 54.6); not the default.

Bundles made before this fusion carry the earlier formula (`LegacyCalibration`), which still loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from jepawatch.scoring.features import WindowSignals
from jepawatch.scoring.stats_reference import Exclusion, StatsReference, kept_points
from jepawatch.scoring.tails import TailCDF
from jepawatch.training.config import DEFAULT_RISK_COMPONENTS, RISK_COMPONENTS

COMPONENTS = RISK_COMPONENTS
STATS_COMPONENTS = tuple(c for c in COMPONENTS if c.startswith("stats_"))  # of the window statistics
MODEL_COMPONENTS = tuple(c for c in COMPONENTS if c not in STATS_COMPONENTS)  # of the network's outputs
DEFAULT_ALERT_AT = 0.99
FORMAT = "fused-tails/2"  # with the statistics' values on the training windows (`training`)
FORMATS = ("fused-tails/1", FORMAT)  # /1: calibrated on the validation windows only
FUSIONS = ("sum", "max")


def component_values(signals: WindowSignals, reference: StatsReference) -> dict[str, np.ndarray]:
    """Every component's value per window, (N,) each."""
    values = {name: getattr(signals, name).amax(dim=-1).double().numpy() for name in MODEL_COMPONENTS}
    return {**values, **stats_values(signals.stats, signals.recent_stats, reference)}


def stats_values(stats: torch.Tensor, recent: torch.Tensor, reference: StatsReference,
                 exclusion: Exclusion | None = None) -> dict[str, np.ndarray]:
    """The statistics components of windows given by their statistics, (N,) each; `exclusion` when
    they are the reference's own training windows (see `StatsReference.neighbours`)."""
    return {"stats_deviation": reference.deviation(stats).amax(dim=-1).numpy(),
            "stats_neighbours": reference.neighbours(stats, recent, exclusion).numpy()}


def channel_values(signals: WindowSignals, reference: StatsReference) -> dict[str, np.ndarray]:
    """The per-channel components, (N, V) each (`stats_neighbours` is joint: it has none)."""
    values = {name: getattr(signals, name).double().numpy() for name in MODEL_COMPONENTS}
    values["stats_deviation"] = reference.deviation(signals.stats).numpy()
    return values


@dataclass
class FusedRisk:
    components: list[str]  # the fused ones, a subset of COMPONENTS
    reference: StatsReference  # training windows' statistics
    validation: dict[str, list[float]]  # every component's values on the validation windows
    alert_at: float = DEFAULT_ALERT_AT
    fusion: str = "sum"  # how the components' tail scores combine: "sum" (Fisher) or "max" (the strongest)
    training: dict[str, list[float]] = field(default_factory=dict)  # statistics components on the training windows
    tails: dict[str, TailCDF] = field(init=False, repr=False)
    fused_tail: TailCDF = field(init=False, repr=False)
    calibration_windows: int = field(init=False, repr=False)

    def __post_init__(self):
        unknown = [c for c in self.components if c not in COMPONENTS]
        if unknown or not self.components:
            raise ValueError(f"risk components must be a non-empty subset of {', '.join(COMPONENTS)}, not {self.components}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"risk fusion must be one of {', '.join(FUSIONS)}, not {self.fusion!r}")
        self.tails = {name: TailCDF.fit(np.asarray(v + self.training.get(name, []))) for name, v in self.validation.items()}
        validation = {name: np.asarray(v, dtype=np.float64) for name, v in self.validation.items()}
        fused = self._fused(validation)
        if self.training and all(name in self.training for name in self.components):
            fused = np.concatenate([fused, self._fused({k: np.asarray(v, dtype=np.float64) for k, v in self.training.items()})])
        self.fused_tail = TailCDF.fit(fused)
        self.calibration_windows = len(fused)

    @classmethod
    def fit(cls, training_stats: torch.Tensor, training_recent: torch.Tensor, validation_signals: WindowSignals,
            components: list[str] | tuple[str, ...] = DEFAULT_RISK_COMPONENTS, alert_at: float = DEFAULT_ALERT_AT,
            training_rows: np.ndarray | None = None, exclusion_zone: int = 0,
            earlier: "FusedRisk | None" = None,
            also_normal: tuple[torch.Tensor, torch.Tensor] | None = None,
            relative: list[int] | tuple[int, ...] = ()) -> "FusedRisk":
        """training_stats, training_recent: (N, V, S) statistics of training windows, whole and of their
        last patch; training_rows (N,): where each starts (segments far apart), to calibrate the
        statistics components on the training windows too, each against the reference windows at least
        `exclusion_zone` rows away (leave-neighbourhood-out); None: on the validation windows only.
        `earlier`: a calibration to extend (a refit): its reference windows join the new ones; the
        distributions are the new windows' only, since they are what will be scored. `also_normal`:
        statistics (whole, last patch) of windows declared normal (an operator's false alarms): in the
        reference, never in the distributions. `relative`: channels whose levels count relative to
        each window's own mean (`stats_reference.relative_levels`)."""
        extra = []
        if earlier is not None and earlier.reference.n_statistics == training_stats.shape[-1]:
            extra.append(earlier.reference.statistics())
        else:
            earlier = None
        if also_normal is not None and len(also_normal[0]):
            extra.append(also_normal)
        old_stats = torch.cat([e[0] for e in extra]).to(training_stats.dtype) if extra else None
        if old_stats is not None:
            old_recent = torch.cat([e[1] for e in extra]).to(training_recent.dtype)
            stats, recent = torch.cat([old_stats, training_stats]), torch.cat([old_recent, training_recent])
        else:
            stats, recent = training_stats, training_recent
        reference = StatsReference.fit(stats, recent, relative)
        values = component_values(validation_signals, reference)
        training = {}
        if training_rows is not None:
            n_old = 0 if old_stats is None else len(old_stats)
            new_rows = np.asarray(training_rows, dtype=np.int64)
            rows = np.concatenate([np.arange(n_old, dtype=np.int64) - (1 << 40), new_rows])  # earlier, declared: never near
            exclusion = Exclusion(new_rows, rows[kept_points(len(rows))], exclusion_zone)
            values_on_training = stats_values(training_stats, training_recent, reference, exclusion)
            far_enough = np.isfinite(values_on_training["stats_neighbours"])  # else too few points outside its zone
            training = {k: np.round(v[far_enough], 6).tolist() for k, v in values_on_training.items()}
        return cls(list(components), reference, {k: v.tolist() for k, v in values.items()}, alert_at, training=training)

    def without(self, name: str) -> "FusedRisk":
        """The same calibration with one component left out (the risk's ablation)."""
        return self.only([c for c in self.components if c != name])

    def only(self, names, fusion: str | None = None) -> "FusedRisk":
        return FusedRisk(list(names), self.reference, self.validation, self.alert_at, fusion or self.fusion,
                         self.training)

    def _fused(self, values: dict[str, np.ndarray]) -> np.ndarray:
        scores = [self.tails[name].tail_score(values[name]) for name in self.components]
        return np.max(scores, axis=0) if self.fusion == "max" else np.sum(scores, axis=0)

    def score_of_values(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """(N,) the fused score: summed tail scores, unbounded (nats of surprise)."""
        return self._fused(values)

    def risk_of_score(self, score: np.ndarray) -> np.ndarray:
        """(N,) in [0, 1]: the fused score's CDF on the calibration windows; beyond one in a million
        it keeps its order (`tails`: no ties at 1.0 until a billion scales further out)."""
        return self.fused_tail.cdf(score)

    def one_in(self, score: np.ndarray) -> np.ndarray:
        """(N,) how far out each window is: as unusual as 1 in this many normal windows (1 / (1 - risk),
        computed without rounding the risk to 1)."""
        return 1.0 / np.maximum(self.fused_tail.survival(score), 1e-300)

    def score(self, signals: WindowSignals) -> np.ndarray:
        return self.score_of_values(component_values(signals, self.reference))

    def risk(self, signals: WindowSignals) -> np.ndarray:
        return self.risk_of_score(self.score(signals))

    def channel_scores(self, signals: WindowSignals) -> np.ndarray:
        """(N, V): each channel's summed tail scores of the fused per-channel components, to name the
        drivers (each scored against the window-level component's validation tail). When only
        joint components are fused, the channels are ranked by their statistics' deviation."""
        per_channel = channel_values(signals, self.reference)
        names = [c for c in self.components if c in per_channel] or ["stats_deviation"]
        return np.sum([self.tails[name].tail_score(per_channel[name]) for name in names], axis=0)

    @property
    def n_windows(self) -> int:
        """Windows the fused score's distribution is calibrated on."""
        return self.calibration_windows

    @property
    def n_reference_windows(self) -> int:
        """Training windows the reference was thinned from (its statistics components' training values
        count them, those too close to every other left aside); at least the points it keeps."""
        return max(len(self.reference.points), len(self.training.get("stats_neighbours", [])))

    def to_dict(self) -> dict:
        d = {"format": FORMAT if self.training else FORMATS[0],
             "formula": "CDF of sum_c -log(1 - F_c(x_c)) over validation windows (and, for the statistics "
             "components, training windows each against reference windows far from it in time), "
             "F_c continuous with an exponential tail", "components": list(self.components),
             "alert_at": self.alert_at, "fusion": self.fusion, "reference": self.reference.to_dict(),
             "validation": self.validation}
        return {**d, "training": self.training} if self.training else d

    @classmethod
    def from_dict(cls, d: dict) -> "FusedRisk":
        return cls(list(d["components"]), StatsReference.from_dict(d["reference"]),
                   {k: [float(x) for x in v] for k, v in d["validation"].items()}, float(d.get("alert_at", DEFAULT_ALERT_AT)),
                   str(d.get("fusion", "sum")), {k: [float(x) for x in v] for k, v in d.get("training", {}).items()})


@dataclass
class LegacyCalibration:
    """The risk of bundles made before the fusion: the mid-rank ECDF of the summed robust z-scores of
    the three model components (their largest value over channels) on the validation windows."""

    center: list[float]
    scale: list[float]
    reference: list[float] = field(repr=False)
    alert_at: float = DEFAULT_ALERT_AT
    components = list(MODEL_COMPONENTS)

    def _standardised(self, values: torch.Tensor) -> torch.Tensor:
        return (values.double() - torch.tensor(self.center, dtype=torch.float64)) / torch.tensor(self.scale, dtype=torch.float64)

    def score(self, signals: WindowSignals) -> np.ndarray:
        maxima = torch.stack([getattr(signals, c).amax(dim=-1) for c in MODEL_COMPONENTS], dim=-1).cpu()
        return self._standardised(maxima).sum(-1).numpy()

    def risk_of_score(self, scores: np.ndarray) -> np.ndarray:
        reference = np.asarray(self.reference)
        below = np.searchsorted(reference, scores, side="left")
        at_or_below = np.searchsorted(reference, scores, side="right")
        return (below + at_or_below) / (2.0 * len(reference))

    def risk(self, signals: WindowSignals) -> np.ndarray:
        return self.risk_of_score(self.score(signals))

    def one_in(self, scores: np.ndarray) -> np.ndarray:
        """1 / (1 - risk), this formula's risk being a mid-rank ECDF of n windows: beyond all of them
        (risk 1) it says 1 in 2 n, the most its n windows can tell."""
        return 1.0 / np.maximum(1.0 - self.risk_of_score(scores), 0.5 / len(self.reference))

    def channel_scores(self, signals: WindowSignals) -> np.ndarray:
        stacked = torch.stack([getattr(signals, c) for c in MODEL_COMPONENTS], dim=-1).cpu()  # (N, V, 3)
        return self._standardised(stacked).sum(-1).numpy()

    @property
    def n_windows(self) -> int:
        return len(self.reference)


def risk_from_dict(d: dict):
    """The calibration a bundle's risk.json describes: the fusion, or the earlier formula."""
    if d.get("format") in FORMATS:
        return FusedRisk.from_dict(d)
    return LegacyCalibration(center=d["center"], scale=d["scale"], reference=d["reference"],
                             alert_at=d.get("alert_at", DEFAULT_ALERT_AT))
