"""Weight-only quantized Linear / Conv2d / ConvTranspose2d with real integer storage.

Each module keeps its weight W only as integer codes plus their parameters, and rebuilds the
float weight on the fly in ``forward`` (``Ŵ = scale · (codes − zero_point)`` via
``quant.core.dequantize``); activations stay in floating point, the bias stays float32.
All parameter choices and rounding are done by ``quant`` (``quant.granularity.choose_qparams``,
``quant.granularity.quantize_with``); packing of sub-byte codes is ``quant.packing.pack_codes``.

The weight is viewed as a matrix ``W2 [R, K]``: R = ``weight.shape[0]``, K = the product of the
remaining dims (Linear ``[out, in]``; Conv2d ``[out, in/groups·kh·kw]`` — one row per output
channel; ConvTranspose2d ``[in, out/groups·kh·kw]`` — one row per *input* channel, because that
is the leading dim of its weight; a weight-only scheme needs no particular axis).

| scheme (``WeightQuantSpec``) | scale / zero point | buffers (state-dict names) |
|---|---|---|
| per-row, b = 8, symmetric | one per row, ``scale [R]`` float32 | ``qweight [R,K] int8`` (codes −127…127) |
| per-row, b = 8, asymmetric | one per row, ``scale [R]`` float32, ``zero_point [R]`` uint8 | ``qweight [R,K] uint8`` (codes 0…255) |
| groups of G along K, b ∈ {2, 4} | ``scale [R, ⌈K/G⌉]`` float32 (+ ``zero_point`` uint8 if asymmetric) | ``qweight [⌈R·K·b/8⌉] uint8``: row-major codes packed by ``quant.packing`` (b = 4: two per byte, first code in the low nibble; symmetric codes as two's complement) |
| groups, b = 8 | as above | ``qweight [R,K]`` int8 / uint8 |

Ragged groups: when G does not divide K, the last group of each row holds K mod G weights and
its parameters come from those weights only (``quant.granularity`` rule); no padding is stored.

Storage bytes of a layer = qweight + scale + zero_point bytes (``storage_bytes()``), the bias
not included (it is float32 in both the original and the quantized model).

``weight`` is a read-only property returning the dequantized float weight, so code that reads
``module.weight`` (e.g. ``nn.MultiheadAttention`` reading ``out_proj.weight``) keeps working.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from quant.core import dequantize
from quant.granularity import QParams, choose_qparams, quantize_with
from quant.packing import TORCH_UNPACK_BITS, pack_codes, packed_nbytes, unpack_codes_torch

__all__ = [
    "WeightQuantSpec",
    "QuantizedWeightModule",
    "QuantizedLinear",
    "QuantizedConv2d",
    "QuantizedConvTranspose2d",
    "QUANTIZED_MODULE_TYPES",
    "unpack_codes_torch",
    "quantized_module_from_float",
    "empty_quantized_like",
    "quantized_module_from_spec",
]

#: Sub-byte widths that ``forward`` can unpack with tensor ops on any device (k codes per byte).
PACKED_BITS = TORCH_UNPACK_BITS


@dataclasses.dataclass(frozen=True)
class WeightQuantSpec:
    """How a weight is quantized.

    bits: code width (8 for per-row schemes; 2, 4 or 8 for groups).
    mapping: "symmetric" (scale = max|w|/(2^(b−1) − 1), zero point 0) or "asymmetric"
        (VanillaQuan min/max envelope with an integer zero point) — formulas in ``quant.core``.
    granularity: "axis" (one pair per row of W2) or "group" (groups of ``group_size`` along K).
    """

    bits: int = 8
    mapping: str = "symmetric"
    granularity: str = "axis"
    group_size: int = 128

    def __post_init__(self) -> None:
        if self.mapping not in ("symmetric", "asymmetric"):
            raise ValueError(f"mapping={self.mapping!r}; use 'symmetric' or 'asymmetric'")
        if self.granularity not in ("axis", "group"):
            raise ValueError(f"granularity={self.granularity!r}; use 'axis' (per row) or 'group'")
        allowed = (8,) if self.granularity == "axis" else PACKED_BITS + (8,)
        if self.bits not in allowed:
            raise ValueError(f"bits={self.bits} is not supported for granularity "
                             f"{self.granularity!r}; use one of {allowed}")
        if self.granularity == "group" and (int(self.group_size) != self.group_size or self.group_size < 1):
            raise ValueError(f"group_size={self.group_size} must be a positive integer")

    @property
    def packed(self) -> bool:
        """True when the codes are stored packed (b < 8)."""
        return self.bits < 8

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


class QuantizedWeightModule(nn.Module):
    """Base: integer weight storage, parameters, on-the-fly dequantization (module docstring).

    Subclasses define ``forward`` and the layer hyper-parameters (``layer_kwargs``).
    """

    #: the float module type this replaces
    float_type: type = nn.Module

    def __init__(self, weight_shape: Tuple[int, ...], spec: WeightQuantSpec, has_bias: bool,
                 device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.weight_shape = tuple(int(s) for s in weight_shape)
        self.spec = spec
        rows = self.weight_shape[0]
        k = math.prod(self.weight_shape[1:]) if len(self.weight_shape) > 1 else 1
        self.rows, self.cols = int(rows), int(k)
        signed = spec.mapping == "symmetric"
        if spec.packed:
            q = torch.zeros(packed_nbytes(rows * k, spec.bits), dtype=torch.uint8, device=device)
        else:
            q = torch.zeros(rows, k, dtype=torch.int8 if signed else torch.uint8, device=device)
        self.register_buffer("qweight", q)
        pshape = (rows,) if spec.granularity == "axis" else (rows, -(-k // spec.group_size))
        self.register_buffer("scale", torch.ones(pshape, dtype=torch.float32, device=device))
        if spec.mapping == "asymmetric":
            self.register_buffer("zero_point", torch.zeros(pshape, dtype=torch.uint8, device=device))
        else:
            self.zero_point = None
        if has_bias:
            self.bias = nn.Parameter(torch.zeros(self._bias_len(), dtype=torch.float32, device=device),
                                     requires_grad=False)
        else:
            self.register_parameter("bias", None)

    # --------------------------------------------------------------- construction
    def _bias_len(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def load_from_float_weight(self, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> QParams:
        """Quantize ``weight`` (shape ``weight_shape``) into this module's buffers; returns the QParams.

        Parameters are chosen by ``quant.granularity.choose_qparams`` on W2 (per row: axis 0; groups:
        along K) and codes by ``quant.granularity.quantize_with`` — in float32 on ``weight``'s device.
        """
        if tuple(weight.shape) != self.weight_shape:
            raise ValueError(f"weight shape {tuple(weight.shape)} does not match {self.weight_shape}")
        w2 = weight.detach().to(torch.float32).reshape(self.rows, self.cols)
        spec = self.spec
        qp = choose_qparams(w2, spec.bits, spec.mapping, granularity=spec.granularity, axis=0,
                            group_size=spec.group_size)
        codes = quantize_with(w2, qp)
        dev = self.scale.device
        if spec.packed:
            packed = pack_codes(codes.to(torch.int8), spec.bits, signed=spec.mapping == "symmetric")
            self.qweight = torch.from_numpy(packed).to(dev)
        else:
            self.qweight = codes.to(self.qweight.dtype).to(dev)
        self.scale = qp.scale.to(torch.float32).reshape(self.scale.shape).to(dev).contiguous()
        if self.zero_point is not None:
            self.zero_point = qp.zero_point.to(torch.uint8).reshape(self.scale.shape).to(dev).contiguous()
        if bias is not None:
            if self.bias is None:
                raise ValueError("this quantized module was built without a bias")
            self.bias = nn.Parameter(bias.detach().to(torch.float32).clone().to(dev), requires_grad=False)
        return qp

    # --------------------------------------------------------------- dequantization
    def codes(self) -> torch.Tensor:
        """The integer codes as ``[R, K]`` (int8 / uint8)."""
        if self.spec.packed:
            u = unpack_codes_torch(self.qweight, self.spec.bits, self.rows * self.cols,
                                   signed=self.spec.mapping == "symmetric")
            return u.reshape(self.rows, self.cols)
        return self.qweight

    def dequantize_weight(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Ŵ = scale · (codes − zero_point) with ``quant.core.dequantize``, shaped ``weight_shape``.

        Groups: codes ``[R, K]`` are viewed as ``[R, ⌈K/G⌉, G]`` (the ragged tail padded with code 0,
        which is then cut off again) so the per-group parameters broadcast without being repeated.
        """
        codes = self.codes()
        zp = self.zero_point
        if self.spec.granularity == "axis":
            w2 = dequantize(codes, self.scale.unsqueeze(1), None if zp is None else zp.unsqueeze(1).to(torch.float32))
        else:
            g = self.spec.group_size
            n_groups = self.scale.shape[1]
            pad = n_groups * g - self.cols
            if pad:
                codes = F.pad(codes, (0, pad))
            c3 = codes.reshape(self.rows, n_groups, g)
            w3 = dequantize(c3, self.scale.unsqueeze(2),
                            None if zp is None else zp.unsqueeze(2).to(torch.float32))
            w2 = w3.reshape(self.rows, n_groups * g)[:, : self.cols]
        w = w2.reshape(self.weight_shape)
        return w if w.dtype == dtype else w.to(dtype)

    @property
    def weight(self) -> torch.Tensor:
        """The dequantized weight (float32, recomputed on every access)."""
        return self.dequantize_weight()

    def qparams(self) -> QParams:
        """The stored parameters as a ``quant.granularity.QParams`` for W2 ``[R, K]``."""
        zp = (torch.zeros_like(self.scale) if self.zero_point is None
              else self.zero_point.to(torch.float32))
        return QParams(self.scale, zp, self.spec.bits, self.spec.mapping, self.spec.granularity,
                       (self.rows, self.cols), 0, self.spec.group_size, None)

    def _bias_for(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        if self.bias is None:
            return None
        return self.bias if self.bias.dtype == x.dtype else self.bias.to(x.dtype)

    # --------------------------------------------------------------- bookkeeping
    def storage_bytes(self) -> int:
        """Bytes of the quantized weight: codes + scales + zero points (bias excluded)."""
        n = self.qweight.numel() * self.qweight.element_size() + self.scale.numel() * self.scale.element_size()
        if self.zero_point is not None:
            n += self.zero_point.numel() * self.zero_point.element_size()
        return int(n)

    def fp32_weight_bytes(self) -> int:
        """Bytes of the same weight in float32."""
        return 4 * self.rows * self.cols

    def layer_kwargs(self) -> Dict[str, Any]:  # pragma: no cover - overridden
        return {}

    def describe(self) -> Dict[str, Any]:
        """JSON-able description used by ``save_quantized`` to rebuild the module."""
        return {"type": type(self).__name__, "weight_shape": list(self.weight_shape),
                "has_bias": self.bias is not None, "spec": self.spec.to_dict(),
                "layer": self.layer_kwargs()}

    def extra_repr(self) -> str:
        s = self.spec
        grp = f", group_size={s.group_size}" if s.granularity == "group" else ""
        return (f"weight_shape={self.weight_shape}, bits={s.bits}, {s.mapping}, {s.granularity}{grp}, "
                f"bias={self.bias is not None}, {self.layer_kwargs()}")


class QuantizedLinear(QuantizedWeightModule):
    """Drop-in replacement of ``nn.Linear``: y = x Ŵᵀ + b with Ŵ dequantized on the fly.

    x [..., in_features] → y [..., out_features].
    """

    float_type = nn.Linear

    def __init__(self, in_features: int, out_features: int, spec: WeightQuantSpec, bias: bool = True,
                 device: Optional[torch.device] = None) -> None:
        self.in_features, self.out_features = int(in_features), int(out_features)
        super().__init__((out_features, in_features), spec, bias, device)

    def _bias_len(self) -> int:
        return self.out_features

    @classmethod
    def from_float(cls, module: nn.Linear, spec: WeightQuantSpec) -> "QuantizedLinear":
        q = cls(module.in_features, module.out_features, spec, module.bias is not None,
                device=module.weight.device)
        q.load_from_float_weight(module.weight, module.bias)
        return q

    def layer_kwargs(self) -> Dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.dequantize_weight(x.dtype if x.is_floating_point() else torch.float32),
                        self._bias_for(x))


def _pair(v) -> Tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))


class QuantizedConv2d(QuantizedWeightModule):
    """Replacement of ``nn.Conv2d`` (padding_mode "zeros"): ``F.conv2d`` with Ŵ dequantized on the fly.

    Weight [out, in/groups, kh, kw]; rows of W2 are output channels.
    """

    float_type = nn.Conv2d

    def __init__(self, in_channels: int, out_channels: int, kernel_size, spec: WeightQuantSpec,
                 stride=1, padding=0, dilation=1, groups: int = 1, bias: bool = True,
                 device: Optional[torch.device] = None) -> None:
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.dilation = _pair(kernel_size), _pair(stride), _pair(dilation)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.groups = int(groups)
        shape = (out_channels, in_channels // groups) + self.kernel_size
        super().__init__(shape, spec, bias, device)

    def _bias_len(self) -> int:
        return self.out_channels

    @classmethod
    def from_float(cls, module: nn.Conv2d, spec: WeightQuantSpec) -> "QuantizedConv2d":
        if module.padding_mode != "zeros":
            raise ValueError(f"QuantizedConv2d supports padding_mode 'zeros', got {module.padding_mode!r}")
        q = cls(module.in_channels, module.out_channels, module.kernel_size, spec, module.stride,
                module.padding, module.dilation, module.groups, module.bias is not None,
                device=module.weight.device)
        q.load_from_float_weight(module.weight, module.bias)
        return q

    def layer_kwargs(self) -> Dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
                "dilation": list(self.dilation), "groups": self.groups}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padding = self.padding if isinstance(self.padding, str) else tuple(self.padding)
        return F.conv2d(x, self.dequantize_weight(x.dtype), self._bias_for(x), tuple(self.stride),
                        padding, tuple(self.dilation), self.groups)


class QuantizedConvTranspose2d(QuantizedWeightModule):
    """Replacement of ``nn.ConvTranspose2d`` (padding_mode "zeros", no ``output_size`` argument).

    Weight [in, out/groups, kh, kw]; rows of W2 are input channels.
    """

    float_type = nn.ConvTranspose2d

    def __init__(self, in_channels: int, out_channels: int, kernel_size, spec: WeightQuantSpec,
                 stride=1, padding=0, output_padding=0, groups: int = 1, bias: bool = True,
                 dilation=1, device: Optional[torch.device] = None) -> None:
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        self.output_padding, self.dilation = _pair(output_padding), _pair(dilation)
        self.groups = int(groups)
        shape = (in_channels, out_channels // groups) + self.kernel_size
        super().__init__(shape, spec, bias, device)

    def _bias_len(self) -> int:
        return self.out_channels

    @classmethod
    def from_float(cls, module: nn.ConvTranspose2d, spec: WeightQuantSpec) -> "QuantizedConvTranspose2d":
        if module.padding_mode != "zeros":
            raise ValueError(f"QuantizedConvTranspose2d supports padding_mode 'zeros', got {module.padding_mode!r}")
        q = cls(module.in_channels, module.out_channels, module.kernel_size, spec, module.stride,
                module.padding, module.output_padding, module.groups, module.bias is not None,
                module.dilation, device=module.weight.device)
        q.load_from_float_weight(module.weight, module.bias)
        return q

    def layer_kwargs(self) -> Dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "output_padding": list(self.output_padding),
                "groups": self.groups, "dilation": list(self.dilation)}

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if output_size is not None:
            raise ValueError("QuantizedConvTranspose2d does not support output_size; set output_padding instead")
        return F.conv_transpose2d(x, self.dequantize_weight(x.dtype), self._bias_for(x), tuple(self.stride),
                                  tuple(self.padding), tuple(self.output_padding), self.groups,
                                  tuple(self.dilation))


QUANTIZED_MODULE_TYPES = {
    "QuantizedLinear": QuantizedLinear,
    "QuantizedConv2d": QuantizedConv2d,
    "QuantizedConvTranspose2d": QuantizedConvTranspose2d,
}

_FLOAT_TO_QUANT = ((nn.ConvTranspose2d, QuantizedConvTranspose2d), (nn.Conv2d, QuantizedConv2d),
                   (nn.Linear, QuantizedLinear))


def quantized_module_from_float(module: nn.Module, spec: WeightQuantSpec) -> QuantizedWeightModule:
    """Quantize a float ``nn.Linear`` / ``nn.Conv2d`` / ``nn.ConvTranspose2d`` into its quantized twin."""
    for ftype, qtype in _FLOAT_TO_QUANT:
        if isinstance(module, ftype):
            return qtype.from_float(module, spec)
    raise ValueError(f"cannot quantize a {type(module).__name__}; supported: Linear, Conv2d, ConvTranspose2d")


def empty_quantized_like(module: nn.Module, spec: WeightQuantSpec,
                         device: Optional[torch.device] = None) -> QuantizedWeightModule:
    """A quantized twin of ``module`` with empty buffers of the final shapes/dtypes (no quantization).

    With ``device="meta"`` it allocates nothing: ``storage_bytes()`` then gives the exact bytes the
    layer will take, which is how sizes of VGGT-1B are planned without 5 GB of weights.
    """
    if isinstance(module, nn.ConvTranspose2d):
        return QuantizedConvTranspose2d(module.in_channels, module.out_channels, module.kernel_size, spec,
                                        module.stride, module.padding, module.output_padding, module.groups,
                                        module.bias is not None, module.dilation, device)
    if isinstance(module, nn.Conv2d):
        return QuantizedConv2d(module.in_channels, module.out_channels, module.kernel_size, spec, module.stride,
                               module.padding, module.dilation, module.groups, module.bias is not None, device)
    if isinstance(module, nn.Linear):
        return QuantizedLinear(module.in_features, module.out_features, spec, module.bias is not None, device)
    raise ValueError(f"cannot quantize a {type(module).__name__}; supported: Linear, Conv2d, ConvTranspose2d")


def quantized_module_from_spec(desc: Dict[str, Any], device: Optional[torch.device] = None) -> QuantizedWeightModule:
    """An empty quantized module (buffers of the right shapes/dtypes) from ``describe()`` output."""
    tname = desc.get("type")
    if tname not in QUANTIZED_MODULE_TYPES:
        raise ValueError(f"unknown quantized module type {tname!r}; expected one of {sorted(QUANTIZED_MODULE_TYPES)}")
    spec = WeightQuantSpec(**desc["spec"])
    kw = dict(desc["layer"])
    has_bias = bool(desc["has_bias"])
    if tname == "QuantizedLinear":
        m = QuantizedLinear(kw["in_features"], kw["out_features"], spec, has_bias, device)
    elif tname == "QuantizedConv2d":
        m = QuantizedConv2d(kw["in_channels"], kw["out_channels"], tuple(kw["kernel_size"]), spec,
                            tuple(kw["stride"]), kw["padding"] if isinstance(kw["padding"], str)
                            else tuple(kw["padding"]), tuple(kw["dilation"]), kw["groups"], has_bias, device)
    else:
        m = QuantizedConvTranspose2d(kw["in_channels"], kw["out_channels"], tuple(kw["kernel_size"]), spec,
                                     tuple(kw["stride"]), tuple(kw["padding"]), tuple(kw["output_padding"]),
                                     kw["groups"], has_bias, tuple(kw["dilation"]), device)
    if list(m.weight_shape) != list(desc["weight_shape"]):
        raise ValueError(f"rebuilt {tname} has weight shape {m.weight_shape}, file says {desc['weight_shape']}")
    return m
