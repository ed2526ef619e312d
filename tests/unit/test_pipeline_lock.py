"""What mlvc.lock keeps of a stage run: uncached_outs beside outs, read back the same."""

from __future__ import annotations

import pytest

from mlvc.errors import FileFormatError
from mlvc.formats.lock import Lock, LockEntry, StageRecord, parse_lock, serialize_lock

OID = "06b05ab6733a618578af5f94892f3950"
TREE = "62307bc8a53f348150f1a5178926c61a.tree"

TEXT = f"""\
schema: 2
artifacts:
  model.pkl:
    oid: {OID}
    size: 3
stages:
  train:
    cmd: python train.py
    deps:
      data:
        oid: {TREE}
        size: 17
        nfiles: 4
    outs:
    - model.pkl
    uncached_outs:
      metrics.json:
        oid: {OID}
        size: 3
      reports:
        oid: {TREE}
        size: 17
        nfiles: 4
"""


def test_uncached_outs_round_trip():
    lock = Lock({"model.pkl": LockEntry("model.pkl", OID, 3)}, {"train": StageRecord(
        "train", "python train.py", {"data": LockEntry("data", TREE, 17, 4)}, {}, ["model.pkl"],
        {"reports": LockEntry("reports", TREE, 17, 4), "metrics.json": LockEntry("metrics.json", OID, 3)})})
    assert serialize_lock(lock) == TEXT
    assert parse_lock(TEXT) == lock


@pytest.mark.parametrize("bad, words", [
    ("      metrics.json:\n        size: 3\n", "uncached out 'metrics.json' needs oid and size"),
    ("      ../x:\n        oid: " + OID + "\n        size: 3\n", "'..'"),
])
def test_bad_uncached_outs(bad, words):
    text = TEXT.split("    uncached_outs:\n")[0] + "    uncached_outs:\n" + bad
    with pytest.raises(FileFormatError, match=words):
        parse_lock(text)


def test_an_out_whose_entry_is_gone_is_not_written():
    # `mlvc remove OUT` drops the artifact entry; the lock written then must still be readable.
    lock = parse_lock(TEXT)
    del lock.artifacts["model.pkl"]
    again = parse_lock(serialize_lock(lock))
    assert again.stages["train"].outs == [] and "model.pkl" not in again.artifacts
    assert again.stages["train"].uncached_outs == lock.stages["train"].uncached_outs
