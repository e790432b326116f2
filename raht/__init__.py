"""raht/: voxelization, Morton order, the RAHT plan and the forward / inverse transform.

A pure transform library (imports torch, numpy and utils only); see docs/INTERFACES.md.

    vox = voxelize(positions, depth)                      # coords sorted by Morton code
    attrs_v = merge_attributes(attrs, vox.point_to_voxel, vox.n_voxels, quat_columns=slice(q, q + 4))
    plan = build_plan(vox.coords, depth)                  # once; .to(device)
    coeffs = raht_forward(attrs_v, plan)                  # DC in row 0, AC in rows 1..M-1
    attrs_v = raht_inverse(coeffs, plan)
    geometry = encode_occupancy(vox.coords, depth)        # decoder: decode_occupancy -> build_plan
"""
from .morton import MAX_BITS_PER_AXIS, morton_decode, morton_encode
from .octree import decode_occupancy, encode_occupancy
from .plan import RahtPlan, build_plan
from .transform import raht_forward, raht_inverse
from .voxelize import MERGE_MODES, Voxelization, merge_attributes, voxel_centers, voxelize

__all__ = [
    "MAX_BITS_PER_AXIS",
    "MERGE_MODES",
    "RahtPlan",
    "Voxelization",
    "build_plan",
    "decode_occupancy",
    "encode_occupancy",
    "merge_attributes",
    "morton_decode",
    "morton_encode",
    "raht_forward",
    "raht_inverse",
    "voxel_centers",
    "voxelize",
]
