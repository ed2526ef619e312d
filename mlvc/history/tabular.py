"""Row-level diff of two versions of a table: Parquet, Arrow IPC / Feather, CSV (pyarrow,
imported inside the functions). Both files are read in record batches, never whole: one
side's rows are held as a digest each (a Python int; keyed on ``key`` columns, or as a multiset of
whole-row digests without a key), never the rows; the other side streams past them; the first changed rows
are kept as examples (a removed row is found again by a second pass over the old file).
Rows are compared over the columns both sides have, by value."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

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


def _batches(file: str, fmt: str, label: str, schema_only: bool = False):
    """``(schema, iterator of record batches)`` of a table file; a file that is not one is a
    FileFormatError naming ``label``."""
    import pyarrow as pa

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            f = pq.ParquetFile(file)
            return f.schema_arrow, (iter(()) if schema_only else f.iter_batches(batch_size=BATCH_ROWS))
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


def _rows(file: str, fmt: str, label: str, columns: list[str]) -> Iterator[tuple]:
    import pyarrow as pa

    _, batches = _batches(file, fmt, label)
    try:
        for batch in batches:
            cols = [batch.column(batch.schema.get_field_index(c)).to_pylist() for c in columns]
            yield from zip(*cols)
    except (pa.ArrowException, ValueError) as exc:
        raise FileFormatError(label, f"not a readable {fmt} table ({str(exc).splitlines()[0][:160]})") from None


def _digest(row: tuple) -> int:
    return hash(repr(row))  # repr: NaN equals NaN, 1 and 1.0 differ; the same process hashes both sides


def row_diff(old: str, new: str, fmt: str, old_label: str, new_label: str, key: list[str] | None = None,
             limit: int = 10) -> RowDiff:
    """Compare the tables in the files ``old`` and ``new`` (both of format ``fmt``)."""
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
    values = [c for c in common if c not in key]
    kidx = [common.index(k) for k in key]
    vidx = [common.index(c) for c in values]
    examples: list[RowChange] = []

    def as_dict(row: tuple) -> dict:
        return dict(zip(common, row))

    rows_old = rows_new = added = removed = modified = 0
    if key:
        seen: dict[Any, int] = {}
        for row in _rows(old, fmt, old_label, common):
            rows_old += 1
            k = tuple(row[i] for i in kidx)
            if k in seen:
                raise FileFormatError(old_label, f"the key {k!r} appears twice", hint="choose a --key that is unique")
            seen[k] = _digest(tuple(row[i] for i in vidx))
        matched: set = set()
        changed_keys: dict[Any, tuple] = {}
        for row in _rows(new, fmt, new_label, common):
            rows_new += 1
            k = tuple(row[i] for i in kidx)
            if k in matched:
                raise FileFormatError(new_label, f"the key {k!r} appears twice", hint="choose a --key that is unique")
            was = seen.get(k)
            if was is None:
                added += 1
                if len(examples) < limit:
                    examples.append(RowChange("added", None, as_dict(row)))
                continue
            matched.add(k)
            if was != _digest(tuple(row[i] for i in vidx)):
                modified += 1
                if len(changed_keys) < limit:
                    changed_keys[k] = row
        removed = len(seen) - len(matched)
        if changed_keys or (removed and len(examples) < limit):
            gone = removed
            for row in _rows(old, fmt, old_label, common):  # the old side of changed and removed rows
                k = tuple(row[i] for i in kidx)
                if k in changed_keys:
                    examples.append(RowChange("modified", as_dict(row), as_dict(changed_keys.pop(k))))
                elif gone and k not in matched and len(examples) < limit + len(changed_keys):
                    examples.append(RowChange("removed", as_dict(row), None))
                    gone -= 1
    else:
        counts: Counter = Counter()
        for row in _rows(old, fmt, old_label, common):
            rows_old += 1
            counts[_digest(row)] += 1
        for row in _rows(new, fmt, new_label, common):
            rows_new += 1
            d = _digest(row)
            if counts[d] > 0:
                counts[d] -= 1
            else:
                added += 1
                if len(examples) < limit:
                    examples.append(RowChange("added", None, as_dict(row)))
        removed = sum(counts.values())
        if removed and len(examples) < limit:
            left = +counts
            for row in _rows(old, fmt, old_label, common):
                d = _digest(row)
                if left[d] > 0:
                    left[d] -= 1
                    examples.append(RowChange("removed", as_dict(row), None))
                    if len(examples) >= limit:
                        break
    order = {"modified": 0, "added": 1, "removed": 2}
    examples.sort(key=lambda e: order[e.change])
    return RowDiff(fmt, key, added_cols, removed_cols, retyped, rows_old, rows_new, added, removed, modified,
                   examples[:limit])
