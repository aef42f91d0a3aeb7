# The two commands: `make run` (the platform) and `make test` (the whole suite).
.PHONY: run test setup bench bench-peers bench-jobs lint

run:
	scripts/run.sh

test:
	scripts/test.sh

setup:
	scripts/setup.sh test

# Every benchmark against its peer (each peer in its own venv under .cache/bench-venvs), one
# summary table of ratios at the end. Quick by default (bounded); `make bench BENCH_ARGS=--full`
# for each benchmark's own defaults, or BENCH_ARGS="--only features_tiles" for one.
bench: bench-peers
	scripts/bench.sh run_all $(BENCH_ARGS)

bench-peers:
	scripts/bench-peers.sh

bench-jobs:
	scripts/bench.sh jobs_engine
