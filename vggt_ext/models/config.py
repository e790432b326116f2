"""Configuration of the VGGT-compatible model (:class:`VGGTConfig`) and its presets.

``VGGTConfig.vggt_1b()`` (the defaults) reproduces the VGGT-1B checkpoint layout exactly:
1,797 tensors, 1,256,537,516 float32 parameters (1,403 / 1,190,596,120 without the track
head).  ``VGGTConfig.tiny()`` is a ~3.6 M parameter model with the same module tree and the
same forward dictionary, for tests and demos (random weights only; no checkpoint exists for it).

Knobs (VGGT-1B value → tiny value):

| field                         | meaning                                           | 1B                  | tiny            |
|-------------------------------|---------------------------------------------------|---------------------|-----------------|
| patch_embed                   | "dinov2_vitl14_reg" (DINOv2 ViT with registers)   | dinov2_vitl14_reg   | conv            |
|                               | or "conv" (one stride-14 Conv2d, no ViT)          |                     |                 |
| embed_dim                     | aggregator width E (= DINO width for a ViT)       | 1024                | 64              |
| depth / num_heads             | aggregator frame+global block pairs / heads       | 24 / 16             | 4 / 4           |
| camera_trunk_depth / heads    | camera head trunk blocks / heads (width 2E)       | 4 / 16              | 1 / 4           |
| dpt_features                  | DPT fusion width F                                | 256                 | 64              |
| dpt_out_channels              | per-level projection widths                       | 256,512,1024,1024   | 32,64,128,128   |
| dpt_layer_idx                 | aggregator outputs read by the DPT heads          | 4,11,17,23          | 0,1,2,3         |
| track_features                | track feature map / tracker latent width          | 128                 | 32              |
| tracker_hidden / depth        | updateformer width / time (= space) blocks        | 384 / 6             | 64 / 2          |
| corr_levels / corr_radius     | correlation pyramid levels / window radius        | 7 / 4               | 3 / 2           |
| camera_iters / track_iters    | refinement iterations                             | 4 / 4               | 4 / 2           |
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Dict, Tuple

PATCH_EMBED_CHOICES = ("dinov2_vitl14_reg", "conv")


@dataclass
class VGGTConfig:
    """Every architecture knob of :class:`vggt_ext.models.vggt.VGGT`; defaults = VGGT-1B."""

    # input / patching
    img_size: int = 518  # training resolution; fixes the DINO pos_embed grid (img_size/patch)^2
    patch_size: int = 14  # pixels per patch side; H and W must be multiples of it
    embed_dim: int = 1024  # aggregator width E; heads see 2E (frame ‖ global)
    patch_embed: str = "dinov2_vitl14_reg"  # "dinov2_vitl14_reg" or "conv"
    # DINOv2 backbone (only used when patch_embed is a DINO name; width = embed_dim)
    dino_depth: int = 24  # ViT blocks
    dino_num_heads: int = 16  # ViT heads
    dino_mlp_ratio: float = 4.0  # ViT MLP hidden = ratio * width
    dino_init_values: float = 1.0  # ViT LayerScale init
    # aggregator (alternating frame / global attention)
    depth: int = 24  # number of frame blocks (= number of global blocks)
    num_heads: int = 16  # heads of the aggregator blocks
    mlp_ratio: float = 4.0  # aggregator MLP hidden ratio
    num_register_tokens: int = 4  # register tokens (aggregator and DINO)
    qk_norm: bool = True  # LayerNorm(head_dim) on q and k in aggregator blocks
    rope_freq: float = 100.0  # 2-D RoPE base frequency; <= 0 disables RoPE
    init_values: float = 0.01  # LayerScale init of aggregator and camera trunk blocks
    aa_order: Tuple[str, ...] = ("frame", "global")  # attention order inside one group
    aa_block_size: int = 1  # blocks of one kind run back to back inside a group
    # heads
    enable_camera: bool = True
    enable_depth: bool = True
    enable_point: bool = True
    enable_track: bool = True
    camera_trunk_depth: int = 4  # transformer blocks in the camera trunk
    camera_num_heads: int = 16  # heads in the camera trunk (width 2E)
    camera_iters: int = 4  # iterative pose refinements (length of pose_enc_list)
    dpt_features: int = 256  # DPT fusion width F
    dpt_out_channels: Tuple[int, int, int, int] = (256, 512, 1024, 1024)
    dpt_layer_idx: Tuple[int, int, int, int] = (4, 11, 17, 23)
    frames_chunk_size: int = 8  # DPT heads process at most this many frames at once (memory)
    track_features: int = 128  # track DPT feature width = tracker latent width
    track_out_channels: Tuple[int, int, int, int] = (256, 512, 1024, 1024)
    track_layer_idx: Tuple[int, int, int, int] = (4, 11, 17, 23)
    track_iters: int = 4  # tracker refinement iterations
    tracker_hidden: int = 384  # updateformer width
    tracker_depth: int = 6  # updateformer time blocks (= space block groups)
    tracker_num_heads: int = 8  # heads of the updateformer nn.MultiheadAttention
    tracker_virtual_tracks: int = 64  # learned virtual tracks for space attention
    corr_levels: int = 7  # correlation pyramid levels (needs H/2, W/2 >= 2**(levels-1))
    corr_radius: int = 4  # correlation window radius (window side 2r+1)
    track_stride: int = 2  # feature-map stride of the track head (DPT down_ratio)

    # ------------------------------------------------------------------ presets
    @classmethod
    def vggt_1b(cls, **overrides: Any) -> "VGGTConfig":
        """The VGGT-1B architecture (upstream ``VGGT()`` defaults), optionally overridden."""
        cfg = cls(**overrides)
        cfg.validate()
        return cfg

    @classmethod
    def tiny(cls, **overrides: Any) -> "VGGTConfig":
        """A ~3.6 M parameter model (485 tensors with the track head) for tests and demos."""
        e = int(overrides.pop("embed_dim", 64))
        values: Dict[str, Any] = dict(
            patch_embed="conv",
            embed_dim=e,
            depth=4,
            num_heads=4,
            camera_trunk_depth=1,
            camera_num_heads=4,
            camera_iters=4,
            dpt_features=64,
            dpt_out_channels=(e // 2, e, 2 * e, 2 * e),
            dpt_layer_idx=(0, 1, 2, 3),
            track_features=32,
            track_out_channels=(e // 2, e, 2 * e, 2 * e),
            track_layer_idx=(0, 1, 2, 3),
            track_iters=2,
            tracker_hidden=64,
            tracker_depth=2,
            corr_levels=3,
            corr_radius=2,
        )
        values.update(overrides)
        cfg = cls(**values)
        cfg.validate()
        return cfg

    # ------------------------------------------------------------------ helpers
    @property
    def uses_dino(self) -> bool:
        """True when the patch embedder is the DINOv2 ViT (not the single conv)."""
        return "conv" not in self.patch_embed

    @property
    def head_dim_in(self) -> int:
        """Token width the heads read: frame ‖ global = 2·embed_dim."""
        return 2 * self.embed_dim

    def validate(self) -> None:
        """Raise ValueError on an inconsistent configuration (with the offending values)."""

        def bad(msg: str) -> None:
            raise ValueError(f"VGGTConfig: {msg}")

        if self.patch_embed not in PATCH_EMBED_CHOICES:
            bad(f"patch_embed={self.patch_embed!r}; choose one of {PATCH_EMBED_CHOICES}")
        if self.patch_size <= 0 or self.img_size % self.patch_size:
            bad(f"img_size={self.img_size} must be a positive multiple of patch_size={self.patch_size}")
        if self.embed_dim % self.num_heads:
            bad(f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}")
        if self.rope_freq > 0 and (self.embed_dim // self.num_heads) % 4:
            bad(f"head dim {self.embed_dim // self.num_heads} must be a multiple of 4 for 2-D RoPE")
        if self.uses_dino and self.embed_dim % self.dino_num_heads:
            bad(f"embed_dim={self.embed_dim} is not divisible by dino_num_heads={self.dino_num_heads}")
        if self.depth <= 0 or self.depth % self.aa_block_size:
            bad(f"depth={self.depth} must be a positive multiple of aa_block_size={self.aa_block_size}")
        if sorted(self.aa_order) != ["frame", "global"]:
            bad(f"aa_order={self.aa_order!r} must hold 'frame' and 'global' once each")
        if (2 * self.embed_dim) % self.camera_num_heads:
            bad(f"camera width {2 * self.embed_dim} is not divisible by camera_num_heads={self.camera_num_heads}")
        for name in ("dpt_layer_idx", "track_layer_idx"):
            idx = getattr(self, name)
            if len(idx) != 4 or any(not 0 <= int(i) < self.depth for i in idx):
                bad(f"{name}={tuple(idx)} needs 4 indices in [0, depth={self.depth})")
        for name in ("dpt_out_channels", "track_out_channels"):
            if len(getattr(self, name)) != 4:
                bad(f"{name}={tuple(getattr(self, name))} needs 4 entries")
        if self.dpt_features % 2:
            bad(f"dpt_features={self.dpt_features} must be even (output_conv1 halves it)")
        if self.tracker_hidden % self.tracker_num_heads:
            bad(f"tracker_hidden={self.tracker_hidden} is not divisible by tracker_num_heads={self.tracker_num_heads}")
        if self.track_features % 4:
            bad(f"track_features={self.track_features} must be a multiple of 4 (sin/cos embeddings)")
        if self.corr_levels < 1 or self.corr_radius < 0:
            bad(f"corr_levels={self.corr_levels}, corr_radius={self.corr_radius} out of range")
        if self.frames_chunk_size < 1:
            bad(f"frames_chunk_size={self.frames_chunk_size} must be >= 1")

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "VGGTConfig":
        """Inverse of :meth:`to_dict`; unknown keys → ValueError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"VGGTConfig: unknown fields {unknown}; known fields are {sorted(known)}")
        kw = {}
        for k, v in values.items():
            kw[k] = tuple(v) if isinstance(v, list) else v
        cfg = cls(**kw)
        cfg.validate()
        return cfg
