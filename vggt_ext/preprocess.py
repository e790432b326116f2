"""Image loading and preprocessing for VGGT with PIL + numpy (no torchvision).

``load_and_preprocess_images(paths, mode="crop"|"pad", target_size=518)`` → ``[N, 3, H, W]``
float32 in [0, 1], H and W multiples of 14.  Per image:

1. open with PIL; an "RGBA" image is alpha-composited over opaque white, then ``convert("RGB")``;
2. (w, h) = PIL size; new sizes with Python ``round`` (half to even), expression order kept:
   - crop: new_w = T, new_h = round(h·(T/w)/14)·14;
   - pad:  w ≥ h → as crop; else new_h = T, new_w = round(w·(T/h)/14)·14;
3. resize with PIL ``BICUBIC``; uint8 HWC → float32 /255 → CHW (bit-equal to torchvision ToTensor);
4. crop: if new_h > T keep rows [(new_h − T)//2, … + T); pad: pad to T×T with 1.0 (white),
   top = (T − new_h)//2 (remainder at the bottom), left/right likewise;
5. images of different shapes (crop mode) are padded with 1.0 to (max H, max W), centred.

``load_and_preprocess_images_square(paths, target_size=1024)`` pads to a black square of side
max(w, h) (pasted at ((m − w)//2, (m − h)//2)), resizes to T×T (bicubic) and also returns the
original image box [x1, y1, x2, y2, w, h] in the resized square (scaled by T/m).
Matches VGGT's ``vggt/utils/load_fn.py`` behaviour (re-implemented).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np
import torch

logger = logging.getLogger(__name__)

PATCH = 14
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
PathLike = Union[str, os.PathLike]


def list_images(folder: PathLike, max_images: Optional[int] = None) -> List[Path]:
    """Image files (by extension, case-insensitive) directly in ``folder``, sorted by name.

    Raises FileNotFoundError for a missing folder and ValueError when it holds no image.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"image folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is not a folder; pass a folder of images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {str(folder)!r}")
    if max_images is not None:
        if max_images < 1:
            raise ValueError(f"max_images must be >= 1, got {max_images}")
        files = files[:max_images]
    return files


def _as_path_list(image_paths) -> List[PathLike]:
    if isinstance(image_paths, (str, os.PathLike)):
        image_paths = [image_paths]
    paths = list(image_paths)
    if not paths:
        raise ValueError("no images given: pass at least one image path (see vggt_ext.preprocess.list_images)")
    return paths


def open_rgb(path: PathLike):
    """Open ``path`` as an RGB PIL image (RGBA composited over white). Clear errors on bad files."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"image {str(p)!r} does not exist")
    if p.is_dir():
        raise ValueError(f"{str(p)!r} is a folder, not an image; use vggt_ext.preprocess.list_images(folder)")
    try:
        with Image.open(p) as img:
            img.load()
            if img.mode == "RGBA":
                white = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, img)
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"cannot read image {str(p)!r}: {exc}; is it a valid image file?") from exc


def _to_chw(img) -> np.ndarray:
    """PIL RGB image → float32 [3, H, W] in [0, 1] (uint8 / 255, like torchvision ToTensor)."""
    arr = np.asarray(img, dtype=np.uint8)
    return np.ascontiguousarray((arr.astype(np.float32) / 255.0).transpose(2, 0, 1))


def _pad_center(arr: np.ndarray, out_h: int, out_w: int, value: float = 1.0) -> np.ndarray:
    """Pad ``[C, H, W]`` to ``[C, out_h, out_w]`` with ``value``; top = (out_h − H)//2, left likewise."""
    _, h, w = arr.shape
    top, left = (out_h - h) // 2, (out_w - w) // 2
    return np.pad(arr, ((0, 0), (top, out_h - h - top), (left, out_w - w - left)), constant_values=value)


def preprocess_image(img, mode: str = "crop", target_size: int = 518) -> np.ndarray:
    """One RGB PIL image → float32 ``[3, H, W]`` per steps 2–4 of the module docstring."""
    from PIL import Image

    width, height = img.size
    if mode == "pad" and width < height:
        new_h = target_size
        new_w = max(PATCH, round(width * (new_h / height) / PATCH) * PATCH)
    else:
        new_w = target_size
        new_h = max(PATCH, round(height * (new_w / width) / PATCH) * PATCH)
    arr = _to_chw(img.resize((new_w, new_h), Image.Resampling.BICUBIC))
    if mode == "crop":
        if new_h > target_size:
            top = (new_h - target_size) // 2
            arr = arr[:, top : top + target_size, :]
    else:
        arr = _pad_center(arr, target_size, target_size, 1.0)
    return np.ascontiguousarray(arr)


def load_and_preprocess_images(image_paths, mode: str = "crop", target_size: int = 518) -> torch.Tensor:
    """Load images and preprocess them for VGGT → ``[N, 3, H, W]`` float32 in [0, 1].

    ``image_paths``: a path or a sequence of paths.  ``mode``: "crop" (width = target, height
    rounded to a multiple of 14 and centre-cropped to at most target) or "pad" (longer side =
    target, padded to target × target with white).  ``target_size`` must be a multiple of 14.
    """
    if mode not in ("crop", "pad"):
        raise ValueError(f"mode must be 'crop' or 'pad', got {mode!r}")
    if target_size < PATCH or target_size % PATCH:
        raise ValueError(f"target_size must be a positive multiple of {PATCH}, got {target_size}")
    arrays = [preprocess_image(open_rgb(p), mode, target_size) for p in _as_path_list(image_paths)]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        max_h = max(a.shape[1] for a in arrays)
        max_w = max(a.shape[2] for a in arrays)
        logger.warning("images have different shapes %s; padding all to %dx%d with white",
                       sorted(shapes), max_h, max_w)
        arrays = [_pad_center(a, max_h, max_w, 1.0) for a in arrays]
    return torch.from_numpy(np.stack(arrays, axis=0))


def load_and_preprocess_images_square(image_paths, target_size: int = 1024) -> Tuple[torch.Tensor, torch.Tensor]:
    """Black-pad each image to a square, resize to ``target_size``² → (images [N, 3, T, T],
    boxes [N, 6] = [x1, y1, x2, y2, w, h] of the original image inside the resized square)."""
    from PIL import Image

    if target_size < 1:
        raise ValueError(f"target_size must be positive, got {target_size}")
    images, boxes = [], []
    for p in _as_path_list(image_paths):
        img = open_rgb(p)
        w, h = img.size
        m = max(w, h)
        left, top = (m - w) // 2, (m - h) // 2
        square = Image.new("RGB", (m, m), (0, 0, 0))
        square.paste(img, (left, top))
        scale = target_size / m
        boxes.append([left * scale, top * scale, (left + w) * scale, (top + h) * scale, w, h])
        images.append(_to_chw(square.resize((target_size, target_size), Image.Resampling.BICUBIC)))
    return torch.from_numpy(np.stack(images, axis=0)), torch.tensor(boxes, dtype=torch.float32)
