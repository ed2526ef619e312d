"""Tree objects, format 1 (flat; read forever, no longer written): golden vectors,
round trips, and refusal of every unsafe or malformed tree, with the line that is wrong.

``v1_bytes`` below writes format 1 for these tests only: mlvc itself writes format 2."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlvc.errors import FileFormatError, InvalidPathError, MlvcError
from mlvc.objects.hashing import hash_bytes
from mlvc.objects.tree import TREE_HEADER_V1 as TREE_HEADER
from mlvc.objects.tree import Tree, TreeEntry, parse_tree

OID_ABC = "06b05ab6733a618578af5f94892f3950"  # XXH3-128 of b"abc"
OID_SH = "4e4bede9319ea1b966fa03988755fda8"  # of b"#!/bin/sh\n"
OID_CSV = "3b5f3e4500e12f030322f8b3d7504d46"  # of b"x,y\n"
OID_EMPTY = "99aa06d3014798d86001c324468d497f"  # of b""

# DO NOT MODIFY. A tree written by mlvc 0.1 must read the same forever: change
# the format only with a new version number and a migration.
GOLDEN_ENTRIES = [
    TreeEntry("a.txt", OID_ABC, 3, False),
    TreeEntry("bin/run.sh", OID_SH, 10, True),
    TreeEntry("données/é.csv", OID_CSV, 4, False),
    TreeEntry("sub/dir/deep.bin", OID_EMPTY, 0, False),
]
GOLDEN_BYTES = (
    b"mlvc-tree 1\n"
    b"a.txt\x0006b05ab6733a618578af5f94892f3950 - 3\n"
    b"bin/run.sh\x004e4bede9319ea1b966fa03988755fda8 x 10\n"
    b"donn\xc3\xa9es/\xc3\xa9.csv\x003b5f3e4500e12f030322f8b3d7504d46 - 4\n"
    b"sub/dir/deep.bin\x0099aa06d3014798d86001c324468d497f - 0\n"
)
GOLDEN_OID = "62307bc8a53f348150f1a5178926c61a.tree"
EMPTY_TREE_OID = "280ab4caf65af1f7a5fc432c646803fa.tree"


def v1_bytes(tree: Tree) -> bytes:
    return (TREE_HEADER + "".join(f"{p}\0{m}\n" for p, m in zip(tree.paths, tree.metas))).encode()


def v1_oid(tree: Tree) -> str:
    return hash_bytes(v1_bytes(tree)) + ".tree"


def test_golden_entry_oids_are_the_hashes_of_their_content():
    assert [hash_bytes(b) for b in (b"abc", b"#!/bin/sh\n", b"x,y\n", b"")] == [OID_ABC, OID_SH, OID_CSV, OID_EMPTY]


def test_golden_tree_bytes_are_its_sorted_entries():
    # Entries given out of order: the tree sorts them.
    tree = Tree.from_entries(reversed(GOLDEN_ENTRIES))
    assert v1_bytes(tree) == GOLDEN_BYTES
    assert GOLDEN_OID == hash_bytes(GOLDEN_BYTES) + ".tree"


def test_parse_golden_tree():
    tree = parse_tree(GOLDEN_BYTES)
    tree._oid = GOLDEN_OID  # as the store sets it: a format 1 tree keeps the id it was read under
    assert list(tree) == GOLDEN_ENTRIES
    assert tree.oid == GOLDEN_OID
    assert tree.version == 1 and tree.tree_oids() == {GOLDEN_OID}
    assert tree.nfiles == len(tree) == 4
    assert tree.size == 17
    assert tree.oids() == {OID_ABC, OID_SH, OID_CSV, OID_EMPTY}
    assert tree.get("bin/run.sh") == TreeEntry("bin/run.sh", OID_SH, 10, True)
    assert tree.get("données/é.csv").oid == OID_CSV
    assert tree.get("bin") is None
    assert tree.get("missing") is None


def test_golden_empty_tree():
    tree = Tree.from_entries([])
    assert v1_bytes(tree) == b"mlvc-tree 1\n" == TREE_HEADER.encode()
    assert v1_oid(tree) == EMPTY_TREE_OID
    assert parse_tree(b"mlvc-tree 1\n") == tree
    assert len(parse_tree(b"mlvc-tree 1\n")) == 0


def test_from_entries_accepts_tuples_and_entries_alike():
    tuples = [(e.path, e.oid, e.size, e.executable) for e in GOLDEN_ENTRIES]
    assert Tree.from_entries(tuples) == Tree.from_entries(GOLDEN_ENTRIES)
    assert Tree.from_entries(tuples) != Tree.from_entries(tuples[:3])


def test_from_entries_refuses_duplicates():
    with pytest.raises(InvalidPathError, match="duplicate"):
        Tree.from_entries([("a", OID_ABC, 3, False), ("a", OID_EMPTY, 0, False)])


@pytest.mark.parametrize(
    "path", ["", "/a", "a/", "a//b", "./a", "a/./b", "../a", "a/..", "a\\b", "a\0b", "a\nb", "a\rb", "bad\udcff"]
)
def test_from_entries_refuses_bad_paths(path):
    with pytest.raises(InvalidPathError):
        Tree.from_entries([(path, OID_ABC, 3, False)])


# ----------------------------------------------------------- property tests

_segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\0\n\r"), min_size=1, max_size=12
).filter(lambda s: s not in (".", "..", ".git", ".mlvc"))
_path = st.lists(_segment, min_size=1, max_size=4).map("/".join)
_oid = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
_entry = st.tuples(_path, _oid, st.integers(0, 2**64), st.booleans())
_entries = st.lists(_entry, max_size=30, unique_by=lambda e: e[0])
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(_entries)
def test_roundtrip(entries):
    paths = {e[0] for e in entries}
    assume(not any(q.startswith(p + "/") for p in paths for q in paths))  # no folder holds both 'a' and 'a/b'
    tree = Tree.from_entries(entries)
    data = v1_bytes(tree)
    back = parse_tree(data)
    assert back == tree
    assert sorted(entries) == sorted((e.path, e.oid, e.size, e.executable) for e in back)
    assert back.size == sum(e[2] for e in entries)
    for path, oid, size, x in entries:
        assert back.get(path) == TreeEntry(path, oid, size, x)


def _use(tree: Tree) -> None:
    """Everything a caller may do with a parsed tree."""
    list(tree)
    tree.size
    tree.oids()
    tree.oid
    for p in tree.paths[:3]:
        tree.get(p)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_give_a_format_error_or_a_valid_tree(data):
    try:
        _use(parse_tree(data))
    except FileFormatError:
        pass


@FAST
@given(st.text(max_size=200))
def test_random_text_after_the_header_gives_a_format_error_or_a_valid_tree(text):
    try:
        _use(parse_tree((TREE_HEADER + text).encode("utf-8", "surrogatepass")))
    except FileFormatError:
        pass


@FAST
@given(st.data())
def test_mutated_golden_tree_gives_a_format_error_or_a_valid_tree(data):
    buf = bytearray(GOLDEN_BYTES)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["set", "insert", "delete"]))
        i = data.draw(st.integers(0, len(buf) - 1))
        if op == "set":
            buf[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            buf.insert(i, data.draw(st.sampled_from(b"\0\n/.\\\r x-09af")))
        else:
            del buf[i]
    try:
        tree = parse_tree(bytes(buf))
    except FileFormatError:
        return
    _use(tree)
    for e in tree:  # whatever was accepted is a well-formed, safe tree
        assert Tree.from_entries([e]).paths == [e.path]


# ------------------------------------------------------------- bad trees


def _tree(*lines: str) -> bytes:
    return (TREE_HEADER + "".join(line + "\n" for line in lines)).encode()


GOOD = f"a\0{OID_ABC} - 3"
GOOD_Z = f"z\0{OID_ABC} - 3"


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd", "/a", "../a", "a/../../b", "..", "a/..", ".", "./a", "a/./b", "a/.", "a//b", "a/", "m/",
        "", "b\\c", "b\rc",
    ],
)
def test_unsafe_paths_are_refused_naming_the_line(path):
    # The bad path is on line 3, between two good ones (paths sorted: '' and '..' sort first,
    # so sorting is not what refuses them).
    data = _tree(GOOD, f"{path}\0{OID_ABC} - 3", GOOD_Z)
    with pytest.raises(FileFormatError) as exc:
        parse_tree(data, "tree X")
    assert exc.value.line == 3, str(exc.value)
    assert str(exc.value).startswith("tree X:3: ")


def test_nul_in_a_path_is_refused_naming_the_line():
    with pytest.raises(FileFormatError, match="NUL") as exc:
        parse_tree(_tree(GOOD, f"b\0c\0{OID_ABC} - 3", GOOD_Z))
    assert exc.value.line == 3


def test_line_without_nul_is_refused_naming_the_line():
    with pytest.raises(FileFormatError) as exc:
        parse_tree(_tree(GOOD, f"b {OID_ABC} - 3", GOOD_Z))
    assert exc.value.line == 3


@pytest.mark.parametrize(
    "meta",
    [
        OID_ABC.upper() + " - 3",  # upper-case hex
        OID_ABC[:31] + " - 3",  # short oid
        OID_ABC + "0 - 3",  # long oid
        OID_ABC + ".tree - 3",  # a tree inside a tree
        "../../../../../../etc/passwd0000 - 3",  # an oid that is a path
        OID_ABC + " r 3",  # unknown mode
        OID_ABC + " - -3",  # negative size
        OID_ABC + " - 03",  # leading zero
        OID_ABC + " - ",  # no size
        OID_ABC + " - 3 ",  # trailing space
        OID_ABC + "  3",
        OID_ABC + " - 1e3",
        "",
    ],
)
def test_malformed_metadata_is_refused_on_parse_naming_the_line(meta):
    # Checkout reads tree.metas directly, so parse_tree itself must refuse these.
    with pytest.raises(FileFormatError) as exc:
        parse_tree(_tree(GOOD, f"b\0{meta}", GOOD_Z), "tree X")
    assert exc.value.line == 3, str(exc.value)


@pytest.mark.parametrize(
    "lines,line",
    [
        ((GOOD_Z, GOOD), 3),  # out of order
        ((GOOD, GOOD), 3),  # duplicate
        ((GOOD, f"b\0{OID_ABC} - 3", f"b\0{OID_ABC} - 3"), 4),
        ((f"b/c\0{OID_ABC} - 3", f"b\0{OID_ABC} - 3"), 3),
    ],
)
def test_unsorted_or_duplicate_entries_are_refused_naming_the_line(lines, line):
    with pytest.raises(FileFormatError, match="sorted or duplicated") as exc:
        parse_tree(_tree(*lines))
    assert exc.value.line == line


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "bad header"),
        (b"mlvc-tree 1", "bad header"),
        (b"mlvc-tree 1\r\n", "bad header"),
        (b"MLVC-TREE 1\n", "bad header"),
        (b"\xef\xbb\xbfmlvc-tree 1\n", "bad header"),
        (b"blob 12\0", "bad header"),
        (b"mlvc-tree 1\n" + f"a\0{OID_ABC} - 3".encode(), "truncated"),
        (b"mlvc-tree 1\n\n", "NUL"),
        (b"mlvc-tree 1\n" + f"a\0{OID_ABC} - 3\n\n".encode(), "NUL"),
        (b"mlvc-tree 1\n\xff\xfe\0" + OID_ABC.encode() + b" - 3\n", "UTF-8"),
        (b"mlvc-tree 1\n" + f"a\0{OID_ABC} - 3\r\n".encode(), "CR"),
    ],
)
def test_malformed_trees_are_refused(data, match):
    with pytest.raises(FileFormatError, match=match):
        parse_tree(data)


def test_unsupported_version_says_to_upgrade():
    with pytest.raises(FileFormatError, match="unsupported tree version '3'") as exc:
        parse_tree(b"mlvc-tree 3\n" + f"a\0{OID_ABC} - 3\n".encode())
    assert exc.value.line == 1
    assert exc.value.hint == "upgrade mlvc"


def test_format_errors_are_mlvc_errors():
    assert issubclass(FileFormatError, MlvcError)


# ------------------------------------------------------------------- scale


@pytest.mark.slow
def test_a_tree_of_a_million_entries_parses_correctly():
    # Built by concatenation (1000 folders x 1000 files), so the test spends its time parsing.
    folders = [f"d{a:03d}/" for a in range(1000)]
    files = [f"f{b:03d}\0{b:032x} {'x' if b % 7 == 0 else '-'} {b}\n" for b in range(1000)]
    data = (TREE_HEADER + "".join([d + f for d in folders for f in files])).encode()
    tree = parse_tree(data)
    assert len(tree) == 1_000_000
    assert tree.paths[0] == "d000/f000" and tree.paths[-1] == "d999/f999"
    assert tree.paths[123_456] == "d123/f456"
    assert tree.metas[123_456] == f"{456:032x} - 456"
    assert list(Tree(tree.paths[123_455:123_457], tree.metas[123_455:123_457])) == [
        TreeEntry("d123/f455", f"{455:032x}", 455, True),
        TreeEntry("d123/f456", f"{456:032x}", 456, False),
    ]
    assert tree.size == 1000 * (999 * 1000 // 2)
    assert v1_bytes(tree) == data


def test_a_file_that_is_also_a_folder_is_refused():
    # 'b' and 'b/c' cannot both be: checking such a tree out would delete files before failing.
    with pytest.raises(FileFormatError, match="both a file and a folder") as exc:
        parse_tree(_tree(f"b\0{OID_ABC} - 3", f"b!\0{OID_ABC} - 3", f"b/c\0{OID_ABC} - 3"))
    assert exc.value.line == 2
