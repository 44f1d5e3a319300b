# The whole developer interface. Every target installs what it needs into .venv itself.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum | cut -c1-12)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: dev test browser lint typecheck complexity soak unit integration infra bench bootstrap synth deploy destroy smoke run demo lock clean

# Every venv installs from a lock: requirements*.txt, written by `make lock` from the hand-edited
# requirements*.in, pin every package, transitive ones included, with the hash of each release
# file; pip refuses anything unpinned or whose hash differs (--require-hashes), and takes wheels
# only (--only-binary): building an sdist would fetch its build dependencies unchecked.
PIP_INSTALL := -m pip install -q --disable-pip-version-check --require-hashes --only-binary :all:

CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell sha1sum requirements-checkov.txt | cut -c1-12)

$(STAMP):
	@echo "Setting up $(VENV): installing the hashed lock requirements-dev.txt (boto3, Powertools, aws-cdk-lib, cdk-nag, cfn-lint, moto, pytest, playwright, ...); this takes a few minutes the first time"
	python3 -m venv $(VENV)
	$(PY) $(PIP_INSTALL) -r requirements-dev.txt
	@echo "Installing this project into $(VENV) (editable: the session-monitor command; built by the locked setuptools)"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# checkov in its own venv: its dependency pins would fight the function's. The stamp's name is a
# hash of the lock, so `make lock` rewriting an unchanged lock reinstalls nothing.
$(CHECKOV_STAMP):
	@echo "Setting up $(CHECKOV_VENV): installing checkov (its own venv: its pins would fight the function's); this takes a few minutes the first time"
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) -r requirements-checkov.txt
	rm -f $(CHECKOV_VENV)/.installed-* && touch $(CHECKOV_STAMP)

# The lock tool (uv, pinned and hashed in requirements-uv.txt) in its own venv: nothing it
# needs lands in .venv or .venv-checkov.
LOCK_VENV := .venv-lock
LOCK_STAMP := $(LOCK_VENV)/.installed-$(shell sha1sum requirements-uv.txt | cut -c1-12)
# --universal: one resolution for every OS and machine (lines carry environment markers, and
# the hashes of every file of a release), so the lock does not depend on the machine that wrote
# it. --python-version: the oldest Python each lock must install on.
# Versions already in a lock are kept unless an .in asks otherwise: `make lock` moves only what
# changed. LOCK_ARGS=--upgrade moves every unpinned (transitive) dependency to its newest release.
UV_COMPILE = $(LOCK_VENV)/bin/uv pip compile --no-config --quiet --universal --generate-hashes --custom-compile-command "make lock" $(LOCK_ARGS)
LOCK_ARGS ?=

$(LOCK_STAMP):
	@echo "Setting up $(LOCK_VENV): the lock tool (uv) from requirements-uv.txt"
	python3 -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python $(PIP_INSTALL) -r requirements-uv.txt
	rm -f $(LOCK_VENV)/.installed-* && touch $(LOCK_STAMP)

lock: $(LOCK_STAMP)  ## rewrite the hashed locks requirements*.txt from requirements*.in (LOCK_ARGS=--upgrade: newest transitive releases too)
	$(UV_COMPILE) --python-version 3.11 requirements-uv.in -o requirements-uv.txt
	$(UV_COMPILE) --python-version 3.11 requirements.in -o requirements.txt
	$(UV_COMPILE) --python-version 3.11 requirements-dev.in -o requirements-dev.txt
	$(UV_COMPILE) --python-version 3.11.5 requirements-checkov.in -o requirements-checkov.txt

dev: $(STAMP) $(CHECKOV_STAMP)  ## create .venv (and .venv-checkov) from the hashed locks

# Debian's Chromium for the Swagger UI browser test (tests/local/test_swagger_ui.py); without it
# that test is skipped, saying why. Installed only where this can: as root, with apt-get.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's chromium for the browser test (apt-get, as root)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
	    || echo "warning: could not install chromium with apt-get: the browser test will be skipped"; \
	else \
	  echo "note: no $(CHROMIUM), and make installs it only as root with apt-get: the browser test will be skipped (apt-get install chromium runs it)"; \
	fi

test: $(STAMP) $(CHECKOV_STAMP) browser lint typecheck complexity  ## the gates, then every test: unit, integration, infrastructure (cdk-nag, cfn-lint, checkov), local mode, browser
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

bench: $(STAMP)  ## benchmarks: cold start vs the boto3 floor, warm per-call CPU, 1k/10k/100k sweeps, CloudTrail events, cost model, asset size (~10 min; BENCH_ARGS=--quick: ~2 min, skips 100k)
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
	rm -rf $(VENV) $(CHECKOV_VENV) $(LOCK_VENV) cdk.out .pytest_cache .hypothesis
