# The README's two commands, `make run` and `make test`, do all the set-up themselves.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
RUST_SOURCES := $(wildcard src/*.rs) Cargo.toml
PY_SOURCES := $(wildcard python/iqm_runstatus/*.py)

.PHONY: help venv build build-debug run test test-rust test-py bench bench-report lint check-next-python fmt clean fuzz fuzz-smoke fuzz-tools

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt requirements-test.txt
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## create the virtualenv with the build, test and bench tools

$(VENV)/.built-release: $(VENV)/.installed $(RUST_SOURCES) $(PY_SOURCES) pyproject.toml build.rs
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet
	touch $@

build: $(VENV)/.built-release ## build the release extension into the virtualenv

run: build ## build, then compare the Rust path with the pure-Python path on a generated workload
	$(PY) -m iqm_runstatus bench

test: build test-rust test-py ## build, then run every test (cargo test and pytest)

test-rust: $(VENV)/.installed ## run the Rust unit tests
	PYO3_PYTHON=$(abspath $(PY)) cargo test --quiet

test-py: build ## run the pytest suite (benchmarks run once, untimed, as a correctness pass)
	$(PY) -m pytest -q --benchmark-disable

# cargo fuzz passes nightly-only flags (sanitizer, coverage) to rustc; RUSTC_BOOTSTRAP lets the
# stable toolchain accept them. The targets link the core, so pyo3 needs an interpreter.
FUZZ_TARGETS := parse_status escapes batch_split
FUZZ_ENV := RUSTC_BOOTSTRAP=1 PYO3_PYTHON=$(abspath $(PY))

fuzz-tools:
	@cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

fuzz: $(VENV)/.installed fuzz-tools ## run each cargo-fuzz target for 10 minutes (not part of test)
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		$(FUZZ_ENV) cargo fuzz run $$target -- -max_total_time=600 -print_final_stats=1 || exit 1; \
	done

fuzz-smoke: $(VENV)/.installed fuzz-tools ## run each cargo-fuzz target for 60 seconds
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		$(FUZZ_ENV) cargo fuzz run $$target -- -max_total_time=60 -print_final_stats=1 || exit 1; \
	done

bench: build ## run the benchmarks and print the ratios
	$(PY) -m pytest benches -q --benchmark-only --benchmark-columns=median,ops --benchmark-sort=name

BENCH_REPORT := benches/report

# Batches of 10^3 to 10^6 give the throughput chart its points.
bench-report: build ## run the benchmarks and chart them into benches/report (PNGs, ratios.md)
	mkdir -p $(BENCH_REPORT)
	BENCH_SIZES=3,4,5,6 $(PY) -m pytest benches -q --benchmark-only --benchmark-sort=name \
		--benchmark-columns=median,ops --benchmark-json=$(BENCH_REPORT)/benchmarks.json
	$(PY) -m benches.report $(BENCH_REPORT)/benchmarks.json $(BENCH_REPORT)

# The crate as it compiles for the next CPython, which src/cpython.rs does not know: PyO3 is
# configured from a file, no interpreter needed. It must take the portable route and compile.
NEXT_PYTHON := 3.14
check-next-python:
	mkdir -p target/next-python
	printf 'implementation=CPython\nversion=$(NEXT_PYTHON)\nshared=true\nabi3=false\nlib_name=python$(NEXT_PYTHON)\npointer_width=64\n' \
		> target/next-python/pyo3-config.txt
	PYO3_CONFIG_FILE=$(abspath target/next-python/pyo3-config.txt) CARGO_TARGET_DIR=target/next-python \
		cargo clippy --quiet -- -D warnings

# stubtest compares the stub with the built module, hence the build.
lint: $(VENV)/.built-release check-next-python ## cargo fmt/clippy (also for the next CPython), ruff, mypy, user-code typing and stubtest
	cargo fmt --check
	PYO3_PYTHON=$(abspath $(PY)) cargo clippy --all-targets --quiet -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	cd python && ../$(VENV)/bin/mypy -p iqm_runstatus
	$(VENV)/bin/mypy --strict tests/typing
	cd python && ../$(PY) -m mypy.stubtest --mypy-config-file ../pyproject.toml iqm_runstatus._core

fmt: $(VENV)/.installed ## format Rust and Python sources
	cargo fmt
	$(VENV)/bin/ruff format python tests benches
	$(VENV)/bin/ruff check --fix python tests benches

clean: ## remove build products and the virtualenv
	cargo clean
	rm -rf $(VENV) .pytest_cache .hypothesis .benchmarks
