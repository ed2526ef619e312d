"""featurize: data/prepared -> data/features/{train,test}.parquet.

The 64 pixels divided by ``featurize.scale``, and with ``featurize.projections``
the ink of each of the 8 rows and 8 columns (the mean of its scaled pixels).
"""

from __future__ import annotations

import common  # first: one thread for numpy

import numpy as np
import pyarrow as pa


def features(table: pa.Table, scale: float, projections: bool) -> pa.Table:
    pixels = np.column_stack([table.column(f"p{i:02d}").to_numpy() for i in range(64)]).astype(np.float64)
    pixels /= scale
    cols = {f"px{i:02d}": pixels[:, i] for i in range(64)}
    if projections:
        images = pixels.reshape(-1, 8, 8)
        for r in range(8):
            cols[f"row{r}"] = images[:, r, :].mean(axis=1)
        for c in range(8):
            cols[f"col{c}"] = images[:, :, c].mean(axis=1)
    cols["label"] = table.column("label")
    return pa.table(cols)


def main() -> None:
    p = common.params("featurize")
    for split in ("train", "test"):
        table = common.read_parquet(f"data/prepared/{split}.parquet")
        out = features(table, float(p["scale"]), bool(p["projections"]))
        common.write_parquet(out, f"data/features/{split}.parquet")
    print(f"featurized: {out.num_columns - 1} features per image")


if __name__ == "__main__":
    main()
