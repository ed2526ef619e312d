"""mlvc.history.rowhash: row digests on Arrow buffers, equal exactly where values are."""

import datetime

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

import mlvc.history.rowhash as rowhash
from mlvc.history.rowhash import column_digests, row_digests


def same(a, b) -> bool:
    return column_digests(a).tolist() == column_digests(b).tolist()


@given(st.lists(st.one_of(st.none(), st.text(max_size=6)), max_size=30))
def test_text_digests_equal_where_the_texts_are(values):
    d = column_digests(pa.array(values, pa.string())).tolist()
    for i, x in enumerate(values):
        for j, y in enumerate(values):
            assert (d[i] == d[j]) == (x == y)


def test_text_across_chunks_slices_and_types(monkeypatch):
    monkeypatch.setattr(rowhash, "_CHUNK_BYTES", 5)
    values = ["", "ab", "ba", "a" * 20, None, "", "é", "ab"]
    whole = column_digests(pa.array(values)).tolist()
    assert whole[1] == whole[7] and whole[0] == whole[5] and len(set(whole)) == 6
    assert column_digests(pa.array(["q", *values]).slice(1)).tolist() == whole
    assert same(pa.array(values, pa.large_string()), pa.array(values))
    assert same(pa.array(values).dictionary_encode(), pa.array(values))
    assert not same(pa.array([b"ab"]), pa.array(["ab"]))  # bytes are not text


def test_numbers_as_python_compares_them():
    assert same(pa.array([1, None], pa.int8()), pa.array([1, None], pa.int64()))
    assert not same(pa.array([1.0]), pa.array([1]))
    assert not same(pa.array([True]), pa.array([1]))
    assert same(pa.array([float("nan")]), pa.array([-float("nan")]))
    assert not same(pa.array([0.0]), pa.array([-0.0]))
    assert same(pa.array([None], pa.string()), pa.array([None], pa.float64()))
    assert same(pa.array([datetime.date(2020, 1, 2)]), pa.array([datetime.date(2020, 1, 2)]))
    assert same(pa.array([[1, 2], None]), pa.array([[1, 2], None]))
    assert not same(pa.array([[1, 2]]), pa.array([[2, 1]]))


def test_rows_mix_columns_in_order():
    a, b = pa.array([1, 2]), pa.array([2, 1])
    assert row_digests([a, b], 2)[0] != row_digests([b, a], 2)[0]
    assert row_digests([a, b], 2)[0] == row_digests([b, a], 2)[1]
    assert row_digests([], 3).tolist() == [row_digests([], 1)[0]] * 3
