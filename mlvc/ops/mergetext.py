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

``merge_yaml_blocks``: ``mlvc.yaml`` split into its top-level keys and, inside ``stages`` and
``artifacts``, into one block a stage or a path, each with the comments above it; the blocks
are merged three-way by key, so comments, order and layout are kept. The caller checks the
result against the entry-by-entry merge of the parsed files."""

from __future__ import annotations

import bisect
import difflib
from typing import Any, Callable

MISSING: Any = object()


def three_way(b: Any, o: Any, t: Any) -> tuple[bool, Any]:
    """(clean, value) of one key; MISSING stands for an absent key."""
    if o == t:
        return True, o
    if o == b:
        return True, t
    if t == b:
        return True, o
    return False, None


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` with their ends; a last line without one gets one."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\r\n" if lines[0].endswith("\r\n") else "\n"
    return lines


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


def conflict_block(ours: str, theirs: str) -> str:
    return f"<<<<<<< ours\n{ours}=======\n{theirs}>>>>>>> theirs\n"


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


# ------------------------------------------------------------------ mlvc.yaml, block by block


def _is_note(line: str) -> bool:
    s = line.strip()
    return not s or s.startswith("#")


def _items(lines: list[str], start: Callable[[str], str | None]):
    """``lines`` as ``[(key, lines)]``: an item begins at a line for which ``start`` gives a
    key, with the blank and comment lines just above it; and the notes left at the end. None
    when a line before the first item is not a note."""
    items: list[tuple[str, list[str]]] = []
    pending: list[str] = []
    for line in lines:
        if _is_note(line):
            pending.append(line)
            continue
        key = start(line)
        if key is not None:
            items.append((key, pending + [line]))
        elif items:
            items[-1][1].extend(pending + [line])
        else:
            return None
        pending = []
    return items, pending


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _top_key(line: str) -> str | None:
    if line[:1] in (" ", "\t", "-", "#") or ":" not in line:
        return None
    return line.split(":", 1)[0].strip()


def _children(lines: list[str]):
    """A block ``key:`` split into its head (up to its first line; an empty ``[]`` or ``{}``
    value taken off) and its children: the entries of a mapping (one a stage) or the items of
    a list (one a path). Children None: not so (a flow value, an unusual layout)."""
    head_end = next(i for i, line in enumerate(lines) if not _is_note(line)) + 1
    head, rest = lines[:head_end], lines[head_end:]
    key_line = head[-1]
    name, value = key_line.split(":", 1)
    inline = value.split("#", 1)[0].strip()
    if inline in ("[]", "{}"):
        head = head[:-1] + [name + ":" + value.replace(inline, "", 1).rstrip() + "\n"]
    elif inline:
        return head, None
    first = next((line for line in rest if not _is_note(line)), None)
    if first is None:
        return head, [] if not rest else None
    at = _indent(first)
    if first[at:].startswith("- "):
        def start(line):
            return line.strip() if _indent(line) == at and line[at:].startswith("- ") else None
    else:
        def start(line):
            return line[at:].split(":", 1)[0] if _indent(line) == at and ":" in line else None
    split = _items(rest, start)
    if split is None or split[1]:
        return head, None
    return head, split[0]


def _keyed(b: list, o: list, t: list, resolve: Callable | None = None) -> list | None:
    """Three-way merge of ordered ``[(key, value)]``: ours' order, each key only theirs has
    after the nearest key before it in theirs that ours has too (at the start when none is,
    after ours when they have no key in common). A key changed differently on both sides is given to
    ``resolve(key, b, o, t)``; None (from it, or on a key that appears twice) is None."""
    maps = [dict(x) for x in (b, o, t)]
    if any(len(m) != len(x) for m, x in zip(maps, (b, o, t))):
        return None
    placed = set(maps[1])
    after: dict[Any, list] = {}  # a key of ours (None: the start) -> theirs' new keys to put after it
    last = None
    for k, _ in t:
        if k in placed:
            last = k
        else:
            after.setdefault(last, []).append(k)
    if None in after and o and not any(k in placed for k, _ in t):
        after[o[-1][0]] = after.pop(None)  # nothing in common: theirs after ours
    order = list(after.get(None, []))
    for k, _ in o:
        order.append(k)
        order.extend(after.get(k, []))
    seen = set(order)
    order += [k for k, _ in b if k not in seen]
    out = []
    for k in order:
        values = [m.get(k, MISSING) for m in maps]
        clean, value = three_way(*values)
        if not clean:
            value = resolve(k, *values) if resolve is not None else None
            if value is None:
                return None
        if value is not MISSING:
            out.append((k, value))
    return out


_TAIL = "\0end"  # the notes after the last block


class Clash:
    """A block changed differently on both sides (its text on each; "" where removed)."""

    def __init__(self, where: tuple[str, str | None], ours: Any, theirs: Any) -> None:
        self.where = where  # (top-level key, stage or path) or (top-level key, None)
        self.ours = "" if ours is MISSING else ours
        self.theirs = "" if theirs is MISSING else theirs


def _render(parts: Any, how: str) -> str:
    """The text of merged parts: a Clash as markers (``marked``), or as one side's text."""
    if isinstance(parts, str):
        return parts
    if isinstance(parts, Clash):
        if how == "marked":
            return conflict_block(parts.ours, parts.theirs)
        return parts.ours if how == "ours" else parts.theirs
    return "".join(_render(p, how) for p in parts)


def _merge_children(key: str, b: Any, o: Any, t: Any, clashes: list | None) -> Any:
    """A top-level block changed on both sides, merged child by child (None: it cannot be)."""
    if key == _TAIL or any(x is MISSING for x in (b, o, t)):
        return None
    split = [_children(split_lines(x)) for x in (b, o, t)]
    if any(children is None for _, children in split):
        return None
    clean, head = three_way(*("".join(h) for h, _ in split))
    if not clean:
        return None

    def clash(k, _b, ours, theirs):
        clashes.append((key, k))
        return [Clash((key, k), ours, theirs)]

    kids = _keyed(*([(k, "".join(lines)) for k, lines in children] for _, children in split),
                  resolve=clash if clashes is not None else None)
    return None if kids is None else [head, *(v for _, v in kids)]


def _merge_blocks(b_text: str, o_text: str, t_text: str, clashes: list | None):
    sides = []
    for text in (b_text, o_text, t_text):
        split = _items(split_lines(text), _top_key)
        if split is None:
            return None
        blocks, tail = split
        sides.append([(k, "".join(lines)) for k, lines in blocks] + [(_TAIL, "".join(tail))])

    def resolve(key, b, o, t):
        parts = _merge_children(key, b, o, t, clashes)
        if parts is None and clashes is not None and key != _TAIL:
            clashes.append((key, None))
            parts = Clash((key, None), o, t)
        return parts

    merged = _keyed(*sides, resolve=resolve)
    if merged is None:
        return None
    return [v for k, v in merged if k != _TAIL] + [v for k, v in merged if k == _TAIL]


def merge_yaml_blocks(b_text: str, o_text: str, t_text: str) -> str | None:
    """``mlvc.yaml`` merged block by block (a top-level key; inside one changed on both sides,
    a stage or a path), or None when a block changed differently on both sides or the layout is
    not one this split reads."""
    parts = _merge_blocks(b_text, o_text, t_text, None)
    return None if parts is None else _render(parts, "ours")


def merge_yaml_marked(b_text: str, o_text: str, t_text: str):
    """Block by block as ``merge_yaml_blocks``, with each block changed differently on both
    sides between conflict markers: ``(text, text taking ours, text taking theirs, clashes)``
    where a clash is ``(top-level key, stage or path, or None for the whole block)``; None when
    the layout is not one this split reads."""
    clashes: list = []
    parts = _merge_blocks(b_text, o_text, t_text, clashes)
    if parts is None:
        return None
    return _render(parts, "marked"), _render(parts, "ours"), _render(parts, "theirs"), clashes
