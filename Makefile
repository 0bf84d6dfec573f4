# Server Check — the Makefile is the interface. `make` prints help.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath .)
MODULES = $(shell scripts/modules.sh)
SERVICES := api scheduler checker log-writer notifier

.PHONY: help build token test lint fmt generate check-generated migrate up down bench scale ci tools

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build every service and the migrate command into bin/
	@mkdir -p bin
	@for s in $(SERVICES); do (cd services/$$s && go build -o $(ROOT)/bin/$$s .) || exit 1; done
	@cd db && go build -o $(ROOT)/bin/migrate ./cmd/migrate
	@cd services/api && go build -o $(ROOT)/bin/devtoken ./cmd/devtoken

token: ## Print a development token for `make up`: make token EMAIL=you@example.com ROLE=USER|ADMIN|GUEST
	@cd services/api && go build -o $(ROOT)/bin/devtoken ./cmd/devtoken
	@scripts/token.sh "$(or $(EMAIL),user@servercheck.local)" "$(or $(ROLE),USER)"

test: ## Start throw-away PostgreSQL and Redis and run every module's tests with -race
	@scripts/test.sh

lint: ## go vet and golangci-lint (pinned in tools/) on every module
	@scripts/tools.sh golangci-lint
	@for m in $(MODULES); do echo "== lint $$m"; (cd $$m && go vet ./... && $(ROOT)/bin/golangci-lint run --config $(ROOT)/.golangci.yml ./...) || exit 1; done

fmt: ## Format Go code (gofmt -s) and protobuf (buf format)
	@for m in $(MODULES); do gofmt -s -w $$m; done
	@scripts/tools.sh buf && cd proto-events && $(ROOT)/bin/buf format -w

generate: ## Regenerate committed code (protobuf Go in proto-events/gen)
	@scripts/generate.sh

check-generated: generate ## Fail when generated code differs from what is committed
	@git diff --exit-code -- proto-events/gen || (echo "generated code is stale: run make generate and commit" >&2; exit 1)
	@test -z "$$(git status --porcelain -- proto-events/gen)" || (echo "untracked generated files: run make generate and commit" >&2; exit 1)
	@echo "generated code is up to date"

migrate: ## Apply migrations to DATABASE_URL (the dev stack's when unset)
	@cd db && go build -o $(ROOT)/bin/migrate ./cmd/migrate
	@if [ -z "$$DATABASE_URL" ]; then eval "$$(scripts/stack.sh env dev)"; fi; bin/migrate up

up: ## Run the whole system locally (installs PostgreSQL/Redis if missing)
	@scripts/up.sh

down: ## Stop everything `make up` started
	@scripts/down.sh

bench: ## Run Go benchmarks of every module (figures go to docs/performance.md)
	@scripts/stack.sh up test
	@eval "$$(scripts/stack.sh env test)"; export TEST_DATABASE_URL TEST_REDIS_ADDR; \
	for m in $(MODULES); do (cd $$m && go test -run '^$$' -bench . -benchmem ./...) || exit 1; done

scale: ## Scale test: checkers 1 -> 3 -> 1 under load, nothing lost (about 5 min; not in make test)
	@scripts/scale.sh

ci: check-generated lint test ## Everything CI checks
