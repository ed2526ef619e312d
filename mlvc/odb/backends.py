"""Kinds of remote: URL schemes, their options and the fsspec backend each needs, and
``open_remote``, which turns a configured remote into a store (``mlvc.odb.remote``).

Nothing here imports fsspec or a backend at module level: ``mlvc remote add`` and config
checks parse URLs and options without them; only ``open_remote`` imports fsspec.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mlvc.errors import ConfigError, MlvcError

if TYPE_CHECKING:
    from mlvc.odb.remote import RemoteObjectStore

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")

# scheme -> (fsspec protocol, the module the backend needs, the extra that installs it)
SCHEMES: dict[str, tuple[str, str, str]] = {
    "local": ("file", "", ""),  # plain os calls: a local folder needs no extra
    "s3": ("s3", "s3fs", "s3"),
    "gs": ("gs", "gcsfs", "gs"),
    "az": ("az", "adlfs", "azure"),
    "ssh": ("ssh", "sshfs", "ssh"),
    "http": ("http", "aiohttp", "http"),
    "https": ("https", "aiohttp", "http"),
}
# options of each scheme (backend names where one exists) -> the keyword the backend takes
OPTIONS: dict[str, dict[str, str]] = {
    "local": {},
    "s3": {"endpointurl": "endpoint_url", "region": "region", "profile": "profile",
           "access_key_id": "key", "secret_access_key": "secret", "session_token": "token"},
    "gs": {"projectname": "project", "credentialpath": "token", "endpointurl": "endpoint_url", "anon": "token"},
    "az": {"account_name": "account_name", "account_key": "account_key",
           "connection_string": "connection_string", "sas_token": "sas_token"},
    "ssh": {"user": "username", "port": "port", "keyfile": "client_keys", "password": "password",
            "known_hosts": "known_hosts"},
    "http": {},
    "https": {},
}
READ_ONLY = {"http", "https"}
BOOLEAN = {"anon"}  # options that take true or false

class RemoteError(MlvcError):
    """A remote that cannot be used: not reachable, credentials refused, bucket missing ..."""


@dataclass(frozen=True)
class RemoteSpec:
    """One configured remote: its ``name``, ``url`` and backend ``options`` (secrets included:
    never shown; ``__repr__`` leaves the options out)."""

    name: str
    url: str
    options: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def scheme(self) -> str:
        return scheme_of(self.url)


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ConfigError(f"invalid remote name {name!r}",
                          "use letters, digits, '-' and '_' (at most 64)")
    return name


def scheme_of(url: str) -> str:
    """``local``, ``s3``, ``gs``, ``az``, ``ssh``, ``http`` or ``https``; ConfigError otherwise."""
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if not m:
        return "local"
    scheme = m.group(1).lower()
    if scheme == "file":
        return "local"
    if scheme in ("gcs",):
        return "gs"
    if scheme in ("azure",):
        return "az"
    if scheme not in SCHEMES:
        raise ConfigError(f"unsupported remote URL scheme {scheme}://",
                          "use a local path, file://, s3://, gs://, az://, ssh:// or http(s)://")
    return scheme


def check_url(url: str) -> str:
    """Check a remote URL's form (no network): return its scheme."""
    if not url.strip() or "\0" in url or "\n" in url or "\r" in url:
        raise ConfigError("a remote URL cannot be empty or hold a NUL or a line break")
    scheme = scheme_of(url)
    if scheme == "local":
        return scheme
    parts = urlsplit(url)
    if scheme in ("s3", "gs", "az"):
        if not parts.netloc:
            what = "container" if scheme == "az" else "bucket"
            raise ConfigError(f"the remote URL {url!r} names no {what}", f"write it {scheme}://{what}/prefix")
    elif scheme == "ssh":
        if not parts.hostname:
            raise ConfigError(f"the remote URL {url!r} names no host", "write it ssh://user@host/path")
        try:
            parts.port
        except ValueError:
            raise ConfigError(f"the remote URL {url!r} has a bad port", "write it ssh://user@host:22/path") from None
    elif not parts.netloc:
        raise ConfigError(f"the remote URL {url!r} names no host", "write it https://host/path")
    if parts.password:
        raise ConfigError("a remote URL cannot hold a password",
                          "set it with `mlvc remote modify NAME password VALUE` (kept in .mlvc/config.local)")
    return scheme


def check_option(scheme: str, option: str, value: str | None = None) -> None:
    """Refuse an option this kind of remote does not take (never quoting the value)."""
    known = OPTIONS[scheme]
    if option not in known:
        names = ", ".join(sorted(known)) or "none"
        raise ConfigError(f"{scheme if scheme != 'local' else 'a local folder'} remotes take no option {option!r}",
                          f"options: url, {names}" if known else "a local folder remote takes only url")
    if value is None:
        return
    if option in BOOLEAN and value.lower() not in ("true", "false"):
        raise ConfigError(f"{option} must be true or false")
    if option == "port" and not value.isdigit():
        raise ConfigError("port must be a number")
    if option == "endpointurl" and not re.match(r"https?://[^/]", value):
        raise ConfigError("endpointurl must be an http:// or https:// URL", "e.g. http://127.0.0.1:9000")


def missing_extra(scheme: str) -> str | None:
    """The pip command that installs what ``scheme`` needs, or None when it is there
    (looked up without importing anything)."""
    _, module, extra = SCHEMES[scheme]
    if not module:
        return None
    for mod in (module, "fsspec"):
        if importlib.util.find_spec(mod) is None:
            return f"pip install 'mlvc[{extra}]'"
    return None


def open_remote(spec: RemoteSpec, base: str) -> "RemoteObjectStore":
    """The store of ``spec``; ``base`` is the folder a relative local path is relative to."""
    scheme = check_url(spec.url)
    from mlvc.odb.remote import LocalFolder, RemoteObjectStore

    pip = missing_extra(scheme)
    if pip:
        raise RemoteError(f"remote {spec.name!r} ({scheme}) needs {SCHEMES[scheme][1]}, which is not installed",
                          f"run `{pip}`")
    protocol = SCHEMES[scheme][0]
    kwargs: dict = {}
    if scheme == "local":
        path = spec.url[len("file://"):] if spec.url.startswith("file://") else spec.url
        path = os.path.normpath(os.path.join(base, os.path.expanduser(path)))
        return RemoteObjectStore(LocalFolder(), path, spec.name, local=True)
    parts = urlsplit(spec.url)
    path = (parts.netloc + parts.path).rstrip("/") if scheme not in ("ssh", "http", "https") else parts.path
    if scheme in ("http", "https"):
        path = spec.url.rstrip("/")
    if scheme == "ssh":
        kwargs["host"] = parts.hostname
        if parts.username:
            kwargs["username"] = parts.username
        if parts.port:
            kwargs["port"] = parts.port
        kwargs["known_hosts"] = ()  # asyncssh's default, ~/.ssh/known_hosts: sshfs would check no host key
    for option, value in spec.options.items():
        if option == "url" or option not in OPTIONS[scheme]:
            continue
        kwargs.update(_backend_kwarg(scheme, option, value))
    if scheme in ("gs", "az"):
        kwargs["use_listings_cache"] = False
    if scheme == "s3":
        kwargs.setdefault("use_listings_cache", False)
        # one retry policy for every remote (``with_retries``): s3fs and botocore try once
        kwargs["config_kwargs"] = {"retries": {"total_max_attempts": 1}}
    if scheme == "gs":
        kwargs = _gs_kwargs(spec, kwargs)
    if scheme == "az":
        _check_az(spec, kwargs)

    def make():
        import fsspec

        try:
            if scheme in _FILESYSTEMS:
                made = _FILESYSTEMS[scheme]()(skip_instance_cache=True, **kwargs)
            else:
                made = fsspec.filesystem(protocol, skip_instance_cache=True, **kwargs)
        except Exception as exc:  # a backend refusing its options: never quote them (secrets)
            if scheme == "az" and isinstance(exc, ValueError) and kwargs.get("connection_string"):
                raise RemoteError(f"remote {spec.name!r}: connection_string is not a valid Azure Storage "
                                  "connection string", "copy it from the storage account's Access keys "
                                  "(DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...)") from None
            from mlvc.odb.remote import open_failure

            raise open_failure(spec, exc) from None
        if scheme == "s3":
            made.retries = 1  # s3fs's own retry loop: one try
        return made

    filesystem = _lean_s3(spec, kwargs, make) if scheme == "s3" else None
    if filesystem is None:
        filesystem = make()
    return RemoteObjectStore(filesystem, path, spec.name, read_only=scheme in READ_ONLY,
                             rename=scheme == "ssh")


def _lean_s3(spec: RemoteSpec, kwargs: dict, make):
    """mlvc's own S3 client (``mlvc.odb.s3http``) for a remote with an endpoint (an
    S3-compatible server), s3fs behind it for the rest; None (s3fs alone) for AWS's own
    endpoints, or with MLVC_S3_CLIENT=s3fs."""
    from mlvc.odb import s3http

    endpoint = s3http.endpoint_of(kwargs.get("endpoint_url"))
    if not endpoint or os.environ.get("MLVC_S3_CLIENT", "").lower() == "s3fs":
        return None
    credentials = s3http.Credentials(kwargs.get("key"), kwargs.get("secret"), kwargs.get("token"),
                                     kwargs.get("profile"))
    region = kwargs.get("client_kwargs", {}).get("region_name")
    try:
        return s3http.S3HTTP(endpoint, region, credentials, make)
    except ValueError:
        raise RemoteError(f"remote {spec.name!r}: endpointurl {endpoint!r} is not an http(s) URL",
                          f"write it http(s)://host[:port]: `mlvc remote modify {spec.name} endpointurl URL`") from None


def _backend_kwarg(scheme: str, option: str, value: str) -> dict:
    name = OPTIONS[scheme][option]
    if option == "anon":
        return {"anon": value.lower() == "true"}
    if option == "credentialpath":
        return {name: os.path.expanduser(value)}
    if scheme == "s3" and name == "region":
        return {"client_kwargs": {"region_name": value}}
    if name == "port":
        return {name: int(value)}
    if name == "client_keys":
        return {name: [os.path.expanduser(value)]}
    if name == "known_hosts":  # host keys checked against this file (default: ~/.ssh/known_hosts)
        return {name: os.path.expanduser(value)}
    return {name: value}


def _gs_kwargs(spec: RemoteSpec, kwargs: dict) -> dict:
    """gcsfs's keywords: ``token`` is the credentials file, ``"anon"`` with ``anon true``, else
    gcsfs looks for Google's default credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
    application-default login, the metadata server of a Google machine)."""
    anon = kwargs.pop("anon", False)
    token = kwargs.get("token")
    if token is not None and not os.path.isfile(token):
        # gcsfs takes a string that names no file for a raw access token: never send a path as one
        raise RemoteError(f"remote {spec.name!r}: credentialpath {token} is not a file",
                          "set it to a service account or authorized-user JSON key file "
                          f"(`mlvc remote modify --local {spec.name} credentialpath PATH`)")
    if token is None and anon:
        kwargs["token"] = "anon"
    return kwargs


def _check_az(spec: RemoteSpec, kwargs: dict) -> None:
    """An Azure remote needs its storage account: a connection string, or an account name (with
    account_key, sas_token, or else Azure's default credentials: ``az login``, a managed
    identity, AZURE_CLIENT_ID ...), from the options or adlfs's environment variables."""
    if not (kwargs.get("connection_string") or kwargs.get("account_name")
            or os.environ.get("AZURE_STORAGE_CONNECTION_STRING") or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")):
        raise RemoteError(f"remote {spec.name!r} names no Azure storage account",
                          f"set connection_string, or account_name (and account_key or sas_token, or sign in "
                          f"with `az login`): `mlvc remote modify {spec.name} account_name NAME`")


def _gcs_class():
    """gcsfs's ``GCSFileSystem`` (the JSON API), trying each request once, with fsspec's errors.

    Not the class gcsfs registers for ``gs://`` by default (its experimental zonal and
    hierarchical-bucket support asks the gRPC control API about every bucket, retrying for a
    minute where that API does not answer, as on an emulator): mlvc puts, gets, lists and
    deletes objects, which the JSON API does on every kind of bucket but zonal (Rapid) ones.
    gcsfs retries a failed request up to 6 times with its own backoff (refused credentials
    too); with one try here, ``RemoteObjectStore.with_retries`` is the one retry policy, as for
    every remote. A 403 (gcsfs: a bare ``OSError``) and refused credentials (gcsfs: a 401
    ``HttpError``) become ``PermissionError``, as fsspec's other backends raise them."""
    from gcsfs.core import GCSFileSystem

    once = getattr(GCSFileSystem._request, "__wrapped__", None)  # under gcsfs's retry_request

    class OneTryGCSFileSystem(GCSFileSystem):
        async def _request(self, *args, **kwargs):
            try:
                if once is None:
                    return await super()._request(*args, **kwargs)
                return await once(self, *args, **kwargs)
            except Exception as exc:
                if type(exc) is OSError and str(exc).startswith("Forbidden"):
                    raise PermissionError(errno.EACCES, "forbidden (403)") from exc
                if type(exc).__name__ == "HttpError" and getattr(exc, "code", None) == 401:
                    raise PermissionError(errno.EACCES, "the credentials were refused (401)") from exc
                raise

    return OneTryGCSFileSystem


def _azure_class():
    """adlfs's ``AzureBlobFileSystem`` with the Azure SDK's retries turned off (by default it
    retries a 5xx or a dropped connection 3 times, after 15 s, 18 s and 24 s), so that
    ``RemoteObjectStore.with_retries`` is the one retry policy, as for every remote; and with
    fsspec's errors where adlfs passes on the SDK's: a 401 or 403 (refused credentials, no
    permission) is a ``PermissionError``, a 404 (no such container) a ``FileNotFoundError``."""
    from adlfs import AzureBlobFileSystem

    class OneTryAzureBlobFileSystem(AzureBlobFileSystem):
        def do_connect(self):
            super().do_connect()
            policy = getattr(getattr(self.service_client, "_config", None), "retry_policy", None)
            for attr in ("total_retries", "connect_retries", "read_retries", "status_retries"):
                if hasattr(policy, attr):
                    setattr(policy, attr, 0)

    for name in ("_info", "_ls", "_find", "_exists", "_cat_file", "_pipe_file", "_put_file", "_get_file",
                 "_rm_file"):
        setattr(OneTryAzureBlobFileSystem, name, _fsspec_errors(getattr(AzureBlobFileSystem, name)))
    return OneTryAzureBlobFileSystem


def _fsspec_errors(method):
    """``method`` (a coroutine of adlfs) raising ``PermissionError`` and ``FileNotFoundError``
    for the Azure SDK's 401, 403 and 404 answers (the SDK's error stays the cause)."""
    import functools

    @functools.wraps(method)
    async def wrapper(*args, **kwargs):
        try:
            return await method(*args, **kwargs)
        except OSError:
            raise
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            code = getattr(exc, "error_code", None) or status
            if status in (401, 403):
                raise PermissionError(errno.EACCES, f"access refused ({code})") from exc
            if status == 404:
                raise FileNotFoundError(errno.ENOENT, f"not found ({code})") from exc
            raise

    return wrapper


_FILESYSTEMS = {"gs": _gcs_class, "az": _azure_class}
