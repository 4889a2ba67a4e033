"""Pure-Python usage model and arithmetic.

Nothing in this package imports Airflow, so it can be read, tested and benchmarked alone.
"""
