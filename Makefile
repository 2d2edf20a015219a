# Ferry's build. `make demo` and `make test` are the two commands a new machine needs.

SHELL := /bin/bash
GO ?= go
# Where `make kube` caches the control-plane binaries (outside the work tree,
# keyed by the Kubernetes version); tests and the demo find them through this.
export FERRY_KUBE_DIR := $(shell hack/build-kube.sh --dir)
# The helm CLI built from Go modules (tools/helm) into the same cache: tests
# compare Ferry's in-process Helm renders with `helm template`.
export FERRY_HELM_BIN := $(FERRY_KUBE_DIR)/helm
# Every process a test run starts inherits this mark, so the run can prove
# afterwards that none of them is still alive.
TEST_RUN_ID := ferry-test-$(shell date +%s%N)

.PHONY: all build image kube lint test fuzz demo clean ui-screenshots

all: build

BIN ?= bin/ferry
# The version and commit `ferry version` prints (internal/buildinfo).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/ferrycd/ferry/internal/buildinfo.version=$(VERSION) -X github.com/ferrycd/ferry/internal/buildinfo.commit=$(COMMIT)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/ferry

# Ferry's container image without Docker (internal/imagebuild): static
# binaries for IMAGE_PLATFORMS in one OCI image index, written as an OCI
# layout to bin/image; PUSH=REGISTRY/ferry:TAG pushes it. Reproducible: the
# files carry the commit's time (SOURCE_DATE_EPOCH), so the same commit
# gives the same digest.
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
image:
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || echo 0) $(GO) run ./hack/image \
	  -out bin/image -platforms $(IMAGE_PLATFORMS) -ldflags "$(LDFLAGS)" -version $(VERSION) -revision $(COMMIT) \
	  $(if $(PUSH),-push $(PUSH))

kube:
	@hack/build-kube.sh >/dev/null

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# The packages whose tests need no control plane run under the race detector
# (hack/test-packages.sh picks them); the rest run as before. -race needs cgo
# (a C compiler): without one those packages run without it, with a warning.
# Packages with a control plane run KUBE_TEST_PARALLEL at a time: they
# spend much of their time waiting (Leases expiring, rollouts, polls), so
# three overlap better than GOMAXPROCS (2 here) without starving each other.
KUBE_TEST_PARALLEL ?= 3
test: lint kube build
	@race=$$(hack/test-packages.sh race) && kube=$$(hack/test-packages.sh kube) || exit 1; \
	flag=-race; \
	if [ "$$($(GO) env CGO_ENABLED)" != 1 ]; then \
	  echo "warning: the race detector needs cgo (a C compiler); running without -race"; flag=; \
	fi; \
	echo "go test -count=1 $$flag: $$(wc -w <<<"$$race") packages that need no control plane"; \
	FERRY_TEST_RUN=$(TEST_RUN_ID) $(GO) test -count=1 $$flag -timeout 25m $$race && \
	echo "go test -count=1: the other $$(wc -w <<<"$$kube") packages" && \
	FERRY_TEST_RUN=$(TEST_RUN_ID) $(GO) test -count=1 -p $(KUBE_TEST_PARALLEL) -timeout 25m $$kube
	hack/check-leftovers.sh $(TEST_RUN_ID)

# The web UI's browser test, its screenshots written to docs/ui (docs/ui.md
# shows them). make test runs the same test, its screenshots in a temp dir.
ui-screenshots: kube
	FERRY_UI_SCREENSHOTS=$(CURDIR)/docs/ui $(GO) test -count=1 -run TestUIInABrowser ./internal/ui/uitest/

# Every fuzz target in the module, FUZZTIME each (not part of `make test`).
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

demo: kube build
	bin/ferry demo

# controller-gen runs in its own module graph (go run pkg@version), so it adds
# nothing to go.mod. Its output (zz_generated.deepcopy.go, the CRD YAML under
# config/crd/bases) is committed; run this after changing api/.
CONTROLLER_GEN ?= $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0

.PHONY: generate
generate:
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(GO) run ./hack/crdversions -versions v1beta1,v1beta2,v1 config/crd/bases/image.toolkit.fluxcd.io_*.yaml

# The Kubernetes OpenAPI schemas `ferry validate` embeds
# (internal/validate/openapi/kubernetes.json.gz, committed), read from a local
# API server built from the pinned version; run after changing that version.
.PHONY: openapi
openapi: kube
	$(GO) run ./hack/openapi -o internal/validate/openapi/kubernetes.json.gz

clean:
	rm -rf bin
