"""`mlvc diff A B PATH --rows`: row-level diff of Parquet, Arrow and CSV versions."""

import json

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from funcutil import one_line_error


def _versions(repo, mlvc, name, old, new, write):
    write(old, repo.root / name)
    assert mlvc("add", name).exit_code == 0
    v1 = repo.commit("v1")
    write(new, repo.root / name)
    assert mlvc("commit").exit_code == 0
    v2 = repo.commit("v2")
    return v1, v2


def _rows(mlvc, *args):
    r = mlvc("diff", *args, "--rows", "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["rows"]


OLD = pa.table({"id": [1, 2, 3, 4], "label": ["cat", "dog", "cow", "owl"], "w": [1.0, 2.0, 3.0, 4.0]})
NEW = pa.table({"id": [1, 2, 4, 5], "label": ["cat", "wolf", "owl", "eel"], "w": [1.0, 2.0, 4.0, 5.0]})


def test_parquet_with_a_key(repo, mlvc):
    v1, v2 = _versions(repo, mlvc, "t.parquet", OLD, NEW, pq.write_table)
    rows = _rows(mlvc, v1, v2, "t.parquet", "--key", "id")
    assert (rows["format"], rows["key"], rows["rows_old"], rows["rows_new"]) == ("parquet", ["id"], 4, 4)
    assert (rows["added"], rows["removed"], rows["modified"]) == (1, 1, 1)
    ex = [(e["change"], (e["old"] or {}).get("id"), (e["new"] or {}).get("id")) for e in rows["examples"]]
    assert ex == [("modified", 2, 2), ("added", None, 5), ("removed", 3, None)]
    assert rows["examples"][0]["old"]["label"] == "dog" and rows["examples"][0]["new"]["label"] == "wolf"
    r = mlvc("diff", v1, v2, "t.parquet", "--rows", "--key", "id")
    assert "rows: 4 -> 4: 1 added, 1 removed, 1 modified (key: id)" in r.stdout
    assert "dog -> wolf" in r.stdout


def test_parquet_without_a_key_compares_whole_rows(repo, mlvc):
    v1, v2 = _versions(repo, mlvc, "t.parquet", OLD, NEW, pq.write_table)
    rows = _rows(mlvc, v1, v2, "t.parquet")
    assert (rows["added"], rows["removed"], rows["modified"]) == (2, 2, 0)
    assert sorted((e["change"], (e["old"] or e["new"])["id"]) for e in rows["examples"]) == [
        ("added", 2), ("added", 5), ("removed", 2), ("removed", 3)]


def test_schema_change_is_reported(repo, mlvc):
    new = pa.table({"id": [1, 2, 3, 4], "label": ["cat", "dog", "cow", "owl"], "w": [1, 2, 3, 4],
                    "extra": ["a", "b", "c", "d"]})
    old = OLD.append_column("gone", pa.array([True] * 4))
    v1, v2 = _versions(repo, mlvc, "t.feather", old, new, feather.write_feather)
    rows = _rows(mlvc, v1, v2, "t.feather", "--key", "id")
    assert rows["format"] == "arrow"
    assert rows["columns"] == {"added": [{"name": "extra", "type": "string"}],
                               "removed": [{"name": "gone", "type": "bool"}],
                               "retyped": [{"name": "w", "old": "double", "new": "int64"}]}
    assert rows["modified"] == 4  # 1.0 is not 1: the retyped column differs in every row


def test_csv_across_many_batches(repo, mlvc, monkeypatch):
    """Rows stream in batches: a file of several batches compares as a whole."""
    import mlvc.history.tabular as tabular

    monkeypatch.setattr(tabular, "BATCH_ROWS", 7)

    def write(n_changed, path):
        lines = ["id,v"] + [f"{i},{i * (2 if i == n_changed else 1)}" for i in range(1, 101)]
        path.write_text("\n".join(lines) + "\n")

    v1, v2 = _versions(repo, mlvc, "big.csv", 0, 50, write)
    rows = _rows(mlvc, v1, v2, "big.csv", "--key", "id")
    assert (rows["rows_old"], rows["added"], rows["removed"], rows["modified"]) == (100, 0, 0, 1)
    assert rows["examples"] == [{"change": "modified", "old": {"id": 50, "v": 50}, "new": {"id": 50, "v": 100}}]


def test_parquet_many_row_groups(repo, mlvc, monkeypatch):
    import mlvc.history.tabular as tabular

    monkeypatch.setattr(tabular, "BATCH_ROWS", 10)
    old = pa.table({"id": list(range(1000)), "v": [0] * 1000})
    new = pa.table({"id": list(range(1, 1001)), "v": [0] * 1000})
    v1, v2 = _versions(repo, mlvc, "t.parquet", old, new, lambda t, p: pq.write_table(t, p, row_group_size=100))
    rows = _rows(mlvc, v1, v2, "t.parquet", "--key", "id", "--limit", "1")
    assert (rows["added"], rows["removed"], rows["modified"]) == (1, 1, 0)
    assert len(rows["examples"]) == 1


def test_not_a_table(repo, mlvc):
    v1, v2 = _versions(repo, mlvc, "notes.txt", "a", "b", lambda t, p: p.write_text(t))
    r = mlvc("diff", v1, v2, "notes.txt", "--rows")
    assert r.exit_code == 3
    assert "notes.txt is not a table" in one_line_error(r)
    v1, v2 = _versions(repo, mlvc, "fake.parquet", "x", "y", lambda t, p: p.write_text(t))
    r = mlvc("diff", v1, v2, "fake.parquet", "--rows")
    assert r.exit_code == 3
    assert f"fake.parquet@{v1}: not a readable parquet table" in one_line_error(r)


def test_rows_needs_one_path_and_a_known_key(repo, mlvc):
    v1, v2 = _versions(repo, mlvc, "t.parquet", OLD, NEW, pq.write_table)
    assert mlvc("diff", v1, v2, "--rows").exit_code == 2
    r = mlvc("diff", v1, v2, "t.parquet", "--rows", "--key", "nope")
    assert r.exit_code == 2
    assert "the key column 'nope'" in one_line_error(r)
    assert mlvc("diff", v1, v2, "t.parquet", "--key", "id").exit_code == 2


def test_rows_against_the_workspace(repo, mlvc):
    v1, _ = _versions(repo, mlvc, "t.parquet", OLD, NEW, pq.write_table)
    pq.write_table(OLD, repo.root / "t.parquet")
    rows = _rows(mlvc, "HEAD", "t.parquet", "--key", "id")
    assert (rows["added"], rows["removed"], rows["modified"]) == (1, 1, 1)
    assert _rows(mlvc, v1, "t.parquet")["added"] == 0


def test_rows_of_a_version_missing_from_the_cache(repo, mlvc):
    import os

    from funcutil import object_path, read_lock

    v1, v2 = _versions(repo, mlvc, "t.parquet", OLD, NEW, pq.write_table)
    os.unlink(object_path(repo.root, read_lock(repo.root)["artifacts"]["t.parquet"]["oid"]))
    r = mlvc("diff", v1, v2, "t.parquet", "--rows")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert f"t.parquet@{v2} (object" in line and "is not in the cache" in line and "mlvc fetch" in line


def test_tsv_at_revisions_is_read_with_tabs(repo, mlvc):
    v1, v2 = _versions(repo, mlvc, "t.tsv", "id\tv\n1\ta,b\n2\tc\n", "id\tv\n1\ta,b\n2\td\n",
                       lambda t, p: p.write_text(t))
    rows = _rows(mlvc, v1, v2, "t.tsv", "--key", "id")
    assert rows["format"] == "tsv"
    assert rows["examples"] == [{"change": "modified", "old": {"id": 2, "v": "c"}, "new": {"id": 2, "v": "d"}}]


def test_rows_stream_in_batches_of_batch_rows(repo, mlvc, monkeypatch):
    """Digests are made batch by batch: no batch holds more than BATCH_ROWS rows, and a change
    in the last batch of many is found."""
    import mlvc.history.rowhash as rowhash
    import mlvc.history.tabular as tabular

    monkeypatch.setattr(tabular, "BATCH_ROWS", 64)
    seen = []
    real = rowhash.row_digests

    def spy(columns, n):
        seen.append(n)
        return real(columns, n)

    monkeypatch.setattr(rowhash, "row_digests", spy)
    old = pa.table({"id": list(range(5000)), "s": [f"v{i}" for i in range(5000)]})
    new = old.set_column(1, "s", pa.array([f"v{i}" for i in range(4999)] + ["changed"]))
    v1, v2 = _versions(repo, mlvc, "t.parquet", old, new, pq.write_table)  # one row group of 5000
    rows = _rows(mlvc, v1, v2, "t.parquet", "--key", "id")
    assert (rows["added"], rows["removed"], rows["modified"]) == (0, 0, 1)
    assert rows["examples"] == [{"change": "modified", "old": {"id": 4999, "s": "v4999"},
                                 "new": {"id": 4999, "s": "changed"}}]
    assert seen and max(seen) == 64 and sum(seen) == 4 * 5000  # key and values, both files


def test_rows_by_value_nulls_nan_and_types(repo, mlvc):
    """Values compare as Python sees them: NaN equals NaN, a null equals a null, 1 is not 1.0,
    an int32 1 is an int64 1; duplicates of a whole row count once each."""
    old = pa.table({"id": pa.array([1, 2, 3, 4, 5, 5], pa.int32()), "f": [float("nan"), None, 1.0, 2.0, 0.5, 0.5],
                    "s": ["a", None, "c", "d", "e", "e"]})
    new = pa.table({"id": pa.array([1, 2, 3, 4, 5, 6], pa.int32()), "f": [float("nan"), None, 1.0, 2.5, 0.5, 0.5],
                    "s": ["a", None, "c", "d", "e", "e"]})
    v1, v2 = _versions(repo, mlvc, "t.parquet", old, new, pq.write_table)
    rows = _rows(mlvc, v1, v2, "t.parquet")
    assert (rows["added"], rows["removed"]) == (2, 2)  # 4 changed; one of the two 5s became a 6
    assert sorted((e["change"], (e["old"] or e["new"])["id"]) for e in rows["examples"]) == [
        ("added", 4), ("added", 6), ("removed", 4), ("removed", 5)]
    r = mlvc("diff", v1, v2, "t.parquet", "--rows", "--key", "id")
    assert r.exit_code == 3
    assert f"t.parquet@{v1}: the key (5,) appears twice" in one_line_error(r)


def test_rows_key_on_text_columns(repo, mlvc):
    old = pa.table({"a": ["x", "x", "y"], "b": [1, 2, 1], "v": [1.0, 2.0, 3.0]})
    new = pa.table({"a": ["x", "y", "x", "z"], "b": [2, 1, 1, 0], "v": [2.0, 3.0, 1.5, 9.0]})
    v1, v2 = _versions(repo, mlvc, "t.feather", old, new, feather.write_feather)
    rows = _rows(mlvc, v1, v2, "t.feather", "--key", "a", "--key", "b")
    assert (rows["added"], rows["removed"], rows["modified"]) == (1, 0, 1)
    assert [e["change"] for e in rows["examples"]] == ["modified", "added"]
    assert rows["examples"][0] == {"change": "modified", "old": {"a": "x", "b": 1, "v": 1.0},
                                   "new": {"a": "x", "b": 1, "v": 1.5}}
