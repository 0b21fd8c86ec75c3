# Rafiq — the two commands: `make run` (set up, then serve with a demo) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Rafiq needs Python 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	@touch $@

setup: $(STAMP)
	$(BIN)/rafiq prepare

# The demo floor: agent, supervisor, trainer and admin accounts with random passwords, printed once
# at the first start (RAFIQ_DEMO_ACCOUNTS=0 to skip them).
run: setup
	@echo "Rafiq: sign in at http://$${RAFIQ_HOST:-127.0.0.1}:$${RAFIQ_PORT:-8000}/login with a demo account printed below at first start"
	@echo "       (as 'agent', click 'Play demo call'; forgot a password: .venv/bin/rafiq users passwd NAME)"
	RAFIQ_DEMO_ACCOUNTS=$${RAFIQ_DEMO_ACCOUNTS:-1} $(BIN)/rafiq serve

test: setup
	@services=$$(scripts/test-services.sh) && \
	env $$services $(BIN)/python -m pytest -ra

bench: setup
	$(BIN)/python bench/latency.py

clean:
	rm -rf $(VENV) var .pytest_cache
