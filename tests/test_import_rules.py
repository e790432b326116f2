"""DESIGN.md §2 import rules, checked by walking every module's imports with `ast`."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = {"utils", "quant", "raht", "gaussian_renderer", "scene", "vggt_ext", "arguments",
           "training", "compression", "codec"}
# package -> project packages it must not import
FORBIDDEN = {
    "utils": PROJECT - {"utils"},
    "quant": PROJECT - {"quant"},
    "raht": {"quant", "scene", "gaussian_renderer", "vggt_ext", "training", "compression", "arguments", "codec"},
    "gaussian_renderer": {"scene", "quant", "raht", "vggt_ext", "training", "compression", "arguments", "codec"},
    "codec": {"scene", "gaussian_renderer", "vggt_ext", "training", "compression", "arguments"},
    "scene": {"vggt_ext", "gaussian_renderer", "training", "compression"},
    "vggt_ext": {"scene", "raht", "gaussian_renderer", "training", "compression", "arguments", "codec"},
}


def _imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


def _modules(package):
    for dirpath, _, files in os.walk(os.path.join(ROOT, package)):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(dirpath, name)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_import_rules(package):
    assert os.path.isdir(os.path.join(ROOT, package))
    bad = [f"{os.path.relpath(p, ROOT)}:{line} imports {mod}"
           for p in _modules(package) for mod, line in _imports(p) if mod in FORBIDDEN[package]]
    assert not bad, "\n".join(bad)


def test_gsplat_only_in_its_backend():
    offenders = []
    for package in ("utils", "quant", "raht", "gaussian_renderer", "scene", "vggt_ext", "codec"):
        for p in _modules(package):
            if p.endswith(os.path.join("gaussian_renderer", "gsplat_backend.py")):
                continue
            offenders += [f"{os.path.relpath(p, ROOT)}:{line}" for mod, line in _imports(p) if mod == "gsplat"]
    assert not offenders, offenders


def test_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("import os\nfrom scene.cameras import Camera\n")
    assert ("scene", 2) in list(_imports(str(bad)))


#: the composition roots: command lines over the library, none of them imports another
TOP_LEVEL_SCRIPTS = ("train", "render", "compress", "decompress")


@pytest.mark.parametrize("script", TOP_LEVEL_SCRIPTS)
def test_no_top_level_script_imports_another(script):
    path = os.path.join(ROOT, f"{script}.py")
    bad = [f"{script}.py:{line} imports {mod}" for mod, line in _imports(path)
           if mod in TOP_LEVEL_SCRIPTS and mod != script]
    assert not bad, "\n".join(bad)
