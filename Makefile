# hermetic: everyday commands. `make` builds the development binary at build/hermetic;
# `make test` does its own setup on a fresh Debian bookworm machine and runs everything.
.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD      ?= build
MESON      ?= meson
PYTHON     ?= /usr/bin/python3
FUZZ_SECONDS ?= 20
E2E_WORKERS ?= 6

.PHONY: all deps demo test check unit e2e static static-x86_64 static-aarch64 fuzz format lint picture clean help

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

deps: ## install missing Debian packages for the development build and tests
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	@scripts/install-deps.sh
	$(MESON) setup $(BUILD)

all: $(BUILD)/build.ninja ## development build: build/hermetic
	ninja -C $(BUILD)

demo: ## the agent end to end, no secrets: scripted model, a real MCP server (server-everything)
	@scripts/demo.sh

test: ## everything: sanitizer unit+e2e, static x86_64 e2e and its image under podman, static aarch64 under qemu, fuzz smoke
	@FUZZ_SECONDS=$(FUZZ_SECONDS) E2E_WORKERS=$(E2E_WORKERS) tests/run-all.sh

check: all ## the edit loop (a few minutes warm): lint, unit tests and the smoke e2e set on build/hermetic
	$(PYTHON) scripts/lint.py
	$(MESON) test -C $(BUILD) --print-errorlogs
	HERMETIC_BIN=$(CURDIR)/$(BUILD)/hermetic $(PYTHON) -m pytest -q -p no:cacheprovider \
	  -n $(E2E_WORKERS) -m smoke tests/e2e

unit: all ## unit tests of the development build only
	$(MESON) test -C $(BUILD) --print-errorlogs

e2e: all ## end-to-end tests against build/hermetic
	HERMETIC_BIN=$(CURDIR)/$(BUILD)/hermetic $(PYTHON) -m pytest -q -n $(E2E_WORKERS) tests/e2e

static: static-x86_64 static-aarch64 ## fully static musl binaries in dist/

static-x86_64:
	cross/build-static.sh x86_64

static-aarch64:
	cross/build-static.sh aarch64

picture: ## render docs/parts.dot to docs/parts.svg (Graphviz); commit both, test_docs.py checks they agree
	dot -Tsvg docs/parts.dot -o docs/parts.svg

fuzz: ## run every fuzz target for FUZZ_SECONDS each
	@FUZZ_ONLY=1 FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run-all.sh

# The C sources under clang-format and `make lint`: src/ at any depth, the unit tests, the fuzz targets.
C_SOURCES = $(shell find src tests -maxdepth 1 -name '*.[ch]'; find src -mindepth 2 -name '*.[ch]'; \
	      find tests/fuzz -name '*.c')

format: ## apply .clang-format to the C sources
	clang-format -i $(sort $(C_SOURCES))

lint: ## clang-format check, banned functions, layer edges, file sizes, circles (scripts/lint.py; run by `make test`)
	$(PYTHON) scripts/lint.py

clean: ## remove build directories and dist/
	rm -rf build build-* dist

.PHONY: bench
bench: ## run the benchmarks (not part of make test); BENCH_ONLY=router|gateway|pools, BENCH_QUICK=1 for a smoke run
	@case "$(BENCH_ONLY)" in ""|router|gateway|pools) ;; *) echo "BENCH_ONLY must be router, gateway or pools"; exit 2;; esac
	@if [ -z "$(BENCH_ONLY)" ] || [ "$(BENCH_ONLY)" = router ]; then benchmarks/router/run.sh; fi
	@if [ -z "$(BENCH_ONLY)" ] || [ "$(BENCH_ONLY)" = gateway ]; then benchmarks/gateway/run.sh; fi
	@if [ -z "$(BENCH_ONLY)" ] || [ "$(BENCH_ONLY)" = pools ]; then benchmarks/pools/run.sh; fi

# ---- K3s delivery: in-cluster registry, kaniko builds, manifests (docs/deploy-k3s.md) -------------
KUBECTL      ?= kubectl
REGISTRY     ?= registry.registry:5000
TAG          ?= $(shell git describe --tags --always --abbrev=12 2>/dev/null | sed 's/^v\([0-9]\)/\1/')
GIT_SHA      ?= $(shell git rev-parse HEAD 2>/dev/null)
SHORT_SHA    ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
GIT_URL      ?= $(shell git remote get-url origin 2>/dev/null | sed -E 's#^[a-z+]+://##; s#^[^@/]*@##; s#^([^/:]+):#\1/#')
GIT_REF      ?= $(shell b=$$(git symbolic-ref -q --short HEAD) && echo refs/heads/$$b)
PROM_RELEASE ?= kube-prometheus-stack

.PHONY: ai ai-registry ai-hermes-build ai-kubernetes-mcp-build ai-hermes-deploy k8s-secret validate image-rootfs image

ai: ## K3s: ai-registry, ai-hermes-build, ai-kubernetes-mcp-build, ai-hermes-deploy, in order
	$(MAKE) ai-registry
	$(MAKE) ai-hermes-build
	$(MAKE) ai-kubernetes-mcp-build
	$(MAKE) ai-hermes-deploy

ai-registry: ## K3s: registry:2 in namespace registry (NodePort 30500 for the nodes)
	$(KUBECTL) apply -k registry/
	$(KUBECTL) -n registry rollout status deployment/registry --timeout=300s
	@echo "registry ready: every node needs registry/registries.yaml as /etc/rancher/k3s/registries.yaml (docs/deploy-k3s.md)"

ai-hermes-build: ## K3s: build hermetic's image with kaniko from GIT_URL at GIT_REF/GIT_SHA, tags TAG and SHORT_SHA
	@test -n "$(GIT_URL)" || { echo "no git remote 'origin': set GIT_URL=github.com/<you>/hermetic.git"; exit 1; }
	@test -n "$(GIT_REF)" || { echo "detached HEAD: set GIT_REF=refs/heads/<branch> or GIT_REF=refs/tags/<tag>"; exit 1; }
	@git diff --quiet HEAD -- 2>/dev/null || echo "warning: uncommitted changes are not built: kaniko clones $(SHORT_SHA) from $(GIT_URL)"
	@git branch -r --contains $(GIT_SHA) 2>/dev/null | grep -q . || echo "warning: $(SHORT_SHA) is on no remote-tracking branch: push it, kaniko clones from $(GIT_URL)"
	$(KUBECTL) apply -f kaniko/namespace.yaml
	KUBECTL="$(KUBECTL)" kaniko/run-job.sh kaniko/job-hermetic.yaml GIT_URL=$(GIT_URL) GIT_REF=$(GIT_REF) \
	  GIT_SHA=$(GIT_SHA) TAG=$(TAG) SHORT_SHA=$(SHORT_SHA) REGISTRY=$(REGISTRY)

ai-kubernetes-mcp-build: ## K3s: build the kubernetes-mcp-server v0.0.67 sidecar image (arm64) with kaniko
	$(KUBECTL) apply -f kaniko/namespace.yaml
	KUBECTL="$(KUBECTL)" kaniko/run-job.sh kaniko/job-kubernetes-mcp-server.yaml REGISTRY=$(REGISTRY)

ai-hermes-deploy: ## K3s: Secret, kubectl apply -k k8s/ with image TAG, rollout status; monitoring if its CRD exists
	KUBECTL="$(KUBECTL)" REGISTRY="$(REGISTRY)" TAG="$(TAG)" PROM_RELEASE="$(PROM_RELEASE)" k8s/deploy.sh

k8s-secret: ## K3s: Secret ai/hermetic-secrets from k8s/secret.env (git-ignored) or the environment; NAMESPACE=, SECRET_ENV=
	KUBECTL="$(KUBECTL)" k8s/make-secret.sh

validate: all ## offline strict validation of k8s/, k8s-overlays/, registry/, kaniko/ (schemas, policy, config check)
	HERMETIC_BIN=$(CURDIR)/$(BUILD)/hermetic tests/k8s/validate.sh

image-rootfs: static-aarch64 ## the FROM-scratch image's file tree + tar in build-image/, without Docker; prints its size
	scripts/image-rootfs.sh

# Not part of `make test`: a cold build takes minutes (docs/numbers.md).
image: ## build kaniko/Dockerfile here with buildah (native arch, debootstrapped base, no registry) and check the image
	scripts/image-build.sh
