"""Configuration dataclasses and the command line built from them (3DGS's ``arguments`` module).

Each config group is a dataclass; each field is one command-line flag ``--<field>``, and the
comment at the end of the field's line is its ``--help`` text (read from this file's source
with :mod:`tokenize` when a parser is built, never at import time). Short aliases live in
``SHORT_FLAGS``. Adding a group for a new stage (e.g. compression) means: write the dataclass
here, pass it to :func:`build_parser`, and :func:`extract` it from the parsed namespace.

Groups:
- :class:`ModelParams`        — the scene and the Gaussian model (3DGS ``ModelParams``);
- :class:`OptimizationParams` — learning rates, loss, SH schedule, densification (3DGS defaults);
- :class:`PipelineParams`     — renderer backend and device;
- :class:`RunParams`          — what the training run writes and when (test/save/checkpoint).

The resolved configuration is saved next to the outputs as ``cfg_args`` (3DGS's
``Namespace(...)`` repr, flat) and ``cfg_args.json`` (nested by group, see :func:`config_to_json`).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import json
import os
import tokenize
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from utils.files import write_text_atomic

# 3DGS schedule constants for a 30 000-iteration run; fields left at None are scaled from these
# by ``iterations / REFERENCE_ITERATIONS`` (see OptimizationParams.resolved).
REFERENCE_ITERATIONS = 30_000
_REFERENCE_SCHEDULE = {
    "densify_from_iter": 500,
    "densify_until_iter": 15_000,
    "opacity_reset_interval": 3_000,
}

CFG_JSON_VERSION = 1


@dataclass
class ModelParams:
    source_path: str = ""  # scene folder: COLMAP (sparse/0 + images/) or NeRF-synthetic (transforms_*.json)
    model_path: str = ""  # output folder of the run (default: output/<random id>)
    resolution: int = -1  # 1, 2, 4, 8 = downscale factor; other positive values = target width; -1 = auto (max 1600 px wide)
    white_background: bool = False  # composite NeRF-synthetic RGBA on white (else black) and render on white
    eval: bool = False  # hold out every 8th image (sorted by name) as the test split
    sh_degree: int = 3  # maximum spherical-harmonics degree of the Gaussians (0-3)
    init_ply: Optional[str] = None  # start from this Gaussian PLY (INRIA 3DGS point_cloud.ply or SuperSplat .compressed.ply) instead of the scene points
    sanitize: bool = False  # with --init_ply: drop rows with NaN/Inf values instead of failing (infinite opacity logits are clamped to +/-20 anyway)


@dataclass
class OptimizationParams:
    iterations: int = 30_000  # number of training iterations (one camera per iteration)
    position_lr_init: float = 1.6e-4  # learning rate of the means at iteration 0, times the scene extent
    position_lr_final: float = 1.6e-6  # learning rate of the means at position_lr_max_steps, times the scene extent
    position_lr_max_steps: Optional[int] = None  # iterations of the exponential position-lr decay (default: --iterations)
    feature_lr: float = 2.5e-3  # learning rate of the SH DC coefficients (sh0)
    shN_lr_divisor: float = 20.0  # learning rate of the higher SH bands (shN) = feature_lr / this
    opacity_lr: float = 5e-2  # learning rate of the logit opacities
    scaling_lr: float = 5e-3  # learning rate of the log scales
    rotation_lr: float = 1e-3  # learning rate of the quaternions
    adam_eps: float = 1e-15  # Adam epsilon (3DGS uses 1e-15)
    lambda_dssim: float = 0.2  # loss = (1 - lambda) * L1 + lambda * (1 - SSIM)
    sh_interval: int = 1000  # raise the active SH degree by one every this many iterations (up to --sh_degree)
    densify: bool = True  # run densification (gsplat DefaultStrategy + opacity reset); --no-densify turns it off
    densification_interval: int = 100  # clone/split/prune every this many iterations
    densify_from_iter: Optional[int] = None  # first densification after this iteration (default: 500 x iterations/30000)
    densify_until_iter: Optional[int] = None  # no densification or opacity reset from this iteration on (default: 15000 x iterations/30000)
    opacity_reset_interval: Optional[int] = None  # clamp opacities to 0.01 every this many iterations (default: 3000 x iterations/30000)
    densify_grad_threshold: float = 2e-4  # mean screen-space gradient norm above which a Gaussian is cloned or split
    percent_dense: float = 0.01  # Gaussians smaller than this fraction of the scene extent are cloned, larger ones split
    min_opacity: float = 0.005  # prune Gaussians whose opacity falls below this
    prune_scale3d: float = 0.1  # after the first opacity reset, prune Gaussians larger than this fraction of the extent

    def resolved(self) -> "OptimizationParams":
        """Copy with every ``None`` schedule field filled in.

        ``densify_from_iter``, ``densify_until_iter`` and ``opacity_reset_interval`` default to
        3DGS's values (500, 15 000, 3 000) scaled by ``iterations / 30000`` (rounded, at least 1),
        so a 30 000-iteration run uses exactly the 3DGS schedule and a short run keeps its
        proportions; ``position_lr_max_steps`` defaults to ``iterations``.
        """
        ratio = self.iterations / REFERENCE_ITERATIONS
        updates: dict[str, Any] = {}
        for name, ref in _REFERENCE_SCHEDULE.items():
            if getattr(self, name) is None:
                updates[name] = max(1, int(round(ref * ratio)))
        if self.position_lr_max_steps is None:
            updates["position_lr_max_steps"] = max(1, self.iterations)
        return dataclasses.replace(self, **updates)

    def validate(self) -> None:
        """Raise ``ValueError`` for values no run can use."""
        if self.iterations < 0:
            raise ValueError(f"--iterations must be >= 0, got {self.iterations}")
        for name in ("sh_interval", "densification_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.opacity_reset_interval is not None and self.opacity_reset_interval < 1:
            raise ValueError(f"--opacity_reset_interval must be >= 1, got {self.opacity_reset_interval}")
        if not 0.0 <= self.lambda_dssim <= 1.0:
            raise ValueError(f"--lambda_dssim must lie in [0, 1], got {self.lambda_dssim}")


@dataclass
class PipelineParams:
    backend: str = "auto"  # renderer: auto (gsplat on CUDA, else torch), gsplat (CUDA only) or torch (any device)
    device: str = "auto"  # torch device for training: auto (CUDA when available, else CPU), cpu, cuda, cuda:1, ...
    threads: Optional[int] = None  # CPU threads of torch (default: one per core)


@dataclass
class RunParams:
    test_iterations: list[int] = field(default_factory=lambda: [7_000, 30_000])  # evaluate the test views (and 5 training views) at these iterations; the last iteration is always added
    save_iterations: list[int] = field(default_factory=lambda: [7_000, 30_000])  # write point_cloud/iteration_<k>/point_cloud.ply at these iterations; the last iteration is always added
    checkpoint_iterations: list[int] = field(default_factory=list)  # write a resumable checkpoint chkpnt<k>.pth at these iterations
    start_checkpoint: Optional[str] = None  # resume from this chkpnt<k>.pth (parameters, optimizers, densification state, RNG, iteration)
    seed: int = 0  # seed of every random generator (camera order, random points, splits)
    log_interval: int = 10  # write training scalars to TensorBoard every this many iterations
    tb_images: int = 3  # number of test views logged as render | ground truth images at each test iteration
    quiet: bool = False  # no progress bar


SHORT_FLAGS = {
    "source_path": ("-s",),
    "model_path": ("-m",),
    "resolution": ("-r",),
    "white_background": ("-w",),
    "output": ("-o",),
}

CHOICES = {
    "backend": ("auto", "gsplat", "torch"),
}


def _field_comments(cls: type) -> dict[str, str]:
    """``{field name: trailing comment}`` read from the class source (the ``--help`` texts)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    line_name: dict[int, str] = {}
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.NAME and tok.string in names and i + 1 < len(tokens):
            nxt = tokens[i + 1]
            # "name: type = default" at the start of a logical line
            prev = tokens[i - 1] if i > 0 else None
            if nxt.string == ":" and (prev is None or prev.type in (tokenize.INDENT, tokenize.NEWLINE, tokenize.NL, tokenize.DEDENT)):
                line_name[tok.start[0]] = tok.string
        elif tok.type == tokenize.COMMENT and tok.start[0] in line_name:
            comments[line_name[tok.start[0]]] = tok.string.lstrip("#").strip()
    return comments


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return tp, False


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, title: Optional[str] = None,
                       exclude: Sequence[str] = ()) -> None:
    """Add one flag per field of dataclass ``cls`` to ``parser`` (help = the field's comment), except
    the fields named in ``exclude`` (they keep their dataclass defaults in :func:`extract`).

    bool fields: ``--x`` (store_true) when the default is False, ``--x/--no-x`` when True;
    ``list[int]`` fields take one or more values (``--test_iterations 100 500``) or none.
    Flag defaults are ``argparse.SUPPRESS`` so :func:`extract` can tell which flags were given.
    """
    group = parser.add_argument_group(title or cls.__name__)
    hints = typing.get_type_hints(cls)
    helps = _field_comments(cls)
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        flags = (*SHORT_FLAGS.get(f.name, ()), f"--{f.name}")
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        help_text = f"{helps.get(f.name, '')} [default: {default}]"
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if tp is bool:
            if default:
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["action"] = "store_true"
        elif typing.get_origin(tp) is list:
            (item,) = typing.get_args(tp)
            kwargs.update(type=item, nargs="*")
        else:
            kwargs["type"] = tp
            if f.name in CHOICES:
                kwargs["choices"] = CHOICES[f.name]
            if optional:
                kwargs["metavar"] = tp.__name__.upper()
        group.add_argument(*flags, **kwargs)


def build_parser(groups: Sequence[type], description: str = "") -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with one argument group per dataclass in ``groups``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for cls in groups:
        add_dataclass_args(parser, cls)
    return parser


def extract(ns: argparse.Namespace, cls: type, base: Any = None) -> Any:
    """Instance of dataclass ``cls`` from the parsed flags; fields not given keep ``base``'s value
    (or the dataclass default when ``base`` is None)."""
    obj = base if base is not None else cls()
    given = {f.name: getattr(ns, f.name) for f in dataclasses.fields(cls) if hasattr(ns, f.name)}
    return dataclasses.replace(obj, **given)


def given_flags(ns: argparse.Namespace) -> set[str]:
    """Names of the fields set explicitly on the command line."""
    return set(vars(ns))


def config_to_json(configs: dict[str, Any]) -> dict[str, Any]:
    """``{"version": 1, group: {field: value}}`` for the ``cfg_args.json`` file."""
    out: dict[str, Any] = {"version": CFG_JSON_VERSION}
    for name, cfg in configs.items():
        out[name] = dataclasses.asdict(cfg)
    return out


def config_to_namespace_repr(configs: dict[str, Any]) -> str:
    """3DGS's ``cfg_args`` text: ``Namespace(field=value, ...)`` over all groups (flat)."""
    flat: dict[str, Any] = {}
    for cfg in configs.values():
        flat.update(dataclasses.asdict(cfg))
    return repr(argparse.Namespace(**flat))


def write_config(out_dir: str, configs: dict[str, Any]) -> None:
    """Write ``cfg_args`` and ``cfg_args.json`` into ``out_dir`` (each atomically)."""
    os.makedirs(out_dir, exist_ok=True)
    payloads = {
        "cfg_args": config_to_namespace_repr(configs),
        "cfg_args.json": json.dumps(config_to_json(configs), indent=2, sort_keys=False) + "\n",
    }
    for name, text in payloads.items():
        write_text_atomic(os.path.join(out_dir, name), text)


def read_config_json(model_path: str) -> dict[str, Any]:
    """Parsed ``<model_path>/cfg_args.json``; ``FileNotFoundError``/``ValueError`` when absent or bad."""
    path = os.path.join(model_path, "cfg_args.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: is {model_path!r} the output folder of a train.py run?")
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not readable JSON ({exc}); delete it or pick another -m") from exc
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ValueError(f"{path} has no 'model' section; it was not written by this train.py")
    return data


def group_from_json(cls: type, section: Optional[dict[str, Any]]) -> Any:
    """Dataclass ``cls`` from a ``cfg_args.json`` section; unknown keys are ignored, missing keep defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in (section or {}).items() if k in names}
    return cls(**values)
