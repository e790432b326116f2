"""Compression settings: the :class:`CompressionParams` group of train.py and the preset loader.

Precedence, field by field: command line > scene preset ``configs/<scene>.json`` > ``configs/default.json``.
A field left at ``None`` on the command line is filled from the scene preset, chosen by the
scene folder's name (``-s data/tandt/truck`` → ``configs/truck.json``; ``--preset NAME|PATH``
overrides the choice), and then from ``configs/default.json``. Presets are JSON objects whose
keys are field names of :class:`CompressionParams` (keys starting with ``_`` are documentation
and ignored; any other unknown key is an error). :func:`resolve_compression_params` returns the
filled dataclass and where each value came from, so the run can log it.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any, Optional

__all__ = [
    "CompressionParams",
    "PRESET_FIELDS",
    "QUANTIZERS",
    "MERGE_MODES",
    "PRUNE_MODES",
    "CODECS",
    "configs_dir",
    "parse_size",
    "DEFAULT_BITS",
    "scene_preset_name",
    "load_preset",
    "resolve_compression_params",
    "shippable_config",
    "CODING_FRAMES",
]

QUANTIZERS = ("rd", "vanilla", "lsq")
#: default code width per quantizer when neither the command line nor a preset sets --bits
#: (rd: 16-bit codes so that fine steps never clip; the entropy coder makes the width free)
DEFAULT_BITS = {"rd": 16, "vanilla": 8, "lsq": 8}
MERGE_MODES = ("mean", "importance", "first")
SENSITIVITIES = ("fisher", "hutchinson")
#: rd: prune and octree depth chosen by rate–distortion (compression/rd_structure.py); fixed: --percent and --depth as given
PRUNE_MODES = ("rd", "fixed")
#: klt: an orthonormal KLT of f_dc and of f_rest fitted per scene and stored in the file (format v3); none: identity
CHANNEL_TRANSFORMS = ("klt", "none")
#: --coding_frame (compression/coding_frame.py)
CODING_FRAMES = ("content", "world")
#: --axes (utils.rotations.AXIS_CHOICES)
AXES_CHOICES = ("scales", "rotation", "input")
CODECS = ("range", "deflate")


@dataclass
class CompressionParams:
    per_block_quant: bool = False  # compress: prune, voxelize, RAHT, quantize the AC coefficients with n_block quantizers per channel, fine-tune, save pc_npz
    per_channel_quant: bool = False  # compress with one quantizer per channel (n_block = 1)
    given_ply_path: Optional[str] = None  # alias of --init_ply (the pre-trained 3DGS point_cloud.ply to compress)
    preset: Optional[str] = None  # per-scene preset: a name in configs/ or a JSON path (default: the scene folder's name if configs/<name>.json exists)
    pretrain_iterations: int = 30_000  # without --init_ply: 3DGS iterations trained first (unless -m already holds point_cloud/iteration_*/point_cloud.ply)
    finetune_iterations: Optional[int] = None  # fine-tuning iterations when --iterations is not given [preset]
    n_block: Optional[int] = None  # quantizer blocks per channel over the N-1 RAHT AC coefficients (--per_block_quant) [preset]
    quantizer: Optional[str] = None  # rd (steps from measured sensitivity and --quality/--target_size, zero point mid-range), vanilla (the seed's running min/max envelope per block) or lsq (learned step per block) [preset]
    bits: Optional[int] = None  # bits per AC code, 1-16 (uint8 storage up to 8, uint16 above; default 16 for rd, 8 otherwise) [preset]
    quality: Optional[float] = None  # --quantizer rd: quality Q; the step of an average-sensitivity quantizer is 2^(-Q/8) (+8 halves every step: about +6 dB quantization SNR, +1 bit per significant coefficient) [preset]
    target_size: Optional[str] = None  # --quantizer rd: largest bundle size, bytes or with a unit (650KB, 2.5MB, 1MiB); each save searches the quality so the file is at most this and within 3 percent below (overrides --quality)
    target_bpg: Optional[float] = None  # --quantizer rd: like --target_size, in bits per Gaussian of the compressed model
    sensitivity: Optional[str] = None  # --quantizer rd: how the steps weigh each coefficient: fisher (squared gradient of the loss against the targets; needs a residual) or hutchinson (diagonal of J^T J from random +-1 images, exact per RAHT coefficient; needs no residual: the image-free default) [preset]
    sensitivity_prior: Optional[float] = None  # --sensitivity hutchinson: every Gaussian's sensitivity is at least this share of a typical seen Gaussian's of its opacity and area, so what no fitting view sees is neither pruned for free nor coded with the coarsest steps (0: off) [preset]
    prune: Optional[str] = None  # rd: prune the Gaussians whose removal costs less distortion than the bits they take at this quality, and pick the octree depth (at most --depth) the same way (needs --quantizer rd and --sensitivity hutchinson); fixed: prune --percent and use --depth as given (--percent on the command line implies it) [preset]
    depth: Optional[int] = None  # octree depth of the voxel grid: 2^depth cells per axis, 1-21 (with --prune rd: the finest depth considered) [preset]
    percent: Optional[float] = None  # --prune fixed: fraction in [0, 1) of the least important Gaussians pruned before voxelization [preset]
    beta: Optional[float] = None  # exponent of the volume term (V/V_ref)^beta in the importance score [preset]
    merge: Optional[str] = None  # merging of Gaussians that share a voxel: mean, importance or first [preset]
    lr_multiplier: Optional[float] = None  # multiplier m applied to every fine-tuning learning rate below [preset]
    ft_opacity_lr: Optional[float] = None  # fine-tuning Adam lr of the logit opacities, before x lr_multiplier [preset]
    ft_euler_lr: Optional[float] = None  # fine-tuning Adam lr of the Euler angles (radians), before x lr_multiplier [preset]
    ft_f_dc_lr: Optional[float] = None  # fine-tuning Adam lr of the SH DC coefficients, before x lr_multiplier [preset]
    ft_f_rest_lr: Optional[float] = None  # fine-tuning Adam lr of the higher SH bands, before x lr_multiplier [preset]
    ft_scaling_lr: Optional[float] = None  # fine-tuning Adam lr of the log-scales, before x lr_multiplier [preset]
    lsq_lr: Optional[float] = None  # --quantizer lsq: relative lr of the learned steps (Adam on log step: 1e-3 changes a step by about 0.1 percent per iteration) [preset]
    coding_frame: Optional[str] = None  # content: code the positions, rotations and colours in the content's own principal axes, stored in the file (format v4), so that a turned copy of a scene codes alike; world: in the input's axes [preset]
    channel_transform: Optional[str] = None  # klt: decorrelate the colour channels before the RAHT with a per-scene orthonormal KLT of f_dc and of f_rest, stored in the file (format v3); none: code the channels as they are [preset]
    axes: Optional[str] = None  # which of the 24 equivalent principal-axis assignments codes each Gaussian (the covariance is the same): scales (largest scale first, then the smallest rotation; default), rotation (the smallest rotation of all 24) or input (as the file has them) [preset]
    codec: Optional[str] = None  # bitstream of the file: range (format 4: range-coded codes and octree, channel transform, coding frame; default) or deflate (format 1, the notes' layout: raw uint8 codes in DEFLATE'd npz) [preset]
    setup_eval: bool = True  # log the test PSNR after every compression setup step (one test pass per step); --no-setup_eval skips


#: Fields a preset file may set (everything resolved through the preset chain).
PRESET_FIELDS = (
    "finetune_iterations",
    "n_block",
    "quantizer",
    "bits",
    "quality",
    "sensitivity",
    "sensitivity_prior",
    "prune",
    "depth",
    "percent",
    "beta",
    "merge",
    "lr_multiplier",
    "ft_opacity_lr",
    "ft_euler_lr",
    "ft_f_dc_lr",
    "ft_f_rest_lr",
    "ft_scaling_lr",
    "lsq_lr",
    "channel_transform",
    "coding_frame",
    "axes",
    "codec",
)


_SIZE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3, "KIB": 1024, "MIB": 1024 ** 2, "GIB": 1024 ** 3}


def parse_size(text: str) -> int:
    """Bytes of ``650KB``, ``2.5MB``, ``1MiB``, ``700000`` (KB/MB/GB = 10^3/10^6/10^9, KiB/MiB/GiB = 2^10/2^20/2^30)."""
    raw = str(text).strip()
    number = raw.rstrip("BbKkMmGgIi ")
    unit = raw[len(number):].strip().upper()
    try:
        value = float(number)
    except ValueError:
        value = float("nan")
    if unit not in _SIZE_UNITS or not 0 < value < 1e18:
        raise ValueError(f"--target_size {text!r} is not a size; write bytes or a number with KB, MB, GB, KiB, MiB or GiB "
                         f"(e.g. 650KB, 2.5MB)")
    return int(value * _SIZE_UNITS[unit])


def configs_dir() -> str:
    """The repository's ``configs/`` folder."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def scene_preset_name(source_path: str) -> str:
    """Preset name of a scene folder: its base name, lower case (``data/tandt/truck/`` → ``truck``)."""
    return os.path.basename(os.path.normpath(source_path or "")).lower()


def load_preset(name_or_path: str, folder: Optional[str] = None) -> dict[str, Any]:
    """Values of one preset (``configs/<name>.json`` or a path to a JSON file), ``_`` keys dropped.

    Raises ``FileNotFoundError`` when missing and ``ValueError`` for bad JSON or unknown keys.
    """
    folder = folder or configs_dir()
    path = name_or_path if name_or_path.endswith(".json") or os.sep in name_or_path else os.path.join(folder, name_or_path + ".json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"compression preset {path!r} not found; presets live in {folder}")
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"compression preset {path} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"compression preset {path} must hold a JSON object, got {type(data).__name__}")
    values = {k: v for k, v in data.items() if not k.startswith("_")}
    unknown = sorted(set(values) - set(PRESET_FIELDS))
    if unknown:
        raise ValueError(f"compression preset {path} has unknown key(s) {unknown}; allowed: {list(PRESET_FIELDS)}")
    return values


def _validate(p: CompressionParams) -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ValueError(msg)

    need(isinstance(p.n_block, int) and p.n_block >= 1, f"--n_block must be a positive integer, got {p.n_block!r}")
    need(p.sensitivity in SENSITIVITIES, f"--sensitivity must be one of {SENSITIVITIES}, got {p.sensitivity!r}")
    need(p.quantizer in QUANTIZERS, f"--quantizer must be one of {QUANTIZERS}, got {p.quantizer!r}")
    need(isinstance(p.bits, int) and 1 <= p.bits <= 16, f"--bits must be an integer in 1..16, got {p.bits!r}")
    if p.quantizer in ("lsq", "rd"):
        need(p.bits >= 2, f"--quantizer {p.quantizer} needs --bits >= 2 (signed range), got {p.bits}")
    need(isinstance(p.quality, (int, float)) and -200 <= p.quality <= 200,
         f"--quality must be a number in [-200, 200], got {p.quality!r}")
    targets = [f for f in ("target_size", "target_bpg") if getattr(p, f) is not None]
    need(len(targets) <= 1, "--target_size and --target_bpg exclude each other; give one")
    if targets:
        need(p.quantizer == "rd", f"--{targets[0]} needs --quantizer rd (the min/max and LSQ quantizers have no "
                                  f"quality knob), got --quantizer {p.quantizer}")
    if p.target_size is not None:
        parse_size(p.target_size)  # raises a clear ValueError
    if p.target_bpg is not None:
        need(isinstance(p.target_bpg, (int, float)) and p.target_bpg > 0, f"--target_bpg must be > 0, got {p.target_bpg!r}")
    need(isinstance(p.sensitivity_prior, (int, float)) and 0.0 <= p.sensitivity_prior <= 1.0,
         f"--sensitivity_prior must lie in [0, 1], got {p.sensitivity_prior!r}")
    need(p.prune in PRUNE_MODES, f"--prune must be one of {PRUNE_MODES}, got {p.prune!r}")
    need(isinstance(p.depth, int) and 1 <= p.depth <= 21, f"--depth must be an integer in 1..21, got {p.depth!r}")
    need(isinstance(p.percent, (int, float)) and 0.0 <= p.percent < 1.0, f"--percent must lie in [0, 1), got {p.percent!r}")
    need(isinstance(p.beta, (int, float)), f"--beta must be a number, got {p.beta!r}")
    need(p.merge in MERGE_MODES, f"--merge must be one of {MERGE_MODES}, got {p.merge!r}")
    need(p.codec in CODECS, f"--codec must be one of {CODECS}, got {p.codec!r}")
    need(p.channel_transform in CHANNEL_TRANSFORMS, f"--channel_transform must be one of {CHANNEL_TRANSFORMS}, got {p.channel_transform!r}")
    need(p.coding_frame in CODING_FRAMES, f"--coding_frame must be one of {CODING_FRAMES}, got {p.coding_frame!r}")
    need(p.codec == "range" or p.coding_frame == "world",
         f"--codec {p.codec} writes format v1, which has no coding frame; add --coding_frame world or use --codec range")
    need(p.axes in AXES_CHOICES, f"--axes must be one of {AXES_CHOICES}, got {p.axes!r}")
    need(p.codec == "range" or p.channel_transform == "none",
         f"--codec {p.codec} writes format v1, which has no channel transform; add --channel_transform none or use --codec range")
    need(isinstance(p.finetune_iterations, int) and p.finetune_iterations >= 0,
         f"finetune_iterations must be an integer >= 0, got {p.finetune_iterations!r}")
    for name in ("lr_multiplier", "ft_opacity_lr", "ft_euler_lr", "ft_f_dc_lr", "ft_f_rest_lr", "ft_scaling_lr", "lsq_lr"):
        v = getattr(p, name)
        need(isinstance(v, (int, float)) and v >= 0, f"--{name} must be a number >= 0, got {v!r}")
    need(p.pretrain_iterations >= 0, f"--pretrain_iterations must be >= 0, got {p.pretrain_iterations}")


def resolve_compression_params(
    cli: CompressionParams,
    source_path: str = "",
    folder: Optional[str] = None,
) -> tuple[CompressionParams, dict[str, str]]:
    """Fill every ``None`` field of ``cli`` from the scene preset, then ``configs/default.json``.

    ``--per_channel_quant`` forces ``n_block = 1``. Returns ``(params, provenance)`` where
    ``provenance[field]`` is ``"command line"``, ``"preset <name>"`` or ``"default"``. Raises
    ``ValueError`` for invalid values (naming the flag) and when both quantization modes are given.
    """
    folder = folder or configs_dir()
    if cli.per_block_quant and cli.per_channel_quant:
        raise ValueError("--per_block_quant and --per_channel_quant exclude each other; give one")
    default = load_preset("default", folder)
    missing = sorted(set(PRESET_FIELDS) - set(default))
    if missing:
        raise ValueError(f"{os.path.join(folder, 'default.json')} lacks {missing}")
    preset_label = None
    preset: dict[str, Any] = {}
    if cli.preset:
        preset = load_preset(cli.preset, folder)
        preset_label = f"preset {os.path.basename(cli.preset)}"
    else:
        name = scene_preset_name(source_path)
        if name and name != "default" and os.path.isfile(os.path.join(folder, name + ".json")):
            preset = load_preset(name, folder)
            preset_label = f"preset {name}"
    values: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    for f in PRESET_FIELDS:
        given = getattr(cli, f)
        if given is not None:
            values[f], provenance[f] = given, "command line"
        elif f in preset:
            values[f], provenance[f] = preset[f], preset_label
        else:
            values[f], provenance[f] = default[f], "default"
    if cli.per_channel_quant:
        if cli.n_block not in (None, 1):
            raise ValueError(f"--per_channel_quant means one block per channel; drop --n_block {cli.n_block}")
        values["n_block"], provenance["n_block"] = 1, "--per_channel_quant"
    if cli.percent is not None and cli.prune is None and values["prune"] != "fixed":
        # a fraction asked for on the command line is a fixed pruning, whatever the presets say
        values["prune"], provenance["prune"] = "fixed", "--percent on the command line"
    if values["codec"] != "range" and cli.channel_transform is None and values["channel_transform"] != "none":
        # format v1 (the zip codecs) stores no channel transform
        values["channel_transform"], provenance["channel_transform"] = "none", f"--codec {values['codec']} (format v1)"
    if values["codec"] != "range" and cli.coding_frame is None and values["coding_frame"] != "world":
        values["coding_frame"], provenance["coding_frame"] = "world", f"--codec {values['codec']} (format v1)"
    if values["bits"] is None and values["quantizer"] in DEFAULT_BITS:
        values["bits"], provenance["bits"] = DEFAULT_BITS[values["quantizer"]], f"default for --quantizer {values['quantizer']}"
    for f in ("n_block", "bits", "depth", "finetune_iterations"):
        if isinstance(values[f], float) and values[f].is_integer():
            values[f] = int(values[f])
    out = dataclasses.replace(cli, **values)
    _validate(out)
    return out, provenance


def shippable_config(params: CompressionParams, provenance: dict, *, source_path: Optional[str], input_file: str,
                     white_background: bool) -> dict:
    """The manifest's ``configuration``: the resolved settings with file *names* only (a shipped file
    must not leak local paths, and the same input and settings must give the same bytes anywhere)."""
    def name(path: Optional[str]) -> Optional[str]:
        return os.path.basename(os.path.normpath(path)) if path else None

    values = dataclasses.asdict(params)
    values.update(given_ply_path=name(params.given_ply_path),
                  preset=name(params.preset) if params.preset and params.preset.endswith(".json") else params.preset)
    return {"source_path": name(source_path), "input_ply": name(input_file), "white_background": white_background,
            **values, "provenance": provenance}
