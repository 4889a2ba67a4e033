# The two commands of the README.
.PHONY: demo test bench lint docs

# Runs the whole pipeline on this machine against the local sandbox and prints what landed in Waldur.
demo:
	scripts/demo.sh

# Installs what is missing, lints and runs the whole test suite (what CI runs).
test:
	scripts/test.sh $(ARGS)

# Benchmarks whose figures docs/benchmarks.md reports (not part of the test suite).
bench:
	scripts/bootstrap.sh
	.venv/bin/python -m benchmarks.bench_aggregate
	.venv/bin/python -m benchmarks.bench_push
	.venv/bin/python -m benchmarks.bench_kinds
	.venv/bin/python -m benchmarks.bench_xcom
	.venv/bin/python -m benchmarks.bench_reads

lint:
	scripts/bootstrap.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

# The documentation pages (docs/) as HTML in docs/_build/html, warnings as errors.
docs:
	scripts/bootstrap.sh
	scripts/build_docs.sh
