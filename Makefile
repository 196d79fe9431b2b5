# nodenet.nmstate: `make demo` runs the main job on the lab, `make test` runs every test.
SHELL := /bin/bash

.PHONY: setup test demo demo-down lab-up lab-down bench bench-quick

setup:
	@scripts/bootstrap.sh

test:
	@scripts/test.sh

demo:
	@scripts/demo.sh

demo-down:
	@scripts/demo.sh down

bench:
	@scripts/bench.sh

bench-quick:
	@scripts/bench.sh --quick

lab-up:
	@venv=$$(scripts/bootstrap.sh | tail -n 1) && "$$venv/bin/python" tests/lab/labctl up --nodes 2 --nm all

lab-down:
	@scripts/demo.sh down
