# The whole developer interface. Every target installs what it needs into .venv itself.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum | cut -c1-12)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: dev test lint typecheck complexity soak unit integration infra bench bootstrap synth deploy destroy smoke run demo clean

CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell sha1sum requirements-checkov.txt | cut -c1-12)

$(STAMP):
	@echo "Setting up $(VENV): installing the pinned requirements (boto3, Powertools, aws-cdk-lib, cdk-nag, cfn-lint, moto, pytest, playwright, ...); this takes a few minutes the first time"
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@echo "Installing this project into $(VENV) (editable: the session-monitor command)"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# checkov in its own venv: its dependency pins would fight the function's.
$(CHECKOV_STAMP): requirements-checkov.txt
	@echo "Setting up $(CHECKOV_VENV): installing checkov (its own venv: its pins would fight the function's); this takes a few minutes the first time"
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-checkov.txt
	rm -f $(CHECKOV_VENV)/.installed-* && touch $(CHECKOV_STAMP)

dev: $(STAMP) $(CHECKOV_STAMP)  ## create .venv (and .venv-checkov) with pinned requirements

test: $(STAMP) $(CHECKOV_STAMP) lint typecheck complexity  ## the gates, then every test: unit, integration, infrastructure (cdk-nag, cfn-lint, checkov), local mode
	$(PY) -m pytest

lint: $(STAMP)  ## ruff: lint rules and formatting (chosen in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)  ## mypy, strict for the function (lambda_src/) and the stack (infra/)
	$(VENV)/bin/mypy lambda_src/session_monitor lambda_src/session_contract infra app.py

complexity: $(STAMP)  ## radon grade B at most in lambda_src/ and infra/; C in local_mode/ and bench/ (exceptions named in tests/unit/test_code_health.py)
	$(VENV)/bin/xenon --max-absolute B lambda_src infra app.py
	$(VENV)/bin/xenon --max-absolute C local_mode bench

soak: $(STAMP)  ## the alert ledger's property and stateful tests with thousands of examples (long)
	HYPOTHESIS_PROFILE=soak LEDGER_SOAK_REPORT=.soak-report.json $(PY) -m pytest tests/unit/test_ledger.py tests/integration/test_ledger_stateful.py

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP)
	$(PY) -m pytest tests/integration

infra: $(STAMP) $(CHECKOV_STAMP)
	$(PY) -m pytest tests/infra

bench: $(STAMP)  ## benchmarks: cold start vs the boto3 floor, warm per-call CPU, 1k/10k sweeps, asset size (BENCH_ARGS=--quick: ~1 min)
	$(PY) -m bench.run $(BENCH_ARGS)

run: $(STAMP)  ## the monitor locally (moto + Athena emulator), API and Swagger UI on :8080, until Ctrl-C
	$(PY) -m local_mode.runner

demo: $(STAMP)  ## one-shot local scenario: exits non-zero unless the alerts match the lifecycles
	$(PY) -m local_mode.runner --once --port 0

# The CDK CLI, pinned, from npm (needs Node; nothing global is installed).
CDK := npx --yes aws-cdk@2.1148.1
CDK_ARGS ?=

bootstrap: $(STAMP)  ## once per account and Region, before the first deploy
	$(CDK) bootstrap $(CDK_ARGS)

synth: $(STAMP)  ## template into cdk.out/; fails on any unacknowledged cdk-nag finding
	$(CDK) synth --quiet $(CDK_ARGS)

deploy: $(STAMP)  ## to the account/Region of your AWS credentials, e.g. CDK_ARGS="-c alertEmail=ops@example.com"
	$(CDK) deploy $(CDK_ARGS)

destroy: $(STAMP)
	$(CDK) destroy --force $(CDK_ARGS)

DOCTOR_ARGS ?=

smoke: $(STAMP)  ## the deployed stack, checked with your credentials: one line per check, exit 1 on a FAIL (DOCTOR_ARGS="--region eu-west-1 --stack-name X")
	$(PY) -m local_mode.cli doctor $(DOCTOR_ARGS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) cdk.out .pytest_cache .hypothesis
