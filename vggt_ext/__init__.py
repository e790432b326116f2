"""VGGT-compatible model, loading and preprocessing (weight quantization lives in sibling modules).

Public API:
- ``VGGT(config)``, ``VGGTConfig`` (presets ``VGGTConfig.vggt_1b()`` / ``VGGTConfig.tiny()``,
  also as ``vggt_1b_config()`` / ``tiny_config()``);
- ``load_vggt(path, config=None, device="cpu")``, ``save_vggt(model, path)``;
- ``load_and_preprocess_images(paths, mode="crop"|"pad", target_size=518)``, ``list_images``;
- pose encoding helpers in ``vggt_ext.pose_enc``.
"""

from .loading import load_vggt, save_vggt
from .models.config import VGGTConfig
from .models.vggt import VGGT
from .pose_enc import depth_to_world_points, extri_intri_to_pose_encoding, pose_encoding_to_extri_intri
from .preprocess import list_images, load_and_preprocess_images, load_and_preprocess_images_square


def vggt_1b_config(**overrides) -> VGGTConfig:
    """The VGGT-1B architecture (same as ``VGGTConfig.vggt_1b()``)."""
    return VGGTConfig.vggt_1b(**overrides)


def tiny_config(**overrides) -> VGGTConfig:
    """The ~3.6 M parameter test/demo architecture (same as ``VGGTConfig.tiny()``)."""
    return VGGTConfig.tiny(**overrides)


__all__ = [
    "VGGT",
    "VGGTConfig",
    "vggt_1b_config",
    "tiny_config",
    "load_vggt",
    "save_vggt",
    "load_and_preprocess_images",
    "load_and_preprocess_images_square",
    "list_images",
    "pose_encoding_to_extri_intri",
    "extri_intri_to_pose_encoding",
    "depth_to_world_points",
]
