"""Row digests of Arrow record batches for ``diff --rows``, vectorized with numpy.

A column becomes one 64-bit digest a row: numbers from their values (every integer type as an
int64, every float type as a float64 whose NaNs are made one NaN, booleans as 0/1, dates and
times as their stored integer and unit), text and bytes on the column's buffers (a token
for each byte and its position, summed a value), anything else (lists, structs, decimals
...) from the ``repr`` of each of the batch's distinct values (XXH3). Each kind carries its own tag, so ``1`` and ``1.0``
differ as they do in Python, and a null is one value whatever the column's type. A row's
digest mixes its columns' digests in order. Two different rows share a digest with a
probability near 2**-64 a pair: a diff of a million rows meets one in about 10**7 runs.
Numpy and pyarrow are imported by the caller's first use (inside ``tabular``), never by
``mlvc --help``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_STEP = np.uint64(0x9E3779B97F4A7C15)
_NULL = np.uint64(0x6A09E667F3BCC909)  # a null, in every column
_CANON_NAN = np.array([np.nan], dtype=np.float64).view(np.uint64)[0]


def _tag(kind: str) -> np.uint64:
    return np.uint64(xxhash.xxh3_64_intdigest(kind.encode()))


_INT, _FLOAT, _BOOL = (_tag(k) for k in ("int", "float", "bool"))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, element-wise (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _numbers(arr: pa.Array, as_type: pa.DataType, np_type) -> np.ndarray:
    filled = pc.cast(arr, as_type, safe=False)
    if filled.null_count:
        filled = filled.fill_null(0)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np_type)


def _hashed_values(values: list, kind: str) -> np.ndarray:
    """XXH3 of each value of a dictionary: text and bytes as they are, the rest by repr."""
    h = xxhash.xxh3_64_intdigest
    if kind == "str":
        out = [h(v.encode()) for v in values]
    elif kind == "bytes":
        out = [h(v) for v in values]
    else:
        out = [h(repr(v).encode()) for v in values]
    return np.array(out, dtype=np.uint64)


_CHUNK_BYTES = 1 << 20  # the bytes of text hashed at a time (numpy temporaries: ~40 bytes a byte)


def _texts(arr: pa.Array, kind: str) -> np.ndarray:
    """XXH-like digests of text or bytes values, on the array's buffers: each byte and its
    position in its value make a token (mixed), a value's digest mixes the sum of its tokens
    and its length. Null slots get some digest (the caller masks them)."""
    try:
        arr = pc.cast(arr, pa.large_binary())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return _by_dictionary(arr, kind)
    n = len(arr)
    _, offsets, data = arr.buffers()
    offs = np.frombuffer(offsets, dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    lengths = np.diff(offs)
    out = np.empty(n, dtype=np.uint64)
    tag = _tag(kind)
    r0 = 0
    while r0 < n:
        r1 = int(np.searchsorted(offs, offs[r0] + _CHUNK_BYTES, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n)
        lo, hi = int(offs[r0]), int(offs[r1])
        starts = offs[r0:r1] - lo
        lens = lengths[r0:r1]
        pos = np.arange(hi - lo, dtype=np.int64) - np.repeat(starts, lens)
        tokens = _mix((pos.astype(np.uint64) << np.uint64(8)) | raw[lo:hi].astype(np.uint64))
        sums = np.add.reduceat(np.append(tokens, np.uint64(0)), starts)
        sums[lens == 0] = 0
        out[r0:r1] = _mix(_mix(sums ^ tag) + lens.astype(np.uint64))
        r0 = r1
    return out


def _by_dictionary(arr: pa.Array, kind: str) -> np.ndarray:
    try:
        enc = pc.dictionary_encode(arr)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # a type without a hash kernel: each value
        return _hashed_values(arr.to_pylist(), "repr") ^ _tag(kind)
    d = _hashed_values(enc.dictionary.to_pylist(), kind) ^ _tag(kind)
    idx = enc.indices
    if idx.null_count:
        idx = idx.fill_null(0)
    if len(d) == 0:
        return np.zeros(len(arr), dtype=np.uint64)
    return d[np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)]


def column_digests(arr: pa.Array) -> np.ndarray:
    """One uint64 a value of ``arr`` (a null: the same constant in any column)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_dictionary(t):
        return column_digests(arr.dictionary_decode())
    if pa.types.is_null(t):
        return np.full(len(arr), _NULL, dtype=np.uint64)
    if pa.types.is_integer(t):
        out = _mix(_numbers(arr, pa.int64(), np.int64).view(np.uint64) ^ _INT)
    elif pa.types.is_floating(t):
        v = _numbers(arr, pa.float64(), np.float64)
        bits = v.view(np.uint64).copy()
        bits[np.isnan(v)] = _CANON_NAN  # every NaN is one value, as repr says
        out = _mix(bits ^ _FLOAT)
    elif pa.types.is_boolean(t):
        out = _mix(_numbers(arr, pa.uint8(), np.uint8).astype(np.uint64) ^ _BOOL)
    elif pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t) or pa.types.is_duration(t):
        stored = arr.view(pa.int32() if t.bit_width == 32 else pa.int64())
        out = _mix(_numbers(stored, pa.int64(), np.int64).view(np.uint64) ^ _tag(str(t)))
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        out = _texts(arr, "str")
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) \
            or pa.types.is_binary_view(t):
        out = _texts(arr, "bytes")
    else:
        out = _by_dictionary(arr, "repr")
    if arr.null_count:
        out = np.where(np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool), out, _NULL)
    return out


def row_digests(columns: list[pa.Array], n: int) -> np.ndarray:
    """One uint64 a row over ``columns`` (in that order); ``n`` rows (for no column at all)."""
    h = np.full(n, _STEP, dtype=np.uint64)
    for col in columns:
        h = _mix(h * _STEP + column_digests(col))
    return h
