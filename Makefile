# Relit: `make run` opens the GUI on the bundled sample; `make test` runs the suite.
# Both set up everything they need (system packages via apt when root, a local venv).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH_VERSION := 2.13.0
STAMP  := $(VENV)/.relit-installed

# Debian packages: Xvfb for GUI tests, Mesa for OpenGL (GLX + EGL), the xcb
# libraries Qt's xcb platform plugin loads.
SYSTEM_PACKAGES := xvfb xauth libgl1 libegl1 libgl1-mesa-dri libegl-mesa0 libglx-mesa0 \
	libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 \
	libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
	libxcb-xkb1 libxcb-xfixes0 libdbus-1-3 libfontconfig1 libglib2.0-0 libxrender1 libsm6 libice6

.PHONY: run test setup system-deps bench sample clean

run: setup
	@if [ -z "$$DISPLAY" ] && [ -z "$$WAYLAND_DISPLAY" ]; then \
		echo "relit: no display found (DISPLAY is unset); starting under Xvfb instead."; \
		xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) main.py; \
	else \
		$(PY) main.py; \
	fi

# Two pytest-xdist workers (one torch thread each, tests/conftest.py), whole
# files per worker: on 2 cores the suite takes about two thirds of a serial run.
PYTEST_JOBS ?= 2

test: setup
	$(PY) -m pytest -n $(PYTEST_JOBS) --dist loadfile $(PYTEST_ARGS)

setup: system-deps $(STAMP)

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "relit: not a Debian/Ubuntu system; install Xvfb, Mesa (GL + EGL) and Qt's xcb libraries by hand."; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "relit: missing system packages; run as root or install them:"; \
		echo "  sudo apt-get install -y$$missing"; exit 1; fi; \
	echo "relit: installing system packages:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	@# torch: the CPU build where there is no NVIDIA GPU (no multi-GB CUDA wheels).
	@if $(PY) -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$(TORCH_VERSION)')" 2>/dev/null; then \
		echo "relit: torch $(TORCH_VERSION) already installed"; \
	elif command -v nvidia-smi >/dev/null 2>&1; then \
		$(PIP) install -q "torch==$(TORCH_VERSION)"; \
	else \
		$(PIP) install -q --no-deps --no-index "torch==$(TORCH_VERSION)+cpu" 2>/dev/null || \
		$(PIP) install -q --no-deps "torch==$(TORCH_VERSION)+cpu" --index-url https://download.pytorch.org/whl/cpu; \
	fi
	$(PIP) install -q -e ".[test]"
	touch $(STAMP)

# Regenerate the bundled sample capture and HDR presets (resources/).
sample: setup
	$(PY) -m resources.generate

# Mitsuba's fast llvm_ad_rgb variant needs a recent libLLVM (Debian: libllvm19);
# without it the generator falls back to the slower scalar_rgb variant.
bench: setup
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && ! dpkg -s libllvm19 >/dev/null 2>&1; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libllvm19 >/dev/null || true; fi
	$(PIP) install -q -e ".[bench]"
	$(PY) -m benchmarks.generate
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
