"""What a compressed model holds (:class:`CompressedPayload`) and how it becomes Gaussians again.

The payload is format-independent: ``codec/format_v1.py`` and ``codec/format_v2.py`` turn it into
files and back; :func:`decode_payload` is the one decoding formula (dequantize → inverse RAHT)
used by ``load_npz`` and matched bit for bit by the training forward.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from quant.banks import dequantize_blocks
from quant.core import code_range
from raht import RahtPlan, build_plan, raht_inverse, voxel_centers
from utils.rotations import euler_to_quat

from .channel_layout import ChannelLayout, layout_for_sh_degree, unpack_attributes
from .channel_transform import from_coded
from .container import CompressedFormatError
from .frame import check_frame, frame_positions, frame_quaternions, frame_sh

__all__ = ["CODECS", "WRITTEN_CODECS", "ZIP_CODECS", "ENTROPY_CODEC", "MAX_DEPTH", "CompressedPayload", "DecodedModel",
           "quant_table", "decode_payload", "code_dtype"]

#: the entropy-coded format (version 2, the default)
ENTROPY_CODEC = "range"
#: zip methods of the ``.npz`` members of format version 1 (raw codes; all readable by ``np.load``); files
#: written with any of them are read, only ``deflate`` is still written
ZIP_CODECS = {"deflate": zipfile.ZIP_DEFLATED, "store": zipfile.ZIP_STORED, "bzip2": zipfile.ZIP_BZIP2, "lzma": zipfile.ZIP_LZMA}
#: every value of ``CompressedPayload.codec`` a file may hold
CODECS = (ENTROPY_CODEC,) + tuple(ZIP_CODECS)
#: the codecs written (``--codec``): ``range`` → the current format, ``deflate`` → format 1 (the notes' layout)
WRITTEN_CODECS = (ENTROPY_CODEC, "deflate")
MAX_DEPTH = 21


def code_dtype(bits: int):
    """Storage dtype of b-bit codes: uint8 up to 8 bits, uint16 above."""
    return np.uint8 if bits <= 8 else np.uint16


@dataclass
class CompressedPayload:
    """Everything stored in a compressed model (numpy, CPU).

    Attributes:
        depth: octree depth d (1..21).
        n_block: B, quantizer blocks per channel over the N − 1 AC coefficients.
        bits: code bit width b (1..16).
        sh_degree: SH degree of the model (C = 10 + 3·((deg+1)² − 1) channels).
        quantizer: ``"vanilla"`` or ``"lsq"`` (informational; the decoder formula is the same).
        scale, zero_point: [C, B] float32 per (channel, block), exactly as used in training.
        dc: [C] float32 RAHT DC coefficients.
        ac_codes: [N − 1, C] integer codes in [0, 2^b − 1] (uint8 for b ≤ 8, uint16 above).
        coords: [N, 3] int64 voxel coordinates in Morton order (the row order of all arrays).
        bbox_min, bbox_max: [3] float32 grid bounding box.
        config: JSON-serialisable settings of the run (stored in the manifest).
        input_ply_bytes: size of the uncompressed input PLY (for the ratio), or None.
        codec: ``"range"`` (format 4, entropy-coded) or ``"deflate"`` (format 1); files of format 1 may
            also hold another zip method (``ZIP_CODECS``), which are read but no longer written.
        channel_basis: [C, C] float32 orthonormal channel transform (codec/channel_transform.py), or
            None for the identity; formats 3 and 4 store one.
        frame: float32 [4] unit quaternion of the coding frame (codec/frame.py): the grid, the Euler
            angles and the SH bands describe the content turned by its inverse; None = the world's
            axes. Only format 4 stores one.
    """

    depth: int
    n_block: int
    bits: int
    sh_degree: int
    quantizer: str
    scale: np.ndarray
    zero_point: np.ndarray
    dc: np.ndarray
    ac_codes: np.ndarray
    coords: np.ndarray
    bbox_min: np.ndarray
    bbox_max: np.ndarray
    config: dict = field(default_factory=dict)
    input_ply_bytes: Optional[int] = None
    codec: str = ENTROPY_CODEC
    channel_basis: Optional[np.ndarray] = None
    frame: Optional[np.ndarray] = None

    @property
    def layout(self) -> ChannelLayout:
        return layout_for_sh_degree(self.sh_degree)

    @property
    def n_gaussians(self) -> int:
        return int(self.coords.shape[0])

    @property
    def n_channels(self) -> int:
        return self.layout.n_channels

    def validate(self, where: str = "payload") -> None:
        """Check shapes, dtypes and ranges; raises :class:`CompressedFormatError`."""

        def bad(msg):
            raise CompressedFormatError(f"{where}: {msg}")

        if not isinstance(self.depth, int) or not 1 <= self.depth <= MAX_DEPTH:
            bad(f"depth must be an integer in 1..{MAX_DEPTH}, got {self.depth!r}")
        if not isinstance(self.n_block, int) or self.n_block < 1:
            bad(f"n_block must be a positive integer, got {self.n_block!r}")
        if not isinstance(self.bits, int) or not 1 <= self.bits <= 16:
            bad(f"bits must be an integer in 1..16, got {self.bits!r}")
        if self.codec not in CODECS:
            bad(f"codec must be one of {sorted(CODECS)}, got {self.codec!r}")
        layout = self.layout
        c, b = layout.n_channels, self.n_block
        n = self.n_gaussians
        if n < 1:
            bad("the model has no Gaussians")
        if self.coords.shape != (n, 3):
            bad(f"coords must have shape [N, 3], got {self.coords.shape}")
        for name, arr, shape in (
            ("scale", self.scale, (c, b)),
            ("zero_point", self.zero_point, (c, b)),
            ("dc", self.dc, (c,)),
            ("bbox_min", self.bbox_min, (3,)),
            ("bbox_max", self.bbox_max, (3,)),
        ):
            if arr.shape != shape or arr.dtype != np.float32:
                bad(f"{name} must be float32 {list(shape)}, got {arr.dtype} {list(arr.shape)}")
            if not np.isfinite(arr).all():
                bad(f"{name} contains NaN or inf")
        if not (self.scale > 0).all():
            bad("every quantizer scale must be > 0")
        qmax = code_range(self.bits)[1]
        if (self.zero_point < 0).any() or (self.zero_point > qmax).any():
            bad(f"zero points must lie in [0, {qmax}] for {self.bits}-bit codes")
        if not (self.bbox_min <= self.bbox_max).all():
            bad(f"bbox min {self.bbox_min.tolist()} exceeds max {self.bbox_max.tolist()}")
        if self.channel_basis is not None:
            basis = self.channel_basis
            if basis.shape != (c, c) or basis.dtype != np.float32 or not np.isfinite(basis).all():
                bad(f"channel_basis must be finite float32 [{c}, {c}], got {basis.dtype} {list(basis.shape)}")
            if np.abs(basis.astype(np.float64) @ basis.T.astype(np.float64) - np.eye(c)).max() > 1e-4:
                bad("channel_basis is not orthonormal")
        if self.frame is not None:
            check_frame(self.frame, where)
        if self.ac_codes.shape != (n - 1, c):
            bad(f"ac_codes must have shape [N-1, C] = [{n - 1}, {c}], got {list(self.ac_codes.shape)}")
        if self.ac_codes.size and (int(self.ac_codes.min()) < 0 or int(self.ac_codes.max()) > qmax):
            bad(f"AC codes must lie in [0, {qmax}] for {self.bits}-bit codes, got "
                f"[{int(self.ac_codes.min())}, {int(self.ac_codes.max())}]")


def quant_table(depth: int, n_block: int, scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """The ``t.npz`` vector: float64 [2 + 2·C·B] = [d, B, s₀₀, z₀₀, s₀₁, z₀₁, …] (channel-major)."""
    pairs = np.stack([scale.astype(np.float64), zero_point.astype(np.float64)], axis=-1)  # [C, B, 2]
    return np.concatenate([np.array([depth, n_block], dtype=np.float64), pairs.reshape(-1)])


@dataclass
class DecodedModel:
    """A decoded compressed model.

    Attributes:
        payload: the stored content (save_npz(payload) rewrites identical files).
        manifest: the parsed manifest.
        attributes: [N, C] float32 decoded attribute matrix (codec/channel_layout.py order),
            the inverse RAHT of [DC; dequantized AC] — what the training forward rendered, in the
            coding frame (its Euler angles and SH bands are relative to ``payload.frame``).
        means: [N, 3] float32 positions in world coordinates (the voxel centres turned by the frame).
        source: the path read.
    """

    payload: CompressedPayload
    manifest: dict
    attributes: torch.Tensor
    means: torch.Tensor
    source: str

    @property
    def sh_degree(self) -> int:
        return self.payload.sh_degree

    @property
    def n_gaussians(self) -> int:
        return self.payload.n_gaussians

    def world_parts(self) -> dict[str, torch.Tensor]:
        """The attributes in world coordinates (float32 tensors): ``means``, ``quats`` (unit wxyz:
        the frame's rotation after the Euler angles'), ``log_scales``, ``logit_opacities``, ``sh0``
        [N,1,3], ``shN`` [N,K−1,3] (turned by the frame)."""
        parts = unpack_attributes(self.attributes.detach(), self.payload.layout)
        frame = self.payload.frame
        return {
            "means": self.means,
            "quats": frame_quaternions(euler_to_quat(parts["euler"]), frame),
            "log_scales": parts["log_scales"],
            "logit_opacities": parts["logit_opacities"],
            "sh0": parts["sh0"],
            "shN": frame_sh(parts["shN"], frame),
        }

    def gaussians(self) -> dict[str, torch.Tensor]:
        """Renderer inputs in world coordinates, as ``compression.attributes.activate_attributes`` gives
        them: ``means``, ``quats``, ``scales`` (exp), ``opacities`` (sigmoid), ``sh_coeffs`` [N,K,3]."""
        w = self.world_parts()
        return {"means": w["means"], "quats": w["quats"], "scales": torch.exp(w["log_scales"]),
                "opacities": torch.sigmoid(w["logit_opacities"]), "sh_coeffs": torch.cat([w["sh0"], w["shN"]], dim=1)}

    def arrays(self) -> dict[str, np.ndarray]:
        """Gaussians in the ply_io dict layout (float32 numpy, world coordinates): ``means``,
        ``quats`` (unit wxyz), ``scales`` (log), ``opacities`` (logit), ``sh0`` [N,1,3], ``shN`` [N,K−1,3]."""
        w = self.world_parts()
        out = {"means": w["means"], "quats": w["quats"], "scales": w["log_scales"], "opacities": w["logit_opacities"],
               "sh0": w["sh0"], "shN": w["shN"]}
        return {k: np.ascontiguousarray(v.detach().cpu().numpy().astype(np.float32)) for k, v in out.items()}


def decode_payload(payload: CompressedPayload, device: Optional[torch.device | str] = None,
                   plan: Optional[RahtPlan] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(attributes [N, C] float32, means [N, 3] float32) of a payload.

    attributes = raht_inverse([dc; dequantize_blocks(codes, scale, zero_point)])·Bᵀ (B: the channel
    transform, identity when absent), on ``device``; means = the voxel centres turned by the coding frame;
    ``plan``: ``raht.build_plan(coords, depth)`` when the caller has it already.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    coords = torch.from_numpy(payload.coords).to(device)
    plan = build_plan(coords, payload.depth) if plan is None else plan.to(device)
    # uint8 codes go to the float conversion as they are; uint16 (no torch arithmetic) via int32
    codes_np = payload.ac_codes if payload.ac_codes.dtype == np.uint8 else payload.ac_codes.astype(np.int32)
    codes = torch.from_numpy(codes_np).to(device)
    scale = torch.from_numpy(payload.scale).to(device)
    zero_point = torch.from_numpy(payload.zero_point).to(device)
    coeffs = torch.empty((payload.n_gaussians, payload.n_channels), dtype=torch.float32, device=device)
    coeffs[0] = torch.from_numpy(payload.dc).to(device)
    if codes.shape[0] > 0:  # a single voxel has the DC only
        dequantize_blocks(codes, scale, zero_point, out=coeffs[1:])
    basis = None if payload.channel_basis is None else torch.from_numpy(payload.channel_basis)
    attributes = from_coded(raht_inverse(coeffs, plan), basis)
    means = voxel_centers(coords, torch.from_numpy(payload.bbox_min), torch.from_numpy(payload.bbox_max), payload.depth)
    return attributes, frame_positions(means, payload.frame).to(device)
