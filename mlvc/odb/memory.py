"""An object store in memory: for tests, and as the reference the contract tests hold others to."""

from __future__ import annotations

from typing import Iterator

from mlvc.odb.base import ObjectStore


class MemoryObjectStore(ObjectStore):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def exists(self, oid: str) -> bool:
        return oid in self.objects

    def read_bytes(self, oid: str) -> bytes:
        try:
            return self.objects[oid]
        except KeyError:
            raise FileNotFoundError(oid) from None

    def _put(self, oid: str, data: bytes) -> None:
        self.objects[oid] = bytes(data)

    def iter_oids(self) -> Iterator[str]:
        return iter(sorted(self.objects))

    def remove(self, oid: str) -> None:
        self.objects.pop(oid, None)
