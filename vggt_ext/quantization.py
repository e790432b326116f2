"""Weight-only quantization of VGGT (and any ``nn.Module``): ``quantize_model_advanced``.

Names follow the user's notes: ``AdvancedQuantConfig``, ``quantize_model_advanced``,
``SymmetricQuantizer``, ``AsymmetricQuantizer``, ``GroupWiseQuantizer``. Every scale, zero point
and rounding comes from ``quant`` (``quant.core`` formulas through ``quant.granularity``); this
module only selects layers, swaps modules and keeps the books.

Methods (``AdvancedQuantConfig.quant_type``):

| quant_type | weights | parameters | storage per weight |
|---|---|---|---|
| ``int8_symmetric`` | Linear + Conv | per row (output channel) scale = max|w|/127 | int8 + 4 B per row |
| ``int8_asymmetric`` | Linear + Conv | per row min/max (VanillaQuan formula), integer zero point | uint8 + 5 B per row |
| ``int4_group`` | Linear + Conv | groups of ``group_size`` (128) along the input dim, symmetric max|w|/7 by default | 4 bit packed two per byte + 4 B (+1 B zero point if asymmetric) per group |
| ``pytorch_dynamic`` | Linear only | ``torch.ao.quantization.quantize_dynamic``, qint8 per-channel weights, activations quantized dynamically at run time (CPU only) | torch packed int8 |

Decisions (documented defaults of ``AdvancedQuantConfig``):

- **Weight-only**: activations stay float; the float weight is rebuilt on the fly in ``forward``
  (``vggt_ext.quantized_linear``). The win is storage / memory, not speed on CPU.
- **Conv layers are quantized too** (``quantize_conv=True``): the two DPT heads and the track
  feature extractor hold 88.7 M conv weights (7 % of VGGT-1B); left in float32 they alone cap
  the whole-model int8 ratio near 3.2×. A conv weight is treated as a matrix
  [rows, in·kh·kw] (see ``vggt_ext.quantized_linear``).
- **Default coverage** = every ``nn.Linear``, ``nn.Conv2d`` and ``nn.ConvTranspose2d`` of the
  aggregator (DINO patch-embed blocks, frame/global blocks) and of all heads, **except**
  (``DEFAULT_EXCLUDE``): the patch-embedding conv (first layer, sees raw pixels; 0.6 M weights),
  the camera head's ``embed_pose`` (Linear(9, 2048): 9 inputs, it embeds raw pose numbers) and
  ``pose_branch.fc2`` (Linear(1024, 9): the final pose regression), and the DPT ``output_conv2``
  convs (the last layers emitting depth / points / confidence) — small, and the outputs are most
  sensitive there. Layers with fewer than ``min_numel`` (4,096) weight elements stay float32 (the
  scales would eat most of the gain). ``nn.MultiheadAttention``'s packed ``in_proj_weight`` is
  a bare parameter, not a Linear, and stays float32 (track head only); its ``out_proj`` is
  quantized (``QuantizedLinear.weight`` serves MHA's direct weight access).
- **Ragged groups** (``int4_group``): when ``group_size`` does not divide a layer's input size,
  the last group of each row is shorter and gets its own scale from its own weights
  (``quant.granularity`` rule); nothing falls back to another scheme. Layers with an input
  smaller than one group get one (short) group per row.
- Biases, norms, tokens and positional embeddings stay float32.
"""
from __future__ import annotations

import copy
import dataclasses
import fnmatch
import logging
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from quant.granularity import QParams, choose_qparams, dequantize_with, quantize_with

from .quantized_linear import (QuantizedWeightModule, WeightQuantSpec, empty_quantized_like,
                               quantized_module_from_float)

__all__ = [
    "QUANT_TYPES",
    "DEFAULT_EXCLUDE",
    "AdvancedQuantConfig",
    "QuantReport",
    "SymmetricQuantizer",
    "AsymmetricQuantizer",
    "GroupWiseQuantizer",
    "quantize_model_advanced",
    "select_layers",
    "state_dict_bytes",
    "dynamic_quantization_available",
    "is_dynamic_quantized_linear",
    "plan_quantization",
]

logger = logging.getLogger(__name__)

QUANT_TYPES = ("int8_symmetric", "int8_asymmetric", "int4_group", "pytorch_dynamic")

#: Module-name patterns (fnmatch, on ``model.named_modules()`` names) kept in float32 by default.
DEFAULT_EXCLUDE: Tuple[str, ...] = (
    "*patch_embed.proj",      # first layer: 14×14 patch conv on raw pixels (0.6 M weights in 1B)
    "*embed_pose",            # camera head: Linear(9, 2E), embeds raw pose numbers
    "*pose_branch.fc2",       # camera head: Linear(E, 9), final pose regression
    "*output_conv2.*",        # DPT heads: last convs emitting depth / points / confidence
)

_DEFAULT_BITS = {"int8_symmetric": 8, "int8_asymmetric": 8, "int4_group": 4, "pytorch_dynamic": 8}


@dataclasses.dataclass
class AdvancedQuantConfig:
    """What to quantize and how (module docstring has the table and the default coverage).

    Fields:
        quant_type: "int8_symmetric" | "int8_asymmetric" | "int4_group" | "pytorch_dynamic".
        bits: code width; None = the type's default (8, 8, 4, 8). int8_* and pytorch_dynamic
            need 8; int4_group accepts 2, 4 or 8.
        group_size: weights per group along the input dim (int4_group only).
        group_mapping: "symmetric" (user's GroupWiseQuantizer: scale = max|w|/(2^(b−1) − 1)) or
            "asymmetric" (min/max with a uint8 zero point per group) — int4_group only.
        include: fnmatch patterns on module names; a layer must match one ("*" = all).
        exclude: fnmatch patterns; a matching layer stays float32 (``DEFAULT_EXCLUDE``).
        quantize_conv: also quantize Conv2d / ConvTranspose2d (not for pytorch_dynamic, which
            only handles Linear).
        min_numel: layers whose weight has fewer elements stay float32.
    """

    quant_type: str = "int8_symmetric"
    bits: Optional[int] = None
    group_size: int = 128
    group_mapping: str = "symmetric"
    include: Sequence[str] = ("*",)
    exclude: Sequence[str] = DEFAULT_EXCLUDE
    quantize_conv: bool = True
    min_numel: int = 4096

    def __post_init__(self) -> None:
        if self.quant_type not in QUANT_TYPES:
            raise ValueError(f"quant_type={self.quant_type!r} is unknown; use one of {QUANT_TYPES}")
        if self.bits is None:
            self.bits = _DEFAULT_BITS[self.quant_type]
        if isinstance(self.bits, bool) or int(self.bits) != self.bits:
            raise ValueError(f"bits={self.bits!r} must be an integer")
        self.bits = int(self.bits)
        if self.quant_type != "int4_group" and self.bits != 8:
            raise ValueError(f"{self.quant_type} stores 8-bit codes; got bits={self.bits} "
                             "(use quant_type='int4_group' for fewer bits)")
        if self.quant_type == "int4_group" and self.bits not in (2, 4, 8):
            raise ValueError(f"int4_group supports bits 2, 4 or 8 (whole codes per byte); got {self.bits}")
        if isinstance(self.group_size, bool) or int(self.group_size) != self.group_size or self.group_size < 1:
            raise ValueError(f"group_size={self.group_size!r} must be a positive integer (e.g. 128 or 64)")
        self.group_size = int(self.group_size)
        if self.group_mapping not in ("symmetric", "asymmetric"):
            raise ValueError(f"group_mapping={self.group_mapping!r}; use 'symmetric' or 'asymmetric'")
        if isinstance(self.include, str) or isinstance(self.exclude, str):
            raise ValueError("include / exclude must be sequences of patterns, e.g. ('aggregator.*',)")
        self.include = tuple(self.include)
        self.exclude = tuple(self.exclude)
        if self.min_numel < 0:
            raise ValueError(f"min_numel={self.min_numel} must be >= 0")

    def weight_spec(self) -> Optional[WeightQuantSpec]:
        """The ``WeightQuantSpec`` of this config (None for pytorch_dynamic)."""
        if self.quant_type == "int8_symmetric":
            return WeightQuantSpec(8, "symmetric", "axis")
        if self.quant_type == "int8_asymmetric":
            return WeightQuantSpec(8, "asymmetric", "axis")
        if self.quant_type == "int4_group":
            return WeightQuantSpec(self.bits, self.group_mapping, "group", self.group_size)
        return None

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["include"], d["exclude"] = list(self.include), list(self.exclude)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "AdvancedQuantConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ----------------------------------------------------------------------------- thin quantizers
class SymmetricQuantizer:
    """INT-b symmetric quantizer (user's notes): Q = round(x/scale), scale = max|x|/(2^(b−1) − 1).

    Per tensor, or per index along ``axis`` (``per_channel=True``: per output channel of a weight).
    A thin name over ``quant.granularity.choose_qparams(..., mapping="symmetric")``.
    """

    def __init__(self, bits: int = 8, per_channel: bool = True, axis: int = 0):
        self.bits, self.per_channel, self.axis = int(bits), bool(per_channel), int(axis)

    def qparams(self, tensor: torch.Tensor) -> QParams:
        return choose_qparams(tensor, self.bits, "symmetric",
                              granularity="axis" if self.per_channel else "tensor", axis=self.axis)

    def quantize_tensor(self, tensor: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """→ (codes int8 (int16 above 8 bits), scale: [] or [tensor.shape[axis]])."""
        qp = self.qparams(tensor)
        return quantize_with(tensor, qp, dtype=torch.int8 if self.bits <= 8 else torch.int16), qp.scale

    def dequantize_tensor(self, codes: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """x̂ = scale·codes (``quant.granularity.dequantize_with``)."""
        qp = QParams(scale, torch.zeros_like(scale), self.bits, "symmetric",
                     "axis" if self.per_channel else "tensor", tuple(codes.shape),
                     self.axis % max(codes.dim(), 1))
        return dequantize_with(codes, qp)


class AsymmetricQuantizer:
    """INT-b asymmetric quantizer (user's notes): min/max range with an integer zero point.

    Parameters by the VanillaQuan formula of ``quant.core.asymmetric_qparams`` (range forced to
    contain 0); codes q = clamp(round(zero_point + x/scale), 0, 2^b − 1).
    """

    def __init__(self, bits: int = 8, per_channel: bool = True, axis: int = 0):
        self.bits, self.per_channel, self.axis = int(bits), bool(per_channel), int(axis)

    def qparams(self, tensor: torch.Tensor) -> QParams:
        return choose_qparams(tensor, self.bits, "asymmetric",
                              granularity="axis" if self.per_channel else "tensor", axis=self.axis)

    def quantize_tensor(self, tensor: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """→ (codes uint8 (int32 above 8 bits), scale, zero_point)."""
        qp = self.qparams(tensor)
        codes = quantize_with(tensor, qp, dtype=torch.uint8 if self.bits <= 8 else torch.int32)
        return codes, qp.scale, qp.zero_point

    def dequantize_tensor(self, codes: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
        """x̂ = scale·(codes − zero_point)."""
        qp = QParams(scale, zero_point, self.bits, "asymmetric",
                     "axis" if self.per_channel else "tensor", tuple(codes.shape),
                     self.axis % max(codes.dim(), 1))
        return dequantize_with(codes, qp)


class GroupWiseQuantizer:
    """INT-b group-wise quantizer (user's notes): groups of ``group_size`` along the last axis,
    each with its own scale (symmetric, default) or scale + zero point (asymmetric).

    Ragged last group when ``group_size`` does not divide the last dim (``quant.granularity``).
    """

    def __init__(self, bits: int = 4, group_size: int = 128, mapping: str = "symmetric"):
        if mapping not in ("symmetric", "asymmetric"):
            raise ValueError(f"mapping={mapping!r}; use 'symmetric' or 'asymmetric'")
        self.bits, self.group_size, self.mapping = int(bits), int(group_size), mapping

    def qparams(self, tensor: torch.Tensor) -> QParams:
        return choose_qparams(tensor, self.bits, self.mapping, granularity="group",
                              group_size=self.group_size)

    def quantize_tensor(self, tensor: torch.Tensor):
        """→ (codes [..., K] int8/uint8, scales [..., ⌈K/G⌉]) for symmetric;
        (codes, scales, zero_points) for asymmetric."""
        qp = self.qparams(tensor)
        dt = torch.int8 if self.mapping == "symmetric" else torch.uint8
        codes = quantize_with(tensor, qp, dtype=dt if self.bits <= 8 else torch.int32)
        if self.mapping == "symmetric":
            return codes, qp.scale
        return codes, qp.scale, qp.zero_point

    def dequantize_tensor(self, codes: torch.Tensor, scales: torch.Tensor,
                          zero_points: Optional[torch.Tensor] = None) -> torch.Tensor:
        zp = torch.zeros_like(scales) if zero_points is None else zero_points
        qp = QParams(scales, zp, self.bits, self.mapping, "group", tuple(codes.shape),
                     codes.dim() - 1, self.group_size)
        return dequantize_with(codes, qp)


# ----------------------------------------------------------------------------- report
@dataclasses.dataclass
class QuantReport:
    """Per-layer and total bytes of one quantization (in-memory tensor bytes, not the file).

    ``layers``: one dict per quantized layer (name, type, weight_shape, fp32_bytes, quantized_bytes,
    ratio). ``skipped``: candidate layers left in float32 with the reason. Totals: bytes of the
    quantized layers' weights before/after, and of the whole model (parameters + buffers + packed
    weights) before/after. Bytes on disk come from ``vggt_ext.quantized_io.save_quantized``.
    """

    quant_type: str
    config: Dict[str, Any]
    layers: List[Dict[str, Any]]
    skipped: List[Dict[str, Any]]
    model_bytes_before: int
    model_bytes_after: int

    @property
    def quantized_layers_fp32_bytes(self) -> int:
        return int(sum(l["fp32_bytes"] for l in self.layers))

    @property
    def quantized_layers_bytes(self) -> int:
        return int(sum(l["quantized_bytes"] for l in self.layers))

    def to_dict(self) -> Dict[str, Any]:
        qf, qb = self.quantized_layers_fp32_bytes, self.quantized_layers_bytes
        return {
            "quant_type": self.quant_type, "config": self.config,
            "n_quantized_layers": len(self.layers), "n_skipped_layers": len(self.skipped),
            "quantized_layers_fp32_bytes": qf, "quantized_layers_bytes": qb,
            "quantized_layers_ratio": (qf / qb) if qb else None,
            "model_bytes_before": self.model_bytes_before, "model_bytes_after": self.model_bytes_after,
            "model_ratio_in_memory": (self.model_bytes_before / self.model_bytes_after)
            if self.model_bytes_after else None,
            "layers": self.layers, "skipped": self.skipped,
        }


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of the model's tensors in memory: parameters + buffers (each storage once), plus the
    packed int8 weights (+ per-channel float64 scales, int64 zero points, bias) of torch.ao
    dynamic-quantized Linear layers, which are neither parameters nor buffers."""
    seen = set()
    total = 0
    for t in list(model.parameters()) + list(model.buffers()):
        if t.device.type == "meta":
            total += t.numel() * t.element_size()
            continue
        key = (t.device, t.untyped_storage().data_ptr())
        if key in seen:
            continue
        seen.add(key)
        total += t.untyped_storage().nbytes()
    for m in model.modules():
        if is_dynamic_quantized_linear(m):
            total += _dynamic_layer_bytes(m)
            b = m._packed_params._weight_bias()[1]
            if b is not None:
                total += b.numel() * b.element_size()
    return int(total)


# ----------------------------------------------------------------------------- selection
def _candidate_kind(module: nn.Module, config: AdvancedQuantConfig) -> Optional[str]:
    if isinstance(module, QuantizedWeightModule):
        return None
    if isinstance(module, nn.Linear):
        return "Linear"
    if config.quant_type != "pytorch_dynamic" and isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        return type(module).__name__ if type(module) in (nn.Conv2d, nn.ConvTranspose2d) else "Conv"
    return None


def select_layers(model: nn.Module, config: AdvancedQuantConfig) -> Tuple[List[str], List[Dict[str, Any]]]:
    """Names of the layers ``config`` quantizes, and the skipped candidates with reasons.

    Candidates: Linear (and Conv2d / ConvTranspose2d unless pytorch_dynamic or
    ``quantize_conv=False``). A candidate is skipped when it matches no ``include`` pattern,
    matches an ``exclude`` pattern, has fewer than ``min_numel`` weight elements, or (conv) uses
    a padding mode other than "zeros".
    """
    chosen: List[str] = []
    skipped: List[Dict[str, Any]] = []
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)) and (
                config.quant_type == "pytorch_dynamic" or not config.quantize_conv):
            reason = ("pytorch_dynamic quantizes Linear layers only" if config.quant_type == "pytorch_dynamic"
                      else "quantize_conv=False")
            skipped.append({"name": name, "type": type(mod).__name__, "reason": reason,
                            "numel": int(mod.weight.numel())})
            continue
        kind = _candidate_kind(mod, config)
        if kind is None or not name:
            continue
        numel = int(mod.weight.numel())
        reason = None
        if not any(fnmatch.fnmatchcase(name, p) for p in config.include):
            reason = "not matched by include patterns"
        elif any(fnmatch.fnmatchcase(name, p) for p in config.exclude):
            pat = next(p for p in config.exclude if fnmatch.fnmatchcase(name, p))
            reason = f"excluded by pattern {pat!r}"
        elif numel < config.min_numel:
            reason = f"weight has {numel} < min_numel={config.min_numel} elements"
        elif kind != "Linear" and getattr(mod, "padding_mode", "zeros") != "zeros":
            reason = f"padding_mode {mod.padding_mode!r} is not supported"
        if reason:
            skipped.append({"name": name, "type": type(mod).__name__, "reason": reason, "numel": numel})
        else:
            chosen.append(name)
    return chosen, skipped


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def dynamic_quantization_available() -> Tuple[bool, str]:
    """Whether ``torch.ao.quantization.quantize_dynamic`` and a quantized CPU engine exist here."""
    try:
        from torch.ao.quantization import quantize_dynamic  # noqa: F401
    except Exception as exc:  # ImportError / AttributeError on builds without it
        return False, f"torch.ao.quantization.quantize_dynamic is not available in torch {torch.__version__}: {exc}"
    engines = [e for e in torch.backends.quantized.supported_engines if e != "none"]
    if not engines:
        return False, f"torch {torch.__version__} has no quantized CPU engine (fbgemm/x86/qnnpack)"
    return True, f"torch.ao.quantization.quantize_dynamic, engine {torch.backends.quantized.engine}"


def is_dynamic_quantized_linear(module: nn.Module) -> bool:
    """True for a torch.ao dynamic-quantized Linear (its packed weights sit in ``_packed_params``)."""
    packed = getattr(module, "_packed_params", None)
    return isinstance(packed, nn.Module) and hasattr(packed, "_weight_bias")


def _quantize_dynamic(model: nn.Module, names: List[str]) -> None:
    ok, why = dynamic_quantization_available()
    if not ok:
        raise RuntimeError(f"quant_type='pytorch_dynamic' needs {why}; use int8_symmetric, "
                           "int8_asymmetric or int4_group instead")
    devices = {p.device.type for p in model.parameters()}
    if devices - {"cpu"}:
        raise ValueError(f"quant_type='pytorch_dynamic' runs on CPU only, the model is on {sorted(devices)}; "
                         "move it with model.cpu() or pick another quant_type")
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {name: per_channel_dynamic_qconfig for name in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(model, qconfig_spec=spec, dtype=torch.qint8, inplace=True)


def _dynamic_layer_bytes(mod: nn.Module) -> int:
    w, b = mod._packed_params._weight_bias()
    n = w.int_repr().numel() * w.int_repr().element_size()
    if w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        n += w.q_per_channel_scales().numel() * 8 + w.q_per_channel_zero_points().numel() * 8
    else:
        n += 16
    return int(n)


def quantize_model_advanced(model: nn.Module, config: Optional[AdvancedQuantConfig] = None, *,
                            inplace: bool = False, return_report: bool = False
                            ) -> Union[nn.Module, Tuple[nn.Module, QuantReport]]:
    """Quantize the weights of ``model`` as ``config`` says (user's entry point).

    Args:
        model: any module (VGGT or a plain stack); put it in eval mode for inference.
        config: ``AdvancedQuantConfig`` (default int8_symmetric).
        inplace: modify ``model`` itself (saves a copy: VGGT-1B is 5 GB in float32); default
            False works on a deep copy and leaves ``model`` untouched.
        return_report: also return the ``QuantReport``.
    Returns:
        the quantized model (its ``quant_report`` attribute holds the report), or
        ``(model, report)`` with ``return_report=True``.
    Raises:
        ValueError for a bad config / device; RuntimeError when pytorch_dynamic's torch API is missing.
    """
    config = config or AdvancedQuantConfig()
    if not isinstance(config, AdvancedQuantConfig):
        raise ValueError(f"config must be an AdvancedQuantConfig, got {type(config).__name__}")
    if config.quant_type == "pytorch_dynamic":
        ok, why = dynamic_quantization_available()
        if not ok:
            raise RuntimeError(f"quant_type='pytorch_dynamic' needs {why}; use int8_symmetric, "
                               "int8_asymmetric or int4_group instead")
    target = model if inplace else copy.deepcopy(model)
    before = state_dict_bytes(target)
    names, skipped = select_layers(target, config)
    layers: List[Dict[str, Any]] = []
    if config.quant_type == "pytorch_dynamic":
        shapes = {n: (tuple(target.get_submodule(n).weight.shape),
                      target.get_submodule(n).weight.element_size()) for n in names}
        _quantize_dynamic(target, names)
        for n in names:
            mod = target.get_submodule(n)
            if not is_dynamic_quantized_linear(mod):
                skipped.append({"name": n, "type": type(mod).__name__,
                                "reason": "quantize_dynamic left it unchanged", "numel": 0})
                continue
            shape, esize = shapes[n]
            fp = int(torch.Size(shape).numel() * esize)
            qb = _dynamic_layer_bytes(mod)
            layers.append({"name": n, "type": "Linear", "weight_shape": list(shape),
                           "scheme": "torch.ao dynamic qint8 per-channel", "fp32_bytes": fp,
                           "quantized_bytes": qb, "ratio": fp / qb})
    else:
        spec = config.weight_spec()
        with torch.no_grad():
            for n in names:
                mod = target.get_submodule(n)
                esize = mod.weight.element_size()
                qmod = quantized_module_from_float(mod, spec)
                qmod.train(mod.training)
                _set_submodule(target, n, qmod)
                fp = int(mod.weight.numel() * esize)
                qb = qmod.storage_bytes()
                layers.append({"name": n, "type": type(mod).__name__, "weight_shape": list(qmod.weight_shape),
                               "scheme": f"{spec.bits}-bit {spec.mapping} {spec.granularity}"
                               + (f" G={spec.group_size}" if spec.granularity == "group" else ""),
                               "fp32_bytes": fp, "quantized_bytes": qb, "ratio": fp / qb})
                del mod
    after = state_dict_bytes(target)
    report = QuantReport(config.quant_type, config.to_dict(), layers, skipped, before, after)
    target.quant_report = report
    target.quant_config = config
    logger.info("%s: %d layers quantized, %d skipped; quantized layers %.1f MB → %.1f MB",
                config.quant_type, len(layers), len(skipped), report.quantized_layers_fp32_bytes / 1e6,
                report.quantized_layers_bytes / 1e6)
    return (target, report) if return_report else target


def plan_quantization(model: nn.Module, config: AdvancedQuantConfig) -> Dict[str, Any]:
    """Exact tensor bytes ``config`` would give ``model``, without quantizing (works on "meta").

    Builds empty quantized twins of the selected layers on the meta device and counts their
    buffers; every other tensor keeps its bytes. Not for pytorch_dynamic (torch's packed format).
    Returns ``{"n_quantized_layers", "quantized_layers_fp32_bytes", "quantized_layers_bytes",
    "quantized_layers_ratio", "model_bytes_before", "model_bytes_after", "model_ratio"}`` where
    model bytes are the state-dict tensor payload (= file size minus the small safetensors header).
    """
    if config.quant_type == "pytorch_dynamic":
        raise ValueError("plan_quantization does not model torch.ao's packed format; quantize for real")
    spec = config.weight_spec()
    names, _ = select_layers(model, config)
    before = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    fp = q = removed = 0
    for n in names:
        mod = model.get_submodule(n)
        twin = empty_quantized_like(mod, spec, device=torch.device("meta"))
        w = mod.weight.numel() * mod.weight.element_size()
        fp += w
        q += twin.storage_bytes()
        if mod.bias is not None and twin.bias is not None:  # bias becomes float32 (unchanged for fp32)
            removed += mod.bias.numel() * mod.bias.element_size() - twin.bias.numel() * 4
    after = before - fp + q - removed
    return {"n_quantized_layers": len(names), "quantized_layers_fp32_bytes": int(fp),
            "quantized_layers_bytes": int(q), "quantized_layers_ratio": fp / q if q else None,
            "model_bytes_before": int(before), "model_bytes_after": int(after),
            "model_ratio": before / after if after else None}
