"""Trees parsed without the up-front metadata check still refuse bad ids wherever ids are used."""

import pytest

from mlvc.errors import FileFormatError
from mlvc.objects.tree import TREE_HEADER_V1, parse_tree

GOOD = "0123456789abcdef0123456789abcdef"


def _tree_bytes(meta: str) -> bytes:
    return (TREE_HEADER_V1 + f"a.txt\0{GOOD} - 3\nb.txt\0{meta}\n").encode()


@pytest.mark.parametrize("meta", [
    "../../../../../../etc/passwd0000 - 1",
    "0123456789ABCDEF0123456789abcdef - 1",
    "0123456789abcdef0123456789abcde - 1",
    "0123456789abcdef0123456789abcdeé - 1",
])
def test_bad_ids_are_refused_by_every_reader(meta):
    data = _tree_bytes(meta)
    with pytest.raises(FileFormatError):
        parse_tree(data)  # strict by default
    lazy = parse_tree(data, check_meta=False)
    with pytest.raises(FileFormatError):
        lazy.oids()
    with pytest.raises(FileFormatError):
        list(lazy.entries())
    with pytest.raises(FileFormatError):
        lazy.get("b.txt")


def test_lazy_and_strict_agree_on_a_good_tree():
    data = _tree_bytes(f"{GOOD[::-1]} x 12")
    strict, lazy = parse_tree(data), parse_tree(data, check_meta=False)
    assert strict == lazy
    assert lazy.oids() == {GOOD, GOOD[::-1]}
    assert list(lazy.entries()) == [("a.txt", GOOD, 3, False), ("b.txt", GOOD[::-1], 12, True)]


def test_status_and_checkout_refuse_a_tree_with_a_bad_id(repo, mlvc):
    import os

    import xxhash

    data = _tree_bytes("../../../../../../etc/hostname00 - 1")
    oid = xxhash.xxh3_128_hexdigest(data)
    folder = repo.root / ".mlvc" / "cache" / "files" / "xxh3" / oid[:2]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / (oid[2:] + ".tree")).write_bytes(data)
    (repo.root / "mlvc.yaml").write_text("schema: 1\nartifacts:\n- d\n")
    (repo.root / "mlvc.lock").write_text(f"schema: 1\nartifacts:\n  d:\n    oid: {oid}.tree\n    size: 4\n    nfiles: 2\n")
    repo.root.gen({"d": {"a.txt": "abc", "b.txt": "x"}})
    for args, code in ((["status", "--check"], 3), (["checkout", "--force"], 3), (["fsck"], 1)):  # fsck: damage
        r = mlvc(*args)
        assert r.exit_code == code, (args, r.output)
        assert "Traceback" not in r.output
    assert (repo.root / "d" / "b.txt").read_text() == "x"
    assert not os.path.exists(repo.root / "d" / "hostname")
