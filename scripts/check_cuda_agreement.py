#!/usr/bin/env python
"""CPU/CUDA agreement of the RAHT plan and transform, the quantizer banks and the torch renderer against
gsplat.rasterization (needs CUDA and gsplat). The figures behind the tolerances of the gpu-marked tests
(docs/benchmarks.md, "On a GPU"):

    python scripts/check_cuda_agreement.py
"""
import sys, os
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT); sys.path.insert(0, os.path.join(ROOT, "tests"))
import torch
dev = torch.device("cuda")
print("== raht plan")
from test_raht import random_coords
from raht.plan import build_plan
from raht.transform import raht_forward
coords = random_coords(3000, 14, seed=20)
plan = build_plan(coords, 14); pg = build_plan(coords.to(dev), 14)
for name in ("perm", "left", "right", "a", "b", "ac_weight"):
    a, b = getattr(plan, name), getattr(pg, name).cpu()
    eq = torch.equal(a, b)
    print(name, a.dtype, "equal" if eq else f"DIFF n={(a != b).sum().item()} maxabs={(a.double()-b.double()).abs().max().item():.3e}")
print("levels equal", plan.level_ranges == pg.level_ranges)
from raht.transform import raht_inverse
xx = torch.randn(coords.shape[0], 55)
cc = raht_forward(xx, plan); xg = xx.to(dev).requires_grad_(True); cg = raht_forward(xg, pg)
print("fwd maxabs", (cg.detach().cpu() - cc).abs().max().item(), "inv maxabs", (raht_inverse(cg, pg).detach().cpu() - xx).abs().max().item())
cg.sum().backward(); print("grad maxabs", (xg.grad.cpu() - raht_inverse(torch.ones_like(xx), plan)).abs().max().item())
print("== banks")
from test_quant_banks import _stream, C, B
from quant import VanillaQuanBank, LsqQuanBank
x = _stream(17)
for cls in (VanillaQuanBank, LsqQuanBank):
    cb, gb = cls(C, B).train(), cls(C, B).to(dev).train()
    cb.calibrate(x); gb.load_state_dict(cb.state_dict())
    oc, og = cb(x), gb(x.to(dev)).cpu()
    d = oc != og
    print(cls.__name__, "n diff", int(d.sum()), "of", d.numel(), "max", (oc - og).abs().max().item())
    if d.any():
        i = d.nonzero()[:3]
        for r, c in i.tolist():
            print("  x", x[r, c].item(), "cpu", oc[r, c].item(), "gpu", og[r, c].item())
    cb.eval(); gb.eval()
    kc, kg = cb.quantize_codes(x), gb.quantize_codes(x.to(dev)).cpu()
    print("  codes diff", int((kc != kg).sum()))
print("== renderer")
from test_renderer import random_gaussians, look_at_camera, Cam
from gaussian_renderer import render
means, quats, scales, opac, sh = random_gaussians(3000, torch.float32, seed=21)
cam = look_at_camera(96, 80, 80.0, torch.float32)
t = [v.to(dev) for v in (means, quats, scales, opac, sh)]
cd = Cam(cam.world_to_camera.to(dev), cam.intrinsics.to(dev), 96, 80)
bg = torch.tensor([0.1, 0.2, 0.3], device=dev)
o = render(*t[:4], cd, sh_coeffs=t[4], sh_degree=3, background=bg, backend="torch")
g = render(*t[:4], cd, sh_coeffs=t[4], sh_degree=3, background=bg, backend="gsplat")
d = (o["image"] - g["image"]).abs().amax(-1)
print("image: max", d.max().item(), "mean", d.mean().item(), "px>1e-3", int((d > 1e-3).sum()), "px>1e-4", int((d > 1e-4).sum()), "of", d.numel())
da = (o["alpha"] - g["alpha"]).abs()
print("alpha: max", da.max().item(), "px>1e-3", int((da > 1e-3).sum()))
# CPU torch backend vs CUDA torch backend
oc = render(means, quats, scales, opac, cam, sh_coeffs=sh, sh_degree=3, background=bg.cpu(), backend="torch")
print("torch cpu vs cuda max", (oc["image"] - o["image"].cpu()).abs().max().item())
