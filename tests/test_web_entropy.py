"""web/src/entropy.js: the JavaScript range decoder must decode, bit for bit, what codec/entropy.py
(constriction) encodes. Fixtures are regenerated here by web/test/make_entropy_fixtures.py and
checked by the Node test web/test/entropy.test.mjs (skipped without Node ≥ 18)."""
import filecmp
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEB = os.path.join(ROOT, "web")
MAKE_FIXTURES = os.path.join(WEB, "test", "make_entropy_fixtures.py")
NODE_TEST = os.path.join(WEB, "test", "entropy.test.mjs")
COMMITTED = os.path.join(WEB, "test", "fixtures", "entropy.json")


def _node():
    """Path of a Node.js able to run ``node --test`` (≥ 18), or None."""
    node = shutil.which("node")
    if node is None:
        return None
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        major = int(version.lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return node if major >= 18 else None


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("entropy_fixtures")
    proc = subprocess.run([sys.executable, MAKE_FIXTURES, str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"fixture generation failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_fixtures_are_deterministic_and_up_to_date(fixture_dir):
    fresh = os.path.join(fixture_dir, "entropy.json")
    assert os.path.getsize(fresh) < 1_000_000
    assert filecmp.cmp(fresh, COMMITTED, shallow=False), (
        "web/test/fixtures/entropy.json is stale: run `python web/test/make_entropy_fixtures.py`")


def test_javascript_decoder_matches_python_encoder(fixture_dir):
    node = _node()
    if node is None:
        pytest.skip("Node.js >= 18 is not on PATH (needed to run web/test/entropy.test.mjs)")
    env = dict(os.environ, SPLATPRESS_ENTROPY_FIXTURES=str(fixture_dir))
    proc = subprocess.run([node, "--test", NODE_TEST], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"node --test failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert "# fail 0" in proc.stdout
