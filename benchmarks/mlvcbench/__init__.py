"""mlvc benchmark suite: mlvc against DVC, operation by operation.

Entry point: ``python benchmarks/run.py`` (see benchmarks/README.md).
Standard library only; matplotlib is used from the suite's own venv.
"""
