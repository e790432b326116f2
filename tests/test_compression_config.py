"""arguments/compression.py + configs/: presets, precedence, validation."""
import json
import os

import pytest

from arguments.compression import (
    PRESET_FIELDS,
    CompressionParams,
    configs_dir,
    load_preset,
    resolve_compression_params,
    scene_preset_name,
)

MESONGS_SCENES = ["truck", "train", "bicycle", "garden", "stump", "room", "counter", "kitchen", "bonsai", "flowers",
                  "treehill", "playroom", "drjohnson", "chair", "drums", "ficus", "hotdog", "lego", "materials",
                  "mic", "ship"]


def test_every_preset_file_is_valid_json_with_known_keys():
    names = [f[:-5] for f in os.listdir(configs_dir()) if f.endswith(".json")]
    assert set(MESONGS_SCENES) | {"default"} <= set(names)
    for name in names:
        load_preset(name)  # raises on unknown keys
    assert set(load_preset("default")) == set(PRESET_FIELDS)


def test_mesongs_table_values():
    truck = load_preset("truck")
    assert (truck["n_block"], truck["depth"], truck["percent"], truck["beta"]) == (57, 20, 0.4, 0.1)
    assert truck["lr_multiplier"] == pytest.approx(0.64)  # (4 * 0.2)^2
    chair = load_preset("chair")
    assert (chair["n_block"], chair["depth"], chair["beta"], chair["lr_multiplier"]) == (52, 14, 0.03, 1.6)
    assert load_preset("mic")["n_block"] == 48
    assert load_preset("stump")["lr_multiplier"] == pytest.approx(0.0016)


def test_precedence_cli_over_preset_over_default():
    p, prov = resolve_compression_params(CompressionParams(per_block_quant=True), "/data/tandt/truck/")
    assert scene_preset_name("/data/tandt/truck/") == "truck"
    assert (p.n_block, p.depth, p.percent) == (57, 20, 0.4)
    assert prov["depth"] == "preset truck" and p.quantizer == "rd" and p.quality == 40
    assert prov["bits"] == "default for --quantizer rd" and p.bits == 16  # rd: 16-bit codes unless set
    p, prov = resolve_compression_params(CompressionParams(per_block_quant=True, quantizer="vanilla"), "/data/truck")
    assert p.bits == 8 and prov["bits"] == "default for --quantizer vanilla"
    p, prov = resolve_compression_params(CompressionParams(per_block_quant=True, depth=12, bits=6), "/data/truck")
    assert p.depth == 12 and prov["depth"] == "command line" and p.bits == 6
    p, prov = resolve_compression_params(CompressionParams(per_block_quant=True), "/data/unknown_scene")
    default = load_preset("default")
    assert p.depth == default["depth"] and p.n_block == default["n_block"] and prov["depth"] == "default"
    p, _ = resolve_compression_params(CompressionParams(per_block_quant=True, preset="chair"), "/data/unknown_scene")
    assert p.depth == 14


def test_prune_rd_by_default_and_a_command_line_percent_fixes_it():
    p, prov = resolve_compression_params(CompressionParams(per_block_quant=True), "/data/truck")
    assert p.prune == "rd" and p.channel_transform == "klt" and p.axes == "scales"  # the truck preset's percent is not used
    p, prov = resolve_compression_params(CompressionParams(per_block_quant=True, percent=0.3), "/data/truck")
    assert p.prune == "fixed" and p.percent == 0.3 and prov["prune"] == "--percent on the command line"
    p, prov = resolve_compression_params(CompressionParams(per_block_quant=True, percent=0.3, prune="rd"), "x")
    assert p.prune == "rd" and prov["prune"] == "command line"


def test_a_v1_codec_means_no_channel_transform():
    p, prov = resolve_compression_params(CompressionParams(per_block_quant=True, codec="deflate"), "x")
    assert p.channel_transform == "none" and prov["channel_transform"] == "--codec deflate (format v1)"
    with pytest.raises(ValueError, match="no channel transform"):
        resolve_compression_params(CompressionParams(per_block_quant=True, codec="deflate", channel_transform="klt"), "x")


def test_per_channel_quant_means_one_block():
    p, prov = resolve_compression_params(CompressionParams(per_channel_quant=True), "/data/truck")
    assert p.n_block == 1 and prov["n_block"] == "--per_channel_quant"
    with pytest.raises(ValueError, match="exclude each other"):
        resolve_compression_params(CompressionParams(per_block_quant=True, per_channel_quant=True), "x")


@pytest.mark.parametrize("kw,flag", [
    ({"n_block": 0}, "--n_block"), ({"bits": 17}, "--bits"), ({"depth": 22}, "--depth"),
    ({"percent": 1.0}, "--percent"), ({"quantizer": "vq"}, "--quantizer"), ({"merge": "max"}, "--merge"),
    ({"codec": "zstd"}, "--codec"), ({"quantizer": "lsq", "bits": 1}, "--bits >= 2"),
    ({"quality": float("nan")}, "--quality"), ({"target_size": "big"}, "--target_size 'big' is not a size"),
    ({"target_size": "1MB", "target_bpg": 8.0}, "exclude each other"), ({"target_bpg": -1.0}, "--target_bpg"),
    ({"target_size": "650KB", "quantizer": "vanilla"}, "--target_size needs --quantizer rd"),
    ({"prune": "half"}, "--prune"), ({"channel_transform": "pca"}, "--channel_transform"), ({"axes": "sorted"}, "--axes"),
])
def test_invalid_values_name_the_flag(kw, flag):
    with pytest.raises(ValueError, match=flag):
        resolve_compression_params(CompressionParams(per_block_quant=True, **kw), "x")


def test_bad_preset_files(tmp_path):
    (tmp_path / "default.json").write_text(json.dumps(load_preset("default")))
    (tmp_path / "typo.json").write_text(json.dumps({"n_blocks": 3}))
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="unknown key"):
        resolve_compression_params(CompressionParams(preset="typo"), "x", folder=str(tmp_path))
    with pytest.raises(ValueError, match="not valid JSON"):
        resolve_compression_params(CompressionParams(preset="broken"), "x", folder=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="missing"):
        resolve_compression_params(CompressionParams(preset="missing"), "x", folder=str(tmp_path))


def test_parse_size_units():
    from arguments.compression import parse_size
    assert parse_size("650KB") == 650_000 and parse_size("2.5MB") == 2_500_000 and parse_size("1MiB") == 1 << 20
    assert parse_size("7000") == 7000 and parse_size("7000B") == 7000 and parse_size(" 3 kib ") == 3072
    for bad in ("", "KB", "-1MB", "5XB", "1e400"):
        with pytest.raises(ValueError, match="not a size"):
            parse_size(bad)
