"""prepare: scikit-learn's bundled digits (no download), split into data/prepared/{train,test}.parquet.

Each row is one 8x8 image: columns p00..p63 (pixel values 0..16) and its label.
"""

from __future__ import annotations

import common  # first: one thread for numpy

import numpy as np
import pyarrow as pa
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def to_table(x: np.ndarray, y: np.ndarray) -> pa.Table:
    cols = {f"p{i:02d}": pa.array(x[:, i].astype(np.uint8)) for i in range(x.shape[1])}
    cols["label"] = pa.array(y.astype(np.int64))
    return pa.table(cols)


def main() -> None:
    p = common.params("prepare")
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=p["test_size"], random_state=p["seed"], stratify=digits.target)
    common.write_parquet(to_table(x_train, y_train), "data/prepared/train.parquet")
    common.write_parquet(to_table(x_test, y_test), "data/prepared/test.parquet")
    print(f"prepared {len(y_train)} training and {len(y_test)} test images")


if __name__ == "__main__":
    main()
