"""Text merges for the merge driver (``ops.merge``), which keep what people wrote.

``merge3``: a three-way merge of lists of lines (the diff3 of breezy's ``merge3``, on a
patience diff): regions changed on one side take that side, regions changed alike take the
change, and the rest are conflicts, returned as such for the caller to resolve or mark.

``merge_gitignore``: a ``.gitignore`` in which mlvc adds and removes one line per tracked
artifact (``/name``, see ``workspace.gitignore``). Where both sides changed the same place,
those lines are merged as a set (a line added on either side is kept once, a line removed on
either side stays removed: git's ``merge=union`` would bring a removed line back, leaving an
artifact that is no longer tracked ignored by git, and would keep both versions of a line
people changed differently). People's own lines are merged as git would: changed on both
sides differently, they are a conflict between markers.

``merge_yaml_blocks`` and ``merge_yaml_marked`` (from ``formats.yamltext``, which mlvc's own
writes of ``mlvc.yaml`` share): ``mlvc.yaml`` split into its top-level keys and, inside
``stages`` and ``artifacts``, into one block a stage or a path, each with the comments above
it; the blocks are merged three-way by key, so comments, order and layout are kept. The caller
checks the result against the entry-by-entry merge of the parsed files."""

from __future__ import annotations

import bisect
import difflib

from mlvc.formats.yamltext import (MISSING, conflict_block, merge_yaml_blocks, merge_yaml_marked, split_lines,
                                   three_way)

__all__ = ["MISSING", "conflict_block", "is_mlvc_line", "matching_blocks", "merge3", "merge_gitignore",
           "merge_yaml_blocks", "merge_yaml_marked", "split_lines", "three_way"]

_SMALL = 250_000  # a stretch without an anchor is matched by difflib up to this many line pairs


def _lis(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of ``pairs`` (sorted by their first) whose seconds increase (patience)."""
    tops: list[int] = []  # the smallest second ending a run of each length
    ends: list[int] = []  # the index in pairs of that end
    back = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tops, j)
        if k == len(tops):
            tops.append(j)
            ends.append(n)
        else:
            tops[k] = j
            ends[k] = n
        back[n] = ends[k - 1] if k else -1
    out = []
    n = ends[-1] if ends else -1
    while n >= 0:
        out.append(pairs[n])
        n = back[n]
    return out[::-1]


def matching_blocks(a: list[str], b: list[str]) -> list[tuple[int, int, int]]:
    """``(i, j, n)``: a[i:i+n] == b[j:j+n], in order, ending with ``(len(a), len(b), 0)``, as
    ``difflib``'s ``get_matching_blocks``. A patience diff: the common start and end, then the
    lines found once on each side as anchors, each stretch between them the same way; difflib
    only for a small stretch without anchors. Linear-logarithmic for the files mlvc writes
    (one line a path), where difflib alone is quadratic."""
    pairs: list[tuple[int, int]] = []
    stack = [(0, len(a), 0, len(b))]
    while stack:
        alo, ahi, blo, bhi = stack.pop()
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            pairs.append((alo, blo))
            alo, blo = alo + 1, blo + 1
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
            pairs.append((ahi, bhi))
        if alo == ahi or blo == bhi:
            continue
        count: dict[str, list[int]] = {}
        for i in range(alo, ahi):
            count.setdefault(a[i], [0, 0, i])[0] += 1
        for j in range(blo, bhi):
            c = count.get(b[j])
            if c is not None:
                c[1] += 1
                if c[1] == 1:
                    c.append(j)
        anchors = _lis(sorted((c[2], c[3]) for c in count.values() if c[0] == 1 and c[1] == 1))
        if not anchors:
            if (ahi - alo) * (bhi - blo) <= _SMALL:
                m = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
                pairs.extend((alo + i + k, blo + j + k) for i, j, n in m.get_matching_blocks() for k in range(n))
            continue
        pi, pj = alo, blo
        for i, j in anchors:
            pairs.append((i, j))
            stack.append((pi, i, pj, j))
            pi, pj = i + 1, j + 1
        stack.append((pi, ahi, pj, bhi))
    pairs.sort()
    blocks: list[tuple[int, int, int]] = []
    for i, j in pairs:
        if blocks and blocks[-1][0] + blocks[-1][2] == i and blocks[-1][1] + blocks[-1][2] == j:
            blocks[-1] = (blocks[-1][0], blocks[-1][1], blocks[-1][2] + 1)
        else:
            blocks.append((i, j, 1))
    blocks.append((len(a), len(b), 0))
    return blocks


def _sync_regions(base: list[str], a: list[str], b: list[str]) -> list[tuple[int, int, int, int, int, int]]:
    """The stretches where base, a and b all agree: (base start, end, a start, end, b start, end)."""
    ma = matching_blocks(base, a)
    mb = matching_blocks(base, b)
    out = []
    i = j = 0
    while i < len(ma) and j < len(mb):
        abase, amatch, alen = ma[i]
        bbase, bmatch, blen = mb[j]
        lo, hi = max(abase, bbase), min(abase + alen, bbase + blen)
        if hi > lo:
            out.append((lo, hi, amatch + lo - abase, amatch + hi - abase, bmatch + lo - bbase, bmatch + hi - bbase))
        if abase + alen < bbase + blen:
            i += 1
        else:
            j += 1
    out.append((len(base), len(base), len(a), len(a), len(b), len(b)))
    return out


def merge3(base: list[str], a: list[str], b: list[str]) -> list[tuple]:
    """Chunks ``("ok", lines)`` and ``("conflict", base part, a part, b part)``, in order."""
    chunks: list[tuple] = []
    iz = ia = ib = 0
    for zs, ze, as_, ae, bs, be in _sync_regions(base, a, b):
        z, x, y = base[iz:zs], a[ia:as_], b[ib:bs]
        if z or x or y:
            if x == y or y == z:
                chunks.append(("ok", x))
            elif x == z:
                chunks.append(("ok", y))
            else:
                chunks.append(("conflict", z, x, y))
        if ze > zs:
            chunks.append(("ok", base[zs:ze]))
        iz, ia, ib = ze, ae, be
    return chunks


# ------------------------------------------------------------------ .gitignore


def _bare(line: str) -> str:
    return line.rstrip("\r\n")


def is_mlvc_line(line: str) -> bool:
    """A line of the form mlvc writes for an artifact: ``/name``, one path component, no
    wildcard (special characters escaped with a backslash)."""
    s = _bare(line)
    if len(s) < 2 or s[0] != "/" or (s.endswith(" ") and not s.endswith("\\ ")):
        return False
    i = 1
    while i < len(s):
        if s[i] == "\\":
            if i + 1 == len(s):
                return False
            i += 2
            continue
        if s[i] in "/*?[":
            return False
        i += 1
    return True


def _gitignore_hunk(z: list[str], a: list[str], b: list[str]) -> list[str] | None:
    """One region changed on both sides: mlvc's lines as a set, people's lines three-way
    (None: people's lines changed differently)."""
    def people(part):
        return [_bare(x) for x in part if not is_mlvc_line(x)]

    clean, kept = three_way(people(z), people(a), people(b))
    if not clean:
        return None
    zs, as_, bs = ({_bare(x) for x in part} for part in (z, a, b))

    def keep(line: str) -> bool:
        return three_way(line in zs, line in as_, line in bs)[1]

    first, second = (a, b) if kept == people(a) else (b, a)
    out, seen = [], set()
    for line in first:
        if not is_mlvc_line(line):
            out.append(line)
        elif keep(_bare(line)) and _bare(line) not in seen:
            out.append(line)
            seen.add(_bare(line))
    for line in second:
        if is_mlvc_line(line) and keep(_bare(line)) and _bare(line) not in seen:
            out.append(line)
            seen.add(_bare(line))
    return out


def merge_gitignore(b_text: str, o_text: str, t_text: str) -> tuple[str, list[str]]:
    """The merged text and one line per conflict (people's lines changed differently)."""
    base, ours, theirs = split_lines(b_text), split_lines(o_text), split_lines(t_text)
    out: list[str] = []
    conflicts: list[str] = []
    for chunk in merge3(base, ours, theirs):
        if chunk[0] == "ok":
            out.extend(chunk[1])
            continue
        _, z, a, b = chunk
        resolved = _gitignore_hunk(z, a, b)
        if resolved is not None:
            out.extend(resolved)
            continue
        line = len(out) + 1
        conflicts.append(f"lines changed differently on both branches (near line {line}): "
                         + ", ".join(repr(_bare(x)) for x in (a or b)[:3]))
        out.append(conflict_block("".join(a), "".join(b)))
    return "".join(out), conflicts
