# whiskers build and test entry points. `make test` is what CI runs.

GO ?= go

.PHONY: all build test vet unit wasm wasm-check demo traefik nomad consul

all: build

build:
	$(GO) build -o bin/whiskers ./cmd/whiskers

## test: everything CI checks: vet, committed .wasm == fresh build, race tests.
test: vet wasm-check unit

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

## wasm: rebuild the C WebAssembly handlers from source (needs clang, lld, wasi-libc).
wasm:
	@if [ -f wasmhost/handlers/Makefile ]; then $(MAKE) -C wasmhost/handlers; fi

## wasm-check: fail if a committed .wasm differs from a fresh build of its source.
wasm-check:
	@if [ -f wasmhost/handlers/Makefile ]; then $(MAKE) -C wasmhost/handlers check; fi

demo:
	$(GO) run ./cmd/whiskers demo

## traefik: the real Traefik (v3.6.12) at .cache/bin/traefik for the e2e tests
## and the demo; built once (~10 min on two cores), then reused.
traefik:
	@bash .ci/tool.sh traefik

## nomad: the real Nomad (v1.6.1, the last MPL-2.0 release) at .cache/bin/nomad
## for the real-cluster tests and the demo; built once (~2 min), then reused.
nomad:
	@bash .ci/tool.sh nomad

## consul: the real Consul (v1.14.8) at .cache/bin/consul; built once (~3 min).
consul:
	@bash .ci/tool.sh consul
