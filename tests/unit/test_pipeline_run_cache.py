"""The run-cache's signature and record: pinned (a record written today is found tomorrow),
and every input counts."""

from __future__ import annotations

import dataclasses

from mlvc.formats.lock import LockEntry
from mlvc.pipeline.run_cache import _parse, eligible, signature
from mlvc.pipeline.stage import Out, Stage

OID = "06b05ab6733a618578af5f94892f3950"
TREE = "62307bc8a53f348150f1a5178926c61a.tree"
STAGE = Stage("train", "python train.py", ("data", "train.py"), (), (Out("model.pkl"),))
DEPS = {"train.py": LockEntry("train.py", OID, 3), "data": LockEntry("data", TREE, 17, 4)}
PARAMS = {"params.yaml": {"lr": 0.1, "layers": [64, 32], "opt": {"name": "adam"}}}


def test_signature_golden():
    # Changing how the signature is made orphans every run-cache record: keep this value.
    assert signature(STAGE, DEPS, PARAMS) == GOLDEN
    assert signature(STAGE, dict(reversed(DEPS.items())), {"params.yaml": dict(reversed(PARAMS["params.yaml"].items()))}) == GOLDEN


GOLDEN = "9be76575d537a95365a974ed456e474d"


def test_every_input_counts():
    base = signature(STAGE, DEPS, PARAMS)
    others = [
        signature(dataclasses.replace(STAGE, cmd="python train.py --fast"), DEPS, PARAMS),
        signature(dataclasses.replace(STAGE, wdir="src"), DEPS, PARAMS),
        signature(dataclasses.replace(STAGE, outs=(Out("model2.pkl"),)), DEPS, PARAMS),
        signature(STAGE, {**DEPS, "train.py": LockEntry("train.py", "1" * 32, 3)}, PARAMS),
        signature(STAGE, DEPS, {"params.yaml": {**PARAMS["params.yaml"], "lr": 0.2}}),
        signature(STAGE, DEPS, {"params.yaml": {**PARAMS["params.yaml"], "lr": "0.1"}}),
        signature(STAGE, DEPS, {"params.yaml": {"opt": {1: "a", "b": 2}}}),  # keys of mixed types sort too
        signature(STAGE, DEPS, {"params.yaml": {"opt": {"1": "a", "b": 2}}}),
    ]
    assert len({base, *others}) == len(others) + 1


def test_eligible():
    assert eligible(STAGE)
    assert not eligible(dataclasses.replace(STAGE, outs=()))
    assert not eligible(dataclasses.replace(STAGE, outs=(Out("m.json", cache=False, metric=True),)))
    assert not eligible(dataclasses.replace(STAGE, outs=(Out("log", persist=True),)))


def test_record_parsing_refuses_what_it_cannot_trust():
    good = b'{"outs": {"model.pkl": {"oid": "%s", "size": 3}}, "schema": 1}' % OID.encode()
    assert _parse(good, STAGE) == [LockEntry("model.pkl", OID, 3)]
    for bad in [b"", b"[]", b'{"schema": 2, "outs": {}}', good.replace(b"model.pkl", b"other.pkl"),
                good.replace(b"model.pkl", b"../x"), good.replace(OID.encode(), b"xyz"),
                good.replace(b'"size": 3', b'"size": -1'), good.replace(b'"size": 3', b'"size": 3, "nfiles": 2'),
                b'{"schema": 1, "outs": {"model.pkl": 5}}']:
        assert _parse(bad, STAGE) is None, bad
