"""``init``: make a git work tree an mlvc repository."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlvc.repo import create


@dataclass(frozen=True)
class InitResult:
    root: str


def init(path: str | None = None, force: bool = False) -> InitResult:
    return InitResult(create(path or os.getcwd(), force).root)
