"""Object ids: XXH3-128 hex. The golden ids below must never change: every
cache, lockfile and remote in the world names its objects with them."""

from __future__ import annotations

import os

import pytest

from mlvc.objects.hashing import CHUNK, SMALL, TREE_SUFFIX, hash_bytes, hash_fd, hash_file, is_tree_oid, is_valid_oid

# DO NOT MODIFY: XXH3-128 (seed 0) of these byte strings, as 32 lowercase hex.
# b"" is the reference value published with xxHash (XXH3_128bits of an empty input).
GOLDEN = [
    (b"", "99aa06d3014798d86001c324468d497f"),
    (b"a", "a96faf705af16834e6c632b61e964e1f"),
    (b"abc", "06b05ab6733a618578af5f94892f3950"),
    (b"hello\n", "6bba86c7e069f56d5a10b435f1c8e49c"),
    (bytes(range(256)), "f1f8a93f50849ac39408a4433b952d71"),
    (b"abc" * 1000, "14b47fe9925960701fa2f942314cd628"),
    (b"\0" * (1024 * 1024), "b6ef17a3448492b6918780b90550bf34"),
]


@pytest.mark.parametrize("data,oid", GOLDEN, ids=[f"{len(d)}B" for d, _ in GOLDEN])
def test_hash_bytes_golden(data, oid):
    assert hash_bytes(data) == oid


@pytest.mark.parametrize("data,oid", GOLDEN, ids=[f"{len(d)}B" for d, _ in GOLDEN])
def test_hash_file_golden(tmp_path, data, oid):
    p = tmp_path / "f"
    p.write_bytes(data)
    assert hash_file(p) == (oid, len(data))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, SMALL, SMALL + 1, 2 * SMALL + 12345])
def test_hash_file_matches_hash_bytes_across_chunk_boundaries(tmp_path, size):
    data = os.urandom(size)
    p = tmp_path / "f"
    p.write_bytes(data)
    assert hash_file(p) == (hash_bytes(data), size)


@pytest.mark.parametrize("hint_delta", [-10, -1, 1, 1000])
def test_hash_file_with_a_wrong_size_hint_still_hashes_everything(tmp_path, hint_delta):
    # The stat result can be stale (the file grew or shrank since): the hash is of the bytes.
    data = os.urandom(5000)
    p = tmp_path / "f"
    p.write_bytes(data)
    assert hash_file(p, size_hint=len(data) + hint_delta) == (hash_bytes(data), len(data))


def test_hash_fd_hashes_what_remains(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"xxxabc")
    fd = os.open(p, os.O_RDONLY)
    try:
        os.read(fd, 3)
        assert hash_fd(fd) == (hash_bytes(b"abc"), 3)
    finally:
        os.close(fd)


def test_tree_oid_helpers():
    oid = "06b05ab6733a618578af5f94892f3950"
    assert TREE_SUFFIX == ".tree"
    assert is_tree_oid(oid + ".tree")
    assert not is_tree_oid(oid)


@pytest.mark.parametrize("oid", ["06b05ab6733a618578af5f94892f3950", "0" * 32, "f" * 32 + ".tree"])
def test_valid_oids(oid):
    assert is_valid_oid(oid)


@pytest.mark.parametrize(
    "oid",
    [
        "", "0" * 31, "0" * 33, "F" * 32, "g" * 32, "0" * 32 + ".Tree", "0" * 32 + ".tree\n", "0" * 32 + "\n",
        "0" * 32 + ".tre", "../" + "0" * 29, None, 123, b"0" * 32,
    ],
)
def test_invalid_oids(oid):
    assert not is_valid_oid(oid)


def test_hash_file_never_maps_a_file(tmp_path, monkeypatch):
    # A workspace file truncated while mapped kills the process with SIGBUS, with no message.
    import mmap

    def refuse(*args, **kwargs):
        raise AssertionError("hash_file mapped a file")

    monkeypatch.setattr(mmap, "mmap", refuse)
    data = os.urandom(3 * SMALL + 17)
    p = tmp_path / "big"
    p.write_bytes(data)
    assert hash_file(p) == (hash_bytes(data), len(data))
    assert hash_file(p, len(data)) == (hash_bytes(data), len(data))


def test_a_file_truncated_while_hashed_gives_what_was_read(tmp_path):
    # The hint says 3 chunks but the file now holds 1: the read ends, nothing crashes, and the
    # size returned is what was hashed (the caller sees it differs from the scan's).
    p = tmp_path / "f"
    p.write_bytes(b"x" * CHUNK)
    oid, size = hash_file(p, 3 * CHUNK + SMALL)
    assert (oid, size) == (hash_bytes(b"x" * CHUNK), CHUNK)
