# Fulcrum's everyday commands. `make test` and `make demo` work on a fresh clone: each does the
# set-up it needs (virtualenv + Python packages, Kafka jars, redis-server) and says what it installs.
# Prerequisites: Python >= 3.11 with venv, a JDK >= 17 and Maven (Kafka jars), redis-server (Debian);
# as root on Debian the missing system packages are installed with apt-get. See README.md.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ART ?= artifacts
# Written after a successful install: a second `make test` does not reinstall (pyproject.toml
# newer than the stamp does). `make install` after removing it forces a reinstall.
INSTALLED := $(VENV)/.fulcrum-installed
# grpcio-tools pinned as in pyproject.toml's dev extra: `make protos` needs only this.
GRPC_TOOLS := $(shell grep -o '"grpcio-tools==[^"]*"' pyproject.toml | tr -d '"')
TORCH := $(shell grep -o '"torch==[^"]*"' pyproject.toml | head -1 | tr -d '"')
PYTEST_FAST := -m "not kafka and not redis and not slow"

.PHONY: install protos kafka-jars redis test test-fast lint demo demo-kafka images compose-test clean

$(BIN)/python:
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "make: $(PY) is missing or older than 3.11; install Python 3.11 (Debian bookworm: apt-get install python3 python3-venv) or pass PY=python3.11" >&2; exit 1; }
	@echo "make: creating the virtualenv $(VENV) with $$($(PY) --version)"
	$(PY) -m venv $(VENV) || { echo "make: venv failed; on Debian install python3-venv" >&2; rm -rf $(VENV); exit 1; }
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools

# torch first and alone (CPU+CUDA wheel, ~3 GB with its CUDA libraries), so pip never resolves it
# twice; then fulcrum in editable mode with its serve, train and dev extras from pyproject.toml.
$(INSTALLED): pyproject.toml | $(BIN)/python
	@echo "make: installing into $(VENV): $(TORCH), then fulcrum[serve,train,dev] (pyproject.toml)"
	$(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -e '.[serve,train,dev]'
	touch $@

install: $(INSTALLED)

# Regenerates fulcrum/v1/ from protos/ (committed; tests/test_protos_current.py checks it is current).
# Works before `make install`: it needs only the virtualenv and grpcio-tools.
NEED_GRPC_TOOLS = @$(BIN)/python -c 'import grpc_tools' 2>/dev/null || { echo "make: installing $(GRPC_TOOLS) into $(VENV)"; $(BIN)/pip install --quiet "$(GRPC_TOOLS)"; }
protos: | $(BIN)/python
	$(NEED_GRPC_TOOLS)
	$(BIN)/python -m grpc_tools.protoc -I protos --python_out=. --pyi_out=. --grpc_python_out=. protos/fulcrum/v1/recommender.proto
	$(BIN)/python -m grpc_tools.protoc -I protos --include_imports --include_source_info \
		--descriptor_set_out=protos/fulcrum-v1.protoset protos/fulcrum/v1/recommender.proto

# `make protos` writes the Python code (fulcrum/v1/) and the descriptor set that grpcurl, ghz and
# gateways load (protos/fulcrum-v1.protoset, docs/api.md); `make clients` the Go client's code
# (clients/go/fulcrum/v1/), with the protoc plugins pinned as tools in clients/go/go.mod (built
# from the Go module proxy into clients/go/.bin/). All committed; tests/test_protos_current.py
# and tests/clients/test_client_go.py prove they are current.
GO ?= go
.PHONY: clients
clients: | $(BIN)/python
	$(NEED_GRPC_TOOLS)
	cd clients/go && $(GO) build -o .bin/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
	$(BIN)/python -m grpc_tools.protoc -I protos \
		--plugin=protoc-gen-go=clients/go/.bin/protoc-gen-go --plugin=protoc-gen-go-grpc=clients/go/.bin/protoc-gen-go-grpc \
		--go_out=clients/go --go_opt=paths=source_relative \
		--go-grpc_out=clients/go --go-grpc_opt=paths=source_relative protos/fulcrum/v1/recommender.proto

# Apache Kafka jars from Maven Central into deploy/kafka/lib (nothing when already there; as root
# on Debian it installs Maven and a JDK with apt-get when they are missing).
kafka-jars:
	deploy/kafka/kafka.sh fetch

redis:
	@if command -v redis-server >/dev/null; then echo "make: $$(redis-server --version | cut -d' ' -f1-3)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "make: installing redis-server with apt-get (Debian)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else echo "make: redis-server not found; install it (Debian: sudo apt-get install redis-server)" >&2; exit 1; fi

# pytest exits 5 when it collects no test: that is a failure here, said plainly.
# The whole suite: the fixtures start a real Kafka broker and redis-server on free loopback ports.
test: install kafka-jars redis
	@$(BIN)/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The development loop: no broker, no Redis, nothing slow. One test: .venv/bin/pytest tests/<package>/test_x.py -q
test-fast: install
	@$(BIN)/pytest $(PYTEST_FAST) -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-fast: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy online

# The whole system end to end (fulcrum/demo/): prepare, train, export, evaluate, Feast, serve,
# replay the test period, show. Steps whose outputs are current are skipped; DEMO_ARGS passes
# options, e.g. DEMO_ARGS="--replay-limit 20000" (only the first events of the test period) or DEMO_ARGS="--redo all".
demo: install
	$(BIN)/fulcrum demo --artifacts $(ART) $(DEMO_ARGS)

# The same through the real local Kafka broker (deploy/kafka/kafka.sh): fulcrum replay -> fulcrum ingest.
demo-kafka: install kafka-jars
	$(BIN)/fulcrum demo --kafka --artifacts $(ART) $(DEMO_ARGS)

# Containers (docs/deployment.md): serve (no torch), ingest, train images; without a registry a
# Debian base is built with debootstrap and Kafka/Redis stand-ins locally. DOCKER=... picks the CLI.
images:
	deploy/docker/build-images.sh

# The stack in compose (KRaft Kafka, Redis, server, ingest consumer): events produced, health and
# Recommend checked through a real client, torn down. Needs `make images` and a bundle (`make demo`).
compose-test:
	deploy/compose/compose-test.sh

clean:
	rm -rf $(ART) .pytest_cache
