# The two commands of the README:  make demo  |  make test
PY := .venv/bin/python
DEMO_DIR ?= output/demo

.PHONY: setup demo test test-web bench clean
setup:
	@bash scripts/setup_env.sh

demo: setup
	@$(PY) scripts/demo.py --out $(DEMO_DIR)

test: setup
	@$(PY) -m pytest -q tests

# the JavaScript decoder and viewer: installs web/'s locked npm packages, then runs its Node tests and
# the Python-vs-JavaScript conformance tests (which `make test` skips without web/node_modules)
test-web: setup
	@cd web && npm ci --no-audit --no-fund --loglevel=error
	@cd web && npm test
	@$(PY) -m pytest -q tests/test_web_decoder.py tests/test_web_entropy.py

bench: setup
	@$(PY) scripts/bench_render.py
	@$(PY) scripts/bench_core.py
	@$(PY) scripts/bench_codec.py

clean:
	rm -rf output bench_out
