"""quant.core, quant.granularity and quant.lsq: formulas, bounds, gradients."""
import ast
import math
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from quant import (QParams, asymmetric_qparams, block_index, block_parts, choose_qparams, code_range,
                   dequantize, dequantize_with, fake_quantize, fake_quantize_with, lsq_fake_quantize,
                   lsq_grad_scale, lsq_init_step, lsq_qparams, lsq_range, quantize, quantize_with,
                   split_length, symmetric_qparams)
from quant.granularity import expand_qparams

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- code ranges and parameters

def test_code_range_values():
    assert code_range(8, "asymmetric") == (0, 255)
    assert code_range(1, "asymmetric") == (0, 1)
    assert code_range(16, "asymmetric") == (0, 65535)
    assert code_range(8, "symmetric") == (-127, 127)
    assert code_range(4, "symmetric") == (-7, 7)
    assert code_range(2, "symmetric") == (-1, 1)
    assert code_range(8, "signed") == (-128, 127)
    assert lsq_range(8) == (-128, 127)


@pytest.mark.parametrize("bits, mapping", [(0, "asymmetric"), (17, "asymmetric"), (1, "symmetric"),
                                           (2.5, "asymmetric"), (8, "affine")])
def test_code_range_rejects(bits, mapping):
    with pytest.raises(ValueError):
        code_range(bits, mapping)


def test_vanilla_formula_hand_example_exact():
    # b = 3, min −1, max 2.5: scale = 3.5/7 = 0.5, zero_point = 7 − 2.5/0.5 = 2
    s, z = asymmetric_qparams(torch.tensor(-1.0), torch.tensor(2.5), 3)
    assert s.item() == 0.5 and z.item() == 2.0
    x = torch.tensor([-1.0, -0.3, 0.0, 0.74, 2.5, 3.0, -2.0])
    # v = 2 + x/0.5 = [0, 1.4, 2, 3.48, 7, 8, −2] → q = [0, 1, 2, 3, 7, 7(clamped), 0(clamped)]
    assert quantize(x, s, z, 3).tolist() == [0, 1, 2, 3, 7, 7, 0]
    assert fake_quantize(x, s, z, 3).tolist() == [-1.0, -0.5, 0.0, 0.5, 2.5, 2.5, -1.0]


def test_vanilla_formula_hand_example_rounded_zero_point():
    # b = 2, min −1, max 3: scale = 4/3, zero_point = round(3 − 3/(4/3)) = round(0.75) = 1
    s, z = asymmetric_qparams(torch.tensor(-1.0), torch.tensor(3.0), 2)
    assert s.item() == pytest.approx(4 / 3, rel=1e-7) and z.item() == 1.0
    x = torch.tensor([-1.0, 0.0, 3.0, 1.0])
    # v = 1 + x·3/4 = [0.25, 1, 3.25, 1.75] → q = [0, 1, 3, 2] → x̂ = 4/3·(q − 1)
    assert quantize(x, s, z, 2).tolist() == [0, 1, 3, 2]
    np.testing.assert_allclose(fake_quantize(x, s, z, 2).numpy(), [-4 / 3, 0.0, 8 / 3, 4 / 3], rtol=1e-6)
    # the extremes clip by at most scale/2 (here 1/3 each)
    assert torch.all((fake_quantize(x, s, z, 2) - x).abs() <= s / 2 + 1e-6)


def test_vanilla_formula_8bit_example():
    # b = 8, min −0.5, max 2: scale = 2.5/255, zero_point = 255 − 2/(2.5/255) = 255 − 204 = 51
    s, z = asymmetric_qparams(torch.tensor(-0.5), torch.tensor(2.0), 8)
    assert s.item() == pytest.approx(2.5 / 255, rel=1e-7) and z.item() == 51.0
    x = torch.tensor([1.0, -0.5, 2.0])
    assert quantize(x, s, z, 8).tolist() == [153, 0, 255]  # 51 + 102, 51 − 51, 51 + 204


def test_asymmetric_envelope_contains_zero():
    s, z = asymmetric_qparams(torch.tensor(0.5), torch.tensor(2.0), 8)  # min forced to 0
    assert s.item() == pytest.approx(2.0 / 255) and z.item() == 0.0
    s, z = asymmetric_qparams(torch.tensor(-2.0), torch.tensor(-1.0), 8)  # max forced to 0
    assert s.item() == pytest.approx(2.0 / 255) and z.item() == 255.0


@pytest.mark.parametrize("lo, hi", [(0.0, 0.0), (-1e-13, 0.0), (0.0, 5e-13)])
def test_asymmetric_degenerate_range_no_nan(lo, hi):
    s, z = asymmetric_qparams(torch.tensor(lo), torch.tensor(hi), 8)
    assert s.item() == 1.0 and z.item() == 0.0
    x = torch.zeros(4)
    out = fake_quantize(x, s, z, 8)
    assert torch.equal(out, torch.zeros(4))


def test_symmetric_qparams():
    assert symmetric_qparams(torch.tensor(1.27), 8).item() == pytest.approx(0.01)
    assert symmetric_qparams(torch.tensor(-1.27), 8).item() == pytest.approx(0.01)
    assert symmetric_qparams(torch.tensor(0.0), 8).item() == 1.0
    assert symmetric_qparams(torch.tensor(7.0), 4).item() == 1.0


def test_fake_quantize_equals_quantize_then_dequantize_bitwise():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1000, generator=g) * 3
    s, z = asymmetric_qparams(x.min(), x.max(), 8)
    codes = quantize(x, s, z, 8, dtype=torch.uint8)
    assert torch.equal(dequantize(codes, s, z), fake_quantize(x, s, z, 8))
    assert torch.equal(dequantize(codes.to(torch.int64), s, z), fake_quantize(x, s, z, 8))


def test_cross_check_with_torch_fake_quantize():
    """torch's own affine fake quantization (code nobody here wrote) agrees bit for bit."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, generator=g) * 3
    qp = choose_qparams(x[:3000], 8, "asymmetric")  # the last 1000 values partly outside the range
    ref = torch.fake_quantize_per_tensor_affine(x, qp.scale.item(), int(qp.zero_point.item()), 0, 255)
    assert torch.equal(fake_quantize_with(x, qp), ref)
    w = torch.randn(16, 300, generator=g)
    for mapping, (lo, hi) in [("asymmetric", (0, 255)), ("symmetric", (-127, 127))]:
        qa = choose_qparams(w, 8, mapping, "axis", axis=0)
        ref = torch.fake_quantize_per_channel_affine(w, qa.scale, qa.zero_point.to(torch.int32), 0, lo, hi)
        assert torch.equal(fake_quantize_with(w, qa), ref)
    # gradients: far inside → 1, far outside → 0 in both
    xs = torch.tensor([-50.0, -1.0, 0.3, 2.0, 50.0], requires_grad=True)
    xr = xs.detach().clone().requires_grad_(True)
    fake_quantize(xs, qp.scale, qp.zero_point, 8).sum().backward()
    torch.fake_quantize_per_tensor_affine(xr, qp.scale.item(), int(qp.zero_point.item()), 0, 255).sum().backward()
    assert torch.equal(xs.grad, xr.grad) and xs.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


# ---------------------------------------------------------------- straight-through estimator

def test_ste_gradient_identity_inside_zero_outside():
    s, z = torch.tensor(0.5), torch.tensor(2.0)  # b = 3: STE region v = 2 + x/0.5 ∈ [−0.5, 7.5]
    x = torch.tensor([-2.0, -1.2, 0.0, 0.3, 2.7, 3.0, 10.0], requires_grad=True)
    fake_quantize(x, s, z, 3).backward(torch.arange(1.0, 8.0))
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0]


def test_ste_gradient_symmetric():
    s = torch.tensor(0.25)  # b = 4 symmetric: codes −7..7, STE region |x/s| ≤ 7.5
    x = torch.tensor([-3.0, -1.8, 0.0, 1.8, 1.9], requires_grad=True)
    fake_quantize(x, s, None, 4, "symmetric").sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


# ---------------------------------------------------------------- granularities

def test_split_length_rule():
    assert split_length(10, 4) == [3, 3, 2, 2]
    assert split_length(8, 4) == [2, 2, 2, 2]
    assert split_length(5, 5) == [1] * 5
    assert split_length(343375, 57)[:2] == [6025, 6025] and sum(split_length(343375, 57)) == 343375
    with pytest.raises(ValueError, match="non-empty"):
        split_length(3, 4)
    with pytest.raises(ValueError):
        split_length(10, 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 500), st.integers(1, 60))
def test_split_length_and_block_index_agree(n_blocks, extra):
    length = n_blocks + extra - 1
    sizes = split_length(length, n_blocks)
    assert sum(sizes) == length and max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    idx = block_index(length, n_blocks)
    assert torch.equal(torch.bincount(idx, minlength=n_blocks), torch.tensor(sizes))
    assert bool((idx[1:] >= idx[:-1]).all())
    parts = block_parts(length, n_blocks)
    assert sum(p.count for p in parts) == n_blocks and parts[-1].stop == length


def _bound_case(shape, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=dtype) * torch.rand(shape[-1], generator=g, dtype=dtype) * 4
    x += torch.rand((), generator=g, dtype=dtype) - 0.5  # off-centre
    return x


GRANS = [("tensor", {}), ("axis", {"axis": 0}), ("axis", {"axis": 1}), ("group", {"group_size": 16}),
         ("block", {"n_blocks": 7}), ("block", {"n_blocks": 5, "axis": 1})]


@pytest.mark.parametrize("mapping", ["asymmetric", "symmetric"])
@pytest.mark.parametrize("gran, kw", GRANS, ids=[f"{g}{sorted(k.items())}" for g, k in GRANS])
@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8, 12, 16])
def test_error_bound_codes_and_zero(mapping, gran, kw, bits):
    if mapping == "symmetric" and bits == 1:
        pytest.skip("1-bit symmetric is rejected (range {0})")
    x = _bound_case((37, 45), seed=bits)  # 45 = 2·16 + 13: a ragged last group
    qp = choose_qparams(x, bits, mapping, gran, **kw)
    s, z = expand_qparams(qp)
    # |x − x̂| ≤ scale/2 everywhere inside the range (params chosen from x itself)
    err = (fake_quantize_with(x, qp) - x).abs()
    assert bool((err <= s / 2 * (1 + 1e-9) + 1e-12).all()), float((err - s / 2).max())
    # codes integer-valued and within the code range, also for values far outside the range
    qmin, qmax = code_range(bits, mapping)
    codes = quantize_with(torch.cat([x[:10] * 5, x[10:]]), qp)
    assert bool((codes == codes.round()).all()) and int(codes.min()) >= qmin and int(codes.max()) <= qmax
    # dequantize_with ∘ quantize_with is the fake quantization, exactly
    assert torch.equal(dequantize_with(quantize_with(x, qp), qp), fake_quantize_with(x, qp))
    # zero is represented exactly (integer zero point)
    zeros = torch.zeros_like(x)
    assert bool((fake_quantize_with(zeros, qp) == 0).all())
    if mapping == "symmetric":
        assert bool((qp.zero_point == 0).all())


def test_error_bound_float32_8bit():
    x = _bound_case((200, 55), seed=3, dtype=torch.float32)
    qp = choose_qparams(x, 8, "asymmetric", "block", n_blocks=9)
    s, _ = expand_qparams(qp)
    err = (fake_quantize_with(x, qp) - x).abs()
    assert bool((err <= s * (0.5 + 1e-4)).all())


def test_group_granularity_ragged_last_group_has_own_params():
    x = _bound_case((3, 300), seed=5)
    qp = choose_qparams(x, 4, "asymmetric", "group", group_size=128)
    assert qp.scale.shape == (3, 3)  # groups of 128, 128 and 44
    for r in range(3):
        for gi, (a, b) in enumerate([(0, 128), (128, 256), (256, 300)]):
            s, z = asymmetric_qparams(x[r, a:b].min(), x[r, a:b].max(), 4)
            assert qp.scale[r, gi].item() == s.item() and qp.zero_point[r, gi].item() == z.item()
    qs = choose_qparams(x, 4, "symmetric", "group", group_size=128)
    assert qs.scale[1, 2].item() == symmetric_qparams(x[1, 256:].abs().max(), 4).item()


def test_axis_and_block_granularity_match_per_slice_choice():
    x = _bound_case((40, 6), seed=6)
    qa = choose_qparams(x, 8, "symmetric", "axis", axis=1)
    for c in range(6):
        assert qa.scale[c].item() == choose_qparams(x[:, c], 8, "symmetric").scale.item()
    qb = choose_qparams(x, 8, "asymmetric", "block", n_blocks=6)
    assert qb.scale.shape == (6, 6)
    start = 0
    for j, n in enumerate(split_length(40, 6)):
        for c in range(6):
            ref = choose_qparams(x[start:start + n, c], 8, "asymmetric")
            assert qb.scale[c, j].item() == ref.scale.item() and qb.zero_point[c, j].item() == ref.zero_point.item()
        start += n


def test_choose_qparams_errors():
    with pytest.raises(ValueError, match="NaN"):
        choose_qparams(torch.tensor([1.0, float("nan")]), 8)
    with pytest.raises(ValueError, match="NaN"):
        choose_qparams(torch.tensor([1.0, float("inf")]), 8)
    with pytest.raises(ValueError, match="n_blocks"):
        choose_qparams(torch.randn(10), 8, granularity="block")
    with pytest.raises(ValueError, match="non-empty"):
        choose_qparams(torch.randn(3), 8, granularity="block", n_blocks=4)
    with pytest.raises(ValueError, match="granularity"):
        choose_qparams(torch.randn(3), 8, granularity="row")
    qp = choose_qparams(torch.randn(4, 8), 8, granularity="axis")
    with pytest.raises(ValueError, match="shape"):
        quantize_with(torch.randn(4, 9), qp)
    assert isinstance(qp, QParams)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8), st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=1, max_size=64))
def test_property_bound_per_tensor(bits, values):
    x = torch.tensor(values, dtype=torch.float64)
    qp = choose_qparams(x, bits, "asymmetric")
    err = (fake_quantize_with(x, qp) - x).abs()
    assert bool((err <= qp.scale / 2 * (1 + 1e-9) + 1e-9).all())
    assert bool((fake_quantize_with(torch.zeros(1, dtype=torch.float64), qp) == 0).all())


# ---------------------------------------------------------------- LSQ

def test_lsq_init_and_grad_scale():
    assert lsq_init_step(torch.tensor(1.27), 8).item() == pytest.approx(2 * 1.27 / math.sqrt(127))
    assert lsq_init_step(torch.tensor(0.0), 8).item() == 1.0  # all-zero block guard
    assert lsq_grad_scale(8, 100) == pytest.approx(1 / math.sqrt(127 * 100))


def test_lsq_forward_matches_paper_form_and_storage_codes():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(500, generator=g, dtype=torch.float64) * 3
    step = torch.tensor(0.05, dtype=torch.float64)
    v = x / step
    keep = (v - v.floor() - 0.5).abs() > 1e-6  # avoid exact half ties
    x = x[keep]
    qn, qp_ = lsq_range(4)
    ref = torch.clamp(torch.round(x / step), qn, qp_) * step
    out = lsq_fake_quantize(x, step, None, 4)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    s, z = lsq_qparams(step, None, 4)
    assert z.item() == 8.0
    codes = quantize(x, s, z, 4, "asymmetric")
    assert torch.equal(codes - 8, torch.clamp(torch.round(x / step), qn, qp_))
    assert torch.equal(dequantize(codes, s, z), out)


def _lsq_reference(x, step, offset, bits, g):
    """LSQ(+) of the papers through plain autograd: gradscale and round-STE tricks."""
    qn, qp = lsq_range(bits)
    s = (step - step * g).detach() + step * g
    b = (offset - offset * g).detach() + offset * g if offset is not None else 0.0
    v = torch.clamp((x - b) / s, qn, qp)
    q = (v.round() - v).detach() + v
    return q * s + b


@pytest.mark.parametrize("learn_offset", [False, True])
def test_lsq_gradients_match_analytic_formula_and_autograd_reference(learn_offset):
    bits = 4
    qn, qp = lsq_range(bits)
    gen = torch.Generator().manual_seed(4)
    x = (torch.randn(300, generator=gen, dtype=torch.float64) * 0.6)
    step = torch.tensor(0.07, dtype=torch.float64, requires_grad=True)
    offset = torch.tensor(0.03, dtype=torch.float64, requires_grad=True) if learn_offset else None
    beta = offset.item() if learn_offset else 0.0
    v = (x - beta) / step.item()
    x = x[((v - v.floor() - 0.5).abs() > 1e-6)]  # no exact half ties
    x.requires_grad_(True)
    w = torch.randn(x.shape[0], generator=gen, dtype=torch.float64)
    g = lsq_grad_scale(bits, x.shape[0])
    lsq_fake_quantize(x, step, offset, bits, g).backward(w)

    v = ((x - beta) / step).detach()
    inside = (v >= qn) & (v <= qp)
    assert bool((~inside).any()) and bool(inside.any())  # both branches exercised
    d_s = torch.where(inside, v.round() - v, v.clamp(qn, qp))
    torch.testing.assert_close(step.grad, (w * d_s).sum() * g, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(x.grad, w * inside, rtol=0, atol=0)
    if learn_offset:
        torch.testing.assert_close(offset.grad, (w * (~inside)).sum() * g, rtol=1e-9, atol=1e-12)

    # independent reference: the papers' gradscale / round_pass written with autograd
    x2 = x.detach().clone().requires_grad_(True)
    step2 = torch.tensor(0.07, dtype=torch.float64, requires_grad=True)
    off2 = torch.tensor(0.03, dtype=torch.float64, requires_grad=True) if learn_offset else None
    ref = _lsq_reference(x2, step2, off2, bits, g)
    ref.backward(w)
    out = lsq_fake_quantize(x.detach(), step.detach(), offset.detach() if learn_offset else None, bits, g)
    torch.testing.assert_close(out, ref.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(step.grad, step2.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(x.grad, x2.grad)
    if learn_offset:
        torch.testing.assert_close(offset.grad, off2.grad, rtol=1e-9, atol=1e-12)


def test_lsq_nonpositive_step_is_clamped_in_forward():
    x = torch.randn(50)
    step = torch.tensor(-1.0, requires_grad=True)
    out = lsq_fake_quantize(x, step, None, 8, 0.1)
    assert bool(torch.isfinite(out).all())
    out.sum().backward()
    assert torch.isfinite(step.grad)


# ---------------------------------------------------------------- import rule

def test_quant_imports_only_stdlib_numpy_torch():
    allowed_third_party = {"numpy", "torch"}
    project = {"utils", "scene", "raht", "gaussian_renderer", "vggt_ext", "arguments", "scripts"}
    import sys
    stdlib = set(getattr(sys, "stdlib_module_names", ()))
    qdir = os.path.join(ROOT, "quant")
    for name in sorted(os.listdir(qdir)):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(qdir, name)).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative import inside quant/
                    continue
                mods = [node.module.split(".")[0]]
            else:
                continue
            for m in mods:
                assert m not in project, f"quant/{name} imports project package {m}"
                assert m in allowed_third_party or m in stdlib or m == "__future__", f"quant/{name} imports {m}"
