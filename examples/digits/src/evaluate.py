"""evaluate: models/model.json on data/features/test.parquet -> reports/metrics.json (accuracy)."""

from __future__ import annotations

import common  # first: one thread for numpy

import json

import numpy as np


def main() -> None:
    with open("models/model.json") as f:
        model = json.load(f)
    table = common.read_parquet("data/features/test.parquet")
    if [n for n in table.column_names if n != "label"] != model["features"]:
        raise SystemExit("evaluate: the test features are not the ones the model was trained on")
    x, y = common.table_to_xy(table)
    scores = x @ np.array(model["coef"]).T + np.array(model["intercept"])
    predicted = np.array(model["classes"])[scores.argmax(axis=1)]
    accuracy = float((predicted == y).mean())
    worst = min(float((predicted[y == c] == c).mean()) for c in model["classes"])
    common.write_json({"accuracy": round(accuracy, 4), "worst_digit_recall": round(worst, 4),
                       "test_images": int(len(y))}, "reports/metrics.json")
    print(f"accuracy {accuracy:.4f} on {len(y)} test images")


if __name__ == "__main__":
    main()
