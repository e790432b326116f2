#!/usr/bin/env python
"""How dispersed the Hutchinson sensitivities are, per channel: the high-rate gain ½·log2(AM/GM) of a step
per value over one step per channel (X domain), over one step per RAHT block, and over one per (block,
RAHT weight class). Massa, depth 16, nothing pruned, Q44, KLT (the numbers of the session-4 closing note):

    python scripts/sensitivity_dispersion.py
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.chdir(ROOT)
import numpy as np
import torch

torch.set_num_threads(1)
from scene.splat_files import read_splat
from scene.gaussian_model import GaussianModel
from compression.views import view_schedule, virtual_views
from compression.setup import compression_setup
from quant.granularity import split_length
src = GaussianModel.from_arrays(read_splat(os.path.join(ROOT, '..', 'shared', 'data', 'captures', 'massa.sog')))
views = virtual_views(src, view_schedule(src.num_gaussians), background=torch.zeros(3), backend="torch")
m = compression_setup(src, views.train_cameras, views.test_cameras, depth=16, percent=0.0, beta=0.1, n_block=57, bits=16,
                      quantizer="rd", quality=44, sensitivity="hutchinson", background=torch.zeros(3), backend="torch",
                      evaluate=False, prune="fixed", channel_transform="klt").model
d = m.hutchinson
names = m.layout.channel_names()
def amgm(x):
    x = x[x > 0]
    return 0.5 * float(np.log2(x.mean()) - np.log2(x).mean())
print("per-Gaussian (direct coding, oracle steps): bits per value gained vs one step per channel")
for c, n in enumerate(names):
    print(f"  {n:14s} X-domain {amgm(d.attributes[:, c].numpy()):.2f}   coefficient domain, per slot vs per block: ", end="")
    co = d.coefficients[1:, c].numpy()
    sizes = split_length(co.shape[0], 57)
    parts = np.split(co, np.cumsum(sizes)[:-1])
    # gain of per-slot steps over per-block steps, weighted by slots
    g = sum(len(p) * amgm(p) for p in parts if (p > 0).any()) / co.shape[0]
    print(f"{g:.2f}; per slot vs per channel {amgm(co):.2f}")
from codec.ac_coding import weight_classes
cls = weight_classes(m.plan.ac_weight.numpy())
print("per slot vs per (block, RAHT weight class):")
for c, n in enumerate(names):
    co = d.coefficients[1:, c].numpy()
    blocks = np.repeat(np.arange(57), split_length(co.shape[0], 57))
    key = blocks * 16 + cls
    g = 0.0
    for k in np.unique(key):
        p = co[key == k]
        if (p > 0).any():
            g += len(p) * amgm(p)
    print(f"  {n:14s} {g / co.shape[0]:.2f}")
