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

# the JavaScript decoder and viewer: installs web/'s locked npm packages and Debian's chromium, then runs
# the Node tests, the Python-vs-JavaScript conformance tests and the headless-browser screenshot test
# (`make test` skips those without web/node_modules or chromium)
test-web: setup
	@cd web && npm ci --no-audit --no-fund --loglevel=error
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "test-web: Debian's chromium could not be installed; the browser test skips"
	@cd web && npm test
	@$(PY) -m pytest -q tests/test_web_decoder.py tests/test_web_entropy.py tests/test_web_viewer.py

bench: setup
	@$(PY) scripts/bench_render.py
	@$(PY) scripts/bench_core.py
	@$(PY) scripts/bench_codec.py

clean:
	rm -rf output bench_out
