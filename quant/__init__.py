"""quant/ — the project's one quantization core (stdlib, numpy, torch only).

- ``quant.core``: code ranges, (scale, zero point) formulas, quantize / dequantize /
  fake-quantize with the straight-through estimator;
- ``quant.granularity``: per tensor / axis / group / block parameters, ``split_length``;
- ``quant.lsq``: LSQ / LSQ+ formulas (learned step, grad scale, signed range, storage form);
- ``quant.modules``: single-block ``VanillaQuan`` / ``LsqQuan`` (the reference design);
- ``quant.banks``: ``VanillaQuanBank`` / ``LsqQuanBank`` ([C, B] quantizers, vectorized),
  ``quantize_blocks`` / ``dequantize_blocks``;
- ``quant.rate_distortion``: steps from a quality knob and sensitivities (``RdQuanBank``);
- ``quant.packing``: b-bit codes ↔ bytes.
"""
from .banks import LsqQuanBank, RdQuanBank, VanillaQuanBank, block_minmax, dequantize_blocks, quantize_blocks
from .core import (DEGENERATE_RANGE, asymmetric_qparams, code_range, dequantize, fake_quantize, quantize,
                   symmetric_qparams)
from .granularity import (QParams, block_index, block_parts, choose_qparams, dequantize_with,
                          fake_quantize_with, quantize_with, split_length)
from .lsq import MIN_STEP, lsq_fake_quantize, lsq_grad_scale, lsq_init_step, lsq_qparams, lsq_range
from .modules import LsqQuan, VanillaQuan, loop_forward
from .packing import pack_codes, packed_nbytes, unpack_codes
from .rate_distortion import kappa_to_quality, normalized_sensitivity, quality_to_kappa, rd_steps

__all__ = [
    "DEGENERATE_RANGE", "MIN_STEP",
    "code_range", "asymmetric_qparams", "symmetric_qparams", "quantize", "dequantize", "fake_quantize",
    "split_length", "block_index", "block_parts", "QParams", "choose_qparams", "quantize_with",
    "dequantize_with", "fake_quantize_with",
    "lsq_range", "lsq_grad_scale", "lsq_init_step", "lsq_qparams", "lsq_fake_quantize",
    "VanillaQuan", "LsqQuan", "loop_forward",
    "VanillaQuanBank", "LsqQuanBank", "RdQuanBank",
    "quality_to_kappa", "kappa_to_quality", "rd_steps", "normalized_sensitivity", "quantize_blocks", "dequantize_blocks", "block_minmax",
    "pack_codes", "unpack_codes", "packed_nbytes",
]
