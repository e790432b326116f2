"""Prediction heads of the VGGT-compatible model: camera, DPT (depth / points / features), track."""

from .camera_head import CameraHead
from .dpt_head import DPTHead
from .track_head import TrackHead

__all__ = ["CameraHead", "DPTHead", "TrackHead"]
