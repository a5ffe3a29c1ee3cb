# kazoo developer tasks. `make tour` and `make test` do all the set-up they need.
#
#   setup   ZooKeeper + java (apt-get when root and nothing is found), .venv with .[test]
#   test    ruff, mypy, then the whole pytest suite (real ZooKeeper via kazoo.testing), then
#           the client and driver tests again in a gevent and an eventlet process
#           (test-threading, test-gevent, test-eventlet run one part each)
#   tour    examples/tour.py against a throwaway local ZooKeeper
#   lint    ruff + mypy only
#   bench   benchmarks/ against a throwaway local ZooKeeper (ratios to a raw-socket ceiling)
#   clean   remove the venv, caches and build output

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
VBIN := $(VENV)/bin
STAMP := $(VENV)/.kazoo-installed
PYTEST_ARGS ?=
# What runs again under each green handler, each in a monkey-patched process of its own
# (tests/run_handler.py). The main run (test-threading) tests the green handlers without
# monkey-patching (tests/green, the parametrised driver and stop-hygiene tests).
GREEN_TESTS ?= tests/integration tests/drivers tests/recipes/test_lock.py \
	tests/recipes/test_lock_session.py tests/recipes/test_semaphore.py tests/recipes/test_election.py
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: setup system-deps test test-threading test-gevent test-eventlet lint tour bench clean

setup: system-deps $(STAMP)

# ZooKeeper counts as found when ZOOKEEPER_CLASSPATH or ZOOKEEPER_PATH is set,
# Debian's /usr/share/java/zookeeper.jar exists, or zkServer.sh is on PATH.
system-deps:
	@pkgs=""; \
	if [ -n "$${ZOOKEEPER_CLASSPATH:-}$${ZOOKEEPER_PATH:-}" ] || [ -f /usr/share/java/zookeeper.jar ] \
	   || command -v zkServer.sh >/dev/null 2>&1; then \
	  echo "setup: ZooKeeper found"; \
	else pkgs=" zookeeper"; fi; \
	if command -v java >/dev/null 2>&1 || [ -x "$${JAVA_HOME:-/nonexistent}/bin/java" ]; then \
	  echo "setup: java found"; \
	else pkgs="$$pkgs default-jre-headless"; fi; \
	if [ -n "$$pkgs" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "setup: apt-get install$$pkgs"; \
	    $(APT_GET) update -q && $(APT_GET) install -y -q --no-install-recommends $$pkgs; \
	  else \
	    echo "setup: missing:$$pkgs" >&2; \
	    echo "  Install ZooKeeper (3.5 or newer; Debian/Ubuntu: apt-get install zookeeper) and a" >&2; \
	    echo "  Java runtime, or point ZOOKEEPER_PATH at a ZooKeeper release directory (the one" >&2; \
	    echo "  with lib/*.jar), or ZOOKEEPER_CLASSPATH at an explicit Java classpath." >&2; \
	    exit 1; \
	  fi; \
	fi

# The virtualenv is (re)installed only when the packaging files changed.
$(STAMP): pyproject.toml setup.py
	@if [ ! -x $(VBIN)/python ]; then \
	  rm -rf $(VENV); \
	  if ! $(PYTHON) -m venv $(VENV); then \
	    rm -rf $(VENV); \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      $(APT_GET) update -q && $(APT_GET) install -y -q --no-install-recommends python3-venv \
	        && $(PYTHON) -m venv $(VENV); \
	    else \
	      echo "setup: $(PYTHON) -m venv failed; install your distribution's venv package" >&2; \
	      exit 1; \
	    fi; \
	  fi; \
	fi
	$(VBIN)/python -m pip install -q --upgrade pip
	$(VBIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

lint: setup
	$(VBIN)/ruff check kazoo tests benchmarks examples
	$(VBIN)/mypy kazoo

test: lint test-threading test-gevent test-eventlet

test-threading: setup
	$(VBIN)/pytest $(PYTEST_ARGS)

test-gevent: setup
	$(VBIN)/python tests/run_handler.py gevent $(GREEN_TESTS) tests/green/test_gevent_wsgi.py $(PYTEST_ARGS)

test-eventlet: setup
	$(VBIN)/python tests/run_handler.py eventlet $(GREEN_TESTS) $(PYTEST_ARGS)

tour: setup
	$(VBIN)/python -m kazoo.testing.tour_runner examples/tour.py

bench: setup
	$(VBIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path "./.git/*" -exec rm -rf {} +
