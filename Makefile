# Two entry points, both self-contained on a fresh machine (Python 3.11, pip reaches PyPI):
#   make demo   install into ./.venv and run the `quick` study (offline, minutes on 2 CPU cores)
#   make test   install into ./.venv and run the test suite (fast unit tests + `slow` end-to-end)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench clean constraints image

# Reinstall only when the project's dependencies change. constraints.txt holds the tested versions.
# pip byte-compiles what it installs on one core (torch and its CUDA libraries: ~40 s); compileall does it
# on every core, leaving out the packages' own test suites (test/ and tests/ folders: 17 % of the files,
# never imported by a study), bench/install.py. Its exit status is not checked: a file that only a newer
# Python parses (torch's py312 test helpers) stays uncompiled, as pip leaves it.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -c constraints.txt -e '.[dev]'
	$(PY) -m compileall -q -j 0 -x '/tests?/' $(VENV)/lib > /dev/null || true
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/study run quick

# Two pytest-xdist workers, one test file each at a time (module fixtures such as a Ray head or the bad-input
# runs are made once), in the order tests/conftest.py gives; the slow tests' studies share one trained tiny
# GAN cache (tests/conftest.py).
TEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25

test-fast: install
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow"

lint: install
	$(VENV)/bin/ruff check study trainables analysis tests bench

bench: install
	for script in bench/[!_]*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# After changing dependencies in pyproject.toml: pin what now installs, as the tested set.
constraints: install
	{ sed -n '/^#/p' constraints.txt; $(PY) -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# The product image (Dockerfile): make image IMAGE=registry/gan-augment-study:TAG [INDEX_URL=URL]
# INDEX_URL: the package index the build installs from; empty (the default) leaves pip's own
# configured index. Not a URL: `make` stops with exit 2 and one line naming INDEX_URL.
IMAGE     ?= gan-augment-study:$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
INDEX_URL ?=
image:
	$(if $(INDEX_URL),$(if $(filter http://% https://% file://%,$(INDEX_URL)),,$(error INDEX_URL=$(INDEX_URL) is not a URL; allowed: http://..., https://... or file://..., or leave it empty for pip's configured index)))
	docker build --build-arg GIT_SHA=$$(git rev-parse HEAD 2>/dev/null) --build-arg INDEX_URL=$(INDEX_URL) -t $(IMAGE) .
