#!/usr/bin/env python3
"""95 % interval coverage of statsforecast's models on the splits `hivesched backtest --origins 8`
and `statsforecast_compare.py` use (eight consecutive one-day test windows at the end of the
trace, up to four weeks of history each), for comparison with `hivesched backtest`'s `cov95`.
Bounds are clamped at 0 as ours are. Prints the mean coverage and each window's.

Usage: .sfvenv/bin/python scripts/sf_coverage.py ../shared/data/traces/nab/NAME.csv
(needs statsforecast, set up as the top of ../shared/bench/statsforecast_compare.py says). A model
whose bounds come back NaN or of zero width in a window (statsforecast's MSTL when the weekly
season is longer than the history: bounds equal to the mean) scores nan there.
"""
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench"))
from statsforecast_compare import interval_seconds, load, statsforecast_models  # noqa: E402

ORIGINS = 8

ts, y = load(sys.argv[1])
m = max(1, round(86400 / interval_seconds(ts)))
h = m
hist = min(len(y) - h * ORIGINS, 28 * m)
ends = [len(y) - h * (ORIGINS - k) for k in range(ORIGINS)]
for name, ctor in statsforecast_models(m, 7 * m).items():
    covs = []
    for end in ends:
        f = ctor().forecast(y=y[max(0, end - hist) : end], h=h, level=[95])
        lo, hi = np.maximum(f["lo-95"], 0), np.maximum(f["hi-95"], 0)
        test = y[end : end + h]
        if np.isnan(lo).any() or np.isnan(hi).any() or np.all(hi - lo == 0):
            covs.append(float("nan"))
        else:
            covs.append(float(np.mean((test >= lo) & (test <= hi))))
    print(f"{name:22} cov95 {np.nanmean(covs) if not np.isnan(covs).all() else float('nan'):.3f}  per window {np.round(covs, 2).tolist()}", flush=True)
