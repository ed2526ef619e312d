"""mlvc.lock and mlvc.yaml: golden text, round trips (hypothesis) and errors
that name the file and the line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvc.errors import FileFormatError, MlvcError
from mlvc.formats.lock import (LOCK_FILE, Lock, LockEntry, StageRecord, parse_lock, read_lock, serialize_lock,
                               write_lock)
from mlvc.formats.project import PROJECT_FILE, Project, parse_project, read_project, serialize_project, write_project
from mlvc.objects.hashing import is_valid_oid
from mlvc.objects.paths import check_relpath

OID_ABC = "06b05ab6733a618578af5f94892f3950"
OID_CSV = "3b5f3e4500e12f030322f8b3d7504d46"
OID_EMPTY = "99aa06d3014798d86001c324468d497f"
TREE = "62307bc8a53f348150f1a5178926c61a.tree"

# DO NOT MODIFY: mlvc.lock and mlvc.yaml as mlvc 0.1 wrote them (schema 1). Every
# later mlvc reads them to the same values.
GOLDEN_LOCK = Lock(
    {
        e.path: e
        for e in [
            LockEntry("data/images", TREE, 17, 4),
            LockEntry("model.pkl", OID_ABC, 3),
            LockEntry("true", OID_EMPTY, 0),
            LockEntry("données/a b.csv", OID_CSV, 4),
            LockEntry("1.0", OID_ABC, 3),
        ]
    }
)
GOLDEN_LOCK_V1_TEXT = """\
schema: 1
artifacts:
  "1.0":
    oid: 06b05ab6733a618578af5f94892f3950
    size: 3
  data/images:
    oid: 62307bc8a53f348150f1a5178926c61a.tree
    size: 17
    nfiles: 4
  "données/a b.csv":
    oid: 3b5f3e4500e12f030322f8b3d7504d46
    size: 4
  model.pkl:
    oid: 06b05ab6733a618578af5f94892f3950
    size: 3
  "true":
    oid: 99aa06d3014798d86001c324468d497f
    size: 0
"""
GOLDEN_PROJECT = Project(["model.pkl", "data/images", "null", "a b", "é.bin", "2024-01-01"])
GOLDEN_PROJECT_V1_TEXT = """\
schema: 1
artifacts:
- "2024-01-01"
- "a b"
- data/images
- model.pkl
- "null"
- "é.bin"
"""


# DO NOT MODIFY: schema 2, as mlvc writes it (PyYAML's emitter with pinned settings).
GOLDEN_LOCK_TEXT = """\
schema: 2
artifacts:
  '1.0':
    oid: 06b05ab6733a618578af5f94892f3950
    size: 3
  data/images:
    oid: 62307bc8a53f348150f1a5178926c61a.tree
    size: 17
    nfiles: 4
  données/a b.csv:
    oid: 3b5f3e4500e12f030322f8b3d7504d46
    size: 4
  model.pkl:
    oid: 06b05ab6733a618578af5f94892f3950
    size: 3
  'true':
    oid: 99aa06d3014798d86001c324468d497f
    size: 0
"""
GOLDEN_PROJECT_TEXT = """\
schema: 2
artifacts:
- '2024-01-01'
- a b
- data/images
- model.pkl
- 'null'
- é.bin
"""
GOLDEN_STAGES_LOCK = Lock(
    {
        "data/images": LockEntry("data/images", TREE, 17, 4),
        "model.pkl": LockEntry("model.pkl", OID_ABC, 3),
        "tools/run.sh": LockEntry("tools/run.sh", OID_CSV, 4, executable=True),
    },
    {
        "train": StageRecord(
            "train", ["python train.py", "echo done"],
            {"train.py": LockEntry("train.py", OID_ABC, 3), "data/images": LockEntry("data/images", TREE, 17, 4)},
            {"params.yaml": {"lr": 0.001, "layers": [64, 32], "opt": {"name": "adam", "beta": None}, "on": True,
                             "date": "2024-01-01"}},
            ["model.pkl"],
        ),
    },
)
GOLDEN_STAGES_LOCK_TEXT = """\
schema: 2
artifacts:
  data/images:
    oid: 62307bc8a53f348150f1a5178926c61a.tree
    size: 17
    nfiles: 4
  model.pkl:
    oid: 06b05ab6733a618578af5f94892f3950
    size: 3
  tools/run.sh:
    oid: 3b5f3e4500e12f030322f8b3d7504d46
    size: 4
    executable: true
stages:
  train:
    cmd:
    - python train.py
    - echo done
    deps:
      data/images:
        oid: 62307bc8a53f348150f1a5178926c61a.tree
        size: 17
        nfiles: 4
      train.py:
        oid: 06b05ab6733a618578af5f94892f3950
        size: 3
    params:
      params.yaml:
        date: '2024-01-01'
        layers:
        - 64
        - 32
        lr: 0.001
        'on': true
        opt:
          beta: null
          name: adam
    outs:
    - model.pkl
"""


def test_serialize_lock_with_stages_golden():
    assert serialize_lock(GOLDEN_STAGES_LOCK) == GOLDEN_STAGES_LOCK_TEXT
    assert parse_lock(GOLDEN_STAGES_LOCK_TEXT) == GOLDEN_STAGES_LOCK


def test_schema_1_files_read_the_same():
    assert parse_lock(GOLDEN_LOCK_V1_TEXT) == GOLDEN_LOCK
    assert parse_lock(GOLDEN_LOCK_V1_TEXT).schema == 1
    assert sorted(parse_project(GOLDEN_PROJECT_V1_TEXT).artifacts) == sorted(GOLDEN_PROJECT.artifacts)
    assert serialize_lock(parse_lock(GOLDEN_LOCK_V1_TEXT)) == GOLDEN_LOCK_TEXT  # migrated on the next write


def test_unknown_keys_of_the_lock_are_kept():
    # A newer mlvc may add keys a reader can ignore: they are kept, never refused.
    text = (f"schema: 2\nfuture: {{a: 1}}\nartifacts:\n  x:\n    oid: {OID_ABC}\n    size: 3\n    md5: abc\n"
            "stages:\n  s:\n    cmd: run\n    outs: [x]\n    frozen: true\n")
    lock = parse_lock(text)
    assert lock.extra == {"future": {"a": 1}}
    assert lock.artifacts["x"].extra == {"md5": "abc"}
    assert lock.stages["s"].extra == {"frozen": True}
    again = serialize_lock(lock)
    assert "md5: abc" in again and "frozen: true" in again and "future:" in again
    assert parse_lock(again) == lock


def test_serialize_lock_golden():
    assert serialize_lock(GOLDEN_LOCK) == GOLDEN_LOCK_TEXT


def test_parse_lock_golden():
    lock = parse_lock(GOLDEN_LOCK_TEXT)
    assert lock == GOLDEN_LOCK
    assert lock.artifacts["data/images"].is_dir
    assert not lock.artifacts["true"].is_dir


def test_serialize_project_golden():
    assert serialize_project(GOLDEN_PROJECT) == GOLDEN_PROJECT_TEXT


def test_parse_project_golden():
    assert sorted(parse_project(GOLDEN_PROJECT_TEXT).artifacts) == sorted(GOLDEN_PROJECT.artifacts)


def test_empty_files_golden():
    assert serialize_lock(Lock()) == "schema: 2\nartifacts: {}\n"
    assert serialize_project(Project()) == "schema: 2\nartifacts: []\n"
    for text in ("schema: 1\nartifacts: {}\n", "schema: 1\nartifacts:\n", "", "# nothing\n", "schema: 1\n"):
        assert parse_lock(text) == Lock()
    for text in ("schema: 1\nartifacts: []\n", "schema: 1\nartifacts:\n", "", "schema: 1\n"):
        assert parse_project(text) == Project()


def test_hand_written_project_is_accepted():
    # People edit mlvc.yaml: comments, flow style, quotes and numbers-as-names are fine.
    text = "# tracked data\nschema: 1\nartifacts: [data, 'model.pkl', 2024, 1.5]  # trailing comment\n"
    assert parse_project(text).artifacts == ["data", "model.pkl", "2024", "1.5"]


def test_read_and_write_on_disk(tmp_path):
    root = str(tmp_path)
    assert read_lock(root) == Lock()
    assert read_project(root) == Project()
    write_lock(root, GOLDEN_LOCK)
    write_project(root, GOLDEN_PROJECT)
    assert (tmp_path / LOCK_FILE).read_bytes() == GOLDEN_LOCK_TEXT.encode()
    assert (tmp_path / PROJECT_FILE).read_bytes() == GOLDEN_PROJECT_TEXT.encode()
    assert read_lock(root) == GOLDEN_LOCK
    assert sorted(read_project(root).artifacts) == sorted(GOLDEN_PROJECT.artifacts)
    assert sorted(os.listdir(root)) == [LOCK_FILE, PROJECT_FILE]  # no temp files left


def test_unreadable_files_on_disk(tmp_path):
    (tmp_path / LOCK_FILE).mkdir()
    with pytest.raises(FileFormatError, match="mlvc.lock: is a folder"):
        read_lock(str(tmp_path))
    (tmp_path / PROJECT_FILE).write_bytes(b"schema: 1\nartifacts:\n- \xff\xfe\n")
    with pytest.raises(FileFormatError, match="mlvc.yaml: is not valid UTF-8"):
        read_project(str(tmp_path))


# ----------------------------------------------------------- property tests

TRICKY = [
    "true", "false", "True", "yes", "no", "on", "off", "y", "n", "null", "Null", "~", "1", "1.0", "1e3", "-1", "+1",
    ".5", "0x1F", "0o17", "0b101", "1_000", "12:30", "2024-01-01", ".inf", ".nan", "a b", " a", "a ", "-", "-a", "?",
    "a:b", "a: b", "#a", "a #b", "'a'", '"a"', "&a", "*a", "!a", "%a", "@a", "`a", "|", ">", "[a]", "{a}", "a,b", "=",
    "<<", "é", "données", "日本語", "a\tb", "\u00a0", "a\x1bb", "emoji😀", "a\ufeffb",
]
_segment = st.one_of(
    st.sampled_from(TRICKY),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\0\n\r"), min_size=1, max_size=10
    ).filter(lambda s: s not in (".", "..")),
)
def _may_be_artifact(path: str) -> bool:
    """What an artifact's path can be: never mlvc's own files, a .gitignore, or inside .git/.mlvc."""
    parts = path.split("/")
    return (not {".git", ".mlvc"} & set(parts) and parts[-1] != ".gitignore"
            and path not in ("mlvc.lock", "mlvc.yaml"))


_path = st.lists(_segment, min_size=1, max_size=3).map("/".join).filter(_may_be_artifact)


def _not_nested(paths: list[str]) -> list[str]:
    out: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(p.startswith(q + "/") for q in out):
            out.append(p)
    return out


_paths = st.lists(_path, max_size=12).map(_not_nested)
_file_oid = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
_size = st.integers(0, 2**64)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=10),
                    st.floats(allow_nan=False))
_param_value = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                            max_leaves=8)


@st.composite
def _locks(draw) -> Lock:
    lock = Lock()
    for path in draw(_paths):
        oid = draw(_file_oid)
        if draw(st.booleans()):
            lock.artifacts[path] = LockEntry(path, oid + ".tree", draw(_size), draw(st.integers(0, 10**9)))
        else:
            lock.artifacts[path] = LockEntry(path, oid, draw(_size), executable=draw(st.booleans()))
    outs = sorted(lock.artifacts)
    for name in draw(st.lists(st.sampled_from(["train", "prep", "s@1", "évaluer"]), unique=True, max_size=3)):
        params = draw(st.dictionaries(st.text(max_size=8), _param_value, max_size=4))
        lock.stages[name] = StageRecord(
            name, draw(st.one_of(st.text(max_size=20), st.lists(st.text(max_size=20), max_size=3))),
            {p: LockEntry(p, draw(_file_oid), draw(_size)) for p in draw(st.lists(_path, max_size=3, unique=True))},
            {"params.yaml": params} if params else {},
            draw(st.lists(st.sampled_from(outs), unique=True).map(sorted)) if outs else [])
    return lock


@pytest.mark.slow
@FAST
@given(_locks())
def test_lock_roundtrip(lock):
    text = serialize_lock(lock)
    assert parse_lock(text) == lock
    assert serialize_lock(parse_lock(text)) == text


@FAST
@given(_paths)
def test_project_roundtrip(paths):
    text = serialize_project(Project(paths))
    back = parse_project(text)
    assert sorted(back.artifacts) == sorted(paths)
    assert serialize_project(back) == text


@pytest.mark.parametrize("path", [p for p in TRICKY] + ["a/" + p for p in TRICKY])
def test_tricky_paths_roundtrip(path):
    lock = Lock({path: LockEntry(path, OID_ABC, 3)})
    assert parse_lock(serialize_lock(lock)) == lock
    assert parse_project(serialize_project(Project([path]))).artifacts == [path]


@pytest.mark.parametrize(
    "path",
    [
        "a\x7fb",  # DEL: YAML refuses it raw
        "a\x80b", "a\x9fb",  # C1 controls
        "a\x85b",  # NEL: a line break to YAML
        "a\u2028b", "a\u2029b",  # line and paragraph separators
        "a\ufffeb", "a\uffffb",  # non-characters
    ],
)
def test_paths_with_characters_yaml_cannot_hold_raw_roundtrip(path):
    lock = Lock({path: LockEntry(path, OID_ABC, 3)})
    assert parse_lock(serialize_lock(lock)) == lock
    assert parse_project(serialize_project(Project([path]))).artifacts == [path]


def test_long_paths_roundtrip():
    # YAML's simple keys stop at 1024 characters; a path may be up to 4096 bytes.
    path = "/".join(c * 250 for c in "abcdefghijklmno")[:4000]
    lock = Lock({path: LockEntry(path, TREE, 3, 1), "z": LockEntry("z", OID_ABC, 3)})
    assert parse_lock(serialize_lock(lock)) == lock
    quoted = "é/" + path
    lock = Lock({quoted: LockEntry(quoted, OID_ABC, 3)})
    assert parse_lock(serialize_lock(lock)) == lock
    assert parse_project(serialize_project(Project([path]))).artifacts == [path]


def _check_accepted_lock(lock: Lock) -> None:
    for path, e in lock.artifacts.items():
        assert check_relpath(path) == path == e.path
        assert path.split("/")[0] not in (".git", ".mlvc")
        assert is_valid_oid(e.oid)
        assert e.size >= 0
        assert (e.nfiles is not None) == e.is_dir


@FAST
@given(st.text(max_size=200))
def test_random_text_gives_a_format_error_or_a_valid_lock(text):
    for parse in (parse_lock, parse_project):
        try:
            result = parse(text)
        except FileFormatError:
            continue
        if isinstance(result, Lock):
            _check_accepted_lock(result)
        else:
            for p in result.artifacts:
                check_relpath(p)


@st.composite
def _mutations(draw, text: str) -> str:
    chars = list(text)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(chars) - 1))
        op = draw(st.sampled_from(["set", "insert", "delete"]))
        c = draw(st.sampled_from(list(":- \n\t\"'[]{}#&*!|>?,.0/\\\0<=~x")) | st.characters())
        if op == "set":
            chars[i] = c
        elif op == "insert":
            chars.insert(i, c)
        else:
            del chars[i]
    return "".join(chars)


@FAST
@given(st.sampled_from([GOLDEN_LOCK_TEXT, GOLDEN_STAGES_LOCK_TEXT, GOLDEN_LOCK_V1_TEXT]).flatmap(_mutations))
def test_mutated_lock_gives_a_format_error_or_a_valid_lock(text):
    try:
        lock = parse_lock(text)
    except FileFormatError:
        return
    _check_accepted_lock(lock)


@FAST
@given(_mutations(GOLDEN_PROJECT_TEXT))
def test_mutated_project_gives_a_format_error_or_a_valid_project(text):
    try:
        project = parse_project(text)
    except FileFormatError:
        return
    for p in project.artifacts:
        check_relpath(p)
    assert len(set(project.artifacts)) == len(project.artifacts)


# -------------------------------------------------------- errors, with lines


def _lock_with(key: str, body: str = f"    oid: {OID_ABC}\n    size: 3\n") -> str:
    # The artifact under test starts on line 6.
    return f"schema: 1\nartifacts:\n  good:\n    oid: {OID_ABC}\n    size: 3\n  {key}:\n{body}"


def _project_with(item: str) -> str:
    # The item under test is on line 4.
    return f"schema: 1\nartifacts:\n- good\n- {item}\n- other\n"


BAD_PATHS = ["/abs", "/", "../up", "a/../../b", "..", ".", "./a", "a/./b", "a/.", "a//b", "", "a/", "a\0b", "a\\b",
             "C:\\x", "a\nb", "a\rb"]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_lock_paths_are_refused_naming_the_line(path):
    with pytest.raises(FileFormatError) as exc:
        parse_lock(_lock_with(json.dumps(path)))
    assert exc.value.path == LOCK_FILE
    assert exc.value.line == 6, str(exc.value)
    assert str(exc.value).startswith("mlvc.lock:6: ")


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_project_paths_are_refused_naming_the_line(path):
    with pytest.raises(FileFormatError) as exc:
        parse_project(_project_with(json.dumps(path)))
    assert exc.value.line == 4, str(exc.value)
    assert str(exc.value).startswith("mlvc.yaml:4: ")


@pytest.mark.parametrize("path", [".git", ".git/config", ".mlvc", ".mlvc/cache/ab/cdef", ".mlvc/config"])
def test_paths_inside_git_or_mlvc_are_refused(path):
    with pytest.raises(FileFormatError, match=r"is inside \.(git|mlvc)/") as exc:
        parse_lock(_lock_with(path))
    assert exc.value.line == 6
    with pytest.raises(FileFormatError, match=r"is inside \.(git|mlvc)/") as exc:
        parse_project(_project_with(path))
    assert exc.value.line == 4


@pytest.mark.parametrize("path", [".gitignore2", "a.gitignore", ".github/x", "a/.git", ".mlvcx", "x/.mlvc/y", "x/mlvc.lock"])
def test_names_that_only_look_like_git_or_mlvc_are_fine(path):
    assert list(parse_lock(_lock_with(json.dumps(path))).artifacts) == ["good", path]
    assert parse_project(_project_with(json.dumps(path))).artifacts == ["good", path, "other"]


def test_nested_artifacts_are_refused():
    with pytest.raises(FileFormatError, match="'good/x' is inside artifact 'good'") as exc:
        parse_lock(_lock_with("good/x"))
    assert exc.value.hint == "track one or the other"
    with pytest.raises(FileFormatError, match="'good/x' is inside artifact 'good'"):
        parse_project(_project_with("good/x"))
    # A shared prefix is not nesting.
    assert list(parse_lock(_lock_with("good2")).artifacts) == ["good", "good2"]
    assert list(parse_lock(_lock_with("good.d/x")).artifacts) == ["good", "good.d/x"]


CONFLICTED = f"""\
schema: 1
artifacts:
<<<<<<< HEAD
  data:
    oid: {OID_ABC}
    size: 3
=======
  data:
    oid: {OID_CSV}
    size: 4
>>>>>>> feature
"""


def test_conflict_markers_in_the_lock_give_the_merge_hint():
    with pytest.raises(FileFormatError, match="merge conflict") as exc:
        parse_lock(CONFLICTED)
    assert exc.value.line == 3
    assert "git checkout --ours mlvc.lock" in exc.value.hint
    assert "mlvc commit" in exc.value.hint


def test_conflict_markers_in_the_project_file_say_to_resolve():
    text = "schema: 1\nartifacts:\n<<<<<<< HEAD\n- a\n=======\n- b\n>>>>>>> other\n"
    with pytest.raises(FileFormatError, match="merge conflict") as exc:
        parse_project(text)
    assert exc.value.line == 3
    assert "remove the conflict markers" in exc.value.hint


def test_conflict_markers_from_read_lock(tmp_path):
    (tmp_path / LOCK_FILE).write_text(CONFLICTED)
    with pytest.raises(FileFormatError, match=r"^mlvc\.lock:3: has git merge conflict markers; resolve the merge"):
        read_lock(str(tmp_path))


@pytest.mark.parametrize(
    "text,line,match",
    [
        ("schema: 1\nartifacts:\n  data:\n    oid: [\n", 5, "invalid YAML"),
        ("schema: 1\nartifacts:\n  data:\n    oid: x\n   size: 3\n", 5, "invalid YAML"),
        ("schema: 1\nartifacts:\n  'data:\n", 4, "invalid YAML"),
        ("schema: 1\n\tartifacts: {}\n", 2, "invalid YAML"),
        ("schema: 1\n---\nschema: 1\n", 2, "invalid YAML"),
        ("- a\n- b\n", 1, "the file must be a mapping"),
        ("just text\n", 1, "the file must be a mapping"),
        ("schema: 1\nartifacts: [data]\n", 2, "artifacts must be a mapping"),
        ("schema: 1\nartifacts:\n  data: 3\n", 3, "must be a mapping"),
        ("schema: 1\nartifacts:\n  [a]: {}\n", 3, "keys of artifacts must be strings"),
        ("schema: 1\nschema: 1\n", 2, "duplicate key 'schema'"),
        (_lock_with("good"), 6, "duplicate key 'good'"),
        (_lock_with("x", f"    oid: {OID_ABC}\n    size: 3\n    executable: yes please\n"), 9, "executable must be"),
        (_lock_with("x", f"    oid: {OID_ABC}\n    size: -3\n"), 8, "non-negative integer"),
        (_lock_with("x", f"    oid: {OID_ABC}\n    size: 3.0\n"), 8, "non-negative integer"),
        (_lock_with("x", f"    oid: {OID_ABC}\n    size: '3'\n"), 8, "non-negative integer"),
        (_lock_with("x", f"    oid: {OID_ABC}\n    size: 0x10\n"), 8, "non-negative integer"),
        (_lock_with("x", f"    oid: {OID_ABC}\n    size: [3]\n"), 8, "non-negative integer|must be a int"),
        (_lock_with("x", f"    oid: {OID_ABC}\n    size:\n"), 8, "non-negative integer"),
        (_lock_with("x", f"    oid: {OID_ABC.upper()}\n    size: 3\n"), 7, "bad object id"),
        (_lock_with("x", f"    oid: {OID_ABC[:-1]}\n    size: 3\n"), 7, "bad object id"),
        (_lock_with("x", f"    oid: {OID_ABC}.blob\n    size: 3\n"), 7, "bad object id"),
        (_lock_with("x", "    oid: ../../../etc/passwd\n    size: 3\n"), 7, "bad object id"),
        (_lock_with("x", "    oid: true\n    size: 3\n"), 7, "oid must be a string"),
        (_lock_with("x", "    oid: [a]\n    size: 3\n"), 7, "oid must be a str"),
        (_lock_with("x", "    oid:\n    size: 3\n"), 7, "oid must be a string"),
        (_lock_with("x", "    size: 3\n"), 6, "needs oid and size"),
        (_lock_with("x", f"    oid: {OID_ABC}\n"), 6, "needs oid and size"),
        (_lock_with("x", f"    oid: {OID_ABC}\n    size: 3\n    nfiles: 1\n"), 6, "nfiles goes with a tree oid"),
        (_lock_with("x", f"    oid: {TREE}\n    size: 3\n"), 6, "nfiles goes with a tree oid"),
        (_lock_with("x", f"    oid: {TREE}\n    size: 3\n    nfiles: -1\n"), 9, "non-negative integer"),
        ("schema: 3\nartifacts: {}\n", 1, "unsupported schema 3"),
        ("schema: 0\nartifacts: {}\n", 1, "unsupported schema 0"),
        ("schema: '1'\nartifacts: {}\n", 1, "schema must be a non-negative integer"),
        ("schema: one\n", 1, "schema must be a non-negative integer"),
    ],
)
def test_bad_lockfiles_name_file_and_line(text, line, match):
    with pytest.raises(FileFormatError, match=match) as exc:
        parse_lock(text)
    assert exc.value.path == LOCK_FILE
    assert exc.value.line == line, str(exc.value)
    assert str(exc.value).startswith(f"mlvc.lock:{line}: ")


def test_unsupported_schema_says_to_upgrade():
    with pytest.raises(FileFormatError) as exc:
        parse_lock("schema: 3\nartifacts:\n  x:\n    new_field: 1\n")
    assert exc.value.hint == "upgrade mlvc"
    with pytest.raises(FileFormatError) as exc:
        parse_project("schema: 3\nartifacts: [x]\n")
    assert exc.value.hint == "upgrade mlvc"


def test_lock_without_schema_is_refused():
    with pytest.raises(FileFormatError, match="missing 'schema: 2'"):
        parse_lock(f"artifacts:\n  x:\n    oid: {OID_ABC}\n    size: 3\n")


@pytest.mark.parametrize(
    "text,line,match",
    [
        ("schema: 1\nartifacts: data\n", 2, "artifacts must be a list"),
        ("schema: 1\nartifacts: {data: 1}\n", 2, "artifacts must be a list"),
        (_project_with("true"), 4, "must be a string"),
        (_project_with("null"), 4, "must be a string"),
        (_project_with("[a]"), 4, "must be a str"),
        (_project_with("{a: b}"), 4, "must be a str"),
        (_project_with("good"), 4, "listed twice"),
        ("schema: 2\nartifacts: [a]\nstage: {}\n", 3, "unknown key 'stage'"),
        ("schema: 2\nartifacts: [a]\nstages: [a]\n", 3, "stages must be a mapping"),
        ("schema: 1\nartifacts:\n- a\n- 'b\n", 5, "invalid YAML"),
        ("schema: 3\nartifacts: []\n", 1, "unsupported schema 3"),
    ],
)
def test_bad_project_files_name_file_and_line(text, line, match):
    with pytest.raises(FileFormatError, match=match) as exc:
        parse_project(text)
    assert exc.value.path == PROJECT_FILE
    assert exc.value.line == line, str(exc.value)


@pytest.mark.parametrize("text", ["!!python/name:os.system\n", "a: &x [*x]\n", "a: !!binary aGVsbG8=\n",
                                  "\x00", "a: \x07\n", "%YAML 9.9\n---\na: 1\n", "*unknown\n"])
def test_hostile_yaml_is_a_format_error(text):
    for parse in (parse_lock, parse_project):
        with pytest.raises(FileFormatError):
            parse(text)


def test_python_tags_are_never_constructed(tmp_path):
    marker = tmp_path / "pwned"
    text = f"schema: 1\nartifacts: !!python/object/apply:os.system ['touch {marker}']\n"
    for parse, doc in ((parse_project, text), (parse_lock, text.replace("['", "{'").replace("']", "': 1}"))):
        try:
            parse(doc)
        except FileFormatError:
            pass
    assert not marker.exists()


@pytest.mark.parametrize("form", ["'[' * n", "'- ' * n + 'x'", "'{a: ' * n", "'? ' * n + 'x'"])
def test_deeply_nested_yaml_is_a_format_error_not_a_crash(form):
    # In a child process: libyaml's composer recursing too deep is a segfault, not an exception.
    code = (
        "from mlvc.formats.lock import parse_lock\nfrom mlvc.formats.project import parse_project\n"
        "from mlvc.errors import FileFormatError\n"
        f"n = 200_000\ntext = {form}\n"
        "for parse in (parse_lock, parse_project):\n"
        "    try:\n        parse(text)\n    except FileFormatError as e:\n        print('ok', e.line)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-500:]}"
    assert proc.stdout.count("ok") == 2, proc.stdout


def test_format_errors_are_mlvc_errors():
    assert issubclass(FileFormatError, MlvcError)


def test_large_valid_files_with_many_indicators_parse():
    # Past the thresholds where the nesting pre-scan runs; it must not refuse a valid file.
    paths = [f"data-{i}/[x]?{{y}}" for i in range(3000)]
    lock = Lock({p: LockEntry(p, OID_ABC, i) for i, p in enumerate(paths)})
    assert parse_lock(serialize_lock(lock)) == lock
    assert parse_project(serialize_project(Project(paths))).artifacts == sorted(paths)


@pytest.mark.parametrize("path", ["mlvc.lock", "mlvc.yaml", ".gitignore", "data/.gitignore"])
def test_mlvc_and_git_files_are_refused_as_artifacts(path):
    with pytest.raises(FileFormatError, match="a file git must track") as exc:
        parse_lock(_lock_with(json.dumps(path)))
    assert exc.value.line == 6
    with pytest.raises(FileFormatError, match="a file git must track"):
        parse_project(_project_with(json.dumps(path)))
