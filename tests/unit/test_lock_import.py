"""mlvc.lock's ``source:`` record of an imported artifact (``mlvc import``): golden text, round
trips (hypothesis), checked values, and the keys of a newer mlvc kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlvc.errors import FileFormatError
from mlvc.formats.lock import ImportSource, Lock, LockEntry, parse_lock, serialize_lock

TREE = "62307bc8a53f348150f1a5178926c61a.tree"
OID = "06b05ab6733a618578af5f94892f3950"
SHA = "0123456789abcdef0123456789abcdef01234567"

# DO NOT MODIFY: an imported artifact as this mlvc writes it; every later mlvc reads it the same.
GOLDEN_TEXT = f"""\
schema: 2
artifacts:
  data/raw:
    oid: {TREE}
    size: 17
    nfiles: 4
    source:
      repo: https://example.com/org/registry.git
      path: datasets/raw
      rev: v1.2
      commit: {SHA}
      remote: backup
  model.pkl:
    oid: {OID}
    size: 3
    source:
      repo: /srv/models
      path: models/model.pkl
      commit: {SHA}
"""
GOLDEN = Lock({
    "data/raw": LockEntry("data/raw", TREE, 17, 4, source=ImportSource(
        "https://example.com/org/registry.git", "datasets/raw", SHA, "v1.2", "backup")),
    "model.pkl": LockEntry("model.pkl", OID, 3, source=ImportSource("/srv/models", "models/model.pkl", SHA)),
})


def test_golden_text_reads_to_the_values_and_writes_back_the_same():
    lock = parse_lock(GOLDEN_TEXT)
    assert lock == GOLDEN
    assert {p: e.source for p, e in lock.artifacts.items()} == {p: e.source for p, e in GOLDEN.artifacts.items()}
    assert serialize_lock(lock) == GOLDEN_TEXT
    assert serialize_lock(GOLDEN) == GOLDEN_TEXT


def test_an_artifact_without_a_source_is_written_as_before():
    text = serialize_lock(Lock({"a": LockEntry("a", OID, 3)}))
    assert "source" not in text
    assert parse_lock(text).artifacts["a"].source is None


def test_the_source_is_not_part_of_the_data_identity():
    """A commit of unchanged data keeps the entry as read (``record_all`` compares entries)."""
    assert LockEntry("a", OID, 3, source=ImportSource("/r", "a", SHA)) == LockEntry("a", OID, 3)


def test_keys_of_a_newer_mlvc_in_a_source_are_kept():
    text = GOLDEN_TEXT.replace("      remote: backup\n", "      remote: backup\n      mirror: s3://x\n")
    lock = parse_lock(text)
    assert lock.artifacts["data/raw"].source.extra == {"mirror": "s3://x"}
    assert serialize_lock(lock) == text


BAD = [
    ("      commit: " + SHA + "\n      remote: backup\n", "      commit: abc\n      remote: backup\n",
     "must be a full git commit id"),
    ("      path: datasets/raw\n", "      path: ../../etc\n", "path of the source of 'data/raw'"),
    ("      path: datasets/raw\n", "      path: /etc/passwd\n", "path of the source of 'data/raw'"),
    ("      path: datasets/raw\n", "", "needs repo, path and commit"),
    ("      rev: v1.2\n", "      rev: --upload-pack=evil\n", "starting with '-'"),
    ("      rev: v1.2\n", "      rev: [a, b]\n", "rev of the source of 'data/raw' must be a str"),
    ("      remote: backup\n", "      remote: ../x\n", "is not a remote name"),
    ("      repo: https://example.com/org/registry.git\n", "      repo: ''\n", "cannot be empty"),
    ("    source:\n      repo:", "    source: 3\n    xsource:\n      repo:", "must be a mapping"),
]


@pytest.mark.parametrize("old, new, problem", BAD, ids=[b[2][:30] for b in BAD])
def test_a_bad_source_is_refused_naming_the_file_and_line(old, new, problem):
    assert old in GOLDEN_TEXT
    with pytest.raises(FileFormatError) as exc:
        parse_lock(GOLDEN_TEXT.replace(old, new, 1))
    assert problem in exc.value.message
    assert exc.value.message.startswith("mlvc.lock:")
    assert exc.value.line is not None


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\n\r\x85\u2028\u2029"),
                min_size=1, max_size=30).filter(lambda s: not s.startswith("-") and s.strip() == s and s)
_segment = st.text("abcxyz0129_.-é", min_size=1, max_size=8).filter(lambda s: s not in (".", "..", ".git",
                                                                                          ".mlvc"))
_sources = st.builds(ImportSource, _text, st.lists(_segment, min_size=1, max_size=3).map("/".join),
                     st.sampled_from([SHA, "f" * 64]), st.none() | _text,
                     st.none() | st.from_regex(r"[A-Za-z0-9_-]{1,10}", fullmatch=True))


@given(_sources)
def test_round_trip(source):
    lock = Lock({"d": LockEntry("d", TREE, 1, 1, source=source)})
    again = parse_lock(serialize_lock(lock))
    assert again.artifacts["d"].source == source
