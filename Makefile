# Fulcrum's everyday commands. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ART ?= artifacts

.PHONY: install protos kafka-jars redis test lint demo demo-kafka clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip wheel setuptools

# torch first and alone, so pip never resolves it twice; the rest comes from pyproject.toml.
install: $(BIN)/python
	$(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e '.[serve,train,dev]'

protos: $(BIN)/python
	$(BIN)/python -m grpc_tools.protoc -I protos --python_out=. --pyi_out=. --grpc_python_out=. protos/fulcrum/v1/recommender.proto
	$(BIN)/python -m grpc_tools.protoc -I protos --include_imports --include_source_info \
		--descriptor_set_out=protos/fulcrum-v1.protoset protos/fulcrum/v1/recommender.proto

# `make protos` writes the Python code (fulcrum/v1/) and the descriptor set that grpcurl, ghz and
# gateways load (protos/fulcrum-v1.protoset, docs/api.md); `make clients` the Go client's code
# (clients/go/fulcrum/v1/), with the protoc plugins pinned as tools in clients/go/go.mod (built
# from the Go module proxy into clients/go/.bin/). All committed; tests/test_protos_current.py
# and tests/test_client_go.py prove they are current.
GO ?= go
.PHONY: clients
clients: $(BIN)/python
	cd clients/go && $(GO) build -o .bin/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
	$(BIN)/python -m grpc_tools.protoc -I protos \
		--plugin=protoc-gen-go=clients/go/.bin/protoc-gen-go --plugin=protoc-gen-go-grpc=clients/go/.bin/protoc-gen-go-grpc \
		--go_out=clients/go --go_opt=paths=source_relative \
		--go-grpc_out=clients/go --go-grpc_opt=paths=source_relative protos/fulcrum/v1/recommender.proto

kafka-jars:
	deploy/kafka/kafka.sh fetch

redis:
	@command -v redis-server >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server)

# pytest exits 5 when it collects no test: that is a failure here, said plainly.
test:
	@$(BIN)/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint:
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

clean:
	rm -rf $(ART) .pytest_cache
