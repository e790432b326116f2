#!/usr/bin/env bash
# Create .venv if missing, install torch first (keep an importable one, e.g. a CUDA build),
# then requirements.txt. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv"
    "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=.venv/.requirements.sha
want=$(sha256sum requirements.txt scripts/setup_env.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VPY" -c "import torch" 2>/dev/null; then
    exit 0
fi
if ! "$VPY" -c "import torch" 2>/dev/null; then
    echo "[setup] installing torch==2.13.0"
    "$VPY" -m pip install -q --disable-pip-version-check torch==2.13.0
else
    echo "[setup] keeping installed torch $("$VPY" -c 'import torch; print(torch.__version__)')"
fi
echo "[setup] installing requirements.txt"
"$VPY" -m pip install -q --disable-pip-version-check -r requirements.txt
echo "$want" > "$stamp"
