"""Save / load quantized (or float) models so that the file size IS the model size.

``save_quantized(model, path)`` writes every tensor of ``model.state_dict()`` as it is held in
memory — int8 / uint8 codes, packed 4-bit bytes, float32 scales, uint8 zero points, the float
tensors that were not quantized — so ``os.path.getsize(path)`` is the real compressed size. The
same function saves the FP32 model, so compression ratios compare like with like.

File formats:

| model | file | layout |
|---|---|---|
| float or ``vggt_ext`` quantized (int8_*, int4_group) | ``*.safetensors`` | the safetensors format: u64 little-endian header length, JSON header (dtype, shape, byte offsets of each tensor; ``__metadata__``), raw little-endian tensor bytes. Written tensor by tensor (no second copy of a 5 GB model in memory), atomically (temp file + rename). Readable by ``safetensors.torch.load_file``. |
| ``pytorch_dynamic`` (torch.ao packed weights, which safetensors cannot hold) | ``*.pt`` | ``torch.save`` of ``{"__metadata__": {...}, "state_dict": ...}`` |

``__metadata__`` (all strings): ``format`` = "vggt_ext.quantized", ``format_version`` = "1",
``quant_type`` ("none" for a float model), ``config`` (JSON of ``AdvancedQuantConfig``),
``layers`` (JSON: module name → ``QuantizedWeightModule.describe()``, or the list of
dynamic-quantized Linear names).

``load_quantized(path, model)`` rebuilds the quantized modules inside ``model`` — an instance of
the same architecture (random or any weights, on CPU or the target device) — and loads the
tensors with strict key and shape checks.
"""
from __future__ import annotations

import json
import os
import warnings
from typing import Any, Dict, Optional

import torch
from torch import nn

from .quantization import AdvancedQuantConfig, _quantize_dynamic, _set_submodule, is_dynamic_quantized_linear
from .quantized_linear import QuantizedWeightModule, quantized_module_from_spec
from utils.files import atomic_target

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "save_quantized", "load_quantized", "read_metadata",
           "file_tensor_bytes"]

FORMAT_NAME = "vggt_ext.quantized"
FORMAT_VERSION = 1

_ST_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def _is_dynamic(model: nn.Module) -> bool:
    return any(is_dynamic_quantized_linear(m) for m in model.modules())


def _metadata(model: nn.Module) -> Dict[str, str]:
    cfg = getattr(model, "quant_config", None)
    layers: Any
    if _is_dynamic(model):
        quant_type = "pytorch_dynamic"
        layers = sorted(n for n, m in model.named_modules() if is_dynamic_quantized_linear(m))
    else:
        layers = {n: m.describe() for n, m in model.named_modules() if isinstance(m, QuantizedWeightModule)}
        quant_type = cfg.quant_type if (cfg is not None and layers) else ("custom" if layers else "none")
    return {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "quant_type": quant_type,
            "config": json.dumps(cfg.to_dict() if cfg is not None else None),
            "layers": json.dumps(layers)}


def _write_safetensors(tensors: Dict[str, torch.Tensor], path: str, metadata: Dict[str, str]) -> None:
    header: Dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    order = []
    for name, t in tensors.items():
        if t.dtype not in _ST_DTYPES:
            raise ValueError(f"tensor {name!r} has dtype {t.dtype}, which safetensors cannot store")
        n = t.numel() * t.element_size()
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        order.append(name)
        offset += n
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * (-len(hbytes) % 8)
    with atomic_target(path, suffix=".safetensors") as tmp:
        with open(tmp, "wb") as f:
            f.write(len(hbytes).to_bytes(8, "little"))
            f.write(hbytes)
            for name in order:
                t = tensors[name].detach()
                if t.numel() == 0:
                    continue
                t = t.to("cpu").contiguous()
                f.write(memoryview(t.reshape(-1).view(torch.uint8).numpy()))


def file_tensor_bytes(path: str) -> Dict[str, int]:
    """Bytes each tensor occupies in a safetensors file (from its header), name → bytes."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    return {k: v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__"}


def save_quantized(model: nn.Module, path: str) -> Dict[str, Any]:
    """Write ``model`` (quantized or float) to ``path``; return the byte report.

    ``.safetensors`` for float and ``vggt_ext``-quantized models; a dynamic-quantized model must go
    to a ``.pt`` path (torch.save), since its packed weights are not plain tensors.
    Returns ``{"path", "file_bytes" (os.path.getsize), "quant_type", "tensor_bytes" (sum of tensor
    payloads), "overhead_bytes" (header), "layers": {name: bytes of that module's tensors in the
    file}}`` — per quantized layer for a quantized model.
    """
    meta = _metadata(model)
    sd = model.state_dict()
    if _is_dynamic(model):
        if not path.endswith(".pt"):
            raise ValueError(f"a pytorch_dynamic model is saved with torch.save; give a .pt path, not {path!r}")
        with atomic_target(path, suffix=".pt") as tmp:
            torch.save({"__metadata__": meta, "state_dict": sd}, tmp)
        size = os.path.getsize(path)
        return {"path": path, "file_bytes": size, "quant_type": meta["quant_type"],
                "tensor_bytes": None, "overhead_bytes": None, "layers": {}}
    if not path.endswith(".safetensors"):
        raise ValueError(f"save_quantized writes safetensors; give a .safetensors path, not {path!r}")
    # one storage per key (state_dict can alias, e.g. tied weights); safetensors stores each key
    tensors = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    _write_safetensors(tensors, path, meta)
    size = os.path.getsize(path)
    per_tensor = {k: v.numel() * v.element_size() for k, v in tensors.items()}
    payload = sum(per_tensor.values())
    layer_names = list(json.loads(meta["layers"]).keys())
    layers = {n: sum(b for k, b in per_tensor.items() if k.startswith(n + ".")) for n in layer_names}
    return {"path": path, "file_bytes": size, "quant_type": meta["quant_type"], "tensor_bytes": payload,
            "overhead_bytes": size - payload, "layers": layers}


def read_metadata(path: str) -> Dict[str, Any]:
    """The parsed ``__metadata__`` of a file written by ``save_quantized``.

    Raises FileNotFoundError / ValueError (not a vggt_ext file, newer version, corrupt header).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"quantized model file not found: {path}")
    if path.endswith(".pt"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(obj, dict) or "__metadata__" not in obj:
            raise ValueError(f"{path} is not a vggt_ext quantized model file (no __metadata__)")
        meta = dict(obj["__metadata__"])
    else:
        try:
            with open(path, "rb") as f:
                n = int.from_bytes(f.read(8), "little")
                if n <= 0 or n > os.path.getsize(path) - 8:
                    raise ValueError("bad header length")
                header = json.loads(f.read(n))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not a readable safetensors file ({exc})") from None
        meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} was not written by vggt_ext.quantized_io.save_quantized "
                         f"(format {meta.get('format')!r})")
    version = int(meta.get("format_version", "0"))
    if version > FORMAT_VERSION:
        raise ValueError(f"{path} has format_version {version}, newer than this reader ({FORMAT_VERSION}); "
                         "update the code")
    return {"format_version": version, "quant_type": meta["quant_type"],
            "config": json.loads(meta.get("config") or "null"), "layers": json.loads(meta.get("layers") or "{}")}


def _strict_load(model: nn.Module, sd: Dict[str, Any], path: str, assign: bool = False) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        raise ValueError(f"{path} does not match the model: {len(missing)} missing keys "
                         f"(e.g. {missing[:5]}), {len(unexpected)} unexpected keys (e.g. {unexpected[:5]}); "
                         "build the same architecture (config) the file was saved from")
    bad = [(k, tuple(sd[k].shape), tuple(own[k].shape)) for k in own
           if isinstance(own[k], torch.Tensor) and isinstance(sd[k], torch.Tensor)
           and tuple(sd[k].shape) != tuple(own[k].shape)]
    if bad:
        raise ValueError(f"{path}: tensor shapes differ from the model, e.g. {bad[:3]} (file, model)")
    model.load_state_dict(sd, strict=True, assign=assign)
    if assign:
        left = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
        if left:
            raise ValueError(f"{path}: the model was built on the meta device and {len(left)} tensors that "
                             f"are not in the file stay uninitialised (e.g. {left[:5]}); build it on a real device")


def load_quantized(path: str, model: nn.Module, device: Optional[torch.device] = None) -> nn.Module:
    """Load a ``save_quantized`` file into ``model`` (same architecture), in place; returns it.

    The quantized modules named in the file replace the float layers of ``model`` (their
    type and weight shape are checked), then all tensors are loaded strictly. The result holds
    the same integer codes and parameters as the model that was saved, bit for bit.
    ``model``'s tensors are overwritten. It may be built on the "meta" device (cheap for
    VGGT-1B: ``with torch.device("meta"): VGGT(cfg)``); the tensors are then created on ``device``
    (default CPU). Otherwise ``device`` defaults to where ``model`` lives.
    """
    meta = read_metadata(path)
    tensors = [t for t in model.state_dict().values() if isinstance(t, torch.Tensor)]
    on_meta = any(t.is_meta for t in tensors)
    if device is None:
        device = next((t.device for t in tensors if not t.is_meta), torch.device("cpu"))
    device = torch.device(device)
    cfg = meta["config"]
    if meta["quant_type"] == "pytorch_dynamic":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=False)
        names = list(meta["layers"])
        for n in names:
            try:
                m = model.get_submodule(n)
            except AttributeError:
                raise ValueError(f"{path} names layer {n!r}, which the model does not have") from None
            if not isinstance(m, nn.Linear):
                raise ValueError(f"{path}: layer {n!r} is a {type(m).__name__} in the model, expected Linear")
        if on_meta:  # quantize_dynamic needs real weights to pack; they are overwritten below
            model.to_empty(device=device)
            with torch.no_grad():
                for t in list(model.parameters()) + list(model.buffers()):
                    t.zero_()
            on_meta = False
        _quantize_dynamic(model, names)
        _strict_load(model, obj["state_dict"], path)
    else:
        from safetensors.torch import load_file

        for n, desc in meta["layers"].items():
            try:
                old = model.get_submodule(n)
            except AttributeError:
                raise ValueError(f"{path} names layer {n!r}, which the model does not have") from None
            qmod = quantized_module_from_spec(desc, device=device)
            if not isinstance(old, QuantizedWeightModule):
                w = getattr(old, "weight", None)
                if not isinstance(old, qmod.float_type) or w is None or tuple(w.shape) != qmod.weight_shape:
                    raise ValueError(f"{path}: layer {n!r} is {type(old).__name__} with weight "
                                     f"{None if w is None else tuple(w.shape)} in the model, but the file "
                                     f"holds a {desc['type']} of weight {tuple(desc['weight_shape'])}")
            qmod.train(old.training)
            _set_submodule(model, n, qmod)
        try:
            sd = load_file(path, device=str(device))
        except Exception as exc:  # safetensors raises its own error types
            raise ValueError(f"cannot read tensors from {path}: {exc}") from None
        _strict_load(model, sd, path, assign=on_meta)
    if cfg is not None:
        model.quant_config = AdvancedQuantConfig.from_dict(cfg)
    return model
