# The two commands of the README:  make demo  |  make test
PY := .venv/bin/python
DEMO_DIR ?= output/demo

.PHONY: setup demo test bench clean
setup:
	@bash scripts/setup_env.sh

demo: setup
	@$(PY) scripts/demo.py --out $(DEMO_DIR)

test: setup
	@$(PY) -m pytest -q tests

bench: setup
	@$(PY) scripts/bench_render.py
	@$(PY) scripts/bench_core.py
	@$(PY) scripts/bench_codec.py

clean:
	rm -rf output bench_out
