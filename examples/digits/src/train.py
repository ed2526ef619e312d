"""train: data/features/train.parquet -> models/model.json.

A multinomial logistic regression (``train.C``, ``train.max_iter``). The model is
written as JSON (classes, coefficients, intercepts, feature names), not as a
pickle, so the same inputs give the same bytes.
"""

from __future__ import annotations

import common  # first: one thread for numpy

from sklearn.linear_model import LogisticRegression


def main() -> None:
    p = common.params("train")
    table = common.read_parquet("data/features/train.parquet")
    x, y = common.table_to_xy(table)
    model = LogisticRegression(C=float(p["C"]), max_iter=int(p["max_iter"]), random_state=0)
    model.fit(x, y)
    common.write_json({
        "kind": "logistic-regression",
        "features": [n for n in table.column_names if n != "label"],
        "classes": model.classes_.tolist(),
        "coef": model.coef_.tolist(),
        "intercept": model.intercept_.tolist(),
    }, "models/model.json")
    print(f"trained on {len(y)} images with C = {p['C']} ({int(model.n_iter_.max())} iterations)")


if __name__ == "__main__":
    main()
