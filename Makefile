# The two commands of the README.
.PHONY: demo sandbox view test bench lint docs

# Runs the whole pipeline on this machine against the local sandbox and prints what landed in Waldur.
demo:
	scripts/demo.sh $(ARGS)

# The sandbox on its own (OIDC issuer, DWDI and Waldur doubles on loopback, the demo's data) to try
# a real Airflow against (docs/bare-metal.md): prints the connections and the offerings file; Ctrl-C stops it.
sandbox:
	@scripts/bootstrap.sh
	@.venv/bin/python -m sandbox $(ARGS)

# The demo's pipeline, then Airflow's api-server on loopback with the billing view (docs/billing-view.md):
# prints the URL and the credentials, serves until Ctrl-C.
view:
	bash scripts/bootstrap.sh
	.venv/bin/python -m sandbox.view $(ARGS)

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
	.venv/bin/python -m benchmarks.bench_view
	.venv/bin/python -m benchmarks.bench_guard

lint:
	scripts/bootstrap.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

# The documentation pages (docs/) as HTML in docs/_build/html, warnings as errors.
docs:
	scripts/bootstrap.sh
	scripts/build_docs.sh
