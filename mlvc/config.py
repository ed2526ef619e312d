"""Repository configuration: ``.mlvc/config`` (tracked) and ``.mlvc/config.local`` (ignored).

Both files are INI, like git's config. Keys are written ``section.option``
(``cache.type``) or ``remote.NAME.option``. The local file wins.
"""

from __future__ import annotations

import configparser
import io
import os
import re
from dataclasses import dataclass
from typing import Callable

from mlvc.errors import ConfigError, FileFormatError
from mlvc.fs.atomic import atomic_write
from mlvc.fs.links import LINK_TYPES


def _link_types(value: str) -> str:
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    if not kinds:
        raise ConfigError("cache.type needs at least one of reflink, hardlink, symlink, copy")
    for k in kinds:
        if k not in LINK_TYPES:
            raise ConfigError(f"unknown link type {k!r} in cache.type", "choose from reflink, hardlink, symlink, copy")
    if len(set(kinds)) != len(kinds):
        raise ConfigError("cache.type names a link type twice")
    return ",".join(kinds)


def _choice(*allowed: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise ConfigError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return value

    return check


def _any(value: str) -> str:
    return value


def _bool(value: str) -> str:
    low = value.lower()
    if low in ("true", "yes", "1", "on"):
        return "true"
    if low in ("false", "no", "0", "off"):
        return "false"
    raise ConfigError(f"expected true or false, got {value!r}")


KEYS: dict[str, tuple[Callable[[str], str], str | None, str]] = {
    "cache.dir": (_any, None, "where the object cache lives (default .mlvc/cache); may be shared by several repos"),
    "cache.type": (_link_types, "reflink,copy", "ordered link types for the workspace: reflink, hardlink, symlink, copy"),
    "core.fsync": (_choice("batch", "always", "never"), "batch",
                   "batch: one file-system sync per command; always: fsync every object; never"),
    "core.remote": (_any, None, "the default remote"),
}
REMOTE_OPTION = re.compile(r"remote\.([A-Za-z0-9_.-]+)\.([a-z_]+)\Z")


@dataclass(frozen=True)
class ConfigFiles:
    shared: str
    local: str


def _section_option(key: str) -> tuple[str, str]:
    m = REMOTE_OPTION.match(key)
    if m:
        return f'remote "{m.group(1)}"', m.group(2)
    if key not in KEYS:
        known = ", ".join(sorted(KEYS))
        raise ConfigError(f"unknown config key {key!r}", f"known keys: {known}, remote.NAME.OPTION")
    section, option = key.split(".", 1)
    return section, option


def _key(section: str, option: str) -> str:
    m = re.match(r'remote "(.+)"\Z', section)
    if m:
        return f"remote.{m.group(1)}.{option}"
    return f"{section}.{option}"


def read_file(path: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f, source=path)
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise FileFormatError(path, "is not valid UTF-8") from None
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        problem = str(exc).splitlines()[0]
        if line is None and getattr(exc, "errors", None):  # ParsingError: (line, text) of each bad line
            line, text = exc.errors[0]
            problem = f"cannot parse {text}"
        raise FileFormatError(path, problem, line) from None
    values = {}
    for section in parser.sections():
        for option, value in parser.items(section):
            key = _key(section, option)
            try:
                _section_option(key)
                if key in KEYS:
                    value = KEYS[key][0](value)
            except ConfigError as exc:
                raise FileFormatError(path, exc.message, hint=exc.hint) from None
            values[key] = value
    return values


def write_file(path: str, values: dict[str, str]) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    for key in sorted(values):
        section, option = _section_option(key)
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, option, values[key])
    buf = io.StringIO()
    parser.write(buf)
    atomic_write(path, buf.getvalue().encode("utf-8"))


class Config:
    def __init__(self, files: ConfigFiles) -> None:
        self.files = files
        self.shared = read_file(files.shared)
        self.local = read_file(files.local)

    def get(self, key: str) -> str | None:
        if key in self.local:
            return self.local[key]
        if key in self.shared:
            return self.shared[key]
        if key in KEYS:
            return KEYS[key][1]
        _section_option(key)
        return None

    def items(self) -> dict[str, str]:
        merged = {k: v for k, (_, v, _) in KEYS.items() if v is not None}
        merged.update(self.shared)
        merged.update(self.local)
        return dict(sorted(merged.items()))

    def set(self, key: str, value: str, local: bool = False) -> str:
        _section_option(key)
        if key in KEYS:
            value = KEYS[key][0](value)
        if "\n" in value or "\r" in value:
            raise ConfigError("config values cannot hold a newline")
        target = self.local if local else self.shared
        target[key] = value
        write_file(self.files.local if local else self.files.shared, target)
        return value

    def unset(self, key: str, local: bool = False) -> bool:
        _section_option(key)
        target = self.local if local else self.shared
        if key not in target:
            return False
        del target[key]
        write_file(self.files.local if local else self.files.shared, target)
        return True

    @property
    def link_types(self) -> list[str]:
        return (self.get("cache.type") or "reflink,copy").split(",")


def cache_dir(config: Config, root: str) -> str:
    value = config.get("cache.dir")
    if not value:
        return os.path.join(root, ".mlvc", "cache")
    value = os.path.expanduser(value)
    # A relative cache.dir is relative to the .mlvc folder, like DVC's.
    return os.path.normpath(os.path.join(root, ".mlvc", value))
