"""Row-level diff of two versions of a table: Parquet, Arrow IPC / Feather, CSV (pyarrow,
imported inside the functions). Both files are read in record batches, never whole, and each
row becomes 64-bit digests (``rowhash``, vectorized with numpy): of its ``key`` columns and of
its other columns, or of the whole row without a key. Only these digests are held (16 bytes a
row at most), never the rows. The counts come from sorting them: a join on the key digests, or
without a key a comparison of two multisets of whole-row digests. The first changed rows are
then read again by their position, in one more pass over each file that stops at the last one
wanted. Rows are compared over the columns both sides have, by value: ``1`` and ``1.0`` differ,
two NaNs are equal."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from mlvc.errors import FileFormatError, MlvcError, UsageError

BATCH_ROWS = 65_536
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow",
            ".csv": "csv", ".tsv": "tsv"}


@dataclass(frozen=True)
class RowChange:
    change: str  # added | removed | modified
    old: dict[str, Any] | None
    new: dict[str, Any] | None


@dataclass(frozen=True)
class RowDiff:
    format: str
    key: list[str]
    columns_added: list[tuple[str, str]]  # (name, type)
    columns_removed: list[tuple[str, str]]
    columns_retyped: list[tuple[str, str, str]]  # (name, old type, new type)
    rows_old: int
    rows_new: int
    added: int
    removed: int
    modified: int  # with a key only: the same key, other values
    examples: list[RowChange] = field(default_factory=list)


def table_format(path: str) -> str:
    fmt = SUFFIXES.get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise MlvcError(f"{path} is not a table mlvc can read row by row",
                         "--rows reads .parquet, .arrow/.feather and .csv/.tsv files")
    return fmt


def _batches(file: str, fmt: str, label: str, schema_only: bool = False, columns: list[str] | None = None):
    """``(schema, iterator of record batches)`` of a table file (of Parquet, only ``columns``
    are read); a file that is not one is a FileFormatError naming ``label``."""
    import pyarrow as pa

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            f = pq.ParquetFile(file)
            return f.schema_arrow, (iter(()) if schema_only else f.iter_batches(batch_size=BATCH_ROWS, columns=columns))
        if fmt == "arrow":
            source = pa.memory_map(file)
            try:
                reader = pa.ipc.open_file(source)
                return reader.schema, (reader.get_batch(i) for i in range(reader.num_record_batches))
            except pa.ArrowInvalid:
                reader = pa.ipc.open_stream(pa.memory_map(file))
                return reader.schema, iter(reader)
        import pyarrow.csv as pcsv

        parse = pcsv.ParseOptions(delimiter="\t") if fmt == "tsv" else None
        reader = pcsv.open_csv(file, read_options=pcsv.ReadOptions(block_size=1 << 22), parse_options=parse)
        return reader.schema, iter(reader)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileFormatError(label, f"not a readable {fmt} table ({str(exc).splitlines()[0][:160]})") from None


def _digests(file: str, fmt: str, label: str, columns: list[str], key: list[str]):
    """``(key digests, value digests)`` of every row of the file, in order: numpy uint64
    arrays, computed batch by batch (the rows are never held). Without a key the value digest
    covers every column and the key digests are None."""
    import numpy as np
    import pyarrow as pa

    from mlvc.history.rowhash import row_digests

    values = [c for c in columns if c not in key]
    keys: list = []
    vals: list = []
    _, batches = _batches(file, fmt, label, columns=columns)
    try:
        for batch in batches:
            cols = {c: batch.column(batch.schema.get_field_index(c)) for c in columns}
            if key:
                keys.append(row_digests([cols[c] for c in key], batch.num_rows))
            vals.append(row_digests([cols[c] for c in values], batch.num_rows))
    except (pa.ArrowException, ValueError) as exc:
        raise FileFormatError(label, f"not a readable {fmt} table ({str(exc).splitlines()[0][:160]})") from None
    empty = np.zeros(0, dtype=np.uint64)
    v = np.concatenate(vals) if vals else empty
    return (np.concatenate(keys) if keys else empty) if key else None, v


def _take(file: str, fmt: str, label: str, columns: list[str], wanted) -> dict[int, dict]:
    """The rows at the (sorted) indices ``wanted`` of the file, as dicts: one more pass, which
    stops after the last of them."""
    import pyarrow as pa

    found: dict[int, dict] = {}
    if not len(wanted):
        return found
    wanted = sorted(int(i) for i in wanted)
    _, batches = _batches(file, fmt, label, columns=columns)
    start, pos = 0, 0
    try:
        for batch in batches:
            end = start + batch.num_rows
            here = []
            while pos < len(wanted) and wanted[pos] < end:
                here.append(wanted[pos] - start)
                pos += 1
            if here:
                rows = batch.take(pa.array(here)).select(columns).to_pylist()
                found.update((i + start, row) for i, row in zip(here, rows))
            if pos == len(wanted):
                break
            start = end
    except (pa.ArrowException, ValueError) as exc:
        raise FileFormatError(label, f"not a readable {fmt} table ({str(exc).splitlines()[0][:160]})") from None
    return found


def _groups(v):
    """For the digests ``v``: the sort order, the distinct digests, how often each appears,
    and each row's rank among the rows of the same digest (0 for the first in file order)."""
    import numpy as np

    order = np.argsort(v, kind="stable")
    s = v[order]
    first = np.ones(len(s), dtype=bool)
    first[1:] = s[1:] != s[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(s)))
    rank_sorted = np.arange(len(s)) - np.repeat(starts, counts)
    rank = np.empty(len(s), dtype=np.int64)
    rank[order] = rank_sorted
    return order, s[starts], counts, rank


def _count_in(uniq, counts, v):
    """How often each digest of ``v`` appears on the side whose distinct digests are ``uniq``."""
    import numpy as np

    if not len(uniq):
        return np.zeros(len(v), dtype=np.int64)
    pos = np.minimum(np.searchsorted(uniq, v), len(uniq) - 1)
    return np.where(uniq[pos] == v, counts[pos], 0)


def _unique_keys(keys, file, fmt, label, columns, key):
    """``(order, sorted key digests)``; a key that appears twice is a FileFormatError naming it."""
    import numpy as np

    order = np.argsort(keys, kind="stable")
    s = keys[order]
    same = np.flatnonzero(s[1:] == s[:-1])
    if len(same):
        i = int(order[same[0] + 1])
        row = _take(file, fmt, label, columns, [i])[i]
        k = tuple(row[c] for c in key)
        raise FileFormatError(label, f"the key {k!r} appears twice", hint="choose a --key that is unique")
    return order, s


def row_diff(old: str, new: str, fmt: str, old_label: str, new_label: str, key: list[str] | None = None,
             limit: int = 10) -> RowDiff:
    """Compare the tables in the files ``old`` and ``new`` (both of format ``fmt``)."""
    import numpy as np

    old_schema, _ = _batches(old, fmt, old_label, schema_only=True)
    new_schema, _ = _batches(new, fmt, new_label, schema_only=True)
    o_types = {f.name: str(f.type) for f in old_schema}
    n_types = {f.name: str(f.type) for f in new_schema}
    added_cols = [(c, t) for c, t in n_types.items() if c not in o_types]
    removed_cols = [(c, t) for c, t in o_types.items() if c not in n_types]
    retyped = [(c, t, n_types[c]) for c, t in o_types.items() if c in n_types and n_types[c] != t]
    common = [c for c in o_types if c in n_types]
    key = list(key or [])
    for k in key:
        if k not in common:
            side = new_label if k in o_types else old_label
            raise UsageError(f"the key column {k!r} is not in {side}",
                             f"the columns both sides have: {', '.join(common) or 'none'}")
    ko, vo = _digests(old, fmt, old_label, common, key)
    kn, vn = _digests(new, fmt, new_label, common, key)
    rows_old, rows_new = len(vo), len(vn)
    if key:
        order_o, sorted_o = _unique_keys(ko, old, fmt, old_label, common, key)
        order_n, sorted_n = _unique_keys(kn, new, fmt, new_label, common, key)
        # a merge join of the two sorted key lists, put back in the new file's order
        found = np.zeros(rows_new, dtype=bool)
        at_old = np.zeros(rows_new, dtype=np.int64)  # the old row of the same key, where found
        if rows_old:
            pos = np.minimum(np.searchsorted(sorted_o, sorted_n), rows_old - 1)
            found[order_n] = sorted_o[pos] == sorted_n
            at_old[order_n] = order_o[pos]
        changed = found & (vo[at_old] != vn) if rows_old else found
        new_only = ~found
        matched = np.zeros(rows_old, dtype=bool)
        matched[at_old[found]] = True
        old_only = ~matched
        modified = int(changed.sum())
    else:
        _, uo, co, rank_o = _groups(vo)
        _, un, cn, rank_n = _groups(vn)
        new_only = rank_n >= _count_in(uo, co, vn)  # the copies of a row beyond the old side's count
        old_only = rank_o >= _count_in(un, cn, vo)
        changed = np.zeros(rows_new, dtype=bool)
        at_old = None
        modified = 0
    added, removed = int(new_only.sum()), int(old_only.sum())
    # examples: modified first, then added, then removed, at most ``limit`` in all
    mod_new = np.flatnonzero(changed)[:limit]
    add_new = np.flatnonzero(new_only)[:limit - len(mod_new)]
    rem_old = np.flatnonzero(old_only)[:limit - len(mod_new) - len(add_new)]
    mod_old = at_old[mod_new] if at_old is not None else mod_new[:0]
    old_rows = _take(old, fmt, old_label, common, np.union1d(mod_old, rem_old))
    new_rows = _take(new, fmt, new_label, common, np.union1d(mod_new, add_new))
    examples = [RowChange("modified", old_rows[int(o)], new_rows[int(n)]) for o, n in zip(mod_old, mod_new)]
    examples += [RowChange("added", None, new_rows[int(n)]) for n in add_new]
    examples += [RowChange("removed", old_rows[int(o)], None) for o in rem_old]
    return RowDiff(fmt, key, added_cols, removed_cols, retyped, rows_old, rows_new, added, removed, modified,
                   examples)
