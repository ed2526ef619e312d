"""Tree objects, format 2 (Merkle: one object per folder): golden vectors, round trips
(hypothesis), refusal of every unsafe or malformed folder object, and scale.
Format 1 (read forever) is pinned in test_tree_v1.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvc.errors import FileFormatError, InvalidPathError, ObjectNotFoundError
from mlvc.objects.hashing import hash_bytes
from mlvc.objects.tree import TREE_HEADER, Tree, TreeEntry, check_object, load_tree, parse_folder, serialize_tree
from mlvc.odb import MemoryObjectStore

OID_ABC = "06b05ab6733a618578af5f94892f3950"  # XXH3-128 of b"abc"
OID_SH = "4e4bede9319ea1b966fa03988755fda8"  # of b"#!/bin/sh\n"
OID_CSV = "3b5f3e4500e12f030322f8b3d7504d46"  # of b"x,y\n"
OID_EMPTY = "99aa06d3014798d86001c324468d497f"  # of b""

# DO NOT MODIFY. Trees written by mlvc with format 2 must read the same forever:
# change the format only with a new version number (and keep reading this one).
# The names around 'a' pin git's order: a folder sorts as its name plus '/'.
GOLDEN_ENTRIES = [
    TreeEntry("a-b/c", OID_ABC, 3, False),
    TreeEntry("a.d", OID_ABC, 3, False),
    TreeEntry("a.txt", OID_ABC, 3, False),
    TreeEntry("a/x", OID_ABC, 3, False),
    TreeEntry("a0", OID_ABC, 3, False),
    TreeEntry("bin/run.sh", OID_SH, 10, True),
    TreeEntry("données/é.csv", OID_CSV, 4, False),
    TreeEntry("sub/dir/deep.bin", OID_EMPTY, 0, False),
]
GOLDEN_OBJECTS = [  # (id, bytes), every folder after the folders below it, the top one last
    ("21eb2f003eb63e16d372519e5256a530.tree", b"mlvc-tree 2\nc\x0006b05ab6733a618578af5f94892f3950 - 3\n"),
    ("537328e67d339c6da57524bad6fa37fd.tree", b"mlvc-tree 2\nx\x0006b05ab6733a618578af5f94892f3950 - 3\n"),
    ("ce41651d1700f9a58b41f41c7bbdc152.tree", b"mlvc-tree 2\nrun.sh\x004e4bede9319ea1b966fa03988755fda8 x 10\n"),
    ("569b85788c9c1674ce69b0c4db761b66.tree", b"mlvc-tree 2\n\xc3\xa9.csv\x003b5f3e4500e12f030322f8b3d7504d46 - 4\n"),
    ("6783fd4e59f6896d8cbee735b725cbdc.tree", b"mlvc-tree 2\ndeep.bin\x0099aa06d3014798d86001c324468d497f - 0\n"),
    ("38f1f59a4368df29ac1da3cd2d20b826.tree", b"mlvc-tree 2\ndir\x006783fd4e59f6896d8cbee735b725cbdc d 0 1\n"),
    ("442a4e94fb1c8bf3f50d91f8e8621c6b.tree",
     b"mlvc-tree 2\n"
     b"a-b\x0021eb2f003eb63e16d372519e5256a530 d 3 1\n"
     b"a.d\x0006b05ab6733a618578af5f94892f3950 - 3\n"
     b"a.txt\x0006b05ab6733a618578af5f94892f3950 - 3\n"
     b"a\x00537328e67d339c6da57524bad6fa37fd d 3 1\n"
     b"a0\x0006b05ab6733a618578af5f94892f3950 - 3\n"
     b"bin\x00ce41651d1700f9a58b41f41c7bbdc152 d 10 1\n"
     b"donn\xc3\xa9es\x00569b85788c9c1674ce69b0c4db761b66 d 4 1\n"
     b"sub\x0038f1f59a4368df29ac1da3cd2d20b826 d 0 1\n"),
]
GOLDEN_OID = "442a4e94fb1c8bf3f50d91f8e8621c6b.tree"
EMPTY_TREE_OID = "b98e9818f8dedc61de476f8763f9f234.tree"


def _store(objects) -> MemoryObjectStore:
    store = MemoryObjectStore()
    for oid, data in objects:
        store.objects[oid] = data
    return store


def test_golden_ids_are_the_hashes_of_their_bytes():
    assert [hash_bytes(b) for b in (b"abc", b"#!/bin/sh\n", b"x,y\n", b"")] == [OID_ABC, OID_SH, OID_CSV, OID_EMPTY]
    for oid, data in GOLDEN_OBJECTS:
        assert oid == hash_bytes(data) + ".tree"


def test_encode_golden_tree():
    tree = Tree.from_entries(reversed(GOLDEN_ENTRIES))  # given out of order: the tree sorts them
    assert tree.encode() == GOLDEN_OBJECTS
    assert tree.oid == GOLDEN_OID
    assert serialize_tree(tree) == GOLDEN_OBJECTS[-1][1]
    assert tree.folders == {"": GOLDEN_OID, "a-b": GOLDEN_OBJECTS[0][0], "a": GOLDEN_OBJECTS[1][0],
                            "bin": GOLDEN_OBJECTS[2][0], "données": GOLDEN_OBJECTS[3][0],
                            "sub/dir": GOLDEN_OBJECTS[4][0], "sub": GOLDEN_OBJECTS[5][0]}
    assert tree.tree_oids() == {oid for oid, _ in GOLDEN_OBJECTS}


def test_load_golden_tree():
    tree = _store(GOLDEN_OBJECTS).load_tree(GOLDEN_OID)
    assert list(tree) == GOLDEN_ENTRIES
    assert tree.paths == sorted(tree.paths)  # git's order makes the depth-first walk sorted
    assert tree.oid == GOLDEN_OID and tree.version == 2
    assert tree.nfiles == len(tree) == 8
    assert tree.size == 5 * 3 + 10 + 4 + 0
    assert tree.oids() == {OID_ABC, OID_SH, OID_CSV, OID_EMPTY}
    assert tree.get("bin/run.sh") == TreeEntry("bin/run.sh", OID_SH, 10, True)
    assert tree.oid_of("données/é.csv") == OID_CSV and tree.is_executable("bin/run.sh")
    assert tree.get("bin") is None and tree.oid_of("missing") is None
    assert tree == Tree.from_entries(GOLDEN_ENTRIES)


def test_golden_empty_tree():
    tree = Tree.from_entries([])
    assert tree.encode() == [(EMPTY_TREE_OID, TREE_HEADER.encode())]
    assert len(_store(tree.encode()).load_tree(EMPTY_TREE_OID)) == 0


def test_one_changed_file_changes_only_the_trees_on_its_path():
    entries = [(f"d{a}/f{b}", hash_bytes(b"%d/%d" % (a, b)), 3, False) for a in range(5) for b in range(5)]
    before = dict(Tree.from_entries(entries).encode())
    entries[7] = ("d1/f2", OID_CSV, 4, False)
    after = dict(Tree.from_entries(entries).encode())
    assert len(set(after) - set(before)) == 2  # d1 and the top folder
    assert len(after) == len(before) == 6


def test_from_entries_refuses_a_file_and_a_folder_of_one_name():
    for entries in ([("a", OID_ABC, 3, False), ("a/b", OID_ABC, 3, False)],
                    [("x/a", OID_ABC, 3, False), ("x/a!", OID_ABC, 3, False), ("x/a/b", OID_ABC, 3, False)]):
        with pytest.raises(InvalidPathError, match="both a file and a folder"):
            Tree.from_entries(entries)


@pytest.mark.parametrize(
    "path", ["", "/a", "a/", "a//b", "./a", "a/./b", "../a", "a/..", "a\\b", "a\0b", "a\nb", "a\rb", "bad\udcff"]
)
def test_from_entries_refuses_bad_paths(path):
    with pytest.raises(InvalidPathError):
        Tree.from_entries([(path, OID_ABC, 3, False)])


def test_a_missing_sub_folder_names_its_id():
    store = _store(GOLDEN_OBJECTS[1:])
    with pytest.raises(ObjectNotFoundError) as exc:
        store.load_tree(GOLDEN_OID)
    assert exc.value.oids == [GOLDEN_OBJECTS[0][0]]


# ----------------------------------------------------------- property tests

_segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\0\n\r"), min_size=1, max_size=6
).filter(lambda s: s not in (".", "..", ".git", ".mlvc"))
_path = st.lists(st.one_of(_segment, st.sampled_from(["a", "a.b", "a-b", "a0", "b"])), min_size=1, max_size=4).map("/".join)
_oid = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
_entry = st.tuples(_path, _oid, st.integers(0, 2**64), st.booleans())
_entries = st.lists(_entry, max_size=30, unique_by=lambda e: e[0])
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _consistent(entries) -> bool:
    """No path is a folder of another (a real folder cannot hold both)."""
    paths = {e[0] for e in entries}
    return not any(p.rpartition("/")[0] in paths or any(q.startswith(p + "/") for q in paths) for p in paths)


@FAST
@given(_entries)
def test_roundtrip(entries):
    if not _consistent(entries):
        with pytest.raises(InvalidPathError):
            Tree.from_entries(entries)
        return
    tree = Tree.from_entries(entries)
    objects = tree.encode()
    for oid, data in objects:
        assert oid == hash_bytes(data) + ".tree"
        check_object(data)
    back = _store(objects).load_tree(tree.oid)
    assert back == tree and back.oid == tree.oid
    assert back.folders == tree.folders
    assert sorted(entries) == sorted(back.entries())
    assert back.size == sum(e[2] for e in entries)


def _use(tree: Tree) -> None:
    """Everything a caller may do with a loaded tree."""
    list(tree)
    tree.size
    tree.oids()
    tree.oid
    tree.oid_map()
    for p in tree.paths[:3]:
        tree.get(p)


@FAST
@given(st.data())
def test_mutated_golden_folders_give_a_format_error_or_a_valid_tree(data):
    objects = dict(GOLDEN_OBJECTS)
    target = data.draw(st.sampled_from(sorted(objects)))
    buf = bytearray(objects[target])
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["set", "insert", "delete"]))
        i = data.draw(st.integers(0, len(buf) - 1))
        if op == "set":
            buf[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            buf.insert(i, data.draw(st.sampled_from(b"\0\n/.\\\r x-d09af")))
        else:
            del buf[i]
    objects[target] = bytes(buf)  # stored under its old id, as a hostile cache or remote could
    try:
        tree = load_tree(GOLDEN_OID, objects.__getitem__)
    except (FileFormatError, KeyError):
        return
    _use(tree)
    for e in tree:  # whatever was accepted is a well-formed, safe tree
        assert Tree.from_entries([e]).paths == [e.path]


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_give_a_format_error_or_a_valid_folder(data):
    try:
        parse_folder(TREE_HEADER.encode() + data)
    except FileFormatError:
        pass


# ------------------------------------------------------------- bad folders


def _folder(*lines: str) -> bytes:
    return (TREE_HEADER + "".join(line + "\n" for line in lines)).encode()


GOOD = f"a\0{OID_ABC} - 3"
GOOD_Z = f"z\0{OID_ABC} - 3"
SUB = GOLDEN_OBJECTS[0][0][:32]


@pytest.mark.parametrize("name", ["", ".", "..", "b/c", "/etc", "b\\c", "b\rc"])
def test_unsafe_names_are_refused_naming_the_line(name):
    with pytest.raises(FileFormatError) as exc:
        parse_folder(_folder(GOOD, f"{name}\0{OID_ABC} - 3", GOOD_Z), "tree X")
    assert exc.value.line == 3, str(exc.value)
    assert str(exc.value).startswith("tree X:3: ")


@pytest.mark.parametrize(
    "meta",
    [
        OID_ABC.upper() + " - 3", OID_ABC[:31] + " - 3", OID_ABC + ".tree - 3", OID_ABC + " r 3",
        OID_ABC + " - -3", OID_ABC + " - 03", OID_ABC + " - 3 ", OID_ABC + " - 3 1",
        SUB + " d 3", SUB + " d 3 0", SUB + " d 03 1", SUB + ".tree d 3 1", "../../../../../../etc/passwd0000 d 3 1",
        "",
    ],
)
def test_malformed_metadata_is_refused_naming_the_line(meta):
    with pytest.raises(FileFormatError) as exc:
        parse_folder(_folder(GOOD, f"b\0{meta}", GOOD_Z), "tree X")
    assert exc.value.line == 3, str(exc.value)


@pytest.mark.parametrize(
    "lines,line,match",
    [
        ((GOOD_Z, GOOD), 3, "sorted"),
        ((GOOD, GOOD), 3, "sorted"),
        ((f"a0\0{OID_ABC} - 3", f"a\0{SUB} d 3 1"), 3, "sorted"),  # the folder 'a' sorts as 'a/', before 'a0'
        ((f"a\0{SUB} d 3 1", f"a.b\0{OID_ABC} - 3"), 3, "sorted"),  # 'a/' sorts after 'a.b'
        ((f"a\0{OID_ABC} - 3", f"a\0{SUB} d 3 1"), 3, "twice"),  # a file and a folder of one name
    ],
)
def test_unsorted_or_duplicate_entries_are_refused_naming_the_line(lines, line, match):
    with pytest.raises(FileFormatError, match=match) as exc:
        parse_folder(_folder(*lines))
    assert exc.value.line == line


def test_an_empty_sub_folder_is_refused():
    empty = TREE_HEADER.encode()
    top = _folder(f"e\0{hash_bytes(empty)} d 0 1")
    objects = {hash_bytes(top) + ".tree": top, hash_bytes(empty) + ".tree": empty}
    with pytest.raises(FileFormatError, match="holds no files"):
        load_tree(hash_bytes(top) + ".tree", objects.__getitem__)


def test_a_deep_tree_loads_without_recursion():
    depth = 2000  # deeper than Python's recursion limit
    tree = Tree.from_entries([("/".join(["d"] * depth) + "/f", OID_ABC, 3, False)])
    back = _store(tree.encode()).load_tree(tree.oid)
    assert back.paths == tree.paths and len(back.folders) == depth + 1


def test_unsupported_version_says_to_upgrade():
    with pytest.raises(FileFormatError, match="unsupported tree version '3'") as exc:
        parse_folder(b"mlvc-tree 3\n" + f"a\0{OID_ABC} - 3\n".encode())
    assert exc.value.line == 1 and exc.value.hint == "upgrade mlvc"


# ------------------------------------------------------- names no file system takes, .git, .mlvc

from mlvc.objects.tree import encode_entries, file_meta, parse_tree  # noqa: E402


@pytest.mark.parametrize("name,ok", [("a" * 255, True), ("a" * 256, False), ("é" * 127, True), ("é" * 128, False)])
def test_a_name_over_255_bytes_is_refused_naming_the_line(name, ok):
    data = _folder(GOOD, f"{name}\0{OID_ABC} - 3")
    if ok:
        assert parse_folder(data)[0] == ["a", name]
        return
    with pytest.raises(FileFormatError, match=r"has a name of 256 bytes \(at most 255\)") as exc:
        parse_folder(data, "tree X")
    assert exc.value.line == 3
    with pytest.raises(InvalidPathError, match="256 bytes"):
        Tree.from_entries([(f"d/{name}", OID_ABC, 3, False)])
    with pytest.raises(FileFormatError, match="256 bytes"):
        parse_tree(f"mlvc-tree 1\nd/{name}\0{OID_ABC} - 3\n".encode())


def test_a_path_over_4096_bytes_is_refused_when_the_tree_is_read():
    long = "/".join(["x" * 200] * 21)  # 4220 bytes, every name short enough
    objects: dict[str, bytes] = {}
    oid = encode_entries([(long, file_meta(OID_ABC, 3, False))], objects.__setitem__)[0]
    with pytest.raises(FileFormatError, match=r"bytes long \(at most 4096\)"):
        load_tree(oid, objects.__getitem__)
    ok = "/".join(["x" * 200] * 20)  # 4019 bytes
    objects.clear()
    oid = encode_entries([(ok, file_meta(OID_ABC, 3, False))], objects.__setitem__)[0]
    assert load_tree(oid, objects.__getitem__).paths == [ok]
    with pytest.raises(InvalidPathError, match="at most 4096"):
        Tree.from_entries([(long, OID_ABC, 3, False)])
    with pytest.raises(FileFormatError, match="at most 4096"):
        parse_tree(f"mlvc-tree 1\n{long}\0{OID_ABC} - 3\n".encode())


@pytest.mark.parametrize("name", [".git", ".mlvc"])
def test_git_and_mlvc_names_are_refused_in_a_tree(name):
    with pytest.raises(FileFormatError, match="never tracks") as exc:
        parse_folder(_folder(f"{name}\0{OID_ABC} - 3", GOOD), "tree X")
    assert exc.value.line == 2
    with pytest.raises(FileFormatError, match="never tracks"):
        parse_tree(f"mlvc-tree 1\nd/{name}/config\0{OID_ABC} - 3\n".encode())
    with pytest.raises(InvalidPathError, match="never tracks"):
        Tree.from_entries([(f"d/{name}/config", OID_ABC, 3, False)])
    assert parse_folder(_folder(f"{name}x\0{OID_ABC} - 3", GOOD))[0] == [f"{name}x", "a"]


def test_a_bad_name_in_a_tree_is_named():
    with pytest.raises(FileFormatError, match=r"^tree X:3: the name 'b\\\\c' contains a backslash"):
        parse_folder(_folder(GOOD, f"b\\c\0{OID_ABC} - 3"), "tree X")


# ------------------------------------------------------------------- scale


@pytest.mark.slow
def test_a_million_files_in_a_thousand_folders_load_correctly():
    # Folder objects built by concatenation, so the test spends its time loading.
    files = "".join(f"f{b:03d}\0{b:032x} {'x' if b % 7 == 0 else '-'} {b}\n" for b in range(1000))
    leaf = (TREE_HEADER + files).encode()
    leaf_oid = hash_bytes(leaf)
    objects = {}
    lines = []
    for a in range(1000):  # every folder holds the same files: one object, read 1000 times
        lines.append(f"d{a:03d}\0{leaf_oid} d {999 * 1000 // 2} 1000\n")
    top = (TREE_HEADER + "".join(lines)).encode()
    objects[hash_bytes(top) + ".tree"] = top
    objects[leaf_oid + ".tree"] = leaf
    tree = load_tree(hash_bytes(top) + ".tree", objects.__getitem__)  # timed in benchmarks, not here
    assert len(tree) == 1_000_000
    assert tree.paths[0] == "d000/f000" and tree.paths[-1] == "d999/f999"
    assert tree.paths[123_456] == "d123/f456"
    assert tree.get("d123/f456") == TreeEntry("d123/f456", f"{456:032x}", 456, False)
    assert tree.size == 1000 * (999 * 1000 // 2)
