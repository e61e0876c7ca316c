# The two commands a new user needs:  `make demo`  and  `make test`.
UV := ./scripts/uv.sh
RUN := $(UV) run --locked

.PHONY: demo test sync lint typecheck validate-defs pytest bench dev stack stack-down validate-deploy clean

## Command one: install everything and run the weekly loop end to end on embedded defaults.
demo: sync
	$(RUN) churn-platform demo

## Command two: the whole suite (lint, types, Dagster definitions, tests, deployment files).
test: sync lint typecheck validate-defs pytest validate-deploy

## Bytecode compiled at install: a fresh process then loads numba's cached kernels in well under
## a second even where PYTHONDONTWRITEBYTECODE is set (as in the Docker image: UV_COMPILE_BYTECODE=1).
sync:
	$(UV) sync --locked --compile-bytecode

lint:
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports

typecheck:
	$(RUN) mypy

validate-defs:
	$(RUN) dagster definitions validate -w workspace.yaml

pytest:
	$(RUN) pytest -n 2 --dist loadfile

bench: sync
	$(RUN) python -m benchmarks

## Dagster UI on http://127.0.0.1:3000 against the embedded PostgreSQL.
dev: sync
	$(RUN) churn-platform dev

## The compose stack's services as local processes on 127.0.0.1 (docs/stack.md); stop: make stack-down
stack: sync
	$(RUN) churn-platform stack up

stack-down:
	$(RUN) churn-platform stack down

validate-deploy:
	bash scripts/validate_deploy.sh

clean:
	rm -rf .churn_platform .tools .venv
