# The two commands: `make run` (the platform) and `make test` (the whole suite).
.PHONY: run test setup bench bench-jobs lint

run:
	scripts/run.sh

test:
	scripts/test.sh

setup:
	scripts/setup.sh test

bench: bench-jobs

bench-jobs:
	scripts/bench.sh jobs_engine
