"""Shared by the stages: one thread everywhere, params, and Parquet written the same way every time.

Every stage must give the same bytes from the same inputs, so that `mlvc verify`
can rebuild the outputs and compare them bit for bit:

- numerical libraries run on one thread (a parallel sum can change the last bit
  of a float from one run to the next); set before numpy is imported;
- Parquet files are written with fixed options and no timestamps;
- the model is written as JSON (a pickle is not byte-stable across runs).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"

import json  # noqa: E402

import yaml  # noqa: E402


def params(section: str) -> dict:
    """The ``section`` of params.yaml (the stage declares its keys in mlvc.yaml)."""
    with open("params.yaml") as f:
        return yaml.safe_load(f)[section]


def write_parquet(table, path: str) -> None:
    """Write ``table`` with fixed options: same table, same bytes."""
    import pyarrow.parquet as pq

    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table.replace_schema_metadata(None), path, compression="zstd", compression_level=3,
                   use_dictionary=False, write_statistics=False, store_schema=False,
                   row_group_size=1 << 20)


def read_parquet(path: str):
    import pyarrow.parquet as pq

    return pq.read_table(path)


def table_to_xy(table):
    """Features (float64 matrix, every column but ``label``) and labels (int64 vector)."""
    import numpy as np

    names = [n for n in table.column_names if n != "label"]
    x = np.column_stack([table.column(n).to_numpy() for n in names]).astype(np.float64)
    y = table.column("label").to_numpy().astype(np.int64)
    return x, y


def write_json(obj, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
