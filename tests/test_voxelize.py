"""Voxelization grid, voxel centres and merging of points that share a voxel."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from raht import merge_attributes, morton_encode, voxel_centers, voxelize


def numpy_cells(pos, depth):
    """Independent reference of the cell formula: clamp(floor((p − min)/Δ), 0, 2^d − 1)."""
    pos = np.asarray(pos, dtype=np.float64)
    lo = pos.min(0).astype(np.float32).astype(np.float64)
    hi = pos.max(0).astype(np.float32).astype(np.float64)
    delta = (hi - lo) / 2.0**depth
    delta[delta == 0] = 1.0
    return np.clip(np.floor((pos - lo) / delta), 0, 2**depth - 1).astype(np.int64)


# ---------------------------------------------------------------- grid


@pytest.mark.parametrize("depth", [1, 4, 10, 18, 21])
def test_cells_follow_the_formula_and_coords_are_morton_sorted(depth):
    g = torch.Generator().manual_seed(depth)
    pos = torch.randn(3000, 3, generator=g) * torch.tensor([10.0, 1.0, 0.01]) + 5
    vox = voxelize(pos, depth)
    cells = numpy_cells(pos.numpy(), depth)
    np.testing.assert_array_equal(vox.coords[vox.point_to_voxel].numpy(), cells)
    assert vox.coords.dtype == torch.int64 and vox.point_to_voxel.dtype == torch.int64
    assert vox.n_voxels == len(np.unique(cells, axis=0))
    codes = morton_encode(vox.coords)
    assert bool((codes[1:] > codes[:-1]).all())  # strictly increasing: unique and sorted
    assert int(vox.coords.min()) >= 0 and int(vox.coords.max()) <= (1 << depth) - 1


def test_bbox_is_float32_min_max():
    pos = torch.tensor([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0], [0.5, 0.0, 0.0]], dtype=torch.float64)
    vox = voxelize(pos, 3)
    assert vox.bbox_min.dtype == torch.float32 and vox.bbox_max.dtype == torch.float32
    assert vox.bbox_min.tolist() == [0.5, -2.0, -6.0]
    assert vox.bbox_max.tolist() == [4.0, 5.0, 3.0]


@pytest.mark.parametrize("depth", [1, 8, 20, 21])
def test_max_corner_is_clamped_into_the_last_cell(depth):
    top = (1 << depth) - 1
    pos = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    vox = voxelize(pos, depth)
    cells = vox.coords[vox.point_to_voxel].tolist()
    assert cells == [[0, 0, 0], [top, top, top], [top, 0, 0], [0, top, 0], [0, 0, top]]
    assert vox.n_voxels == 5  # no overflow merging the z-max point into a y neighbour


def test_flat_axis_and_identical_points():
    pos = torch.tensor([[0.0, 2.0, 7.0], [1.0, 2.0, 7.0], [0.5, 2.0, 7.0]])
    vox = voxelize(pos, 5)
    assert (vox.coords[:, 1:] == 0).all()
    centers = vox.centers()
    assert (centers[:, 1] == 2.0).all() and (centers[:, 2] == 7.0).all()  # flat axis decodes exactly
    same = voxelize(torch.full((10, 3), -1.5), 21)
    assert same.n_voxels == 1 and same.point_to_voxel.tolist() == [0] * 10
    assert same.centers().tolist() == [[-1.5, -1.5, -1.5]]


def test_voxel_centers_within_half_a_cell_and_bitwise_reproducible():
    g = torch.Generator().manual_seed(3)
    pos = torch.rand(5000, 3, generator=g) * torch.tensor([100.0, 3.0, 0.5]) - 20
    depth = 9
    vox = voxelize(pos, depth)
    centers = vox.centers()
    assert centers.dtype == torch.float32
    delta = (vox.bbox_max - vox.bbox_min).double() / 2**depth
    err = (pos.double() - centers[vox.point_to_voxel].double()).abs()
    ulp = torch.finfo(torch.float32).eps * pos.abs().amax(0).double()  # float32 rounding of the centre
    assert bool((err <= delta / 2 + 2 * ulp).all())
    # the decoder only has the stored float32 bbox and coords: recompute in numpy float32
    lo = vox.bbox_min.numpy()
    hi = vox.bbox_max.numpy()
    d32 = (hi - lo) / np.float32(2**depth)
    expected = lo + (vox.coords.numpy().astype(np.float32) + np.float32(0.5)) * d32
    assert expected.dtype == np.float32
    np.testing.assert_array_equal(centers.numpy(), expected)
    # and the free function gives the same bits from a round trip of the bbox through raw floats
    again = voxel_centers(vox.coords, vox.bbox_min.tolist(), vox.bbox_max.tolist(), depth)
    assert torch.equal(again, centers)


def test_voxelize_errors():
    with pytest.raises(ValueError, match="depth"):
        voxelize(torch.rand(4, 3), 0)
    with pytest.raises(ValueError, match="depth"):
        voxelize(torch.rand(4, 3), 22)
    with pytest.raises(ValueError, match="shape"):
        voxelize(torch.rand(4, 2), 5)
    with pytest.raises(ValueError, match="shape"):
        voxelize(torch.zeros(0, 3), 5)
    bad = torch.rand(4, 3)
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        voxelize(bad, 5)


@settings(max_examples=20, deadline=None)
@given(
    depth=st.integers(min_value=1, max_value=21),
    n=st.integers(min_value=1, max_value=50),
    scale=st.floats(min_value=1e-3, max_value=1e4),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_property_grid(depth, n, scale, seed):
    pos = (torch.rand(n, 3, generator=torch.Generator().manual_seed(seed)) - 0.5) * scale
    vox = voxelize(pos, depth)
    np.testing.assert_array_equal(vox.coords[vox.point_to_voxel].numpy(), numpy_cells(pos.numpy(), depth))
    assert int(vox.coords.max()) < (1 << depth)


# ---------------------------------------------------------------- merging


def test_merge_mean_hand_example():
    attrs = torch.tensor([[1.0, 10.0], [3.0, 20.0], [5.0, 0.0], [-2.0, 4.0]])
    p2v = torch.tensor([0, 0, 1, 0])
    out = merge_attributes(attrs, p2v, 2)
    # voxel 0 = points 0, 1, 3: ((1 + 3 − 2)/3, (10 + 20 + 4)/3)
    torch.testing.assert_close(out, torch.tensor([[2.0 / 3.0, 34.0 / 3.0], [5.0, 0.0]]))
    assert out[1].tolist() == [5.0, 0.0]  # a single member is reproduced exactly


def test_merge_importance_first_and_sum():
    attrs = torch.tensor([[1.0], [3.0], [5.0], [7.0], [9.0]], dtype=torch.float64)
    p2v = torch.tensor([1, 0, 1, 0, 2])
    w = torch.tensor([1.0, 3.0, 3.0, 1.0, 0.0], dtype=torch.float64)
    imp = merge_attributes(attrs, p2v, 3, mode="importance", weights=w)
    # voxel 0: (3·3 + 1·7)/4 = 4; voxel 1: (1·1 + 3·5)/4 = 4; voxel 2: weight 0 -> plain mean 9
    assert imp[:, 0].tolist() == [4.0, 4.0, 9.0]
    first = merge_attributes(attrs, p2v, 3, mode="first")
    assert first[:, 0].tolist() == [3.0, 1.0, 9.0]  # member with the smallest point index
    total = merge_attributes(w, p2v, 3, mode="sum")
    assert total.tolist() == [4.0, 4.0, 0.0]


def test_merge_quaternion_sign_alignment():
    q = torch.tensor([0.5, 0.5, -0.5, 0.5])
    attrs = torch.stack([torch.cat([torch.tensor([1.0]), q]), torch.cat([torch.tensor([3.0]), -q])])
    p2v = torch.tensor([0, 0])
    aligned = merge_attributes(attrs, p2v, 1, quat_columns=slice(1, 5))
    assert aligned[0].tolist() == [2.0] + q.tolist()  # q and −q are the same rotation: no cancellation
    naive = merge_attributes(attrs, p2v, 1)
    assert naive[0, 1:].abs().max().item() == 0.0  # without alignment they cancel (MesonGS defect)
    weighted = merge_attributes(attrs, p2v, 1, mode="importance", weights=torch.tensor([1.0, 3.0]),
                                quat_columns=[1, 2, 3, 4])
    assert weighted[0].tolist() == [2.5] + q.tolist()
    # w < 0 alone is flipped to w >= 0 in averaging modes, untouched by "first"
    single = torch.tensor([[-0.6, 0.0, 0.8, 0.0, 9.0]])
    assert merge_attributes(single, torch.tensor([0]), 1, quat_columns=slice(0, 4))[0].tolist() == pytest.approx(
        [0.6, 0.0, -0.8, 0.0, 9.0])
    assert merge_attributes(single, torch.tensor([0]), 1, mode="first", quat_columns=slice(0, 4)).tolist() == \
        single.tolist()


def test_merge_matches_loop_reference_on_voxelized_points():
    g = torch.Generator().manual_seed(5)
    pos = torch.rand(2000, 3, generator=g)
    attrs = torch.randn(2000, 6, dtype=torch.float64, generator=g)
    w = torch.rand(2000, dtype=torch.float64, generator=g)
    vox = voxelize(pos, 4)
    mean = merge_attributes(attrs, vox.point_to_voxel, vox.n_voxels, quat_columns=slice(2, 6))
    imp = merge_attributes(attrs, vox.point_to_voxel, vox.n_voxels, mode="importance", weights=w)
    p2v = vox.point_to_voxel.numpy()
    a = attrs.numpy().copy()
    flip = a[:, 2] < 0
    aligned = a.copy()
    aligned[flip, 2:6] *= -1
    for v in range(0, vox.n_voxels, 37):  # spot-check a subset of voxels
        members = np.nonzero(p2v == v)[0]
        np.testing.assert_allclose(mean[v].numpy(), aligned[members].mean(0), rtol=1e-12, atol=1e-12)
        ww = w.numpy()[members]
        np.testing.assert_allclose(imp[v].numpy(), (a[members] * ww[:, None]).sum(0) / ww.sum(), rtol=1e-10)
    assert torch.equal(vox.counts(), torch.bincount(vox.point_to_voxel))


def test_merge_is_differentiable():
    attrs = torch.randn(5, 2, requires_grad=True)
    out = merge_attributes(attrs, torch.tensor([0, 1, 1, 1, 0]), 2)
    out.sum().backward()
    torch.testing.assert_close(attrs.grad[:, 0], torch.tensor([0.5, 1 / 3, 1 / 3, 1 / 3, 0.5]))


def test_merge_errors():
    attrs = torch.zeros(3, 2)
    p2v = torch.tensor([0, 1, 1])
    with pytest.raises(ValueError, match="mode"):
        merge_attributes(attrs, p2v, 2, mode="median")
    with pytest.raises(ValueError, match="weights"):
        merge_attributes(attrs, p2v, 2, mode="importance")
    with pytest.raises(ValueError, match="no point"):
        merge_attributes(attrs, p2v, 3)
    with pytest.raises(ValueError, match="quat_columns"):
        merge_attributes(attrs, p2v, 2, quat_columns=slice(0, 2))
    with pytest.raises(ValueError, match="point_to_voxel"):
        merge_attributes(attrs, torch.tensor([0, 1]), 2)
