"""Tests of the VGGT-compatible model, checkpoint loading, preprocessing and pose encoding (CPU)."""

import json
import math
import os

import numpy as np
import pytest
import torch

from vggt_ext import (
    VGGT,
    VGGTConfig,
    list_images,
    load_and_preprocess_images,
    load_and_preprocess_images_square,
    load_vggt,
    save_vggt,
    tiny_config,
    vggt_1b_config,
)
from vggt_ext.models.dinov2 import DinoVisionTransformer
from vggt_ext.models.rope import RotaryPositionEmbedding2D, patch_positions
from vggt_ext.pose_enc import (
    align_quaternion_sign,
    camera_centers,
    depth_to_world_points,
    extri_intri_to_pose_encoding,
    mat_to_quat,
    pose_encoding_to_extri_intri,
    quat_to_mat,
)

# The VGGT-1B state-dict manifest (names, shapes, dtypes) lives beside the checkout, not in it.
MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "reference",
                        "vggt1b_state_dict.json")
needs_manifest = pytest.mark.skipif(not os.path.isfile(MANIFEST),
                                    reason=f"{MANIFEST} (shared reference, VGGT-1B manifest) is absent")


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """The tiny models gain nothing from intra-op threads; on a shared 2-core box one thread is
    several times faster (no oversubscription)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return VGGT(VGGTConfig.tiny()).eval()


def _tensor_outputs(out):
    return {k: v for k, v in out.items() if torch.is_tensor(v)}


# ---------------------------------------------------------------------------- forward
def test_tiny_forward_keys_and_shapes(tiny_model):
    torch.manual_seed(1)
    images = torch.rand(2, 3, 56, 84)  # [S, 3, H, W]
    with torch.no_grad():
        out = tiny_model(images)
    assert list(out) == ["pose_enc", "pose_enc_list", "depth", "depth_conf", "world_points",
                         "world_points_conf", "images"]
    b, s, h, w = 1, 2, 56, 84
    assert out["pose_enc"].shape == (b, s, 9)
    assert len(out["pose_enc_list"]) == tiny_model.config.camera_iters
    assert all(p.shape == (b, s, 9) for p in out["pose_enc_list"])
    assert torch.equal(out["pose_enc"], out["pose_enc_list"][-1])
    assert out["depth"].shape == (b, s, h, w, 1)
    assert out["depth_conf"].shape == (b, s, h, w)
    assert out["world_points"].shape == (b, s, h, w, 3)
    assert out["world_points_conf"].shape == (b, s, h, w)
    assert torch.equal(out["images"], images.unsqueeze(0))
    # activations: exp depth > 0, 1 + exp confidences >= 1, ReLU FoV >= 0
    assert (out["depth"] > 0).all()
    assert (out["depth_conf"] >= 1).all() and (out["world_points_conf"] >= 1).all()
    assert (out["pose_enc"][..., 7:] >= 0).all()
    assert all(torch.isfinite(v).all() for v in _tensor_outputs(out).values())


def test_training_mode_has_no_images_key():
    torch.manual_seed(0)
    model = VGGT(VGGTConfig.tiny(enable_track=False)).train()
    out = model(torch.rand(1, 2, 3, 28, 28))
    assert "images" not in out and "depth" in out
    out["depth"].mean().backward()  # differentiable end to end
    assert model.aggregator.patch_embed.proj.weight.grad is not None


def test_batch_equals_per_sample(tiny_model):
    torch.manual_seed(2)
    images = torch.rand(2, 3, 3, 28, 42)  # [B, S, 3, H, W]
    with torch.no_grad():
        both = tiny_model(images)
        singles = [tiny_model(images[i]) for i in range(2)]
    for key in ("pose_enc", "depth", "world_points", "depth_conf"):
        for i in range(2):
            torch.testing.assert_close(both[key][i], singles[i][key][0], rtol=1e-4, atol=1e-5)


def test_frames_after_the_first_are_permutation_equivariant(tiny_model):
    """Frame 0 uses its own camera/register tokens; frames 1..S-1 share theirs and all frames get
    the same RoPE positions, so swapping frames 1 and 2 swaps their outputs."""
    torch.manual_seed(3)
    images = torch.rand(3, 3, 28, 28)
    perm = [0, 2, 1]
    with torch.no_grad():
        a = tiny_model(images)
        b = tiny_model(images[perm])
    for key in ("pose_enc", "depth", "world_points"):
        torch.testing.assert_close(b[key][0], a[key][0][perm], rtol=1e-4, atol=1e-5)
    # ...while swapping frame 0 with another one is not a symmetry
    with torch.no_grad():
        c = tiny_model(images[[1, 0, 2]])
    assert not torch.allclose(c["pose_enc"][0], a["pose_enc"][0][[1, 0, 2]], atol=1e-6)


def test_dpt_frame_chunking_is_output_equivalent():
    torch.manual_seed(4)
    model = VGGT(VGGTConfig.tiny(enable_track=False)).eval()
    images = torch.rand(3, 3, 28, 28)
    with torch.no_grad():
        full = model(images)
        for head in (model.depth_head, model.point_head):
            head.frames_chunk_size = 2
        chunked = model(images)
    for key in ("depth", "depth_conf", "world_points", "world_points_conf"):
        torch.testing.assert_close(chunked[key], full[key], rtol=1e-5, atol=1e-6)


def test_track_outputs_with_query_points(tiny_model):
    torch.manual_seed(5)
    images = torch.rand(2, 3, 56, 56)
    queries = torch.tensor([[10.0, 12.0], [30.5, 7.25], [55.0, 0.0]])  # [N, 2] (x, y) pixels
    with torch.no_grad():
        out = tiny_model(images, query_points=queries)
    assert list(out)[-4:] == ["track", "vis", "conf", "images"]
    assert out["track"].shape == (1, 2, 3, 2)
    assert out["vis"].shape == (1, 2, 3) and out["conf"].shape == (1, 2, 3)
    assert ((out["vis"] > 0) & (out["vis"] < 1)).all() and ((out["conf"] > 0) & (out["conf"] < 1)).all()
    # frame 0 of every track is reset to its query point
    torch.testing.assert_close(out["track"][0, 0], queries, rtol=0, atol=1e-5)
    assert torch.isfinite(out["track"]).all()
    # batched query points [B, N, 2] give the same result
    with torch.no_grad():
        out_b = tiny_model(images.unsqueeze(0), query_points=queries.unsqueeze(0))
    torch.testing.assert_close(out_b["track"], out["track"])


def test_track_head_rejects_too_small_images():
    torch.manual_seed(0)
    model = VGGT(VGGTConfig.tiny(corr_levels=5)).eval()  # needs H, W >= 2 * 2**4 = 32
    with pytest.raises(ValueError, match="at least 32x32"):
        model(torch.rand(2, 3, 28, 28), query_points=torch.tensor([[1.0, 1.0]]))


def test_bad_inputs_raise_clear_errors(tiny_model):
    with pytest.raises(ValueError, match="multiple of the patch size"):
        tiny_model(torch.rand(2, 3, 30, 28))
    with pytest.raises(ValueError, match="3 colour channels"):
        tiny_model(torch.rand(2, 4, 28, 28))
    with pytest.raises(ValueError, match="query_points"):
        tiny_model(torch.rand(2, 3, 56, 56), query_points=torch.rand(3, 3))
    with pytest.raises(ValueError, match="num_heads"):
        VGGTConfig.tiny(num_heads=5)
    with pytest.raises(ValueError, match="dpt_layer_idx"):
        VGGTConfig.tiny(dpt_layer_idx=(0, 1, 2, 9))


# ---------------------------------------------------------------------------- architecture
@needs_manifest
def test_full_model_on_meta_matches_manifest_exactly():
    with open(MANIFEST) as f:
        manifest = json.load(f)
    with torch.device("meta"):
        model = VGGT(VGGTConfig.vggt_1b())
    state = model.state_dict()
    got = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in state.items()]
    expected = [list(t) for t in manifest["tensors"]]
    assert len(got) == manifest["num_tensors"] == 1797
    missing = sorted({e[0] for e in expected} - {g[0] for g in got})
    extra = sorted({g[0] for g in got} - {e[0] for e in expected})
    assert not missing and not extra, (missing[:10], extra[:10])
    assert got == expected  # same names, shapes, dtypes, in the same order
    assert sum(v.numel() for v in state.values()) == manifest["num_parameters"]
    # no buffers outside the state dict that would be left on meta after assign-loading
    assert all(t.is_meta for t in model.parameters())
    assert sum(1 for _ in model.buffers()) == 0


@needs_manifest
def test_full_model_without_track_head_matches_manifest_counts():
    with open(MANIFEST) as f:
        manifest = json.load(f)
    with torch.device("meta"):
        model = VGGT(VGGTConfig.vggt_1b(enable_track=False))
    state = model.state_dict()
    expected = [t[0] for t in manifest["tensors"] if not t[0].startswith("track_head.")]
    assert list(state) == expected
    assert len(state) == manifest["without_track_head"]["num_tensors"]
    assert sum(v.numel() for v in state.values()) == manifest["without_track_head"]["num_parameters"]


def test_tiny_parameter_count_matches_reference_note():
    """The architecture note gives 3,571,372 parameters in 485 tensors (2,679,064 without track)."""
    torch.manual_seed(0)
    model = VGGT(VGGTConfig.tiny())
    assert len(model.state_dict()) == 485
    assert model.num_parameters() == 3_571_372
    assert VGGT(VGGTConfig.tiny(enable_track=False)).num_parameters() == 2_679_064


def test_config_dict_round_trip_and_presets():
    cfg = tiny_config(embed_dim=32)
    assert VGGTConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert cfg.dpt_out_channels == (16, 32, 64, 64)
    assert vggt_1b_config() == VGGTConfig()
    with pytest.raises(ValueError, match="unknown fields"):
        VGGTConfig.from_dict({"embed_dims": 3})


# ---------------------------------------------------------------------------- building blocks
def test_rope_is_relative_and_identity_at_zero():
    torch.manual_seed(6)
    rope = RotaryPositionEmbedding2D(100.0)
    d = 16
    q = torch.randn(1, 1, 1, d, dtype=torch.float64)
    k = torch.randn(1, 1, 1, d, dtype=torch.float64)

    def dot(pq, pk):
        rq = rope(q, torch.tensor([[pq]]))
        rk = rope(k, torch.tensor([[pk]]))
        return (rq * rk).sum().item()

    # <R(p)q, R(p')k> depends only on p - p' (per axis); angles are float32 as upstream
    assert dot((3, 5), (1, 2)) == pytest.approx(dot((7, 9), (5, 6)), abs=1e-6)
    assert dot((3, 5), (1, 2)) != pytest.approx(dot((3, 5), (2, 2)), abs=1e-3)
    # position (0, 0) is the identity and rotation preserves the norm
    torch.testing.assert_close(rope(q, torch.zeros(1, 1, 2, dtype=torch.long)), q)
    r = rope(q, torch.tensor([[[4, 11]]]))
    assert r.norm().item() == pytest.approx(q.norm().item(), rel=1e-6)
    # y rotates the first half only, x the second half only
    ry = rope(q, torch.tensor([[[4, 0]]]))
    torch.testing.assert_close(ry[..., d // 2:], q[..., d // 2:])
    assert not torch.allclose(ry[..., : d // 2], q[..., : d // 2])


def test_patch_positions_layout():
    pos = patch_positions(2, 2, 3, num_special=5)
    assert pos.shape == (2, 11, 2)
    assert pos[0, :5].abs().sum() == 0
    assert pos[0, 5:].tolist() == [[1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [2, 3]]


def test_dino_pos_embed_identity_and_antialiased_resize():
    torch.manual_seed(7)
    vit = DinoVisionTransformer(img_size=56, patch_size=14, embed_dim=32, depth=1, num_heads=2)
    stored = vit.pos_embed
    # stored 4x4 grid at a square 56x56 input: used unchanged
    assert vit.interpolate_pos_encoding(16, 4, 4, torch.float32) is stored
    pe = vit.interpolate_pos_encoding(6, 2, 3, torch.float32)
    assert pe.shape == (1, 7, 32)
    torch.testing.assert_close(pe[:, 0], stored[:, 0])
    grid = stored[:, 1:].reshape(1, 4, 4, 32).permute(0, 3, 1, 2)
    ref = torch.nn.functional.interpolate(grid, size=(2, 3), mode="bicubic", antialias=True)
    torch.testing.assert_close(pe[:, 1:], ref.permute(0, 2, 3, 1).reshape(1, 6, 32))
    out = vit(torch.randn(2, 3, 28, 42))
    assert out.shape == (2, 6, 32)  # registers and cls dropped


def test_dpt_residual_unit_adds_rectified_input():
    from vggt_ext.models.heads.dpt_head import ResidualConvUnit

    unit = ResidualConvUnit(4)
    with torch.no_grad():
        for conv in (unit.conv1, unit.conv2):
            conv.weight.zero_()
            conv.bias.zero_()
    x = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(unit(x), torch.relu(x))  # skip adds ReLU(x), not x


# ---------------------------------------------------------------------------- loading
@pytest.fixture(scope="module")
def tiny_no_track():
    torch.manual_seed(8)
    return VGGT(VGGTConfig.tiny(enable_track=False)).eval()


def _assert_same_outputs(a, b):
    images = torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        oa, ob = a(images), b(images)
    for key in ("pose_enc", "depth", "world_points"):
        assert torch.equal(oa[key], ob[key])


@pytest.mark.parametrize("name", ["model.pt", "model.safetensors"])
def test_load_round_trip_file_and_folder(tmp_path, tiny_no_track, name):
    from safetensors.torch import save_file

    path = tmp_path / name
    state = tiny_no_track.state_dict()
    if name.endswith(".pt"):
        torch.save(state, path)  # raw upstream-style state dict
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))  # no config metadata
    cfg = tiny_no_track.config
    for source in (path, tmp_path):  # the file itself and the folder holding it
        loaded = load_vggt(source, config=cfg)
        assert not loaded.training
        for k, v in loaded.state_dict().items():
            assert torch.equal(v, state[k]) and v.dtype == torch.float32 and v.device.type == "cpu"
        _assert_same_outputs(tiny_no_track, loaded)


def test_save_vggt_stores_config_for_loading_without_one(tmp_path, tiny_no_track):
    path = save_vggt(tiny_no_track, tmp_path / "ckpt" / "model.safetensors")
    loaded = load_vggt(path.parent)  # config from the safetensors metadata
    assert loaded.config == tiny_no_track.config
    _assert_same_outputs(tiny_no_track, loaded)
    pt = save_vggt(tiny_no_track, tmp_path / "other.pt")
    assert set(torch.load(pt, weights_only=True)) == set(tiny_no_track.state_dict())


def test_strict_loading_rejects_missing_key(tmp_path, tiny_no_track):
    state = dict(tiny_no_track.state_dict())
    del state["depth_head.scratch.output_conv2.2.bias"]
    torch.save(state, tmp_path / "model.pt")
    with pytest.raises(ValueError) as err:
        load_vggt(tmp_path, config=tiny_no_track.config)
    msg = str(err.value)
    assert "1 missing key(s)" in msg and "depth_head.scratch.output_conv2.2.bias" in msg


def test_strict_loading_rejects_unexpected_keys_and_lists_at_most_ten(tmp_path, tiny_no_track):
    state = dict(tiny_no_track.state_dict())
    for i in range(12):
        state[f"extra.layer{i:02d}.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "model.pt")
    with pytest.raises(ValueError) as err:
        load_vggt(tmp_path / "model.pt", config=tiny_no_track.config)
    msg = str(err.value)
    assert "12 unexpected key(s)" in msg and "extra.layer00.weight" in msg and "(2 more)" in msg
    assert "extra.layer11.weight" not in msg and "missing" not in msg


def test_loading_rejects_shape_mismatch_and_bad_paths(tmp_path, tiny_no_track):
    state = dict(tiny_no_track.state_dict())
    state["camera_head.embed_pose.bias"] = torch.zeros(3)
    torch.save(state, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"shape mismatch.*camera_head\.embed_pose\.bias"):
        load_vggt(tmp_path, config=tiny_no_track.config)
    with pytest.raises(FileNotFoundError):
        load_vggt(tmp_path / "nope.pt")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_vggt(empty)
    garbage = tmp_path / "bad" / "model.safetensors"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read"):
        load_vggt(garbage)
    # a 1B-default config against a tiny checkpoint: clear key listing, not a crash
    with pytest.raises(ValueError, match="missing key"):
        load_vggt(tmp_path / "model.pt")


@needs_manifest
def test_default_config_infers_heads_from_checkpoint_keys(tmp_path):
    from vggt_ext.loading import infer_config

    with open(MANIFEST) as f:
        names = [t[0] for t in json.load(f)["tensors"]]
    state = {n: torch.empty(0) for n in names if not n.startswith("track_head.")}
    cfg = infer_config(state)
    assert cfg == VGGTConfig.vggt_1b(enable_track=False)


# ---------------------------------------------------------------------------- preprocessing
def _write(path, size, mode="RGB", color=(200, 40, 90)):
    from PIL import Image

    if mode == "RGBA":
        img = Image.new("RGBA", size, color + (0,))
    else:
        arr = np.random.default_rng(sum(size)).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        img = Image.fromarray(arr, "RGB")
    img.save(path)
    return path


def test_preprocess_sizes_are_multiples_of_14(tmp_path):
    sizes = [(640, 480), (480, 640), (500, 333), (1000, 1001), (37, 90)]
    paths = [_write(tmp_path / f"im{i}.png", s) for i, s in enumerate(sizes)]
    for mode in ("crop", "pad"):
        for p in paths:
            x = load_and_preprocess_images([p], mode=mode)
            assert x.dtype == torch.float32 and x.shape[:2] == (1, 3)
            assert x.shape[2] % 14 == 0 and x.shape[3] % 14 == 0
            assert 0.0 <= x.min() and x.max() <= 1.0
            if mode == "pad":
                assert x.shape[2:] == (518, 518)
            else:
                assert x.shape[3] == 518 and x.shape[2] <= 518
        batch = load_and_preprocess_images(paths, mode=mode)
        assert batch.shape[0] == len(paths) and batch.shape[2] % 14 == 0 and batch.shape[3] % 14 == 0


def test_preprocess_matches_reference_sizes_and_pixels(tmp_path):
    from PIL import Image

    land = _write(tmp_path / "land.png", (640, 480))
    port = _write(tmp_path / "port.png", (480, 640))
    x = load_and_preprocess_images([land])
    assert x.shape == (1, 3, 392, 518)
    ref = np.asarray(Image.open(land).convert("RGB").resize((518, 392), Image.Resampling.BICUBIC), np.float32) / 255
    assert torch.equal(x[0], torch.from_numpy(ref.transpose(2, 0, 1).copy()))
    # portrait, crop: resized to 518x686 then the centre 518 rows
    x = load_and_preprocess_images([port], mode="crop")
    assert x.shape == (1, 3, 518, 518)
    full = np.asarray(Image.open(port).convert("RGB").resize((518, 686), Image.Resampling.BICUBIC), np.float32) / 255
    assert torch.equal(x[0], torch.from_numpy(full[84:602].transpose(2, 0, 1).copy()))
    # portrait, pad: 392 wide, 63 white columns each side
    x = load_and_preprocess_images([port], mode="pad")
    assert x.shape == (1, 3, 518, 518)
    assert (x[0, :, :, :63] == 1).all() and (x[0, :, :, -63:] == 1).all()
    assert not (x[0, :, :, 63:455] == 1).all()
    # mixed shapes in crop mode are padded (white) to the largest
    both = load_and_preprocess_images([land, port])
    assert both.shape == (2, 3, 518, 518)
    assert (both[0, :, :63] == 1).all() and (both[0, :, -63:] == 1).all()


def test_preprocess_rgba_is_composited_on_white_and_square_variant(tmp_path):
    p = _write(tmp_path / "clear.png", (140, 70), mode="RGBA")
    x = load_and_preprocess_images([p], target_size=140)
    assert x.shape == (1, 3, 70, 140) and (x == 1).all()  # fully transparent → white
    sq, boxes = load_and_preprocess_images_square([_write(tmp_path / "r.png", (100, 50))], target_size=64)
    assert sq.shape == (1, 3, 64, 64)
    torch.testing.assert_close(boxes, torch.tensor([[0.0, 16.0, 64.0, 48.0, 100.0, 50.0]]))
    assert sq[0, :, :8].max() == 0  # black padding band at the top


def test_preprocess_errors(tmp_path):
    with pytest.raises(ValueError, match="no images"):
        load_and_preprocess_images([])
    with pytest.raises(FileNotFoundError):
        load_and_preprocess_images([tmp_path / "missing.png"])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    with pytest.raises(ValueError, match="cannot read image"):
        load_and_preprocess_images([bad])
    good = _write(tmp_path / "ok.png", (64, 64))
    with pytest.raises(ValueError, match="mode"):
        load_and_preprocess_images([good], mode="stretch")
    with pytest.raises(ValueError, match="multiple of 14"):
        load_and_preprocess_images([good], target_size=500)
    with pytest.raises(ValueError, match="folder"):
        load_and_preprocess_images([tmp_path])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        list_images(empty)
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "nowhere")
    assert [p.name for p in list_images(tmp_path, max_images=1)] == ["bad.jpg"]


# ---------------------------------------------------------------------------- pose encoding
def test_pose_encoding_round_trip_and_conventions():
    torch.manual_seed(10)
    q = torch.nn.functional.normalize(torch.randn(5, 4, dtype=torch.float64), dim=-1)
    q = torch.where(q[:, 3:] < 0, -q, q)
    t = torch.randn(5, 3, dtype=torch.float64)
    fov = torch.rand(5, 2, dtype=torch.float64) + 0.5
    enc = torch.cat([t, q, fov], dim=-1)
    extr, intr = pose_encoding_to_extri_intri(enc, (392, 518))
    rot = extr[..., :3]
    torch.testing.assert_close(rot @ rot.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(5, 3, 3))
    assert torch.allclose(torch.linalg.det(rot), torch.ones(5, dtype=torch.float64))
    assert (intr[:, 0, 2] == 259).all() and (intr[:, 1, 2] == 196).all()
    torch.testing.assert_close(intr[:, 1, 1], 196 / torch.tan(fov[:, 0] / 2))
    back = extri_intri_to_pose_encoding(extr, intr, (392, 518))
    torch.testing.assert_close(back, enc, rtol=0, atol=1e-12)
    # quaternion sign: -q encodes the same rotation; re-encoding standardises to q_w >= 0
    flipped = enc.clone()
    flipped[:, 3:7] *= -1
    torch.testing.assert_close(pose_encoding_to_extri_intri(flipped, (392, 518))[0], extr)
    torch.testing.assert_close(align_quaternion_sign(flipped, enc), enc)
    # camera centre C satisfies R·C + t = 0
    c = camera_centers(extr)
    torch.testing.assert_close((rot @ c[..., None])[..., 0] + t, torch.zeros_like(t), rtol=0, atol=1e-12)


def test_mat_to_quat_handles_180_degree_rotations():
    for diag in ([1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]):
        rot = torch.diag(torch.tensor(diag, dtype=torch.float64))
        q = mat_to_quat(rot)
        torch.testing.assert_close(quat_to_mat(q), rot)
        assert q[3] >= 0 and q.norm().item() == pytest.approx(1.0)


def test_depth_to_world_points_reprojects_to_pixels():
    torch.manual_seed(11)
    h, w = 6, 8
    enc = torch.tensor([[0.1, -0.2, 0.3, 0.1, 0.2, -0.1, 0.95, 1.0, 1.2]], dtype=torch.float64)
    extr, intr = pose_encoding_to_extri_intri(enc, (h, w))
    depth = torch.rand(1, h, w, 1, dtype=torch.float64) + 1.0
    pts = depth_to_world_points(depth, extr, intr)  # [1, H, W, 3]
    cam = pts @ extr[0, :3, :3].T + extr[0, :3, 3]  # back to the camera frame
    torch.testing.assert_close(cam[..., 2], depth[..., 0])
    uv = cam @ intr[0].T
    uv = uv[..., :2] / uv[..., 2:]
    v, u = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    torch.testing.assert_close(uv, torch.stack([u, v], -1)[None])
    assert math.isfinite(pose_encoding_to_extri_intri(torch.zeros(9), (h, w))[1][0, 0].item())  # FoV 0 clamped
