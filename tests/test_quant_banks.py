"""quant.modules and quant.banks: VanillaQuan / LSQ semantics, bank == per-module loop bit for bit,
encoder/decoder identity, state dicts."""
import math

import pytest
import torch

from quant import (LsqQuan, LsqQuanBank, VanillaQuan, VanillaQuanBank, block_minmax, dequantize_blocks,
                   loop_forward, lsq_grad_scale, lsq_range, quantize_blocks, split_length)

L, C, B = 1003, 5, 7  # 1003 = 7·143 + 2: two blocks one longer


def _stream(seed, scale=1.0, L=L, C=C):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(L, C, generator=g) ** 3 * (torch.rand(C, generator=g) + 0.1) * scale
    x[:, 0] = x[:, 0].abs()  # one all-positive channel (min forced to 0)
    return x


def _vanilla_pair(bits=8):
    return VanillaQuanBank(C, B, bits), torch.nn.ModuleList([VanillaQuan(bits) for _ in range(C * B)])


# ---------------------------------------------------------------- VanillaQuan (single block)

def test_vanillaquan_hand_example_and_envelope():
    q = VanillaQuan(bits=3).train()
    x = torch.tensor([-1.0, -0.3, 0.0, 0.74, 2.5])
    # envelope [−1, 2.5] → scale 0.5, zero point 2 (see the core hand example)
    assert q(x).tolist() == [-1.0, -0.5, 0.0, 0.5, 2.5]
    assert (q.min_val.item(), q.max_val.item()) == (-1.0, 2.5)
    s, z = q.qparams()
    assert (s.item(), z.item()) == (0.5, 2.0)
    # the envelope only grows: a narrower input leaves it unchanged
    q(torch.tensor([0.1, 0.2]))
    assert (q.min_val.item(), q.max_val.item()) == (-1.0, 2.5)
    # eval: frozen envelope, outside values clamp, zero gradient there
    q.eval()
    xe = torch.tensor([3.0, -2.0, 1.0], requires_grad=True)
    out = q(xe)
    assert out.tolist() == [2.5, -1.0, 1.0]
    out.sum().backward()
    assert xe.grad.tolist() == [0.0, 0.0, 1.0]
    assert q.max_val.item() == 2.5
    # training again widens it: max 3.0, min stays −1 → scale 4/7
    q.train()
    q(torch.tensor([3.0]))
    assert (q.min_val.item(), q.max_val.item()) == (-1.0, 3.0)


def test_vanillaquan_positive_block_envelope_contains_zero_and_all_zero_block():
    q = VanillaQuan().train()
    q(torch.tensor([1.0, 2.0]))
    assert q.min_val.item() == 0.0
    z = VanillaQuan().train()
    out = z(torch.zeros(10))
    assert torch.equal(out, torch.zeros(10))
    s, zp = z.qparams()
    assert (s.item(), zp.item()) == (1.0, 0.0)


def test_vanillaquan_errors():
    q = VanillaQuan().eval()
    with pytest.raises(ValueError, match="calibrate"):
        q(torch.randn(4))
    with pytest.raises(ValueError, match="calibrate"):
        q.qparams()
    q.train()
    q(torch.tensor([-1.0, 1.0]))
    with pytest.raises(ValueError, match="NaN"):
        q(torch.tensor([0.5, float("nan")]))
    with pytest.raises(ValueError, match="NaN"):
        q(torch.tensor([0.5, float("inf")]))
    assert (q.min_val.item(), q.max_val.item()) == (-1.0, 1.0)  # not poisoned


# ---------------------------------------------------------------- VanillaQuanBank

def test_vanilla_bank_equals_module_loop_bit_for_bit():
    bank, mods = _vanilla_pair()
    for it, scale in enumerate([1.0, 0.5, 2.0]):  # envelope grows in the third round
        x = _stream(it, scale)
        xb, xl = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ob, ol = bank(xb), loop_forward(mods, xl, B)
        assert torch.equal(ob, ol)
        w = torch.randn(L, C)
        ob.backward(w)
        ol.backward(w)
        assert torch.equal(xb.grad, xl.grad)
        assert torch.equal(xb.grad, w)  # training: envelope covers x → identity
    mins = torch.stack([m.min_val for m in mods]).reshape(C, B)
    maxs = torch.stack([m.max_val for m in mods]).reshape(C, B)
    assert torch.equal(bank.min_val, mins) and torch.equal(bank.max_val, maxs)
    # eval with values outside the frozen envelope: clamping and zero gradients agree too
    bank.eval()
    mods.eval()
    x = _stream(9, 3.0)
    xb, xl = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ob, ol = bank(xb), loop_forward(mods, xl, B)
    assert torch.equal(ob, ol)
    ob.sum().backward()
    ol.sum().backward()
    assert torch.equal(xb.grad, xl.grad)
    assert 0 < int((xb.grad == 0).sum()) < xb.numel()


def test_vanilla_bank_error_bound_and_zero():
    bank = VanillaQuanBank(C, B, bits=6).train()
    x = _stream(3)
    out = bank(x)
    s, _ = bank.qparams()
    idx = torch.repeat_interleave(torch.arange(B), torch.tensor(split_length(L, B)))
    per_elem_scale = s[:, idx].t()
    assert bool(((out - x).abs() <= per_elem_scale / 2 * (1 + 1e-5)).all())
    bank.eval()
    assert torch.equal(bank(torch.zeros(L, C)), torch.zeros(L, C))


def test_vanilla_bank_all_zero_channel_no_nan():
    bank = VanillaQuanBank(C, B).train()
    x = _stream(4)
    x[:, 2] = 0.0
    out = bank(x)
    assert bool(torch.isfinite(out).all()) and torch.equal(out[:, 2], torch.zeros(L))
    s, z = bank.qparams()
    assert bool((s[2] == 1).all()) and bool((z[2] == 0).all())


def test_vanilla_bank_codes_decode_to_forward_bit_for_bit():
    bank = VanillaQuanBank(C, B).train()
    bank(_stream(5))
    bank.eval()
    x = _stream(6, 1.5)  # partly outside the frozen envelope
    codes = bank.quantize_codes(x)
    assert codes.dtype == torch.int64 and int(codes.min()) >= 0 and int(codes.max()) <= 255
    assert torch.equal(dequantize_blocks(codes, *bank.qparams()), bank(x))
    c8 = bank.quantize_codes(x, dtype=torch.uint8)
    assert torch.equal(dequantize_blocks(c8, *bank.qparams()), bank(x))
    assert torch.equal(bank.dequantize_codes(c8), bank(x))
    assert torch.equal(quantize_blocks(x, *bank.qparams(), bits=8), codes)


def test_vanilla_bank_state_dict_round_trip():
    bank = VanillaQuanBank(C, B).train()
    bank(_stream(7))
    sd = bank.state_dict()
    assert set(sd) == {"initialized", "min_val", "max_val"}
    fresh = VanillaQuanBank(C, B)
    with pytest.raises(ValueError):
        fresh.eval()(_stream(8))  # not calibrated
    fresh.load_state_dict(sd)
    bank.eval()
    x = _stream(8)
    assert torch.equal(fresh(x), bank(x))
    for a, b in zip(fresh.qparams(), bank.qparams()):
        assert torch.equal(a, b)


def test_vanilla_bank_errors_and_dtype():
    bank = VanillaQuanBank(C, B).train()
    with pytest.raises(ValueError, match="channels"):
        bank(torch.randn(100, C + 1))
    with pytest.raises(ValueError, match="non-empty"):
        bank(torch.randn(B - 1, C))
    bank(_stream(1))
    before = bank.max_val.clone()
    bad = _stream(2, 5.0)
    bad[17, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        bank(bad)
    assert torch.equal(bank.max_val, before)
    bank.eval()
    with pytest.raises(ValueError, match="NaN"):
        bank.quantize_codes(bad)
    out = bank(_stream(1).double())
    assert out.dtype == torch.float32
    with pytest.raises(ValueError):
        VanillaQuanBank(C, B, bits=0)


def test_block_minmax_matches_reference():
    for Ls, Bs in [(1003, 7), (57, 57), (58, 57), (5000, 3), (129, 2)]:
        x = torch.randn(Ls, 4)
        lo, hi = block_minmax(x, Bs)
        start = 0
        for j, n in enumerate(split_length(Ls, Bs)):
            assert torch.equal(lo[:, j], x[start:start + n].amin(0))
            assert torch.equal(hi[:, j], x[start:start + n].amax(0))
            start += n


# ---------------------------------------------------------------- LSQ

def _lsq_pair(learn_offset):
    bank = LsqQuanBank(C, B, bits=8, learn_offset=learn_offset).train()
    mods = torch.nn.ModuleList([LsqQuan(8, learn_offset=learn_offset) for _ in range(C * B)]).train()
    return bank, mods


@pytest.mark.parametrize("learn_offset", [False, True])
def test_lsq_bank_equals_module_loop(learn_offset):
    bank, mods = _lsq_pair(learn_offset)
    x = _stream(11)
    bank.calibrate(x)
    for m, (c, j) in zip(mods, [(c, j) for c in range(C) for j in range(B)]):
        m.calibrate(x[sum(split_length(L, B)[:j]):sum(split_length(L, B)[:j + 1]), c])
    steps = torch.stack([m.step.detach() for m in mods]).reshape(C, B)
    torch.testing.assert_close(bank.step.detach(), steps, rtol=1e-6, atol=0)
    with torch.no_grad():  # same parameters (init means may differ in the last bit), arbitrary offsets
        bank.step.copy_(steps)
        if learn_offset:
            bank.offset.copy_(torch.randn(C, B) * 0.01)
            for i, m in enumerate(mods):
                m.offset.copy_(bank.offset[i // B, i % B])
    x = _stream(12)
    xb, xl = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ob, ol = bank(xb), loop_forward(mods, xl, B)
    assert torch.equal(ob, ol)
    w = torch.randn(L, C)
    ob.backward(w)
    ol.backward(w)
    assert torch.equal(xb.grad, xl.grad)
    gl = torch.stack([m.step.grad for m in mods]).reshape(C, B)
    # sums over a block are taken in a different order: float32 rounding of the reduction
    torch.testing.assert_close(bank.step.grad, gl, rtol=1e-4, atol=1e-6)
    if learn_offset:
        go = torch.stack([m.offset.grad for m in mods]).reshape(C, B)
        torch.testing.assert_close(bank.offset.grad, go, rtol=1e-4, atol=1e-6)


def test_lsq_bank_step_gradient_is_the_lsq_gradient():
    bits = 4
    qn, qp = lsq_range(bits)
    bank = LsqQuanBank(C, B, bits=bits).train()
    x = _stream(13).double()
    bank.calibrate(x.float())
    xf = x.float().requires_grad_(True)
    w = torch.randn(L, C, dtype=torch.float64)
    bank(xf).backward(w.float())
    step = bank.step.detach().double()
    sizes = split_length(L, B)
    expected = torch.zeros(C, B, dtype=torch.float64)
    start = 0
    for j, n in enumerate(sizes):
        v = x[start:start + n] / step[:, j]
        inside = (v >= qn) & (v <= qp)
        d = torch.where(inside, v.round() - v, v.clamp(qn, qp))
        expected[:, j] = (w[start:start + n] * d).sum(0) / math.sqrt(qp * n)
        start += n
    assert bool((bank.step.grad != 0).all())
    torch.testing.assert_close(bank.step.grad.double(), expected, rtol=1e-3, atol=1e-5)
    assert lsq_grad_scale(bits, sizes[0]) == pytest.approx(1 / math.sqrt(qp * sizes[0]))


@pytest.mark.parametrize("learn_offset", [False, True])
def test_lsq_bank_codes_decode_to_forward_bit_for_bit(learn_offset):
    bank = LsqQuanBank(C, B, bits=8, learn_offset=learn_offset).train()
    bank(_stream(14))  # first training forward initialises the step
    assert bool(bank.initialized)
    with torch.no_grad():
        bank.step.mul_(1.3)
        if learn_offset:
            bank.offset.copy_(torch.randn(C, B) * 0.02)
    bank.eval()
    x = _stream(15)
    codes = bank.quantize_codes(x)
    assert int(codes.min()) >= 0 and int(codes.max()) <= 255
    scale, zp = bank.qparams()
    assert torch.equal(scale, bank.step.detach())
    if not learn_offset:
        assert bool((zp == 128).all())
        # signed LSQ code q = code − 2^(b−1) = round(clamp(x/s, −128, 127))
        s_el = scale[:, torch.repeat_interleave(torch.arange(B), torch.tensor(split_length(L, B)))].t()
        v = x / s_el
        ties = (v - v.floor() - 0.5).abs() < 1e-3
        q = torch.clamp(torch.round(v), -128, 127)
        assert torch.equal((codes - 128)[~ties].float(), q[~ties])
    assert torch.equal(dequantize_blocks(codes, scale, zp), bank(x))


def test_lsq_bank_init_state_dict_param_groups_and_clamp():
    bank = LsqQuanBank(C, B, learn_offset=True).train()
    with pytest.raises(ValueError, match="calibrate"):
        bank.qparams()
    x = _stream(16)
    x[:, 4] = 0.0
    bank(x)
    # init 2·mean|x|/√Qp per block; all-zero channel → step 1
    n0 = split_length(L, B)[0]
    assert bank.step[1, 0].item() == pytest.approx(2 * x[:n0, 1].abs().mean().item() / math.sqrt(127), rel=1e-6)
    assert bool((bank.step[4] == 1).all())
    assert bool(torch.isfinite(bank.eval()(x)).all())
    sd = bank.state_dict()
    assert set(sd) == {"initialized", "step", "offset"}
    fresh = LsqQuanBank(C, B, learn_offset=True)
    fresh.load_state_dict(sd)
    fresh.eval()
    assert torch.equal(fresh(x), bank(x))
    groups = bank.parameter_groups(1e-3)
    assert groups[0]["lr"] == 1e-3 and len(groups[0]["params"]) == 2
    opt = torch.optim.Adam(groups)
    bank.train()
    bank(x).pow(2).sum().backward()
    opt.step()
    with torch.no_grad():
        bank.step[0, 0] = -5.0
    out = bank(x)  # the forward uses max(step, min_step): finite
    assert bool(torch.isfinite(out).all())
    bank.clamp_()
    assert bank.step.min().item() >= torch.tensor(bank.min_step).item() > 0
    with pytest.raises(ValueError):
        LsqQuanBank(C, B, bits=1)


@pytest.mark.gpu
def test_banks_on_cuda_match_cpu_bit_for_bit():
    dev = torch.device("cuda")
    x = _stream(17)
    for cls in (VanillaQuanBank, LsqQuanBank):
        cpu_bank, gpu_bank = cls(C, B).train(), cls(C, B).to(dev).train()
        cpu_bank.calibrate(x)
        gpu_bank.load_state_dict(cpu_bank.state_dict())
        xc, xg = x.clone().requires_grad_(True), x.to(dev).requires_grad_(True)
        oc, og = cpu_bank(xc), gpu_bank(xg)
        # the codes are what the file stores: identical; the dequantized floats may differ in the
        # last bit (VanillaQuan on an H200: 43 % of the values by ≤ 1 ulp, codes all equal)
        torch.testing.assert_close(og.cpu(), oc, rtol=2e-7, atol=1e-7)
        oc.sum().backward()
        og.sum().backward()
        assert torch.equal(xc.grad, xg.grad.cpu())
        cpu_bank.eval()
        gpu_bank.eval()
        assert torch.equal(cpu_bank.quantize_codes(x), gpu_bank.quantize_codes(x.to(dev)).cpu())
