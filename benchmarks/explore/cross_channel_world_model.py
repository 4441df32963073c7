"""Exploration (issue 14, not shipped): a cross-channel, level-aware world model over a trained bundle's frozen codes.

usage: python benchmarks/explore/cross_channel_world_model.py BUNDLE DATA [LABEL_COLUMN]
(the bundles and data of `benchmarks/early_warning.py`, e.g. its models/demo-seed101 with
demo-seed101/live.csv, or models/msl with ../shared/data/msl).

A Transformer over channel tokens (each token: one channel's EMA fine code probabilities (P, K) and
its window statistics, robust-standardised on training) is trained on consecutive training windows
to predict the next window's codes (KL) and statistics (smooth L1). Signals per window t: the error
of the statistics predicted for t from t-1, the predicted deviation of t+1, and the cross-channel
code surprise KL(p_t || p_hat_t). Each is printed alone and fused (validation tail scores, summed)
with the product's default component `stats_neighbours`; the same model without codes is the control
that says whether the codes add anything. Next-window ROC AUC on the whole labelled file, and on
pairs whose current window is normal.
"""
import sys, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from pathlib import Path
from sklearn.metrics import roc_auc_score
from jepawatch.bundle import load_bundle
from jepawatch.adapters import ReadOptions
from jepawatch.evaluation.labelled import read_labelled, read_training
from jepawatch.data.windows import chronological_split
from jepawatch.scoring.scorer import Scorer
from jepawatch.scoring.scored_windows import scorable_starts
from jepawatch.scoring.label_free import component_values
from jepawatch.scoring.tails import TailCDF
from jepawatch.scoring.features import window_statistics
torch.set_num_threads(2); torch.manual_seed(0)
b = load_bundle(Path(sys.argv[1])); data = Path(sys.argv[2]); sc = Scorer(b, torch.device("cpu")); W = b.run.model.window
P = b.run.model.n_patches; L = W // P
opts = ReadOptions(label_column=sys.argv[3] if len(sys.argv) > 3 else "auto")
te, lab, _ = read_labelled(data, None, opts, b)
tr = read_training(data, None, opts, b)
split = chronological_split(tr, W, b.run.train.val_fraction); fit, val = split.train, split.val
m = b.model.eval()
def feats(series, starts):
    C, S = [], []
    for i in range(0, len(starts), 256):
        s = starts[i:i+256]; w = torch.from_numpy(series[s[:, None] + np.arange(W)]).float()
        with torch.no_grad(): C.append(m.encode_window(w, ema=True).codes.probs)  # (B,V,P,K)
        S.append(window_statistics(w))  # (B,V,5)
    return torch.cat(C), torch.cat(S)
fs = np.arange(0, len(fit) - 2 * W + 1, L)
C0, S0 = feats(fit, fs); C1, S1 = feats(fit, fs + W)
med = S0.median(0).values; iqr = (S0.quantile(.75, 0) - S0.quantile(.25, 0)).clamp_min(1e-3)
def nz(S): return ((S - med) / iqr).clamp(-20, 20)
V, K = C0.shape[1], C0.shape[-1]
class World(nn.Module):
    def __init__(s, use_codes, H=64):
        super().__init__(); s.use_codes = use_codes
        s.inp = nn.Linear((P * K if use_codes else 0) + 5, H); s.ch = nn.Parameter(torch.randn(V, H) * .02)
        s.tf = nn.TransformerEncoder(nn.TransformerEncoderLayer(H, 4, 2 * H, 0.1, batch_first=True, norm_first=True), 2, enable_nested_tensor=False)
        s.norm = nn.LayerNorm(H); s.out_s = nn.Linear(H, 5); s.out_c = nn.Linear(H, P * K) if use_codes else None
    def forward(s, C, S):
        x = nz(S) if not s.use_codes else torch.cat([C.flatten(2), nz(S)], -1)
        h = s.norm(s.tf(s.inp(x) + s.ch))  # (B,V,H)
        return s.out_s(h), (s.out_c(h).reshape(len(C), V, P, K) if s.out_c is not None else None)
def train_world(use_codes, epochs=30):
    f = World(use_codes); opt = torch.optim.Adam(f.parameters(), 1e-3, weight_decay=1e-4)
    n = len(C0); idx = np.arange(n); t0 = time.time()
    for ep in range(epochs):
        np.random.shuffle(idx); f.train()
        for i in range(0, n, 64):
            j = idx[i:i+64]; ps, pc = f(C0[j], S0[j])
            loss = F.smooth_l1_loss(ps, nz(S1[j]))
            if pc is not None:
                loss = loss + F.kl_div(F.log_softmax(pc, -1), C1[j].clamp_min(1e-8).log(), log_target=True, reduction="none").sum(-1).mean()
            opt.zero_grad(); loss.backward(); opt.step()
    print(f"world(codes={use_codes}) trained {time.time()-t0:.0f}s loss {loss.item():.3f}", flush=True)
    return f.eval()
def signals(f, series, starts):
    Cp, Sp = feats(series, starts - W); Cc, Sc = feats(series, starts)
    with torch.no_grad():
        ps_prev, pc_prev = f(Cp, Sp)  # prediction for window t from t-1
        ps_next, pc_next = f(Cc, Sc)  # prediction for window t+1 from t
    err_s = (ps_prev - nz(Sc)).abs().sum(-1)  # (N,V)
    out = {"err_stats_max": err_s.amax(-1).numpy(), "err_stats_sum": err_s.sum(-1).numpy(),
           "pred_dev_max": ps_next.abs().sum(-1).amax(-1).numpy(), "pred_dev_sum": ps_next.abs().sum(-1).sum(-1).numpy()}
    if pc_prev is not None:
        kl = F.kl_div(F.log_softmax(pc_prev, -1), Cc.clamp_min(1e-8).log(), log_target=True, reduction="none").sum(-1).sum(-1)
        out["x_surprise_max"] = kl.amax(-1).numpy(); out["x_surprise_sum"] = kl.sum(-1).numpy()
    return out
vs = scorable_starts(len(val), W, L); vs = vs[vs >= W]
n = len(te) // W; ts = np.arange(1, n - 1) * W
y = lab[:n * W].reshape(n, W).max(1); yn, yc = y[2:], y[1:-1]
def rep(name, s):
    print(f"{name:44s} next {100*roc_auc_score(yn, s):5.1f} normal {100*roc_auc_score(yn[yc==0], s[yc==0]):5.1f}", flush=True)
Vc = component_values(sc.signals(val, vs), sc.calibration.reference); Tc = component_values(sc.signals(te, ts), sc.calibration.reference)
rep("stats_neighbours", Tc["stats_neighbours"]); rep("stats_deviation", Tc["stats_deviation"])
for use_codes in (False, True):
    f = train_world(use_codes)
    tag = "codes+stats" if use_codes else "stats"
    sv, st = signals(f, val, vs), signals(f, te, ts)
    for k in st:
        rep(f"[{tag}] {k}", st[k])
        Vc[f"{tag}:{k}"], Tc[f"{tag}:{k}"] = sv[k], st[k]
tails = {k: TailCDF.fit(Vc[k]) for k in Vc}
def fuse(keys): return np.sum([tails[k].tail_score(Tc[k]) for k in keys], 0)
for tag in ("stats", "codes+stats"):
    for k in [k for k in Tc if k.startswith(tag + ":")]:
        rep(f"sn + {k}", fuse(["stats_neighbours", k]))
