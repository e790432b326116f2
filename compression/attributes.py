"""The QAT model: Gaussians on a frozen voxel grid whose attributes pass through RAHT + quantizers.

Attribute matrix [N, C] (scene/attribute_layout.py; C = 55 at SH degree 3): opacity logit 1,
Euler ZYX 3, f_dc 3, f_rest 45 (INRIA PLY order), log-scale 3. Rows follow the voxels in Morton
order (``coords``), the order the decoder gets back from the octree occupancy bytes.

Attribute pass (``quantized_attributes``), once per training iteration and once per evaluation
round (parameters do not change between views):

    X [N, C] → RAHT forward (plan built once) → coefficients [N, C]
    DC = row 0 kept in float32; AC = rows 1..N−1 → bank (C × B fake quantizers, straight-through)
    → RAHT inverse → X̂ [N, C] → activation: opacity = sigmoid, quaternion = euler_to_quat(Euler),
    scale = exp(log-scale), SH = [f_dc; f_rest] → render

Positions are the voxel centres (a buffer, never trained). ``encode()`` produces exactly what the
eval-mode pass used: ``dequantize_blocks(codes, *bank.qparams()) == bank(AC)`` bit for bit, and the
decoder runs the same ``raht_inverse`` on the same plan (rebuilt from the same coordinates), so
``load_npz`` reproduces X̂ (bit for bit on the same device).
"""
from __future__ import annotations

import logging
from typing import Optional

import numpy as np
import torch
from torch import nn

from quant.banks import LsqQuanBank, RdQuanBank, VanillaQuanBank, clipped_counts
from raht import build_plan, raht_forward, raht_inverse, voxel_centers
from codec import CompressedPayload
from codec.channel_transform import from_coded, to_coded
from codec.channel_layout import ChannelLayout, layout_for_sh_degree, unpack_attributes
from utils.rotations import euler_to_quat

logger = logging.getLogger(__name__)

__all__ = ["QuantizedGaussians", "activate_attributes", "render_attributes", "GROUP_PARAMS", "QUANTIZER_BANKS",
           "RD_QUANTIZERS"]

#: ``--quantizer`` → bank class: min/max envelope (the seed's VanillaQuan), learned step (LSQ), and
#: rate–distortion steps from sensitivities and a quality knob (quant.rate_distortion)
QUANTIZER_BANKS = {"vanilla": VanillaQuanBank, "lsq": LsqQuanBank, "rd": RdQuanBank}
#: the quantizers with rd steps (sensitivity + quality knob)
RD_QUANTIZERS = ("rd",)

#: (parameter name, layout group) in column order.
GROUP_PARAMS = (("opacity", "opacity"), ("euler", "euler"), ("f_dc", "f_dc"), ("f_rest", "f_rest"), ("log_scale", "scale"))


def activate_attributes(attrs: torch.Tensor, means: torch.Tensor, layout: ChannelLayout) -> dict[str, torch.Tensor]:
    """Renderer inputs from an [N, C] attribute matrix.

    Returns ``means [N,3]``, ``quats [N,4]`` (unit wxyz = euler_to_quat), ``scales [N,3]`` = exp,
    ``opacities [N]`` = sigmoid, ``sh_coeffs [N,K,3]`` = cat(sh0, shN). Training evaluation and
    render.py both call this, so identical attributes give identical renders.
    """
    parts = unpack_attributes(attrs, layout)
    return {
        "means": means,
        "quats": euler_to_quat(parts["euler"]),
        "scales": torch.exp(parts["log_scales"]),
        "opacities": torch.sigmoid(parts["logit_opacities"]),
        "sh_coeffs": torch.cat([parts["sh0"], parts["shN"]], dim=1),
    }


def render_attributes(gaussians: dict[str, torch.Tensor], camera, background: torch.Tensor, backend: str, sh_degree: int) -> dict:
    """``gaussian_renderer.render`` of :func:`activate_attributes` output at ``sh_degree``."""
    from gaussian_renderer import render

    return render(
        gaussians["means"], gaussians["quats"], gaussians["scales"], gaussians["opacities"], camera,
        sh_coeffs=gaussians["sh_coeffs"], sh_degree=sh_degree, background=background, backend=backend,
    )


class _IdentityJacobianPass(torch.autograd.Function):
    """Forward: RAHT⁻¹([DC; bank(AC)]) without a graph; backward: the incoming gradient unchanged
    (valid when the bank's straight-through gradient is the identity, see ``quantized_attributes``)."""

    @staticmethod
    def forward(ctx, x, model):
        with torch.no_grad():
            return model.attributes_of(model.quantize_coefficients(model.coefficients_of(x)))

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class QuantizedGaussians(nn.Module):
    """Trainable attributes on fixed voxels, a RAHT plan and a quantizer bank.

    Args:
        attributes: [N, C] float initial attributes (voxel rows in the order of ``coords``).
        coords: [N, 3] int64 voxel coordinates, unique (Morton order recommended; the decoder
            returns Morton order, so the encoder should use it too — ``raht.voxelize`` does).
        bbox_min, bbox_max: [3] float32 grid box; depth: octree depth.
        sh_degree: SH degree (sets C).
        n_block: blocks per channel over the N − 1 AC coefficients (reduced to N − 1 with a
            warning when larger); bits: code width; quantizer: a key of ``QUANTIZER_BANKS``;
            plan: a prebuilt ``raht.build_plan(coords, depth)`` (built here when None);
            channel_basis: [C, C] orthonormal float32 channel transform (codec/channel_transform.py;
            None = identity): the RAHT and the quantizers work on X·B.

    Parameters (one per group so each gets its own learning rate): ``opacity [N,1]``,
    ``euler [N,3]``, ``f_dc [N,3]``, ``f_rest [N,3(K−1)]``, ``log_scale [N,3]``; ``bank`` holds
    the quantizers (LSQ: ``bank.step``). Buffers: ``coords``, ``bbox_min``, ``bbox_max``, ``means``.
    """

    def __init__(
        self,
        attributes: torch.Tensor,
        coords: torch.Tensor,
        bbox_min: torch.Tensor,
        bbox_max: torch.Tensor,
        depth: int,
        sh_degree: int,
        *,
        n_block: int = 57,
        bits: int = 8,
        quantizer: str = "vanilla",
        plan=None,
        channel_basis: Optional[torch.Tensor] = None,
    ):
        super().__init__()
        self.layout = layout_for_sh_degree(sh_degree)
        attributes = torch.as_tensor(attributes).detach().to(torch.float32)
        n = attributes.shape[0]
        if attributes.ndim != 2 or attributes.shape[1] != self.layout.n_channels:
            raise ValueError(f"attributes must be [N, {self.layout.n_channels}] for SH degree {sh_degree}, "
                             f"got {tuple(attributes.shape)}")
        if n < 2:
            raise ValueError(f"compression needs at least 2 voxels (one DC + AC coefficients), got {n}; "
                             "lower --percent or raise --depth")
        if not bool(torch.isfinite(attributes).all()):
            raise ValueError("attributes contain NaN or inf; load the PLY with --sanitize or fix the model")
        coords = torch.as_tensor(coords).to(device=attributes.device, dtype=torch.int64)
        if coords.shape != (n, 3):
            raise ValueError(f"coords must be [{n}, 3], got {tuple(coords.shape)}")
        if n_block > n - 1:
            logger.warning("n_block %d exceeds the %d AC coefficients per channel; using n_block = %d", n_block, n - 1, n - 1)
            n_block = n - 1
        if quantizer not in QUANTIZER_BANKS:
            raise ValueError(f"quantizer must be one of {sorted(QUANTIZER_BANKS)}, got {quantizer!r}")
        self.depth = int(depth)
        self.sh_degree = int(sh_degree)
        self.n_block = int(n_block)
        self.bits = int(bits)
        self.quantizer = quantizer
        for name, group in GROUP_PARAMS:
            sl = getattr(self.layout, group)
            setattr(self, name, nn.Parameter(attributes[:, sl].clone().contiguous()))
        self.register_buffer("coords", coords.clone())
        self.register_buffer("bbox_min", torch.as_tensor(bbox_min, dtype=torch.float32).reshape(3).clone().to(attributes.device))
        self.register_buffer("bbox_max", torch.as_tensor(bbox_max, dtype=torch.float32).reshape(3).clone().to(attributes.device))
        self.register_buffer("means", voxel_centers(coords, self.bbox_min, self.bbox_max, self.depth))
        c = self.layout.n_channels
        if channel_basis is not None:
            channel_basis = torch.as_tensor(channel_basis, dtype=torch.float32).to(attributes.device)
            if channel_basis.shape != (c, c):
                raise ValueError(f"channel_basis must be [{c}, {c}], got {tuple(channel_basis.shape)}")
        self.register_buffer("channel_basis", channel_basis)  # codec/channel_transform.py; None = identity
        self.bank = QUANTIZER_BANKS[quantizer](c, self.n_block, self.bits)
        self.bank.to(attributes.device)
        self.plan = (plan if plan is not None else build_plan(coords, self.depth)).to(coords.device)
        if self.plan.n != n:
            raise ValueError(f"plan is for {self.plan.n} voxels, the attributes have {n} rows")
        #: the Hutchinson diagonals measured at setup (compression.sensitivity.HutchinsonDiagonals), if any
        self.hutchinson = None

    # ------------------------------------------------------------------ basics
    @property
    def n_gaussians(self) -> int:
        return int(self.coords.shape[0])

    @property
    def device(self) -> torch.device:
        return self.coords.device

    def _apply(self, fn, recurse=True):
        out = super()._apply(fn, recurse)
        self.plan = self.plan.to(self.coords.device)
        return out

    def attribute_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """``[(name, parameter)]`` of the five attribute groups, in column order."""
        return [(name, getattr(self, name)) for name, _ in GROUP_PARAMS]

    def attributes(self) -> torch.Tensor:
        """[N, C] current (unquantized) attributes, differentiable."""
        return torch.cat([p for _, p in self.attribute_parameters()], dim=1)

    # ------------------------------------------------------------------ attribute pass
    def coefficients_of(self, x: torch.Tensor) -> torch.Tensor:
        """RAHT coefficients [N, C] of attributes ``x`` in the coded channels (codec/channel_transform.py)."""
        return raht_forward(to_coded(x, self.channel_basis), self.plan)

    def attributes_of(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Attributes [N, C] of coded-channel RAHT coefficients: the decoder's formula (codec.decode_payload)."""
        return from_coded(raht_inverse(coeffs, self.plan), self.channel_basis)

    def quantize_coefficients(self, coeffs: torch.Tensor) -> torch.Tensor:
        """[DC; bank(AC)]: row 0 unchanged, rows 1..N−1 fake-quantized (bank mode = self.training)."""
        return torch.cat([coeffs[:1], self.bank(coeffs[1:])], dim=0)

    def quantized_attributes(self, full_autograd: bool = False) -> torch.Tensor:
        """X̂ [N, C] = RAHT⁻¹([DC; Q(AC)]) of the current attributes (differentiable, STE).

        Fast backward: with VanillaQuan in training mode the envelope has just been widened to
        cover every coefficient, so the straight-through gradient of Q is the identity and the
        Jacobian of the whole pass is Qᵀ·I·Q = I (RAHT is orthonormal). The backward then passes
        the gradient through unchanged instead of running two more transforms (equal to the full
        autograd gradient up to float rounding of QᵀQ; tested). LSQ (step gradients, clamping),
        eval mode and ``full_autograd=True`` use the plain autograd graph.
        """
        x = self.attributes()
        if (not full_autograd and self.quantizer == "vanilla" and self.bank.training
                and torch.is_grad_enabled() and x.requires_grad):
            return _IdentityJacobianPass.apply(x, self)
        return self.attributes_of(self.quantize_coefficients(self.coefficients_of(x)))

    def gaussians(self, attrs: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        """Renderer inputs (:func:`activate_attributes`) of ``attrs`` (default: the unquantized attributes)."""
        return activate_attributes(self.attributes() if attrs is None else attrs, self.means, self.layout)

    @torch.no_grad()
    def calibrate(self) -> None:
        """Explicit calibration: set the bank's ranges / LSQ steps from the current AC coefficients."""
        coeffs = self.coefficients_of(self.attributes().detach())
        self.bank.calibrate(coeffs[1:])

    @torch.no_grad()
    def clipped_codes(self) -> torch.Tensor:
        """[C, B] int64 AC coefficients whose code is clamped to an end of the range with the current
        (eval-mode) quantizer parameters — zero after an rd calibration, possibly not after fine-tuning."""
        coeffs = self.coefficients_of(self.attributes().detach())
        return clipped_counts(coeffs[1:], *self.bank.qparams(), self.bits)

    @torch.no_grad()
    def quantization_error(self) -> torch.Tensor:
        """[C] RMS of AC − Q(AC) per channel with the current (eval-mode) quantizers; by RAHT's
        orthonormality it is also the RMS attribute error per channel × √(N−1)/√N."""
        was = self.bank.training
        self.bank.eval()
        try:
            coeffs = self.coefficients_of(self.attributes().detach())
            ac = coeffs[1:]
            err = ac - self.bank(ac)
        finally:
            self.bank.train(was)
        return err.pow(2).mean(dim=0).sqrt()

    # ------------------------------------------------------------------ encoding
    @torch.no_grad()
    def encode(self, config: Optional[dict] = None, input_ply_bytes: Optional[int] = None, codec: str = "range",
               frame: Optional[np.ndarray] = None) -> CompressedPayload:
        """The compressed payload of the current attributes with the current quantizer parameters
        (the same ones an eval-mode ``quantized_attributes`` uses); ``frame``: the coding frame the
        model's coordinates are in (codec/frame.py; None = world axes)."""
        coeffs = self.coefficients_of(self.attributes().detach())
        codes = self.bank.quantize_codes(coeffs[1:])
        scale, zero_point = self.bank.qparams()
        dtype = np.uint8 if self.bits <= 8 else np.uint16
        return CompressedPayload(
            depth=self.depth,
            n_block=self.n_block,
            bits=self.bits,
            sh_degree=self.sh_degree,
            quantizer=self.quantizer,
            scale=scale.detach().cpu().numpy().astype(np.float32),
            zero_point=zero_point.detach().cpu().numpy().astype(np.float32),
            dc=coeffs[0].detach().cpu().numpy().astype(np.float32),
            ac_codes=codes.cpu().numpy().astype(dtype),
            coords=self.coords.cpu().numpy().astype(np.int64),
            bbox_min=self.bbox_min.cpu().numpy().astype(np.float32),
            bbox_max=self.bbox_max.cpu().numpy().astype(np.float32),
            config=dict(config or {}),
            input_ply_bytes=input_ply_bytes,
            codec=codec,
            channel_basis=None if self.channel_basis is None else self.channel_basis.cpu().numpy().astype(np.float32),
            frame=None if frame is None else np.asarray(frame, dtype=np.float32),
        )
