"""Exploration (issue 14, not shipped): early-warning indicators of critical slowing down (rising lag-1
autocorrelation; roughness, the mean absolute first difference) added to the statistics that the
default risk's nearest-neighbour component reads.

usage: python benchmarks/explore/slowing_down_indicators.py BUNDLE DATA [LABEL_COLUMN] [TRAIN_DATA]
(the bundles and data of `benchmarks/early_warning.py`). The first line re-computes the shipped
`stats_neighbours` (whole window and last patch; mean, std, min, max, last) and must match
`evaluate`'s figure for it; the next two add the indicators of the whole window and of its last patch.
"""
import sys, numpy as np, torch
from pathlib import Path
from sklearn.metrics import roc_auc_score
from jepawatch.bundle import load_bundle
from jepawatch.adapters import ReadOptions
from jepawatch.evaluation.labelled import read_labelled, read_training
from jepawatch.data.windows import chronological_split
torch.set_num_threads(2)
b = load_bundle(Path(sys.argv[1])); data = Path(sys.argv[2]); W = b.run.model.window; P = b.run.model.n_patches; L = W // P
opts = ReadOptions(label_column=sys.argv[3] if len(sys.argv) > 3 else "auto")
te, lab, _ = read_labelled(data, None, opts, b)
tr = read_training(data, None, opts, b, train_data=Path(sys.argv[4]) if len(sys.argv) > 4 else None)
split = chronological_split(tr, W, b.run.train.val_fraction); fit = split.train
def basic(w):  # (N,T,V) -> (N,V,5)
    return np.stack([w.mean(1), w.std(1), w.min(1), w.max(1), w[:, -1]], -1)
def dyn(w):  # lag-1 autocorrelation and roughness (mean |diff| / (std+eps))
    c = w - w.mean(1, keepdims=True); sd = w.std(1) + 1e-6
    ac = (c[:, 1:] * c[:, :-1]).mean(1) / sd**2
    rough = np.abs(np.diff(w, axis=1)).mean(1)
    return np.stack([ac, rough], -1)
def feats(series, starts, kind):
    w = series[starts[:, None] + np.arange(W)]; r = w[:, -L:]
    parts = [basic(w), basic(r)]
    if kind >= 1: parts += [dyn(w)[..., 1:], dyn(r)[..., 1:]]  # roughness
    if kind >= 2: parts += [dyn(w)[..., :1], dyn(r)[..., :1]]  # + autocorrelation
    return np.concatenate([p.reshape(len(w), -1) for p in parts], 1)
fs = np.arange(0, len(fit) - W + 1, W)
n = len(te) // W; ts = np.arange(1, n - 1) * W
y = lab[:n * W].reshape(n, W).max(1); yn, yc = y[2:], y[1:-1]
def rep(name, s):
    print(f"{name:30s} next {100*roc_auc_score(yn, s):5.1f} normal {100*roc_auc_score(yn[yc==0], s[yc==0]):5.1f}", flush=True)
import torch as T
for kind, name in ((0, "stats (product)"), (1, "+roughness"), (2, "+roughness+autocorr")):
    A = feats(fit, fs, kind); X = feats(te, ts, kind)
    mu, sd = A.mean(0), A.std(0); sd = np.where(sd > 1e-9, sd, 1.0)
    keep = np.linspace(0, len(A) - 1, min(len(A), 2000)).round().astype(int)
    ref = T.tensor((A[keep] - mu) / sd); q = T.tensor((X - mu) / sd)
    d = T.cat([T.cdist(p, ref).topk(5, largest=False).values.mean(-1) for p in q.split(1024)]).numpy()
    rep(name, d)
