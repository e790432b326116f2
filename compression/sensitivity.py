"""How much each attribute matters to the image: the sensitivities behind the RD steps.

Two measures (``--sensitivity``):

- ``fisher`` (:func:`attribute_sensitivity`): the squared gradient of the loss against the target
  images. It needs a residual: with renders of the original model as targets (virtual views) the
  residual is zero until something is pruned or merged, and so is this measure.
- ``hutchinson`` (:func:`coefficient_sensitivity`): the diagonal of JᵀJ, J = ∂image/∂coefficients,
  estimated by back-propagating random ±1 images ε (Hutchinson: E[(Jᵀε)²] = diag JᵀJ). It needs no
  target at all: the loss increase of a small perturbation δ of the coefficients is, for the
  squared error, δᵀJᵀJδ, whose diagonal part Σ diag(JᵀJ)·δ² weighs the quantization errors. The
  gradient with respect to the attributes g = Jₓᵀε is mapped to the RAHT coefficients exactly by
  one forward RAHT (coefficients = Q·x with Q orthonormal, so ∂/∂coeffs = Q·g), so every AC slot
  gets its own value and a quantizer block's sensitivity is the mean over exactly the slots it
  quantizes. The same pass also keeps (Jₓᵀε)² per voxel row and attribute column and (J_μᵀε)² per
  position axis (:class:`HutchinsonDiagonals`): what compression/rd_structure.py needs to price the
  removal of a Gaussian and the coarseness of the octree.

With a channel transform (codec/channel_transform.py) the quantizers see the coded channels X·B;
both measures are taken there (the gradient with respect to X·B is the gradient with respect to X
times B, B orthonormal).

Unseen is not free (:func:`with_view_prior`). A Gaussian that no fitting view sees has a zero
diagonal, so the rate–distortion choices would prune it for free and give it the coarsest steps; a
viewer may still look at it. Every such row therefore gets a view-independent prior

    prior[i, c] = φ · r_c · o_i² · A_i,   A_i = s_(1)·s_(2) (its two largest scales: its area),

with r_c = the median of diag[i, c] / (o_i²·A_i) over the rows that the views do see and whose
footprint o²·A falls in the same of ``PRIOR_BINS`` quantile classes (the typical value in the views'
own units; per class, because the image change of a large Gaussian saturates) and φ =
``--sensitivity_prior``. The prior replaces the zero attribute and position diagonals of the unseen
rows and reaches the coefficient diagonal through the same transform the measurement used:
E[(Q·(ε ⊙ √prior)·B)²] over random ±1 ε. Rows the views see keep their measurement, however small:
raising those too (a floor for every row) moves the average sensitivity, hence every step and the bit
price, and lost at equal bytes on massa.sog in a trial.

Fisher details:

F[i, c] = mean over training views v of (∂L_v/∂X[i, c])², with L_v the fine-tuning loss
0.8·L1 + 0.2·(1 − SSIM) of view v rendered from the unquantized attributes X [N, C] (one forward
and backward per view). To second order the loss increase caused by a small perturbation δX is
½·Σ F·δX² (the Fisher / Gauss–Newton approximation of the Hessian's diagonal), so F weighs the
squared quantization error of every attribute.

The quantizer of (channel c, block j) covers the AC slots of block j (``quant.split_length``); since
slot s of a RAHT plan is the Morton index of the first voxel of the subtree it describes, block j
covers about the voxel rows of the same index range, and its sensitivity is the mean of F over
those rows: s[c, j] = mean_{i ∈ rows of block j} F[i, c]. Voxels no training view sees have F = 0,
so their blocks get the largest step (``quant.rate_distortion.rd_steps``) and cost almost nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from compression.attributes import QuantizedGaussians, activate_attributes, render_attributes
from quant.granularity import split_length
from codec.channel_transform import to_coded
from raht import raht_forward
from utils.image_metrics import l1_loss, ssim

__all__ = ["attribute_sensitivity", "coefficient_sensitivity", "hutchinson_diagonals", "HutchinsonDiagonals", "block_sensitivity",
           "sensitivity_function", "with_view_prior", "PRIOR_PROBES"]

#: random-sign probes that carry the prior's deficit into the RAHT coefficient domain
PRIOR_PROBES = 8
#: footprint classes of the prior's typical ratio
PRIOR_BINS = 16


def attribute_sensitivity(model: QuantizedGaussians, cameras: Sequence[Any], *, background: torch.Tensor,
                          backend: str, lambda_dssim: float = 0.2) -> torch.Tensor:
    """F [N, C] float64 (see the module docstring), from the model's unquantized attributes."""
    if not cameras:
        raise ValueError("the sensitivity needs training views; the scene has none")
    background = background.to(model.device, torch.float32)
    fisher = torch.zeros(model.n_gaussians, model.layout.n_channels, dtype=torch.float64, device=model.device)
    base = model.attributes().detach()
    for cam in cameras:
        x = base.clone().requires_grad_(True)
        image = render_attributes(model.gaussians(x), cam, background, backend, model.sh_degree)["image"]
        gt = cam.image(device=model.device)
        loss = (1.0 - lambda_dssim) * l1_loss(image, gt)
        if lambda_dssim > 0:
            loss = loss + lambda_dssim * (1.0 - ssim(image, gt, mode="train"))
        (grad,) = torch.autograd.grad(loss, x)
        fisher += to_coded(grad, model.channel_basis).to(torch.float64).square()  # coded channels (X·B: grad·B)
    return fisher / len(cameras)


@dataclass
class HutchinsonDiagonals:
    """diag JᵀJ of one Hutchinson pass (mean over views and probes), J = ∂image/∂·:

    - ``coefficients`` [N, C]: in the RAHT coefficient domain (row 0 DC, rows 1..N−1 the AC slots);
    - ``attributes`` [N, C]: per voxel row and attribute column (before the RAHT);
    - ``positions`` [N, 3]: per voxel row and axis of its position.

    All float64; the same units, so they can be compared with each other (compression/rd_structure.py).
    """

    coefficients: torch.Tensor
    attributes: torch.Tensor
    positions: torch.Tensor
    prior: dict | None = None  # what with_view_prior did: {"share", "seen", "seen_opacity", "raised"}


def hutchinson_diagonals(model: QuantizedGaussians, cameras: Sequence[Any], *, background: torch.Tensor,
                         backend: str, probes: int = 1, seed: int = 0) -> HutchinsonDiagonals:
    """One pass over ``cameras``: render the unquantized attributes, back-propagate ``probes``
    random ±1 images ε per view and accumulate (Q·Jₓᵀε)², (Jₓᵀε)² and (J_μᵀε)² (module docstring).

    ε is drawn from a generator seeded with ``seed``, so the result is deterministic on the CPU.
    One render per view; ``probes`` backward passes through it.
    """
    if not cameras:
        raise ValueError("the sensitivity needs views; there are none")
    if probes < 1:
        raise ValueError(f"the Hutchinson sensitivity needs probes >= 1, got {probes}")
    background = background.to(model.device, torch.float32)
    shape = (model.n_gaussians, model.layout.n_channels)
    coeff = torch.zeros(shape, dtype=torch.float64, device=model.device)
    attr = torch.zeros(shape, dtype=torch.float64, device=model.device)
    pos = torch.zeros(model.n_gaussians, 3, dtype=torch.float64, device=model.device)
    base = model.attributes().detach()
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    for cam in cameras:
        x = base.clone().requires_grad_(True)
        means = model.means.detach().clone().requires_grad_(True)
        gaussians = activate_attributes(x, means, model.layout)
        image = render_attributes(gaussians, cam, background, backend, model.sh_degree)["image"]
        for p in range(probes):
            eps = torch.randint(0, 2, tuple(image.shape), generator=gen).to(image) * 2.0 - 1.0
            grad, grad_means = torch.autograd.grad(image, (x, means), grad_outputs=eps, retain_graph=p + 1 < probes)
            grad = grad.detach()
            # the coded channels are X·B with B orthonormal, so ∂/∂(X·B) = (∂/∂X)·B: the same transform
            coeff += raht_forward(to_coded(grad, model.channel_basis), model.plan).to(torch.float64).square()
            attr += grad.to(torch.float64).square()
            pos += grad_means.detach().to(torch.float64).square()
    n = len(cameras) * probes
    return HutchinsonDiagonals(coeff / n, attr / n, pos / n)


def with_view_prior(diagonals: HutchinsonDiagonals, model: QuantizedGaussians, share: float,
                    seed: int = 0) -> HutchinsonDiagonals:
    """The diagonals with the rows no view sees given the view-independent prior (module docstring), φ = ``share``.

    Also counts the rows the views see (a non-zero attribute diagonal): ``prior["seen"]`` (share of
    the rows) and ``prior["seen_opacity"]`` (share of the opacity), whatever ``share``; ``share`` 0 keeps
    the diagonals. ``prior["raised"]``: the rows the prior raised.
    """
    if share < 0:
        raise ValueError(f"the sensitivity prior share must be >= 0, got {share}")
    attrs = model.attributes().detach().to(torch.float64)
    layout = model.layout
    opacity = torch.sigmoid(attrs[:, layout.opacity.start])
    scales = torch.exp(attrs[:, layout.scale]).sort(dim=1, descending=True).values
    footprint = opacity.square() * scales[:, 0] * scales[:, 1]  # o²·A
    seen = diagonals.attributes.sum(dim=1) > 0
    info = {"share": float(share), "seen": float(seen.double().mean()),
            "seen_opacity": float(opacity[seen].sum() / opacity.sum().clamp(min=1e-30)), "raised": 0}
    if share == 0 or not bool(seen.any()):
        return HutchinsonDiagonals(diagonals.coefficients, diagonals.attributes, diagonals.positions, info)
    ok = seen & (footprint > 0)
    if not bool(ok.any()) or bool(seen.all()):
        return HutchinsonDiagonals(diagonals.coefficients, diagonals.attributes, diagonals.positions, info)
    # the typical ratio diag / (o²·A) per footprint class (PRIOR_BINS quantile bins of the seen rows): a
    # large Gaussian's image change saturates (it cannot cover more than the image), so one ratio for all
    # sizes would give the largest ones priors far above anything measured
    log_f = footprint.clamp(min=1e-300).log()
    edges = torch.quantile(log_f[ok], torch.linspace(0.0, 1.0, PRIOR_BINS + 1, dtype=torch.float64, device=log_f.device))
    bins = torch.bucketize(log_f, edges[1:-1].contiguous())

    def floor(diag: torch.Tensor) -> torch.Tensor:
        ratio = diag / footprint.clamp(min=1e-300)[:, None]
        typical = torch.zeros(PRIOR_BINS, diag.shape[1], dtype=diag.dtype, device=diag.device)
        for b in range(PRIOR_BINS):
            rows = ok & (bins == b)
            if bool(rows.any()):
                typical[b] = ratio[rows].median(dim=0).values
        return share * typical[bins] * footprint[:, None]

    unseen = (~seen)[:, None]
    deficit = torch.where(unseen, floor(diagonals.attributes), torch.zeros_like(diagonals.attributes))
    attributes = diagonals.attributes + deficit
    positions = torch.where(unseen, floor(diagonals.positions), diagonals.positions)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    root = deficit.sqrt().to(torch.float32)
    carried = torch.zeros_like(diagonals.coefficients)
    for _ in range(PRIOR_PROBES):
        eps = torch.randint(0, 2, tuple(root.shape), generator=gen).to(root) * 2.0 - 1.0
        carried += raht_forward(to_coded(eps * root, model.channel_basis), model.plan).to(torch.float64).square()
    info["raised"] = int((deficit.sum(dim=1) > 0).sum())
    return HutchinsonDiagonals(diagonals.coefficients + carried / PRIOR_PROBES, attributes, positions, info)


def coefficient_sensitivity(model: QuantizedGaussians, cameras: Sequence[Any], *, background: torch.Tensor,
                            backend: str, probes: int = 1, seed: int = 0) -> torch.Tensor:
    """S [N, C] float64 in the RAHT coefficient domain (row 0 DC, rows 1..N−1 the AC slots):
    mean over views and ``probes`` random ±1 images ε of (Q·Jₓᵀε)² (module docstring)."""
    return hutchinson_diagonals(model, cameras, background=background, backend=backend, probes=probes,
                                seed=seed).coefficients


def sensitivity_function(name: str, cameras: Sequence[Any], *, background: torch.Tensor, backend: str,
                         prior: float = 0.0):
    """``model -> [N, C]`` (fisher) or ``model -> HutchinsonDiagonals`` (hutchinson, raised to the view
    prior of share ``prior``: :func:`with_view_prior`) of the named measure on ``cameras`` (for
    ``compression.setup.build_quantized``)."""
    if name == "fisher":
        return lambda m: attribute_sensitivity(m, cameras, background=background, backend=backend)
    if name == "hutchinson":  # the diagonals also carry the per-row values that rd_structure uses
        return lambda m: with_view_prior(hutchinson_diagonals(m, cameras, background=background, backend=backend), m,
                                         prior)
    raise ValueError(f"unknown sensitivity {name!r}; choose fisher or hutchinson")


def block_sensitivity(fisher: torch.Tensor, n_block: int) -> torch.Tensor:
    """[C, B] float32: mean of F over the rows 1..N−1 of each quantizer block (voxel rows for
    ``fisher``, approximately the block's slots; AC slots for ``hutchinson``, exactly its slots)."""
    n = fisher.shape[0]
    rows = fisher[1:]
    sizes = split_length(n - 1, n_block)
    out = torch.stack([part.mean(dim=0) for part in torch.split(rows, sizes, dim=0)], dim=1)
    return out.to(torch.float32)
