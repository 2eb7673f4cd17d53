# hermetic: everyday commands. `make` builds the development binary at build/hermetic;
# `make test` does its own setup on a fresh Debian bookworm machine and runs everything.
.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD      ?= build
MESON      ?= meson
PYTHON     ?= /usr/bin/python3
FUZZ_SECONDS ?= 30

.PHONY: all deps test unit e2e static static-x86_64 static-aarch64 fuzz format clean help

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

deps: ## install missing Debian packages for the development build and tests
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	@scripts/install-deps.sh
	$(MESON) setup $(BUILD)

all: $(BUILD)/build.ninja ## development build: build/hermetic
	ninja -C $(BUILD)

test: ## everything: sanitizer unit+e2e, static x86_64 e2e, static aarch64 under qemu, fuzz smoke
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run-all.sh

unit: all ## unit tests of the development build only
	$(MESON) test -C $(BUILD) --print-errorlogs

e2e: all ## end-to-end tests against build/hermetic
	HERMETIC_BIN=$(CURDIR)/$(BUILD)/hermetic $(PYTHON) -m pytest -q tests/e2e

static: static-x86_64 static-aarch64 ## fully static musl binaries in dist/

static-x86_64:
	cross/build-static.sh x86_64

static-aarch64:
	cross/build-static.sh aarch64

fuzz: ## run every fuzz target for FUZZ_SECONDS each
	@FUZZ_ONLY=1 FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run-all.sh

format: ## apply .clang-format to the C sources
	clang-format -i src/*.c src/*.h tests/*.c tests/*.h tests/fuzz/*.c

clean: ## remove build directories and dist/
	rm -rf build build-* dist

.PHONY: bench
bench: ## run the benchmarks (not part of make test)
	benchmarks/router/run.sh
