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
from mlvc.fs.paths import is_within, read_regular
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


def _cache_dir(value: str) -> str:
    if not value.strip():
        raise ConfigError("cache.dir cannot be empty", "unset it for the default .mlvc/cache")
    if "\0" in value or "\n" in value or "\r" in value:
        raise ConfigError("cache.dir cannot hold a NUL or a line break")
    return value


def parse_duration(value: str) -> float:
    """Seconds in ``30s``, ``30m``, ``12h``, ``14d`` or ``2w`` (``0``: none)."""
    text = value.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    if text in ("0", "now"):
        return 0.0
    try:
        if text and text[-1] in units and float(text[:-1]) >= 0:
            return float(text[:-1]) * units[text[-1]]
    except ValueError:
        pass
    raise ConfigError(f"invalid duration {value!r}", "write it as 30m, 12h, 14d or 2w (0 for none)")


def _duration(value: str) -> str:
    parse_duration(value)
    return value.strip().lower()


def _bool(value: str) -> str:
    low = value.lower()
    if low in ("true", "yes", "1", "on"):
        return "true"
    if low in ("false", "no", "0", "off"):
        return "false"
    raise ConfigError(f"expected true or false, got {value!r}")


KEYS: dict[str, tuple[Callable[[str], str], str | None, str]] = {
    "cache.dir": (_cache_dir, None, "where the object cache lives (default .mlvc/cache); may be shared by several repos"),
    "cache.shared": (_choice("group"), None,
                     "group: the cache is shared by the users of a group (folders 2775, objects 0444)"),
    "cache.type": (_link_types, "reflink,copy", "ordered link types for the workspace: reflink, hardlink, symlink, copy"),
    "core.fsync": (_choice("batch", "always", "never"), "batch",
                   "batch: one file-system sync per command; always: fsync every object; never"),
    "core.remote": (_any, None, "the default remote"),
    "gc.grace": (_duration, None, "gc --remote keeps objects written to the remote (and pushes' data) within "
                 "this: 30m, 12h, 14d (the default), 0"),
}
# Defaults that are not a stored value (cache.dir is stored relative to .mlvc/, so its default
# cannot be KEYS' default): shown by `config KEY` and `config --list`, never used as a value.
SHOWN_DEFAULTS = {"cache.dir": ".mlvc/cache"}
REMOTE_OPTION = re.compile(r"remote\.([A-Za-z0-9_.-]+)\.([a-z_]+)\Z")
# Options whose values are secrets: shown as MASK by `config --list` and `remote list`, kept in
# config.local by `remote modify`, never quoted in an error (the one rule: `is_secret`). A ``key``
# word is a secret (account_key, access_key, private_key) unless an id, file, path or name
# follows (access_key_id, key_file); keyfile, a path, is not one word ``key``.
SECRET_OPTION = re.compile(
    r"password|passwd|passphrase|secret|token|credential|connection_string|sas"
    r"|(?:\A|_)key(?:\Z|_(?!id(?:\Z|_)|file|path|name))", re.I)
MASK = "***"
MAX_CONFIG_BYTES = 1024 * 1024
LOCAL_MODE = 0o600  # .mlvc/config.local holds credentials: the user's alone


def is_secret(key: str) -> bool:
    """``remote.NAME.password``, ``remote.NAME.secret_access_key``, ``...token`` and the like."""
    return bool(SECRET_OPTION.search(key.rsplit(".", 1)[-1]))


def masked(values: dict[str, str]) -> dict[str, str]:
    return {k: (MASK if is_secret(k) and v else v) for k, v in values.items()}


@dataclass(frozen=True)
class ConfigFiles:
    shared: str
    local: str
    tmp: str | None = None  # where temp files are written (.mlvc/tmp, git-ignored), if a real folder


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
    """The values of one INI file ({} if there is none). A regular file only, never through a
    symlink, at most ``MAX_CONFIG_BYTES``; an error never quotes a value (it may be a secret)."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    data = read_regular(path, path, MAX_CONFIG_BYTES)
    if data is None:
        return {}
    try:
        parser.read_string(data.decode("utf-8"), source=path)
    except UnicodeDecodeError:
        raise FileFormatError(path, "is not valid UTF-8") from None
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        problem = str(exc).splitlines()[0]
        if line is None and getattr(exc, "errors", None):  # ParsingError: (line, text) of each bad line
            line = exc.errors[0][0]
            problem = "cannot parse this line (expected KEY = VALUE under a [section])"  # the text may be a secret
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


def write_file(path: str, values: dict[str, str], mode: int = 0o644, tmp_dir: str | None = None) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    for key in sorted(values):
        section, option = _section_option(key)
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, option, values[key])
    buf = io.StringIO()
    parser.write(buf)
    atomic_write(path, buf.getvalue().encode("utf-8"), mode=mode, tmp_dir=tmp_dir)


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

    def lookup(self, key: str) -> tuple[str, str] | None:
        """``(value, source)`` of one key, the source being ``config.local``, ``config`` or
        ``default`` (a default shown as the docs give it: ``.mlvc/cache`` for cache.dir); None
        when it is not set and has no default."""
        _section_option(key)
        if key in self.local:
            return self.local[key], "config.local"
        if key in self.shared:
            return self.shared[key], "config"
        default = KEYS[key][1] if key in KEYS else None
        default = default if default is not None else SHOWN_DEFAULTS.get(key)
        return (default, "default") if default is not None else None

    def listing(self) -> dict[str, tuple[str, str]]:
        """Every key that has a value or a default: key -> ``(value, source)``, sorted."""
        keys = set(self.shared) | set(self.local) | set(KEYS)
        found = {k: self.lookup(k) for k in keys}
        return {k: v for k, v in sorted(found.items()) if v is not None}

    def set(self, key: str, value: str, local: bool = False) -> str:
        _section_option(key)
        if key in KEYS:
            value = KEYS[key][0](value)
        if "\n" in value or "\r" in value:
            raise ConfigError("config values cannot hold a newline")
        target = self.local if local else self.shared
        target[key] = value
        self._write(local)
        return value

    def _write(self, local: bool) -> None:
        if local:
            write_file(self.files.local, self.local, mode=LOCAL_MODE, tmp_dir=self.files.tmp)
        else:
            write_file(self.files.shared, self.shared, tmp_dir=self.files.tmp)

    def unset(self, key: str, local: bool = False) -> bool:
        _section_option(key)
        target = self.local if local else self.shared
        if key not in target:
            return False
        del target[key]
        self._write(local)
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


def trusted_cache_dir(config: Config, root: str) -> str:
    """``cache_dir``, refused where the committed ``.mlvc/config`` alone sends it outside the
    repository: a clone's author must not choose where this machine writes. The user confirms
    such a folder by setting ``cache.dir`` in ``.mlvc/config.local`` (which wins), e.g. with
    ``mlvc config --local cache.dir PATH``. A cache.dir that is a file is refused too."""
    import shlex

    path = cache_dir(config, root)
    if "cache.dir" in config.shared and "cache.dir" not in config.local and not is_within(root, path):
        raise ConfigError(
            f"cache.dir in .mlvc/config (committed with the repository) points outside it, to {path!r}; "
            "mlvc uses such a cache only once you confirm it in .mlvc/config.local",
            f"if you trust it, run `mlvc config --local cache.dir {shlex.quote(path)}`; to keep the cache "
            f"in the repository, `mlvc config --local cache.dir {shlex.quote(os.path.join(root, '.mlvc', 'cache'))}`",
        )
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"cache.dir {path!r} is a file, not a folder", "set cache.dir to a folder")
    return path
