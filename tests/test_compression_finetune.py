"""compression/: setup a–f, QAT fine-tuning (vanilla and LSQ), library-level closed loop."""
import pytest
import torch

from arguments.compression import CompressionParams, resolve_compression_params
from compression.evaluate import evaluate_attributes, evaluate_quantized
from compression.finetune import FineTuner, LogAdam
from compression.setup import compression_setup
from codec import load_npz, save_npz
from tests.compression_helpers import one_thread, tiny_scene

_one_thread = pytest.fixture(autouse=True, scope="module")(one_thread)

BG = torch.zeros(3)


def _params(**kw):
    base = dict(per_block_quant=True, depth=8, n_block=8, lr_multiplier=1.0, percent=0.2)
    base.update(kw)
    return resolve_compression_params(CompressionParams(**base), "tiny")[0]


@pytest.fixture(scope="module")
def scene():
    return tiny_scene(n=400, sh_degree=1, n_views=8, size=24, seed=0)


def _setup(scene, params):
    model, train, test, _ = scene
    return compression_setup(model, train, test, depth=params.depth, percent=params.percent, beta=params.beta,
                             merge=params.merge, n_block=params.n_block, bits=params.bits,
                             quantizer=params.quantizer, quality=params.quality, background=BG, backend="torch")


@pytest.mark.parametrize("quantizer", ["vanilla", "rd"])
def test_setup_steps_are_logged_in_order(scene, quantizer):
    res = _setup(scene, _params(quantizer=quantizer))
    names = [s.name for s in res.steps]
    rd = ["sensitivity"] if quantizer == "rd" else []
    assert names == ["importance", "prune", "voxelize+merge", "principal_axes+euler", "raht_plan"] + rd + ["quantizer_bank+calibration"]
    assert res.steps[1].count_before == 400 and res.steps[1].count_after == 320
    assert res.steps[2].count_after == res.model.n_gaussians <= 320
    assert res.steps[3].notes["max_rotation_matrix_error"] < 1e-5
    assert all(s.seconds >= 0 for s in res.steps)
    assert res.input_psnr is not None and res.steps[-1].psnr_after is not None
    # 8-bit quantization (rd: quality 40) of the calibrated model costs little next to the merged float model
    assert res.steps[-1].psnr_after > res.steps[2].psnr_after - 1.0
    # positions are voxel centres and frozen (a buffer, not a parameter)
    names = {n for n, _ in res.model.named_parameters()}
    assert "means" not in names and names == {"opacity", "euler", "f_dc", "f_rest", "log_scale"}


@pytest.mark.parametrize("quantizer", ["rd", "vanilla"])
def test_finetune_raises_quantized_psnr_and_closed_loop(scene, tmp_path, quantizer):
    params = _params(quantizer=quantizer)
    res = _setup(scene, params)
    q = res.model
    _, train, test, _ = scene
    psnr0 = evaluate_quantized(q, test, background=BG, backend="torch")[0].psnr
    means0 = q.means.clone()
    ft = FineTuner(q, params, train, background=BG, backend="torch")
    stats = ft.run(1, 60)
    result, attrs_hat = evaluate_quantized(q, test, background=BG, backend="torch")
    assert result.psnr > psnr0 + 0.5
    assert torch.equal(q.means, means0)
    assert sum(s.loss for s in stats[-10:]) < sum(s.loss for s in stats[:10])
    # closed loop: save what was evaluated, decode, render: identical
    save_npz(q.encode(), str(tmp_path / "pc_npz"))
    dec = load_npz(str(tmp_path / "pc_npz.bundle"))
    assert torch.equal(dec.attributes, attrs_hat)
    again = evaluate_attributes(dec.attributes, dec.means, q.layout, test, background=BG, backend="torch")
    assert abs(again.psnr - result.psnr) < 1e-6


def test_attribute_pass_runs_once_per_iteration_and_per_evaluation(scene, monkeypatch):
    import compression.attributes as attrs_mod

    params = _params()
    q = _setup(scene, params).model
    _, train, test, _ = scene
    calls = {"n": 0}
    real = attrs_mod.raht_forward

    def counting(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(attrs_mod, "raht_forward", counting)
    evaluate_quantized(q, train, background=BG, backend="torch")  # 6 views
    assert calls["n"] == 1
    FineTuner(q, params, train, background=BG, backend="torch").run(1, 3)
    assert calls["n"] == 4


def test_lsq_trains_steps_and_saves(scene, tmp_path):
    params = _params(quantizer="lsq", lsq_lr=0.01)
    q = _setup(scene, params).model
    _, train, test, _ = scene
    step0 = q.bank.step.detach().clone()
    ft = FineTuner(q, params, train, background=BG, backend="torch")
    assert "quantizer" in ft.optimizers and isinstance(ft.optimizers["quantizer"], LogAdam)
    stats = ft.run(1, 40)
    assert not torch.equal(q.bank.step, step0)  # the steps move
    assert (q.bank.step > 0).all()
    assert sum(s.loss for s in stats[-8:]) < sum(s.loss for s in stats[:8])  # the loss falls
    result, attrs_hat = evaluate_quantized(q, test, background=BG, backend="torch")
    save_npz(q.encode(), str(tmp_path / "pc_npz"))
    dec = load_npz(str(tmp_path / "pc_npz"))
    assert dec.manifest["quantizer"] == "lsq"
    assert torch.equal(dec.attributes, attrs_hat)


def test_log_adam_keeps_positive_and_is_relative():
    small = torch.nn.Parameter(torch.tensor([1e-6]))
    large = torch.nn.Parameter(torch.tensor([10.0]))
    opt = LogAdam([small, large], lr=0.01)
    for _ in range(5):
        (small.sum() * 1e3 + large.sum()).backward()  # push both down
        opt.step()
        opt.zero_grad()
    assert 0 < small.item() < 1e-6 and 0 < large.item() < 10.0
    # relative change about lr per step for both, regardless of magnitude
    assert small.item() / 1e-6 == pytest.approx(large.item() / 10.0, rel=1e-3)


def test_fast_identity_backward_matches_full_autograd():
    from tests.compression_helpers import synthetic_quantized

    q = synthetic_quantized(n=400, sh_degree=1, n_block=5, seed=7)
    q.train()
    w = torch.randn(q.n_gaussians, q.layout.n_channels, generator=torch.Generator().manual_seed(1))
    out_full = q.quantized_attributes(full_autograd=True)
    (out_full * w).sum().backward()
    g_full = [p.grad.clone() for _, p in q.attribute_parameters()]
    q.zero_grad()
    out_fast = q.quantized_attributes()
    (out_fast * w).sum().backward()
    assert torch.equal(out_fast, out_full)  # same forward values
    for (_, p), g in zip(q.attribute_parameters(), g_full):
        assert torch.allclose(p.grad, g, atol=1e-5, rtol=1e-5)
    # the Jacobian of the whole pass is the identity: d/dX sum(X_hat * w) = w
    assert torch.allclose(torch.cat([p.grad for _, p in q.attribute_parameters()], 1), w, atol=1e-5)
