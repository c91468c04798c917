# The README's two commands, `make run` and `make test`, do all the set-up themselves.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# The interpreter the virtualenv is made from: `make test PYTHON=python3.10`, say.
PYTHON ?= python3
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
DEFAULT_PYTHON_VERSION := $(shell python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
# One virtualenv per interpreter, kept: `.venv` for the default python3, `.venv-3.10` for
# PYTHON=python3.10, so that switching back and forth upgrades instead of rebuilding.
VENV ?= $(if $(filter $(DEFAULT_PYTHON_VERSION),$(PYTHON_VERSION)),.venv,.venv-$(PYTHON_VERSION))
SUPPORTED_PYTHONS := 3.9 3.10 3.11 3.12 3.13
# iqm-client 17.2, the reference every test compares with, installs on these only.
REFERENCE_PYTHONS := 3.9 3.10 3.11
# The versions `make wheels` builds for (requires-python, the classifiers and the README say the
# same), into DIST with the sdist; the stamp names them, so that another PYTHONS builds again.
PYTHONS ?= 3.9 3.10 3.11 3.12 3.13
DIST := dist
WHEELS_BUILT := $(DIST)/.built-$(subst $(eval) ,-,$(strip $(PYTHONS)))
# The virtualenv, stamped with its interpreter's version; then what `make run` needs
# (requirements-run.txt), then the test, benchmark and lint tools on top (requirements-dev.txt,
# which includes requirements-test.txt). A changed requirements file upgrades the virtualenv.
CREATED := $(VENV)/.python-$(PYTHON_VERSION)
RUN_INSTALLED := $(VENV)/.installed-run
INSTALLED := $(VENV)/.installed-dev
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
RUST_SOURCES := $(wildcard src/*.rs src/*/*.rs crates/*/src/*.rs crates/*/src/*/*.rs) Cargo.toml \
	crates/core/Cargo.toml crates/poller/Cargo.toml
PY_SOURCES := $(wildcard python/iqm_runstatus/*.py)

.PHONY: help check-core-is-pure check-python check-reference-python venv build run test test-rust test-py test-fast test-debug bench bench-report lint check-next-python fmt clean fuzz fuzz-smoke fuzz-tools wheels sdist test-pythons

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

check-python:
	@test -n "$(PYTHON_VERSION)" || { echo "PYTHON=$(PYTHON) does not run: name a CPython 3.9 to 3.13" >&2; exit 1; }
	@case " $(SUPPORTED_PYTHONS) " in *" $(PYTHON_VERSION) "*) ;; *) \
		echo "PYTHON=$(PYTHON) is Python $(PYTHON_VERSION); iqm_runstatus supports CPython 3.9 to 3.13" >&2; exit 1;; esac

# `make test` compares with the reference; `make test-pythons` tests 3.12 and 3.13 without it.
check-reference-python: check-python
	@case " $(REFERENCE_PYTHONS) " in *" $(PYTHON_VERSION) "*) ;; *) \
		echo "PYTHON=$(PYTHON) is Python $(PYTHON_VERSION), where iqm-client 17.2 (the reference the tests compare with) does not install: make test needs CPython 3.9 to 3.11; make test-pythons tests 3.12 and 3.13 against the pure path" >&2; exit 1;; esac

$(CREATED): | check-python
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	touch $@

$(RUN_INSTALLED): $(CREATED) requirements-run.txt
	$(PIP) install --quiet -r requirements-run.txt
	touch $@

$(INSTALLED): $(RUN_INSTALLED) requirements-test.txt requirements-dev.txt
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

venv: $(INSTALLED) ## create the virtualenv with the build, test and bench tools

# REUSE_WHEELS=1 (what .ci/run sets) builds the release extension once, as a wheel of
# `make wheels`: the virtualenv gets its interpreter's wheel, and so does the client matrix,
# instead of compiling it again. Unset, `make build` compiles it here and needs no zig.
ifdef REUSE_WHEELS
$(VENV)/.built-release: $(RUN_INSTALLED) $(DIST)/.wheel-$(PYTHON_VERSION)
	$(PIP) install --quiet --no-deps --force-reinstall $(DIST)/*-cp$(subst .,,$(PYTHON_VERSION))-cp$(subst .,,$(PYTHON_VERSION))-*.whl
	touch $@
else
$(VENV)/.built-release: $(RUN_INSTALLED) $(RUST_SOURCES) $(PY_SOURCES) pyproject.toml build.rs
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet
	touch $@
endif

build: $(VENV)/.built-release ## build the release extension into the virtualenv

# Only the runtime dependency and maturin: the benchmark imports nothing else.
run: build ## build, then compare the Rust path with the pure-Python path on a generated workload
	$(PY) -m iqm_runstatus bench

test: check-reference-python $(INSTALLED) build test-rust test-py ## build, then run every test (cargo test and pytest)

# The core's and the poller engine's tests run with no interpreter configured: they must not
# link one. The engine's policy tests run in tokio's paused time.
test-rust: $(INSTALLED) ## run the Rust unit tests (the core's and the engine's need no interpreter; the bindings' link it)
	env -u PYO3_PYTHON -u VIRTUAL_ENV cargo test -p iqm_runstatus_core -p iqm_runstatus_poller --quiet
	PYO3_PYTHON=$(abspath $(PY)) cargo test -p iqm_runstatus --quiet

# Every test, with every hypothesis example each names (the ci profile, tests/support/profiles.py).
# With REUSE_WHEELS the suite checks that it tests the installed wheel (tests/conftest.py).
TEST_PY_ENV := $(if $(REUSE_WHEELS),IQM_RUNSTATUS_INSTALLED=1)
test-py: check-reference-python $(INSTALLED) build ## run the pytest suite (benchmarks run once, untimed, as a correctness pass)
	HYPOTHESIS_PROFILE=ci $(TEST_PY_ENV) $(PY) -m pytest -q --benchmark-disable

# The edit-and-test loop: what test-py runs but the tests marked slow (the marker's list is in
# pyproject.toml), with a tenth of the hypothesis examples (dev profile); the ten slowest
# tests are printed, so that one that grew slow is seen.
test-fast: check-reference-python $(INSTALLED) build ## run the pytest suite but the slow tests, with fewer hypothesis examples
	HYPOTHESIS_PROFILE=dev $(PY) -m pytest -q --benchmark-disable -m "not slow" --durations=10

# The same suite against an extension built with debug assertions and overflow checks, under
# CPython's debug allocator, in a virtualenv and target folder of its own (not part of test).
DEBUG_VENV := .venv-debug
test-debug: ## run every test on a build with debug assertions and overflow checks, PYTHONMALLOC=debug
	$(MAKE) VENV=$(DEBUG_VENV) venv
	VIRTUAL_ENV=$(abspath $(DEBUG_VENV)) CARGO_TARGET_DIR=target/checked \
		CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
		$(DEBUG_VENV)/bin/maturin develop --release --quiet
	PYTHONMALLOC=debug $(DEBUG_VENV)/bin/python -m pytest -q --benchmark-disable

# cargo fuzz passes nightly-only flags (sanitizer, coverage) to rustc; RUSTC_BOOTSTRAP lets the
# stable toolchain accept them. The targets link only the core, which needs no interpreter.
FUZZ_TARGETS := parse_status escapes batch_split
FUZZ_ENV := RUSTC_BOOTSTRAP=1

fuzz-tools:
	@cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

fuzz: fuzz-tools ## run each cargo-fuzz target for 10 minutes (not part of test)
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		$(FUZZ_ENV) cargo fuzz run $$target -- -max_total_time=600 -print_final_stats=1 || exit 1; \
	done

# CI runs it with FUZZ_SMOKE_SECONDS=30.
FUZZ_SMOKE_SECONDS ?= 60
fuzz-smoke: fuzz-tools ## run each cargo-fuzz target for FUZZ_SMOKE_SECONDS (60)
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		$(FUZZ_ENV) cargo fuzz run $$target -- -max_total_time=$(FUZZ_SMOKE_SECONDS) -print_final_stats=1 || exit 1; \
	done

# Every suite with the seed's vocabulary (17.2, the reference installed beside), then the
# single-payload and batch suites with the latest release's (chosen at import, so in a process
# of its own; its pure path is that release's), then their ratios to the pure path side by side.
BENCH_RELEASE := 17.2
BENCH_OTHER_RELEASE := 32.1.1
BENCH_RUNS := build/bench
BENCH_PYTEST := -m pytest -q -p no:cacheprovider --benchmark-only --benchmark-columns=median,ops --benchmark-sort=name
bench: $(INSTALLED) build ## run the benchmarks with 17.2's and 32.1.1's vocabularies and print the ratios
	mkdir -p $(BENCH_RUNS)
	IQM_RUNSTATUS_CLIENT_RELEASE=$(BENCH_RELEASE) $(PY) $(BENCH_PYTEST) \
		--benchmark-json=$(BENCH_RUNS)/$(BENCH_RELEASE).json benches
	IQM_RUNSTATUS_CLIENT_RELEASE=$(BENCH_OTHER_RELEASE) $(PY) $(BENCH_PYTEST) \
		--benchmark-json=$(BENCH_RUNS)/$(BENCH_OTHER_RELEASE).json benches/test_single.py benches/test_batch.py
	$(PY) -m benches.report $(BENCH_RUNS)/$(BENCH_RELEASE).json --releases $(BENCH_RUNS)/$(BENCH_OTHER_RELEASE).json

# This checkout against another revision (REV=<commit>), the same calls timed side by side in
# one run, with the instruction counts of each under valgrind (CALLGRIND=0 leaves them out).
REV ?= main
CALLGRIND ?= 1
.PHONY: bench-against
bench-against: $(INSTALLED) build ## time this checkout against REV=<git revision> side by side (benches/side_by_side.py)
	$(PY) -m benches.side_by_side $(REV) $(if $(filter 1,$(CALLGRIND)),--callgrind)

BENCH_REPORT := benches/report

# Batches of 10^3 to 10^6 give the throughput chart its points.
bench-report: $(INSTALLED) build ## run the benchmarks and chart them into benches/report (PNGs, ratios.md)
	mkdir -p $(BENCH_REPORT)
	BENCH_SIZES=3,4,5,6 $(PY) -m pytest benches -q --benchmark-only --benchmark-sort=name \
		--benchmark-columns=median,ops --benchmark-json=$(BENCH_REPORT)/benchmarks.json
	$(PY) -m benches.report $(BENCH_REPORT)/benchmarks.json $(BENCH_REPORT)

# The polling benchmark's status server: a small Rust crate of its own, so that the server is
# not what is measured. Built into target/ beside the extension, never as part of it.
STATUS_SERVER := target/status-server/release/status-server
$(STATUS_SERVER): benches/status-server/Cargo.toml benches/status-server/Cargo.lock benches/status-server/src/main.rs
	CARGO_TARGET_DIR=target/status-server cargo build --release --quiet --manifest-path benches/status-server/Cargo.toml

.PHONY: bench-poll
bench-poll: $(INSTALLED) build $(STATUS_SERVER) ## poll the same jobs with iqm-client, aiohttp and StatusPoller (throughput, and client CPU by scenario); report into benches/report
	mkdir -p $(BENCH_REPORT)
	BENCH_STATUS_SERVER=$(abspath $(STATUS_SERVER)) $(PY) -m pytest benches/test_poll.py benches/test_poll_cpu.py -q -p no:cacheprovider \
		--benchmark-only --benchmark-json=$(BENCH_REPORT)/poll.json
	$(PY) -m benches.poll_report $(BENCH_REPORT)/poll.json $(BENCH_REPORT)

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
# The core and the poller's engine stay free of Python: no pyo3 among their dependencies, so
# Rust users, the fuzz targets and the engine's tests link them alone.
PURE_CRATES := iqm_runstatus_core iqm_runstatus_poller
check-core-is-pure:
	@for crate in $(PURE_CRATES); do \
		if cargo tree -p $$crate --edges normal,build --prefix none | grep -q '^pyo3'; then \
			echo "$$crate depends on pyo3: it must build without Python" >&2; exit 1; fi; \
	done

lint: $(INSTALLED) $(VENV)/.built-release check-next-python check-core-is-pure ## cargo fmt/clippy (also for the next CPython), ruff, mypy, user-code typing and stubtest
	cargo fmt --all --check
	PYO3_PYTHON=$(abspath $(PY)) cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(VENV)/bin/ruff check python tests benches examples
	$(VENV)/bin/ruff format --check python tests benches examples
	cd python && ../$(VENV)/bin/mypy -p iqm_runstatus
	$(VENV)/bin/mypy --strict tests/typing
	$(PY) -m mypy.stubtest --mypy-config-file pyproject.toml iqm_runstatus._core

fmt: $(INSTALLED) ## format Rust and Python sources
	cargo fmt --all
	$(VENV)/bin/ruff format python tests benches examples
	$(VENV)/bin/ruff check --fix python tests benches examples

# ---------------------------------------------------------------------------------------------
# Every supported Python: release wheels, and the tests run against each installed wheel.

PYTHONS_VENVS := build/pythons
# pyenv's install of Python X.Y if there is one, else pythonX.Y on PATH; checked to run and to be
# that version. Fails with the way to get it otherwise.
FIND_PYTHON = find_python() { \
	for candidate in "$$(pyenv prefix $$1 2>/dev/null)/bin/python$$1" "$$(command -v python$$1)"; do \
		if "$$candidate" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$$1'.split('.'))))" \
			>/dev/null 2>&1; then echo "$$candidate"; return 0; fi; \
	done; \
	echo "Python $$1 not found: install it (pyenv install $$1) or put python$$1 on PATH" >&2; return 1; \
}

$(VENV)/.wheel-tools: $(INSTALLED) requirements-wheels.txt
	$(PIP) install --quiet -r requirements-wheels.txt
	touch $@

# maturin runs zig as `python -m ziglang`, so the tools' virtualenv comes first on PATH. The
# wheels have their own cargo target directory, so that they and `make build` don't rebuild
# each other's artefacts.
WHEEL_SOURCES := $(RUST_SOURCES) Cargo.lock build.rs $(PY_SOURCES) python/iqm_runstatus/_core.pyi \
	pyproject.toml README.md
# One interpreter's wheel, checked by auditwheel: `make dist/.wheel-3.11` builds that one alone
# (REUSE_WHEELS installs it as the release extension before the others are built).
$(DIST)/.wheel-%: $(VENV)/.wheel-tools $(WHEEL_SOURCES)
	@$(FIND_PYTHON); set -e; python=$$(find_python $*); tag=cp$(subst .,,$*); \
		echo "wheel for $$python"; \
		mkdir -p $(DIST); rm -f $(DIST)/*-$$tag-$$tag-*.whl; \
		PATH=$(abspath $(VENV))/bin:$$PATH CARGO_TARGET_DIR=target/wheels \
			$(VENV)/bin/maturin build --quiet --release --zig --compatibility manylinux2014 \
			--interpreter $$python --out $(DIST); \
		wheel=$$(ls $(DIST)/*-$$tag-$$tag-*.whl); \
		report=$$($(VENV)/bin/auditwheel show $$wheel | tr -s ' \n' ' '); echo "$$report"; \
		case "$$report" in \
			*'consistent with the following platform tag: "manylinux_2_17_x86_64"'*) ;; \
			*) echo "$$wheel: auditwheel does not find it manylinux2014" >&2; exit 1;; \
		esac
	touch $@

SDIST_BUILT := $(DIST)/.sdist
$(SDIST_BUILT): $(RUN_INSTALLED) $(WHEEL_SOURCES)
	mkdir -p $(DIST)
	rm -f $(DIST)/*.tar.gz
	$(VENV)/bin/maturin sdist --out $(DIST)
	touch $@

# The wheels of PYTHONS (and of no other version) and the sdist.
$(WHEELS_BUILT): $(foreach version,$(PYTHONS),$(DIST)/.wheel-$(version)) $(SDIST_BUILT)
	@keep="$(foreach version,$(PYTHONS),-cp$(subst .,,$(version))-)"; for wheel in $(DIST)/*.whl; do \
		[ -e "$$wheel" ] || continue; case " $$keep " in *" $$(basename $$wheel | cut -d- -f3 | sed 's/.*/-&-/') "*) ;; \
			*) rm $$wheel; echo "removed $$wheel (not in PYTHONS)";; esac; \
	done
	rm -f $(DIST)/.built-*
	touch $@

wheels: $(WHEELS_BUILT) ## release wheels (manylinux2014) for each supported Python, and the sdist, into dist/

sdist: $(SDIST_BUILT) ## the sdist alone, into dist/

# An interpreter just below the range, for the check that pip refuses it (skipped if absent).
UNSUPPORTED_PYTHONS ?= 3.8
# What the package built from the sdist must do: the fast route, a parse, a batch.
export SDIST_CHECK := import iqm_runstatus, iqm_runstatus._core as core; \
	assert core.CPYTHON_ROUTE == "layout", core.CPYTHON_ROUTE; \
	status = iqm_runstatus.RunStatus.from_json(b'{"status": "failed", "message": "m"}'); \
	assert status.message == "m" and status.status is iqm_runstatus.Status.FAILED; \
	assert iqm_runstatus.StatusBatch.from_ndjson(b'{"status": "ready"}\n').counts()[iqm_runstatus.Status.READY] == 1; \
	print("sdist build works:", core.__file__)
# Per interpreter: a fresh virtualenv with that interpreter's wheel and the test requirements,
# then the fast tier (what `make test-fast` runs) and the differential tests against the
# interpreter's oracle with every example of the ci profile; the full suite is `make test`'s,
# on the primary interpreter. Where iqm-client 17.2 does not install (3.12 on) the tests
# compare with the pure path, and the tests that import the client are left out. conftest.py
# checks that the package under test is the installed wheel, not the sources.
# TEST_PYTHONS picks which of them run: CI leaves out the primary interpreter, whose wheel
# `make test` ran the full suite against (REUSE_WHEELS).
PYTHONS_PYTEST := -q -p no:cacheprovider
DIFFERENTIAL_TESTS := tests/test_parity.py tests/test_oracles.py
TEST_PYTHONS ?= $(PYTHONS)
# test-pythons is the two halves, which CI runs in different lanes: each interpreter's wheel,
# then the sdist.
.PHONY: test-pythons-wheels test-sdist
test-pythons: test-pythons-wheels test-sdist ## test the installed wheel of each supported Python in a fresh virtualenv, then the sdist

test-pythons-wheels: wheels ## test-pythons' first half: each wheel in a fresh virtualenv
	@$(FIND_PYTHON); set -e; for version in $(TEST_PYTHONS); do \
		python=$$(find_python $$version); \
		venv=$(PYTHONS_VENVS)/$$version; \
		tag=cp$$(echo $$version | tr -d .); \
		echo "=== Python $$version ($$python): $(DIST)/*-$$tag-*.whl"; \
		rm -rf $$venv; $$python -m venv $$venv; \
		$$venv/bin/python -m pip install --quiet --disable-pip-version-check \
			$(DIST)/*-$$tag-$$tag-*.whl -r requirements-test.txt; \
		oracle=$$($$venv/bin/python -c \
			"import sys; print('reference' if sys.version_info < (3, 12) else 'pure')"); \
		skip=; if [ $$oracle = pure ]; then \
			skip="--ignore=tests/test_patch.py --ignore=tests/test_iqm_client_e2e.py \
				--ignore=tests/test_hostile.py"; fi; \
		export IQM_RUNSTATUS_ORACLE=$$oracle IQM_RUNSTATUS_INSTALLED=1 IQM_RUNSTATUS_DIST=$(abspath $(DIST)); \
		HYPOTHESIS_PROFILE=dev $$venv/bin/python -m pytest $(PYTHONS_PYTEST) -m "not slow" $$skip tests; \
		HYPOTHESIS_PROFILE=ci $$venv/bin/python -m pytest $(PYTHONS_PYTEST) $(DIFFERENTIAL_TESTS); \
	done

test-sdist: $(SDIST_BUILT) ## test-pythons' second half: the sdist through pip, and pip's refusal of an unsupported Python
	@# The sdist builds with plain pip (compiling the core) on the newest supported Python; without
	@# LTO, since this checks that it builds and works, and the wheels are the release build.
	@$(FIND_PYTHON); set -e; version=$(lastword $(PYTHONS)); venv=$(PYTHONS_VENVS)/sdist; \
		echo "=== the sdist with Python $$version"; \
		rm -rf $$venv; $$(find_python $$version) -m venv $$venv; \
		CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
			$$venv/bin/python -m pip install --quiet --disable-pip-version-check $(DIST)/*.tar.gz; \
		cd $(PYTHONS_VENVS) && sdist/bin/python -c "$$SDIST_CHECK"
	@# An unsupported interpreter is refused by pip, naming the supported range.
	@$(FIND_PYTHON); for version in $(UNSUPPORTED_PYTHONS); do \
		python=$$(find_python $$version 2>/dev/null) || { echo "(Python $$version not here)"; continue; }; \
		venv=$(PYTHONS_VENVS)/unsupported-$$version; rm -rf $$venv; $$python -m venv $$venv; \
		log=$$($$venv/bin/python -m pip install --disable-pip-version-check $(DIST)/*.tar.gz 2>&1); \
		case "$$log" in \
			*"requires a different Python: "*"not in '<3.14,>=3.9'"*) \
				echo "=== Python $$version refused: $$(echo "$$log" | tail -1)";; \
			*) echo "$$log"; echo "Python $$version was not refused with the supported range" >&2; \
				exit 1;; \
		esac; \
	done

# ---------------------------------------------------------------------------------------------
# The iqm-client releases the package stands in for, each in a virtualenv of its own.

# A sample of the release line that has `RunStatus` (15.0 to 32.1.1): each vocabulary, both
# ways of parsing a status body (`from_dict` up to 22.5, `model_validate` after), and the
# clients' three ways of storing their URL.
CLIENT_RELEASES ?= 15.4 17.2 18.8 20.17 22.16 24.3.0 29.14.0 32.1.1
CLIENTS_DIR := build/clients
CLIENTS_WHEEL := $(CLIENTS_DIR)/wheel
# iqm-client 15.x to 17.x install on CPython 3.9 to 3.11 and 18.x on from 3.10: 3.11 takes all.
CLIENTS_PYTHON := 3.11
# The differential tests against the installed release, the patch end to end, and the poller
# with that release's IQMClient; they need pytest, pytest-timeout and hypothesis only, not the
# Arrow and Dask readers of requirements-test.txt.
CLIENTS_TESTS := tests/test_client_release.py tests/test_poller_client.py
CLIENTS_REQUIREMENTS = $$(grep -E '^(pytest|pytest-timeout|hypothesis)[<>=~!]' requirements-test.txt)
# The release's own tests, where its sdist ships them (15.x to 20.x do; from 22.x on the sdist
# has no test module): those of `get_run_status` and of waiting for a job, in the modules that
# have them, with the patch applied by the plugin in tests/client_suite. They mock the server
# with mockito and freeze the clock with freezegun, at the versions the clients pin.
CLIENT_SUITE_TESTS := run_status or wait or run_result_status
CLIENT_SUITE_REQUIREMENTS := mockito==1.4.0 freezegun==1.5.1

# One wheel for every release's virtualenv, built from the development virtualenv's
# interpreter so that cargo reuses what `make build` compiled.
# With REUSE_WHEELS, the wheel `make wheels` built for that interpreter.
CLIENTS_TAG := cp$(subst .,,$(CLIENTS_PYTHON))
ifdef REUSE_WHEELS
$(CLIENTS_WHEEL)/.built: $(DIST)/.wheel-$(CLIENTS_PYTHON)
	rm -rf $(CLIENTS_WHEEL)
	mkdir -p $(CLIENTS_WHEEL)
	cp $(DIST)/*-$(CLIENTS_TAG)-$(CLIENTS_TAG)-*.whl $(CLIENTS_WHEEL)/
	touch $@
else
$(CLIENTS_WHEEL)/.built: $(INSTALLED) $(RUST_SOURCES) Cargo.lock build.rs $(PY_SOURCES) \
		python/iqm_runstatus/_core.pyi pyproject.toml README.md
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo \
		"make test-clients needs the virtualenv on CPython $(CLIENTS_PYTHON): make PYTHON=python$(CLIENTS_PYTHON) test-clients" >&2; exit 1; }
	rm -rf $(CLIENTS_WHEEL)
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin build --quiet --release --interpreter $(PY) --out $(CLIENTS_WHEEL)
	touch $@
endif

# The package's own dependencies, as pyproject.toml lists them, one a line.
PACKAGE_DEPENDENCIES = $(PY) -c 'import tomllib; \
	print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")'

# A virtualenv is made once for its release, the test requirements and the package's
# dependencies (pyproject.toml), and kept. It needs no wheel, so CI makes them while the wheels
# build.
.PHONY: clients-venvs test-clients
clients-venvs: $(INSTALLED) ## make the virtualenv of each iqm-client release of CLIENT_RELEASES (kept, without the wheel)
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo \
		"make test-clients needs the virtualenv on CPython $(CLIENTS_PYTHON): make PYTHON=python$(CLIENTS_PYTHON) test-clients" >&2; exit 1; }
	@set -e; requirements="$(CLIENTS_REQUIREMENTS)"; readarray -t dependencies < <($(PACKAGE_DEPENDENCIES)); \
	for release in $(CLIENT_RELEASES); do \
		venv=$(CLIENTS_DIR)/$$release; \
		stamp="iqm-client==$$release $$(echo $$requirements) $(CLIENT_SUITE_REQUIREMENTS) $$(sha256sum < pyproject.toml)"; \
		if [ "$$(cat $$venv/.made-for 2>/dev/null)" != "$$stamp" ]; then \
			echo "=== iqm-client $$release: a fresh virtualenv"; \
			rm -rf $$venv; $(PY) -m venv $$venv; \
			$$venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip; \
			$$venv/bin/python -m pip install --quiet "iqm-client==$$release" $$requirements \
				$(CLIENT_SUITE_REQUIREMENTS) "$${dependencies[@]}"; \
			echo "$$stamp" > $$venv/.made-for; \
		fi; \
	done

# A new wheel is swapped into each virtualenv (its dependencies are there). Every release runs,
# then the ones that failed are named.
test-clients: clients-venvs $(CLIENTS_WHEEL)/.built ## test the wheel against each iqm-client release of CLIENT_RELEASES, in a virtualenv each
	@set -e; wheel=$$(ls $(CLIENTS_WHEEL)/*.whl); failed=; \
	for release in $(CLIENT_RELEASES); do \
		venv=$(CLIENTS_DIR)/$$release; \
		if [ "$$(cat $$venv/.wheel 2>/dev/null)" != "$$(sha256sum < $$wheel)" ]; then \
			$$venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
				--force-reinstall $$wheel; \
			sha256sum < $$wheel > $$venv/.wheel; \
		fi; \
		echo "=== iqm-client $$release"; \
		env -u IQM_RUNSTATUS_CLIENT_RELEASE IQM_RUNSTATUS_ORACLE=installed IQM_RUNSTATUS_INSTALLED=1 \
			$$venv/bin/python -m pytest -q --tb=short -p no:cacheprovider $(CLIENTS_TESTS) || failed="$$failed $$release"; \
		suite=$(CLIENTS_DIR)/sdist-$$release; \
		if [ ! -f $$suite/.unpacked ]; then \
			rm -rf $$suite; mkdir -p $$suite/download; \
			$$venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
				--no-binary :all: "iqm-client==$$release" -d $$suite/download; \
			tar -xzf $$suite/download/*.tar.gz -C $$suite --strip-components=1; \
			touch $$suite/.unpacked; \
		fi; \
		modules=$$(cd $$suite && grep -lE 'get_run_status|RunStatus|wait_for' tests/test_*.py 2>/dev/null || true); \
		if [ -n "$$modules" ]; then \
			echo "=== iqm-client $$release: its own tests of the run status, patched"; \
			(cd $$suite && env -u IQM_RUNSTATUS_CLIENT_RELEASE PYTHONPATH=$(abspath tests/client_suite) \
				$(CURDIR)/$$venv/bin/python -m pytest -q --tb=short -p no:cacheprovider -o timeout=300 \
				-c /dev/null --rootdir=. -p iqm_runstatus_patched -k "$(CLIENT_SUITE_TESTS)" $$modules) \
				|| failed="$$failed $$release(own-tests)"; \
		else \
			echo "=== iqm-client $$release: its sdist ships no test of the run status"; \
		fi; \
	done; \
	if [ -n "$$failed" ]; then echo "test-clients failed with iqm-client$$failed" >&2; exit 1; fi

clean: ## remove build products and the virtualenvs (one per interpreter)
	cargo clean
	rm -rf .venv .venv-* $(VENV) .pytest_cache .hypothesis .benchmarks $(DIST) build
