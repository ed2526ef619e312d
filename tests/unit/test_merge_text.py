"""mlvc.ops.mergetext: the line merges of the merge driver."""

from hypothesis import given
from hypothesis import strategies as st

from mlvc.ops.mergetext import is_mlvc_line, merge3, merge_gitignore, merge_yaml_blocks

lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\n", "/x\n"]), max_size=8)


def joined(chunks):
    assert all(c[0] == "ok" for c in chunks)
    return [line for c in chunks for line in c[1]]


@given(lines, lines)
def test_one_side_changed_takes_that_side(base, other):
    assert joined(merge3(base, base, other)) == other
    assert joined(merge3(base, other, base)) == other
    assert joined(merge3(base, other, other)) == other


def test_changes_apart_merge_and_a_clash_is_a_conflict():
    base = ["1\n", "2\n", "3\n", "4\n", "5\n"]
    assert joined(merge3(base, ["0\n", *base[1:]], [*base[:4], "6\n"])) == ["0\n", "2\n", "3\n", "4\n", "6\n"]
    chunks = merge3(base, ["1\n", "A\n", *base[2:]], ["1\n", "B\n", *base[2:]])
    assert ("conflict", ["2\n"], ["A\n"], ["B\n"]) in chunks


def test_mlvc_lines():
    assert all(is_mlvc_line(x) for x in ["/a.csv\n", "/my file\n", "/\\*star\n", "/trail\\ \n", "/a\r\n"])
    assert not any(is_mlvc_line(x) for x in ["a.csv\n", "/a/b\n", "/*.log\n", "!/a\n", "# /a\n", "/\n", "/a \n"])


def test_gitignore_set_of_mlvc_lines_and_crlf_kept():
    text, conflicts = merge_gitignore("*.log\r\n/a\r\n", "*.log\r\n/b\r\n", "*.log\r\n/a\r\n/c\r\n")
    assert (text, conflicts) == ("*.log\r\n/b\r\n/c\r\n", [])
    assert merge_gitignore("", "/a", "/b") == ("/a\n/b\n", [])  # created on both sides


def test_gitignore_people_lines_beside_mlvc_lines():
    text, conflicts = merge_gitignore("/x\n", "# mine\n/x\n/a\n", "/b\n")
    assert (text, conflicts) == ("# mine\n/a\n/b\n", [])
    text, conflicts = merge_gitignore("*.log\n", "*.tmp\n/a\n", "!keep.log\n")
    assert conflicts and text == "<<<<<<< ours\n*.tmp\n/a\n=======\n!keep.log\n>>>>>>> theirs\n"


def test_yaml_blocks_keep_comments_and_order():
    base = "schema: 2\nstages:\n  a:\n    cmd: 1\n  # b's note\n  b:\n    cmd: 2\n"
    ours = base.replace("cmd: 1", "cmd: 1  # ours")
    theirs = base.replace("  # b's note\n  b:\n    cmd: 2\n", "") + "  c:\n    cmd: 3\n"
    assert merge_yaml_blocks(base, ours, theirs) == "schema: 2\nstages:\n  a:\n    cmd: 1  # ours\n  c:\n    cmd: 3\n"
    assert merge_yaml_blocks(base, ours, base.replace("cmd: 1", "cmd: 9")) is None  # the same stage, both sides
    assert merge_yaml_blocks("schema: 2\n", "schema: 2\nvars: [p.yaml]\n", "schema: 2\nstages: {}\n") == \
        "schema: 2\nstages: {}\nvars: [p.yaml]\n"  # theirs after the key before it there


@given(lines, lines)
def test_matching_blocks_are_matches_in_order(a, b):
    from mlvc.ops.mergetext import matching_blocks

    blocks = matching_blocks(a, b)
    assert blocks[-1] == (len(a), len(b), 0)
    i_end = j_end = 0
    for i, j, n in blocks[:-1]:
        assert n > 0 and i >= i_end and j >= j_end and a[i:i + n] == b[j:j + n]
        i_end, j_end = i + n, j + n
    matched = sum(n for _, _, n in blocks)
    assert matched == len(a) if a == b else matched <= min(len(a), len(b))
    assert sum(n for _, _, n in matching_blocks(a, a + b)) == len(a)


def test_long_files_of_paths_merge_without_a_quadratic_diff(monkeypatch):
    """20,000 paths (difflib alone: about a minute, comparing 4e8 line pairs) merge by anchors:
    difflib sees only stretches without an anchor, a few line pairs in all. Work counted, not timed."""
    import difflib

    import mlvc.ops.mergetext as mergetext

    compared = []

    class Counting(difflib.SequenceMatcher):
        def __init__(self, isjunk, a, b, **kwargs):
            compared.append(len(a) * len(b))
            super().__init__(isjunk, a, b, **kwargs)

    monkeypatch.setattr(mergetext.difflib, "SequenceMatcher", Counting)
    base = [f"/f{i:05d}\n" for i in range(20000)]
    ours = base + [f"/o{i}\n" for i in range(2000)]
    theirs = [x for n, x in enumerate(base) if n % 7] + [f"/t{i}\n" for i in range(2000)]
    text, conflicts = merge_gitignore("".join(base), "".join(ours), "".join(theirs))
    assert not conflicts and text.count("\n") == len(theirs) + 2000
    assert sum(compared) <= len(base)  # linear in the lines, where plain difflib is quadratic
