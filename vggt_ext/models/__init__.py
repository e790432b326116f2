"""VGGT-compatible model: configuration, building blocks, heads and the top-level module."""

from .config import VGGTConfig
from .vggt import VGGT

__all__ = ["VGGT", "VGGTConfig"]
