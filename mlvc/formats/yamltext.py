"""``mlvc.yaml`` as text, block by block, so that what people wrote (comments, blank lines,
order, layout) outlives a change mlvc makes, and a merge of two branches.

The text is split into its top-level keys and, inside ``stages``, ``vars`` and ``artifacts``,
into one block a stage or a list item, each with the comment and blank lines just above it.
Three texts (a base and two changed versions of it) are merged by key, three-way:

- ``merge_yaml_blocks`` / ``merge_yaml_marked``: the merge driver's merge of two branches
  (``ops.merge``); a block changed differently on both sides is a conflict;
- ``update_yaml_blocks``: people's text brought up to a new version mlvc wrote
  (``formats.project.serialize_project`` with ``over``); where both changed a block, mlvc's
  version of it wins, under people's comments above it.

Nothing here reads YAML: every caller checks that the text it gets parses back to the
entries it means, and writes the file afresh otherwise. Imports nothing of mlvc.
"""

from __future__ import annotations

import re
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


def conflict_block(ours: str, theirs: str) -> str:
    return f"<<<<<<< ours\n{ours}=======\n{theirs}>>>>>>> theirs\n"


def _is_note(line: str) -> bool:
    s = line.strip()
    return not s or s.startswith("#")


def _is_top_note(line: str) -> bool:
    return _is_note(line) or line.rstrip() == "---"  # the start of the (one) document


def _items(lines: list[str], start: Callable[[str], str | None], note: Callable[[str], bool] = _is_note):
    """``lines`` as ``[(key, lines)]``: an item begins at a line for which ``start`` gives a
    key, with the blank and comment lines just above it; and the notes left at the end. None
    when a line before the first item is not a note."""
    items: list[tuple[str, list[str]]] = []
    pending: list[str] = []
    for line in lines:
        if note(line):
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


_COMMENT = re.compile(r"\s#")  # (never \s+#: quadratic on a long run of spaces)


def _item_key(line: str) -> str:
    """A list item's key: its value as written, less a comment after it and plain quotes
    around it (``- 'a'  # raw`` is the item ``- a``)."""
    value = line.strip()[1:].strip()
    if value[:1] not in ("'", '"'):
        m = _COMMENT.search(value)  # a plain scalar: " #" starts a comment
        return "- " + (value[:m.start()].rstrip() if m else value)
    m = re.fullmatch(r"""(['"])([^'"\\]*)\1(\s+#.*)?""", value)
    return "- " + (m.group(2) if m else value)


def _children(lines: list[str]):
    """A block ``key:`` split into its head (up to its first line; an empty ``[]`` or ``{}``
    value taken off), its children (the entries of a mapping, one a stage, or the items of a
    list, one a path) and their indentation. Children None: not so (a flow value, an unusual
    layout)."""
    head_end = next(i for i, line in enumerate(lines) if not _is_top_note(line)) + 1
    head, rest = lines[:head_end], lines[head_end:]
    key_line = head[-1]
    name, value = key_line.split(":", 1)
    inline = value.split("#", 1)[0].strip()
    if inline in ("[]", "{}"):
        head = head[:-1] + [name + ":" + value.replace(inline, "", 1).rstrip() + "\n"]
    elif inline:
        return head, None, 0
    first = next((line for line in rest if not _is_note(line)), None)
    if first is None:
        return head, [] if not rest else None, 0
    at = _indent(first)
    if first[at:].startswith("- "):
        def start(line):
            return _item_key(line) if _indent(line) == at and line[at:].startswith("- ") else None
    else:
        def start(line):
            return line[at:].split(":", 1)[0] if _indent(line) == at and ":" in line else None
    split = _items(rest, start)
    if split is None or split[1]:
        return head, None, at
    return head, split[0], at


def _shift(lines: list[str], by: int) -> list[str]:
    """``lines`` indented ``by`` more spaces (fewer when negative); blank lines as they are."""
    if by >= 0:
        return [" " * by + line if line.strip() else line for line in lines]
    return [line[-by:] if line.strip() else line for line in lines]


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


# on_clash(where, b, o, t): the parts for a block changed differently on both sides, None for none
OnClash = Callable[[tuple, Any, Any, Any], Any]


def _merge_children(key: str, b: Any, o: Any, t: Any, on_clash: OnClash, reindent: bool) -> Any:
    """A top-level block changed on both sides, merged child by child (None: it cannot be).
    ``reindent``: base's and theirs' children are first indented as ours' are."""
    if key == _TAIL or any(x is MISSING for x in (b, o, t)):
        return None
    split = [_children(split_lines(x)) for x in (b, o, t)]
    if any(children is None for _, children, _ in split):
        return None
    clean, head = three_way(*("".join(h) for h, _, _ in split))
    if not clean:
        return None
    sides = []
    for n, (_, children, at) in enumerate(split):
        by = split[1][2] - at if reindent and split[1][1] and children and n != 1 else 0
        if by < 0 and any(line.strip() and _indent(line) < -by for _, lines in children for line in lines):
            by = 0
        sides.append([(k, "".join(_shift(lines, by) if by else lines)) for k, lines in children])
    kids = _keyed(*sides, resolve=lambda k, _b, ours, theirs: on_clash((key, k), _b, ours, theirs))
    return None if kids is None else [head, *(v for _, v in kids)]


def _merge_blocks(b_text: str, o_text: str, t_text: str, on_clash: OnClash, reindent: bool = False):
    sides = []
    for text in (b_text, o_text, t_text):
        split = _items(split_lines(text), _top_key, _is_top_note)
        if split is None:
            return None
        blocks, tail = split
        sides.append([(k, "".join(lines)) for k, lines in blocks] + [(_TAIL, "".join(tail))])

    def resolve(key, b, o, t):
        parts = _merge_children(key, b, o, t, on_clash, reindent)
        if parts is None and key != _TAIL:
            parts = on_clash((key, None), b, o, t)
        return parts

    merged = _keyed(*sides, resolve=resolve)
    if merged is None:
        return None
    return [v for k, v in merged if k != _TAIL] + [v for k, v in merged if k == _TAIL]


def _refuse(where, b, o, t) -> None:
    return None


def merge_yaml_blocks(b_text: str, o_text: str, t_text: str) -> str | None:
    """``mlvc.yaml`` merged block by block (a top-level key; inside one changed on both sides,
    a stage or a path), or None when a block changed differently on both sides or the layout is
    not one this split reads."""
    parts = _merge_blocks(b_text, o_text, t_text, _refuse)
    return None if parts is None else _render(parts, "ours")


def merge_yaml_marked(b_text: str, o_text: str, t_text: str):
    """Block by block as ``merge_yaml_blocks``, with each block changed differently on both
    sides between conflict markers: ``(text, text taking ours, text taking theirs, clashes)``
    where a clash is ``(top-level key, stage or path, or None for the whole block)``; None when
    the layout is not one this split reads."""
    clashes: list = []

    def mark(where, b, o, t):
        clashes.append(where)
        return Clash(where, o, t)

    parts = _merge_blocks(b_text, o_text, t_text, mark)
    if parts is None:
        return None
    return _render(parts, "marked"), _render(parts, "ours"), _render(parts, "theirs"), clashes


def _notes(text: str) -> tuple[str, str]:
    """A block's text as (the comment and blank lines above it, the rest)."""
    lines = split_lines(text)
    n = next((i for i, line in enumerate(lines) if not _is_top_note(line)), len(lines))
    return "".join(lines[:n]), "".join(lines[n:])


def _take_new(where, b, o, t):
    """A block both people and mlvc changed: mlvc's version under people's notes above it;
    removed by mlvc, only those notes stay (mlvc never deletes a comment)."""
    notes = "" if o is MISSING else _notes(o)[0]
    if t is MISSING:
        return notes or MISSING
    return notes + _notes(t)[1]


def update_yaml_blocks(b_text: str, o_text: str, t_text: str) -> str | None:
    """``o_text`` (people's text of what mlvc would write as ``b_text``) changed as mlvc's
    ``t_text`` changes ``b_text``, block by block: a block mlvc did not change keeps people's
    text; a new one is placed after its neighbour in ``t_text`` (indented as people indent its
    siblings); one both changed is mlvc's, under the comment lines people wrote above it; a
    removed one leaves those comment lines behind. None when the layout is not one this split
    reads."""
    parts = _merge_blocks(b_text, o_text, t_text, _take_new, reindent=True)
    return None if parts is None else _render(parts, "ours")
