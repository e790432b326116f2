"""Pure-PyTorch Gaussian rasteriser (any device), reproducing gsplat 1.5.3's forward rules.

Design: pixel–Gaussian pairs instead of tiles.
1. Project (``projection.py``), keep the Gaussians with non-zero radii, sort them by camera z.
2. Under ``no_grad``, give each Gaussian the box of pixels whose centre ``(j+0.5, i+0.5)``
   lies within ``k·sqrt(Σ2d_xx)``, ``k·sqrt(Σ2d_yy)`` of its mean, with
   ``k = min(3.33, sqrt(2·ln(255·o)))`` (outside, ``σ ≥ dx²/(2Σxx) > ln(255·o)`` so α < 1/255:
   the box is exact, and it is what gsplat's CUDA kernel uses). Expand boxes into pairs and
   stable-sort them by pixel: inside a pixel the pairs stay in depth order.
3. Composite each pixel front to back (gsplat 1.5.3 ``rasterize_to_pixels``):
       σ = ½(a·dx² + c·dy²) + b·dx·dy,   dx = px − μx,  dy = py − μy
       α = min(0.999, o·exp(−σ)),  set to 0 when σ < 0 or α < 1/255
       T_k = Π_{j<k} (1 − α_j)      (segmented exclusive product, via a float64 log-cumsum)
       stop before the first pair with T_k·(1 − α_k) ≤ 1e-4 (exclusive)
       C = Σ α_k T_k c_k + (1 − A)·bg,   A = Σ α_k T_k  (= 1 − T_final)
4. Pairs that cannot contribute (α = 0, or behind the stop) are dropped right after α and T
   are known, so sorting, accumulation and backward only see live pairs.
5. The compositing is a custom autograd function with the analytic gradient
       ∂L/∂α_k = T_k·s_k − (Σ_{j>k} α_j T_j s_j)/(1 − α_k),   s_k = g·(c_k − bg) + g_A
   (the stop mask is treated as a constant, as in the kernel), so only ``gid, pix, last``
   (int32), ``α`` and ``T`` are kept per live pair (20 bytes in float32) instead of an autograd
   graph, and large views are processed in bands of image rows (``max_pairs_per_chunk`` box
   pairs at most, unless a single row has more), which bounds the transient memory.
Gradients reach means2d (hence means, quats, scales), conics, opacities, colours (hence SH)
and the background.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gaussian_renderer.projection import (
    DEFAULT_EPS2D,
    DEFAULT_FAR,
    DEFAULT_NEAR,
    RADIUS_SIGMAS,
    camera_center,
    project_gaussians,
)
from utils.sh import eval_sh

ALPHA_MAX = 0.999
ALPHA_MIN = 1.0 / 255.0
TRANSMITTANCE_MIN = 1e-4
DEFAULT_MAX_PAIRS_PER_CHUNK = 1 << 22


@dataclass
class PixelBoxes:
    """Integer pixel boxes of the depth-sorted visible Gaussians (inclusive bounds).

    ``x0, y0`` first column/row, ``nx`` columns (0 = no pixel), ``y1`` last row; all ``[M]``
    int64. ``bands`` are ``(row_begin, row_end)`` half-open row ranges, each holding at most
    ``max_pairs`` pairs unless it is a single row.
    """

    x0: torch.Tensor
    nx: torch.Tensor
    y0: torch.Tensor
    y1: torch.Tensor
    width: int
    height: int
    bands: list[tuple[int, int]]
    n_pairs: int


@torch.no_grad()
def pixel_boxes(
    means2d: torch.Tensor,
    cov2d: torch.Tensor,
    opacities: torch.Tensor,
    width: int,
    height: int,
    max_pairs: int = DEFAULT_MAX_PAIRS_PER_CHUNK,
) -> PixelBoxes:
    """Exact pixel boxes (see module docstring, step 2) and the row bands for chunking.

    Args:
        means2d: ``[M, 2]`` projected means (pixels).
        cov2d: ``[M, 3]`` (Σxx, Σxy, Σyy) blurred 2-D covariances.
        opacities: ``[M]`` activated opacities.
        width, height: image size.
        max_pairs: target number of pairs per band.
    """
    device = means2d.device
    o = opacities.detach().double()
    # k = sqrt(2 ln(255 o)), capped at 3.33 like the CUDA kernel; a 1e-4 relative margin so that
    # float rounding of α at the box edge can never drop a pixel (extra pairs get α = 0).
    k = torch.sqrt(2.0 * torch.log((255.0 * o).clamp_min(1.0))).clamp_max(RADIUS_SIGMAS) * 1.0001
    k = torch.where(o >= ALPHA_MIN, k, torch.zeros_like(k))
    ext_x = k * torch.sqrt(cov2d[:, 0].detach().double().clamp_min(0.0))
    ext_y = k * torch.sqrt(cov2d[:, 2].detach().double().clamp_min(0.0))
    mx = means2d[:, 0].detach().double()
    my = means2d[:, 1].detach().double()
    # pixel j is inside when mx - ext <= j + 0.5 <= mx + ext
    x0 = torch.ceil(mx - ext_x - 0.5).clamp(0, width).long()
    x1 = torch.floor(mx + ext_x - 0.5).clamp(-1, width - 1).long()
    y0 = torch.ceil(my - ext_y - 0.5).clamp(0, height).long()
    y1 = torch.floor(my + ext_y - 0.5).clamp(-1, height - 1).long()
    nx = (x1 - x0 + 1).clamp_min(0)
    ny = (y1 - y0 + 1).clamp_min(0)
    nx = torch.where((ny > 0) & (o >= ALPHA_MIN), nx, torch.zeros_like(nx))
    has = nx > 0
    # pairs per row: difference array over [y0, y1]
    diff = torch.zeros(height + 1, dtype=torch.int64, device=device)
    diff.index_add_(0, y0[has], nx[has])
    diff.index_add_(0, y1[has] + 1, -nx[has])
    per_row = torch.cumsum(diff[:height], 0)
    n_pairs = int(per_row.sum())
    bands = _row_bands(per_row.cpu().tolist(), max_pairs)
    return PixelBoxes(x0=x0, nx=nx, y0=y0, y1=y1, width=width, height=height, bands=bands, n_pairs=n_pairs)


def _row_bands(per_row: list[int], max_pairs: int) -> list[tuple[int, int]]:
    """Greedy split of rows into consecutive bands of at most ``max_pairs`` pairs."""
    bands = []
    begin, total = 0, 0
    for row, count in enumerate(per_row):
        if total > 0 and total + count > max_pairs:
            bands.append((begin, row))
            begin, total = row, 0
        total += count
    bands.append((begin, len(per_row)))
    return bands


@dataclass
class BandPairs:
    """Live pixel–Gaussian pairs of one row band, sorted by pixel, depth order inside a pixel.

    Only pairs that contribute (α ≥ 1/255, σ ≥ 0, before the transmittance stop) are kept; the
    others have zero weight and zero gradient.

    Attributes:
        row_begin, row_end: half-open row range of the band.
        gid: ``[P]`` int32 index into the depth-sorted visible Gaussians.
        pix: ``[P]`` int32 band-local pixel index ``(row − row_begin)·W + col``.
        alpha: ``[P]`` α of the pair (after the 0.999 clamp).
        trans: ``[P]`` transmittance in front of the pair, ``Π_{j<k}(1 − α_j)``.
        last: ``[P]`` int32 index of the last pair of the same pixel.
        n_generated: number of box pairs before the α / transmittance filtering.
    """

    row_begin: int
    row_end: int
    gid: torch.Tensor
    pix: torch.Tensor
    alpha: torch.Tensor
    trans: torch.Tensor
    last: torch.Tensor
    n_generated: int


@torch.no_grad()
def band_pairs(boxes: PixelBoxes, row_begin: int, row_end: int, geo: list[torch.Tensor], opacities: torch.Tensor) -> BandPairs:
    """Build, filter, sort and composite-prepare the pairs of one row band (no autograd).

    1. Expand the boxes clipped to the band into pairs in Gaussian (= depth) order and compute
       σ = ½(a dx² + c dy²) + b dx dy and α = min(0.999, o·e^(−σ)) there (cache-friendly).
    2. Drop pairs with σ < 0 or o·e^(−σ) < 1/255; stable-sort the rest by pixel.
    3. T_k = exp(Σ_{j<k} log(1 − α_j)) per pixel (float64 cumsum), drop pairs with
       T_k·(1 − α_k) ≤ 1e-4 (the kernel stops there, exclusive; T is non-increasing).

    Args:
        boxes: from :func:`pixel_boxes`.
        row_begin, row_end: the band.
        geo: ``[μx, μy, a, b, c]`` columns ``[M]`` of the depth-sorted visible Gaussians.
        opacities: ``[M]``.
    """
    width = boxes.width
    device = boxes.x0.device
    mx, my, ca, cb, cc = geo
    dtype = mx.dtype
    i32 = torch.int32
    n_pix = (row_end - row_begin) * width
    hit = (boxes.nx > 0) & (boxes.y0 < row_end) & (boxes.y1 >= row_begin)
    sel = hit.nonzero().squeeze(1)
    gy0 = boxes.y0[sel].clamp_min(row_begin)
    gy1 = boxes.y1[sel].clamp_max(row_end - 1)
    gx0 = boxes.x0[sel]
    gnx = boxes.nx[sel]
    cnt = gnx * (gy1 - gy0 + 1)
    n_generated = int(cnt.sum())
    if n_generated >= 2**31:
        raise ValueError(
            f"{n_generated} pixel-Gaussian pairs in rows {row_begin}..{row_end - 1} exceed int32; "
            "lower the image width or the number of Gaussians"
        )
    # 1. pairs in generation order: Gaussian g covers rows gy0.. and columns gx0..gx0+nx-1
    local_g = torch.repeat_interleave(torch.arange(sel.numel(), device=device, dtype=i32), cnt)
    first = (torch.cumsum(cnt, 0) - cnt).to(i32)
    local = torch.arange(n_generated, device=device, dtype=i32) - first.index_select(0, local_g)
    nxg = gnx.to(i32).index_select(0, local_g)
    row_in_box = torch.div(local, nxg, rounding_mode="floor")
    col_in_box = local - row_in_box * nxg
    # dx = (x0 + j + 0.5) − μx, dy = (y0 + i + 0.5) − μy
    dx = (gx0.to(dtype) + 0.5 - mx[sel]).index_select(0, local_g) + col_in_box.to(dtype)
    dy = (gy0.to(dtype) + 0.5 - my[sel]).index_select(0, local_g) + row_in_box.to(dtype)
    sigma = (0.5 * ca[sel]).index_select(0, local_g) * dx
    sigma.addcmul_(cb[sel].index_select(0, local_g), dy).mul_(dx)
    dy2 = dy * dy
    sigma.addcmul_((0.5 * cc[sel]).index_select(0, local_g), dy2)
    del dy2
    raw = torch.exp(-sigma).mul_(opacities[sel].index_select(0, local_g))
    good = (raw >= ALPHA_MIN) & (sigma >= 0)
    del sigma, dx, dy
    # 2. keep contributing pairs, sort by pixel (stable: depth order inside a pixel)
    keep = good.nonzero().squeeze(1)
    lg = local_g.index_select(0, keep)
    pix = (((gy0 - row_begin) * width + gx0).to(i32).index_select(0, lg)
           + row_in_box.index_select(0, keep) * width + col_in_box.index_select(0, keep))
    alpha = raw.index_select(0, keep).clamp_max_(ALPHA_MAX)
    del local_g, local, nxg, row_in_box, col_in_box, raw, good, keep
    pix, perm = torch.sort(pix, stable=True)
    gid = sel.to(i32).index_select(0, lg.index_select(0, perm))
    alpha = alpha.index_select(0, perm)
    del lg, perm
    # 3. exclusive transmittance per pixel, then the stop rule
    counts = torch.bincount(pix, minlength=n_pix)
    starts = torch.cumsum(counts, 0) - counts
    log_keep = torch.log1p(-alpha.double())
    excl = torch.cumsum(log_keep, 0).sub_(log_keep)
    if excl.numel() > 0:
        base = excl.index_select(0, starts.clamp_max(excl.numel() - 1)).index_select(0, pix)
        trans = excl.sub_(base).exp_().to(dtype)
    else:
        trans = excl.to(dtype)
    live = (trans * (1.0 - alpha)) > TRANSMITTANCE_MIN
    if not bool(live.all()):
        idx = live.nonzero().squeeze(1)
        gid, pix = gid.index_select(0, idx), pix.index_select(0, idx)
        alpha, trans = alpha.index_select(0, idx), trans.index_select(0, idx)
        counts = torch.bincount(pix, minlength=n_pix)
    last = torch.cumsum(counts, 0).sub_(1).clamp_min_(0).to(torch.int32).index_select(0, pix)
    return BandPairs(row_begin, row_end, gid, pix, alpha, trans, last, n_generated)


class _Composite(torch.autograd.Function):
    """Front-to-back alpha compositing over pixel–Gaussian pairs, with analytic backward.

    All per-pair work is on 1-D columns: on CPU, 1-D ``index_select``/``index_add_`` are an
    order of magnitude faster than their row-wise 2-D versions.
    """

    @staticmethod
    def forward(ctx, means2d, conics, opacities, colors, background, boxes: PixelBoxes, stats: dict):
        width, height = boxes.width, boxes.height
        dtype, device = means2d.dtype, means2d.device
        cols = [c.contiguous() for c in colors.unbind(1)]
        geo = _geometry_columns(means2d, conics)
        keep_for_backward = any(ctx.needs_input_grad)
        img_rows, acc_rows, saved = [], [], []
        n_generated = n_live = 0
        for row_begin, row_end in boxes.bands:
            bp = band_pairs(boxes, row_begin, row_end, geo, opacities)
            n_generated += bp.n_generated
            n_live += bp.pix.numel()
            n_pix = (row_end - row_begin) * width
            weight = bp.alpha * bp.trans
            img = torch.zeros(len(cols), n_pix, dtype=dtype, device=device)
            for ch, col in enumerate(cols):
                img[ch].index_add_(0, bp.pix, col.index_select(0, bp.gid).mul_(weight))
            acc = torch.zeros(n_pix, dtype=dtype, device=device).index_add_(0, bp.pix, weight)
            img_rows.append(img)
            acc_rows.append(acc)
            if keep_for_backward:
                saved.append(bp)
        stats["n_pairs"] = n_generated
        stats["n_live_pairs"] = n_live
        acc = torch.cat(acc_rows)
        image = torch.cat(img_rows, dim=1).t() + (1.0 - acc).unsqueeze(1) * background.unsqueeze(0)
        if keep_for_backward:
            ctx.save_for_backward(means2d, conics, opacities, colors, background)
            ctx.bands_saved = saved
            ctx.acc = acc
            ctx.size = (width, height)
        return image.reshape(height, width, len(cols)), acc.view(height, width, 1)

    @staticmethod
    def backward(ctx, grad_image, grad_alpha):
        means2d, conics, opacities, colors, background = ctx.saved_tensors
        width, height = ctx.size
        n_gauss, n_chan = colors.shape
        device, dtype = means2d.device, means2d.dtype
        g_img = grad_image.reshape(height * width, n_chan).to(dtype)
        g_acc = grad_alpha.reshape(height * width).to(dtype)
        # image = Σ w c + (1 − A)·bg, alpha = A = Σ w  ⇒  ∂L/∂w_k = g·c_k + (g_A − g·bg)
        h_pix = g_acc - g_img @ background
        g_cols = [c.contiguous() for c in g_img.unbind(1)]
        cols = [c.contiguous() for c in colors.unbind(1)]
        mx, my, ca, cb, cc = _geometry_columns(means2d, conics)
        grad_colors = torch.zeros(n_chan, n_gauss, dtype=dtype, device=device)
        # rows: ∂L/∂μx, ∂L/∂μy, ∂L/∂a, ∂L/∂b, ∂L/∂c, Σ_k u_k (→ ∂L/∂o)
        grad_geo = torch.zeros(6, n_gauss, dtype=dtype, device=device)
        for bp in ctx.bands_saved:
            lo, hi = bp.row_begin * width, bp.row_end * width
            gid, pix, alpha, trans = bp.gid, bp.pix, bp.alpha, bp.trans
            weight = alpha * trans  # every saved pair is live
            s = h_pix[lo:hi].index_select(0, pix)
            for ch in range(n_chan):
                g_pair = g_cols[ch][lo:hi].index_select(0, pix)
                grad_colors[ch].index_add_(0, gid, g_pair * weight)
                s.addcmul_(cols[ch].index_select(0, gid), g_pair)
            # ∂L/∂α_k = T_k s_k − Σ_{j>k} w_j s_j / (1 − α_k)   (suffix sum in float64)
            cum = torch.cumsum((weight * s).double(), 0)
            suffix = (cum.index_select(0, bp.last) - cum).to(dtype)
            d_alpha = trans * s - suffix / (1.0 - alpha)
            u = d_alpha.mul_(alpha).mul_(alpha < ALPHA_MAX)  # = −∂L/∂σ, and ∂L/∂o = Σ u / o
            px_tab, py_tab = _pixel_centre_tables(bp.row_begin, bp.row_end, width, dtype, device)
            dx = px_tab.index_select(0, pix) - mx.index_select(0, gid)
            dy = py_tab.index_select(0, pix) - my.index_select(0, gid)
            u_dx = u * dx
            u_dy = u * dy
            a_p = ca.index_select(0, gid)
            b_p = cb.index_select(0, gid)
            c_p = cc.index_select(0, gid)
            grad_geo[0].index_add_(0, gid, (a_p * u_dx).addcmul_(b_p, u_dy))  # u·(a dx + b dy)
            grad_geo[1].index_add_(0, gid, (b_p * u_dx).addcmul_(c_p, u_dy))  # u·(b dx + c dy)
            grad_geo[2].index_add_(0, gid, u_dx * dx, alpha=-0.5)  # −u·dx²/2
            grad_geo[3].index_add_(0, gid, u_dx * dy, alpha=-1.0)  # −u·dx·dy
            grad_geo[4].index_add_(0, gid, u_dy * dy, alpha=-0.5)  # −u·dy²/2
            grad_geo[5].index_add_(0, gid, u)
        grad_means2d = grad_geo[0:2].t()
        grad_conics = grad_geo[2:5].t()
        grad_opac = grad_geo[5] / opacities.clamp_min(ALPHA_MIN * 0.5)
        grad_bg = None
        if ctx.needs_input_grad[4]:
            grad_bg = ((1.0 - ctx.acc).unsqueeze(1) * g_img).sum(0)
        return grad_means2d, grad_conics, grad_opac, grad_colors.t(), grad_bg, None, None


def _geometry_columns(means2d: torch.Tensor, conics: torch.Tensor) -> list[torch.Tensor]:
    """Contiguous columns ``[μx, μy, a, b, c]``, each ``[M]``."""
    return [c.contiguous() for c in (*means2d.unbind(1), *conics.unbind(1))]


def _pixel_centre_tables(row_begin: int, row_end: int, width: int, dtype, device):
    """``(col + 0.5, row + 0.5)`` for every band-local pixel index, two ``[npix]`` tables."""
    cols = torch.arange(width, dtype=dtype, device=device) + 0.5
    rows = torch.arange(row_begin, row_end, dtype=dtype, device=device) + 0.5
    n_rows = row_end - row_begin
    return cols.repeat(n_rows), rows.repeat_interleave(width)


def rasterize(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    world_to_camera: torch.Tensor,
    intrinsics: torch.Tensor,
    width: int,
    height: int,
    *,
    colors: torch.Tensor | None = None,
    sh_coeffs: torch.Tensor | None = None,
    sh_degree: int | None = None,
    background: torch.Tensor | None = None,
    eps2d: float = DEFAULT_EPS2D,
    near_plane: float = DEFAULT_NEAR,
    far_plane: float = DEFAULT_FAR,
    max_pairs_per_chunk: int = DEFAULT_MAX_PAIRS_PER_CHUNK,
) -> dict:
    """Render one view with the pure-PyTorch backend.

    Args:
        means ``[N, 3]``, quats ``[N, 4]`` wxyz, scales ``[N, 3]`` (activated), opacities ``[N]``
        (activated); world_to_camera ``[4, 4]``; intrinsics ``[3, 3]``; width, height in pixels.
        colors: ``[N, D]`` post-activation colours, or None to use SH.
        sh_coeffs: ``[N, K, 3]`` with ``sh_degree`` (colour = max(SH(mean − cam centre) + 0.5, 0)).
        background: ``[D]`` or None (black).
        max_pairs_per_chunk: pairs per row band (memory bound of the compositor).

    Returns:
        dict as documented in ``gaussian_renderer.render`` (image ``[H, W, D]``, alpha
        ``[H, W, 1]``, radii ``[N, 2]`` int32, means2d ``[N, 2]``, depths ``[N]``, visibility
        ``[N]`` bool, info) plus ``n_pairs`` (int).
    """
    proj = project_gaussians(
        means, quats, scales, world_to_camera, intrinsics, width, height,
        eps2d=eps2d, near_plane=near_plane, far_plane=far_plane,
    )
    means2d_batched = proj.means2d.unsqueeze(0)  # [1, N, 2], info["means2d"]
    means2d = means2d_batched[0]  # the tensor the compositor reads: grads reach both
    radii = proj.radii
    visibility = (radii > 0).all(dim=-1)
    with torch.no_grad():
        vis_ids = visibility.nonzero().squeeze(1)
        order = torch.argsort(proj.depths.detach().index_select(0, vis_ids), stable=True)
        ids = vis_ids.index_select(0, order)

    if colors is not None:
        colors_vis = colors.index_select(0, ids)
    else:
        campos = camera_center(world_to_camera.to(means.dtype))
        dirs = means.index_select(0, ids) - campos
        colors_vis = torch.clamp_min(eval_sh(sh_degree, sh_coeffs.index_select(0, ids), dirs) + 0.5, 0.0)
    n_chan = colors_vis.shape[1]
    if background is None:
        background = torch.zeros(n_chan, dtype=means.dtype, device=means.device)
    background = background.to(dtype=means.dtype, device=means.device)

    m2 = means2d.index_select(0, ids)
    conics = proj.conics.index_select(0, ids)
    opac = opacities.index_select(0, ids)
    boxes = pixel_boxes(m2, proj.cov2d.index_select(0, ids), opac, width, height, max_pairs_per_chunk)
    stats: dict = {}
    image, alpha = _Composite.apply(m2, conics, opac, colors_vis, background, boxes, stats)

    info = {
        "means2d": means2d_batched,
        "radii": radii.unsqueeze(0),
        "depths": proj.depths.unsqueeze(0),
        "conics": proj.conics.unsqueeze(0),
        "opacities": opacities.unsqueeze(0),
        "width": width,
        "height": height,
        "n_cameras": 1,
        "gaussian_ids": None,
        "n_pairs": stats["n_pairs"],
        "n_live_pairs": stats["n_live_pairs"],
    }
    return {
        "image": image,
        "alpha": alpha,
        "radii": radii,
        "means2d": means2d,
        "depths": proj.depths,
        "visibility": visibility,
        "info": info,
        "n_pairs": stats["n_pairs"],
    }


__all__ = ["rasterize", "pixel_boxes", "band_pairs", "PixelBoxes", "BandPairs", "ALPHA_MAX", "ALPHA_MIN", "TRANSMITTANCE_MIN"]
