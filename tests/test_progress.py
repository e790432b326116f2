"""Progress bars: live on a terminal, a few whole lines in logs (CI, ``> log 2>&1``, nohup)."""
from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from training.console import PROGRESS_LINES, progress_bar

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _drive(bar, n: int) -> None:
    for i in range(n):
        if i % 10 == 0:
            bar.set_postfix(loss=f"{1.0 / (i + 1):.4f}", n=i, refresh=False)
        bar.update(1)
    bar.close()


@pytest.mark.parametrize("total,initial", [(30_000, 0), (1000, 600), (7, 0)])
def test_log_stream_gets_a_few_whole_lines(total, initial):
    log = io.StringIO()  # not a terminal
    _drive(progress_bar(total, "training", initial=initial, file=log), total - initial)
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and text.endswith("\n")
    assert len(lines) <= min(total - initial, PROGRESS_LINES) + 3, lines
    assert len(lines) >= min(total - initial, PROGRESS_LINES)  # still reports progress
    assert all(line.startswith("training:") for line in lines)
    assert f"{total}/{total}" in lines[-1] and "100%" in lines[-1] and "loss=" in lines[-1]
    if total >= 1000:
        assert len(text) < 3000  # was tens of kilobytes of carriage-return updates


def test_unknown_total_is_time_limited():
    log = io.StringIO()
    bar = progress_bar(None, "frames", file=log)
    for _ in range(5000):
        bar.update(1)
    bar.close()
    lines = log.getvalue().splitlines()
    assert len(lines) <= 3 and "5000" in lines[-1]


def test_terminal_gets_a_live_bar():
    tty = FakeTerminal()
    _drive(progress_bar(200, "training", file=tty), 200)
    assert "\r" in tty.getvalue()  # tqdm redraws in place
    forced = io.StringIO()
    _drive(progress_bar(50, "x", file=forced, interactive=True), 50)
    assert "\r" in forced.getvalue()


def test_default_stream_is_stderr_and_disable_is_silent(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    _drive(progress_bar(100, "render test"), 100)
    assert "\r" not in log.getvalue() and "100/100" in log.getvalue()
    quiet = io.StringIO()
    _drive(progress_bar(100, "methods", disable=True, file=quiet), 100)
    assert quiet.getvalue() == ""


def test_training_bar_in_a_log(monkeypatch):
    """train.py's bar (loss / PSNR / Gaussian count) through the helper, without training."""
    import train as train_script

    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    bar = train_script.ProgressBar(total=2000, initial=0, enabled=True)
    for it in range(1, 2001):
        bar(SimpleNamespace(iteration=it, loss=0.1, psnr=25.0, num_gaussians=1234))
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) <= PROGRESS_LINES + 3
    assert "2000/2000" in lines[-1] and "psnr=25.00" in lines[-1] and "n=1234" in lines[-1]


def _python_files():
    for top in ("train.py", "render.py"):
        yield os.path.join(ROOT, top)
    for package in ("scripts", "training", "compression", "scene", "utils", "quant", "raht",
                    "gaussian_renderer", "vggt_ext", "arguments", "codec"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, package)):
            yield from (os.path.join(dirpath, f) for f in files if f.endswith(".py"))


def test_every_bar_goes_through_the_helper():
    helper = os.path.join(ROOT, "training", "console.py")
    offenders = []
    for path in _python_files():
        if path == helper or not os.path.isfile(path):
            continue
        tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "tqdm" for name in names):
                offenders.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}")
    assert not offenders, f"tqdm used directly (use training.console.progress_bar): {offenders}"


def test_make_demo_scene_into_a_log(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_demo_scene.py"), "--quick",
                           "--out", str(tmp_path / "scene")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    bar_lines = [line for line in proc.stderr.splitlines() if line.startswith("ray casting views")]
    assert "\r" not in proc.stderr and 2 <= len(bar_lines) <= 16 + 2
    assert "16/16" in bar_lines[-1]
