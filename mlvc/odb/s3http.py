"""A lean S3 client for the requests a transfer makes once per object, over an S3-compatible
endpoint (``endpointurl``: MinIO, SeaweedFS, Ceph, R2 ...).

Why: with s3fs, aiobotocore spends 3.4 ms of CPU on a 4 KiB PUT and 5 ms on a GET (measured
against a local SeaweedFS, which itself needs 1.3 ms and 0.6 ms), so a push of many small files
is bounded by the client's CPU, not by the server or the network. Here a request is a
keep-alive ``http.client`` connection per thread and a SigV4 signature (AWS's Signature
Version 4, with the payload's SHA-256 signed, so the server checks the body): about 0.3 ms.

``S3HTTP`` answers the fsspec calls of ``RemoteObjectStore`` and its markers (``pipe_file``,
``cat_file``, ``exists``, ``info``, ``ls``, ``find``, ``rm_file``, ``open`` for reading) with
the same results and the same exceptions as s3fs (``FileNotFoundError``, ``PermissionError``,
an ``S3Error`` with botocore's ``response`` shape, so ``is_transient`` and ``cause_of`` read it
as they read botocore's). Everything else (a multipart upload of a large file, ``mkdir``) goes
to s3fs, made only when first needed: a no-op push never imports s3fs or botocore.

Addressing is path-style (``<endpoint>/<bucket>/<key>``), which every S3-compatible server
takes. Credentials: the remote's ``access_key_id``/``secret_access_key`` (``session_token``),
else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN), else botocore's own chain
(``profile``, the shared files, SSO, a credential process), asked each request so that
refreshed credentials are used. AWS's own endpoints (no ``endpointurl``) stay with s3fs, which
finds a bucket's region and virtual host.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import os
import threading
import time
from urllib.parse import quote, urlsplit

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TIMEOUT = 60.0  # seconds to connect, and between bytes of an answer (botocore's default)
LIST_PAGE = 1000  # keys a listing page asks for (S3's most)
LIST_MAX_BYTES = 16 * 1024 * 1024  # a listing page is ~300 KiB: a longer answer is refused unread
ERROR_MAX_BYTES = 64 * 1024  # of an error answer's body, read for its code
FIND_JOBS = 16  # sub-folders listed at once by a find of more than a page


class S3Error(Exception):
    """An S3 error answer; ``response`` has botocore's shape (``Error.Code``, ``Error.Message``,
    ``ResponseMetadata.HTTPStatusCode``)."""

    def __init__(self, status: int, code: str, message: str, what: str) -> None:
        super().__init__(f"{what}: {status} {code}" + (f" ({message})" if message else ""))
        self.status = status
        self.response = {"Error": {"Code": code, "Message": message},
                         "ResponseMetadata": {"HTTPStatusCode": status}}


class NoCredentialsError(Exception):
    """No credentials anywhere (the name ``cause_of`` knows from botocore)."""


class Credentials:
    """The key, secret and token of each request: static, or botocore's chain (refreshed)."""

    def __init__(self, key: str | None, secret: str | None, token: str | None, profile: str | None) -> None:
        self._static = None
        self._chain = None
        self._lock = threading.Lock()
        self.profile = profile
        self.region = None  # the profile's region, when botocore's chain was asked
        if key and secret:
            self._static = (key, secret, token)
        elif not profile and os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
            self._static = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                            os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN"))

    def get(self) -> tuple[str, str, str | None]:
        if self._static is not None:
            return self._static
        with self._lock:
            if self._chain is None:
                import botocore.session

                session = botocore.session.Session(profile=self.profile)
                self.region = session.get_config_variable("region")
                self._chain = session.get_credentials() or False
        if not self._chain:
            raise NoCredentialsError("no S3 credentials found")
        frozen = self._chain.get_frozen_credentials()
        return frozen.access_key, frozen.secret_key, frozen.token


def _now() -> tuple[str, str]:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return stamp, stamp[:8]


class Signer:
    """SigV4 for service ``s3`` in ``region``; the day's signing key is kept per secret."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._keys: dict[tuple[str, str], bytes] = {}

    def key(self, secret: str, day: str) -> bytes:
        k = self._keys.get((secret, day))
        if k is None:
            k = ("AWS4" + secret).encode()
            for part in (day, self.region, "s3", "aws4_request"):
                k = hmac.new(k, part.encode(), hashlib.sha256).digest()
            self._keys = {(secret, day): k}
        return k

    def sign(self, method: str, uri: str, query: str, headers: dict[str, str], payload_hash: str,
             access: str, secret: str, stamp: str) -> str:
        """The ``Authorization`` header of a request whose ``headers`` (lower-case names) are all
        signed; ``uri`` and ``query`` already canonical (encoded, the query sorted)."""
        day = stamp[:8]
        names = sorted(headers)
        canonical = "\n".join([method, uri, query, *(f"{n}:{headers[n].strip()}" for n in names), "",
                               ";".join(names), payload_hash])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self.key(secret, day), to_sign.encode(), hashlib.sha256).hexdigest()
        return f"AWS4-HMAC-SHA256 Credential={access}/{scope},SignedHeaders={';'.join(names)},Signature={signature}"


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(params.items()))


def _split(path: str) -> tuple[str, str]:
    bucket, _, key = path.strip("/").partition("/")
    return bucket, key


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _error_of(status: int, body: bytes, what: str) -> Exception:
    """The exception s3fs would raise for an error answer: FileNotFoundError (404),
    PermissionError (403), each caused by the ``S3Error``; an ``S3Error`` for the rest."""
    code, message = str(status), ""
    if body:
        import xml.etree.ElementTree as ET

        try:
            root = ET.fromstring(body)
            for child in root:
                if _local(child.tag) == "Code" and child.text:
                    code = child.text
                elif _local(child.tag) == "Message" and child.text:
                    message = child.text
        except ET.ParseError:
            pass  # not XML (a proxy's page): the status is the code
    err = S3Error(status, code, message, what)
    if status == 404 or code in ("NoSuchKey", "NoSuchBucket"):
        wrapped: Exception = FileNotFoundError(2, f"{code}: {what}")
    elif status == 403:
        wrapped = PermissionError(13, f"{code}: {what}")
    else:
        return err
    wrapped.__cause__ = err
    return wrapped


class _Stream:
    """An object's body being read (``open(path, "rb")``), on a connection of its own."""

    def __init__(self, conn, response) -> None:
        self._conn = conn
        self._response = response

    def read(self, n: int = -1) -> bytes:
        return self._response.read(None if n is None or n < 0 else n)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class S3HTTP:
    """The per-object calls over ``endpoint`` (see the module); ``fallback()`` makes the s3fs
    file system that answers everything else."""

    def __init__(self, endpoint: str, region: str | None, credentials: Credentials, fallback) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("endpointurl must be http(s)://host[:port]")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        default = 443 if self.https else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if self.port == default else f"{host}:{self.port}"
        self.base_path = parts.path.rstrip("/")
        self.credentials = credentials
        self._region = region
        self._signer: Signer | None = None
        self._fallback = fallback
        self._fs = None
        self._fs_lock = threading.Lock()
        self._local = threading.local()
        self._ssl = None

    # ------------------------------------------------------------ plumbing

    @property
    def fs(self):
        """The s3fs file system, made on first use."""
        with self._fs_lock:
            if self._fs is None:
                self._fs = self._fallback()
            return self._fs

    def __getattr__(self, attr: str):
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.fs, attr)

    def signer(self) -> Signer:
        if self._signer is None:
            self.credentials.get()  # botocore's chain knows the profile's region
            region = self._region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") \
                or self.credentials.region or "us-east-1"
            self._signer = Signer(region)
        return self._signer

    def _connect(self) -> http.client.HTTPConnection:
        if self.https:
            if self._ssl is None:
                import ssl

                bundle = os.environ.get("AWS_CA_BUNDLE")
                if not bundle:
                    try:
                        import certifi

                        bundle = certifi.where()
                    except ImportError:
                        bundle = None
                self._ssl = ssl.create_default_context(cafile=bundle)
            return http.client.HTTPSConnection(self.host, self.port, timeout=TIMEOUT, context=self._ssl)
        return http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)

    def _uri(self, bucket: str, key: str) -> str:
        uri = f"{self.base_path}/{quote(bucket, safe='')}"
        return f"{uri}/{quote(key, safe='/~')}" if key else uri

    def request(self, method: str, bucket: str, key: str = "", params: dict | None = None, body: bytes = b"",
                headers: dict | None = None, stream: bool = False, limit: int | None = None):
        """``(status, response headers, body)`` of one signed request; with ``stream`` the body
        is a ``_Stream`` to read (on a connection of its own). At most ``limit`` bytes of the
        body are read (``ERROR_MAX_BYTES`` of an error's), whatever the server sends: the rest is
        left unread and the connection closed. A connection kept from an earlier request that
        the server has closed meanwhile is replaced and the request sent once more."""
        access, secret, token = self.credentials.get()
        signer = self.signer()
        uri = self._uri(bucket, key)
        query = _query(params) if params else ""
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        stamp, _ = _now()
        signed = {"host": self.host_header, "x-amz-date": stamp, "x-amz-content-sha256": payload}
        if token:
            signed["x-amz-security-token"] = token
        for name, value in (headers or {}).items():
            signed[name.lower()] = value
        auth = signer.sign(method, uri, query, signed, payload, access, secret, stamp)
        send = {**signed, "Authorization": auth}
        if method in ("PUT", "POST"):
            send["content-length"] = str(len(body))
        del send["host"]  # http.client writes Host itself
        target = f"{uri}?{query}" if query else uri
        if stream:
            conn = self._connect()
            try:
                conn.request(method, target, body=body or None, headers=send)
                response = conn.getresponse()
            except BaseException:
                conn.close()
                raise
            if response.status >= 300:
                data = response.read()
                conn.close()
                return response.status, response.headers, data
            return response.status, response.headers, _Stream(conn, response)
        for fresh in (False, True):
            conn = getattr(self._local, "conn", None)
            reused = conn is not None and not fresh
            if conn is None or fresh:
                if conn is not None:
                    conn.close()
                conn = self._local.conn = self._connect()
            try:
                conn.request(method, target, body=body or None, headers=send)
                response = conn.getresponse()
                cap = limit if response.status < 300 else min(limit or ERROR_MAX_BYTES, ERROR_MAX_BYTES)
                data = response.read() if cap is None else response.read(cap)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest):
                conn.close()
                self._local.conn = None
                if reused:
                    continue  # a kept-alive connection the server had closed: a new one, once
                raise
            except BaseException:
                conn.close()
                self._local.conn = None
                raise
            if response.will_close or not response.isclosed():  # closing, or more than was read
                conn.close()
                self._local.conn = None
            return response.status, response.headers, data
        raise AssertionError("unreachable")

    def _checked(self, method: str, path: str, what: str, ok=(200,), **kw):
        bucket, key = _split(path)
        status, headers, data = self.request(method, bucket, key, **kw)
        if status not in ok:
            raise _error_of(status, data if isinstance(data, bytes) else b"", f"{what} {path}")
        return status, headers, data

    # ------------------------------------------------------------ the fsspec calls

    def pipe_file(self, path: str, data: bytes, **kwargs) -> None:
        self._checked("PUT", path, "PUT", body=bytes(data))

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs) -> bytes:
        headers = None
        if start is not None or end is not None:
            first = start or 0
            if end is not None and end <= first:
                return b""
            headers = {"range": f"bytes={first}-" + ("" if end is None else str(end - 1))}
        bucket, key = _split(path)
        # never more than ``end`` bytes, from a server that answers a range with more
        status, _, data = self.request("GET", bucket, key, headers=headers, limit=end)
        if status == 416:  # the range starts past the end: nothing there
            return b""
        if status not in (200, 206):
            raise _error_of(status, data, f"GET {path}")
        if status == 200 and headers:  # the range was ignored: the whole object from its start
            return data[start or 0:end]
        return data

    def info(self, path: str, **kwargs) -> dict:
        _, headers, _ = self._checked("HEAD", path, "HEAD")
        return {"name": path.strip("/"), "size": int(headers.get("Content-Length") or 0), "type": "file",
                "LastModified": _http_date(headers.get("Last-Modified")), "ETag": headers.get("ETag")}

    def exists(self, path: str, **kwargs) -> bool:
        try:
            self.info(path)
        except FileNotFoundError:
            return False
        return True

    def rm_file(self, path: str, **kwargs) -> None:
        self._checked("DELETE", path, "DELETE", ok=(200, 204))

    def open(self, path: str, mode: str = "rb", **kwargs):
        if mode != "rb":
            return self.fs.open(path, mode, **kwargs)
        bucket, key = _split(path)
        status, _, body = self.request("GET", bucket, key, stream=True)
        if status != 200:
            raise _error_of(status, body, f"GET {path}")
        return body

    def _page(self, bucket: str, prefix: str, delimiter: str | None, token: str | None):
        """One page of a ListObjectsV2 of ``prefix``: (contents, common prefixes, the next
        page's token or None)."""
        import xml.etree.ElementTree as ET

        params = {"list-type": "2", "prefix": prefix, "max-keys": str(LIST_PAGE)}
        if delimiter:
            params["delimiter"] = delimiter
        if token:
            params["continuation-token"] = token
        status, _, data = self.request("GET", bucket, params=params, limit=LIST_MAX_BYTES + 1)
        if status != 200:
            raise _error_of(status, data, f"LIST {bucket}/{prefix}")
        if len(data) > LIST_MAX_BYTES:
            from mlvc.odb.backends import RemoteError

            raise RemoteError(f"the S3 server answered a listing of {bucket}/{prefix} with over "
                              f"{LIST_MAX_BYTES >> 20} MiB (a page of {LIST_PAGE} keys is well under 1 MiB)",
                              "check the remote's endpointurl: it does not answer as an S3 server does")
        root = ET.fromstring(data)
        contents, prefixes, token, truncated = [], [], None, False
        for child in root:
            tag = _local(child.tag)
            if tag == "Contents":
                contents.append({_local(c.tag): c.text or "" for c in child})
            elif tag == "CommonPrefixes":
                prefixes.extend(c.text or "" for c in child if _local(c.tag) == "Prefix")
            elif tag == "NextContinuationToken":
                token = child.text
            elif tag == "IsTruncated":
                truncated = (child.text or "").lower() == "true"
        return contents, prefixes, (token if truncated and token else None)

    def _pages(self, bucket: str, prefix: str, delimiter: str | None, token: str | None = None):
        """Every page of a listing of ``prefix`` from ``token`` on: (contents, common prefixes)."""
        while True:
            contents, prefixes, token = self._page(bucket, prefix, delimiter, token)
            yield contents, prefixes
            if token is None:
                return

    @staticmethod
    def _file(bucket: str, item: dict) -> dict:
        size = int(item.get("Size") or 0)
        return {"name": f"{bucket}/{item.get('Key', '')}", "Key": item.get("Key", ""), "size": size, "Size": size,
                "type": "file", "LastModified": item.get("LastModified"), "ETag": item.get("ETag")}

    def ls(self, path: str, detail: bool = True, **kwargs):
        """One level under ``path``: its objects and its sub-folders (``type`` "directory"), as
        s3fs lists them; a folder with nothing under it does not exist (FileNotFoundError), a
        bucket that is empty lists as []."""
        bucket, key = _split(path)
        prefix = f"{key.rstrip('/')}/" if key else ""
        entries = []
        for contents, prefixes in self._pages(bucket, prefix, "/"):
            entries.extend(self._file(bucket, c) for c in contents if c.get("Key") != prefix)
            entries.extend({"name": f"{bucket}/{p.rstrip('/')}", "size": 0, "type": "directory"} for p in prefixes)
        if not entries and key:
            raise FileNotFoundError(2, f"nothing under {path}")
        return entries if detail else [e["name"] for e in entries]

    def find(self, path: str, detail: bool = False, **kwargs):
        """Every object under ``path`` (all levels), by name; a missing bucket raises. More than
        a page is listed one sub-folder a thread (``FIND_JOBS`` at once): the layout's 256
        fan-out folders, not page after page of one listing."""
        bucket, key = _split(path)
        prefix = f"{key.rstrip('/')}/" if key else ""
        found: dict[str, dict] = {}

        def keep(contents) -> None:
            for c in contents:
                if not c.get("Key", "").endswith("/"):
                    info = self._file(bucket, c)
                    found[info["name"]] = info

        contents, _, token = self._page(bucket, prefix, None, None)
        keep(contents)
        if token is not None:
            subs: list[str] = []
            for contents, prefixes in self._pages(bucket, prefix, "/"):
                keep(contents)  # objects beside the sub-folders
                subs.extend(prefixes)
            from concurrent.futures import ThreadPoolExecutor

            def whole(sub: str) -> list:
                return [c for contents, _ in self._pages(bucket, sub, None) for c in contents]

            with ThreadPoolExecutor(max_workers=max(1, min(FIND_JOBS, len(subs)))) as pool:
                for contents in pool.map(whole, subs):
                    keep(contents)
        return dict(sorted(found.items())) if detail else sorted(found)


def _http_date(value: str | None) -> str | None:
    """An HTTP date (``Last-Modified``) as ISO 8601 in UTC, the form listings give."""
    if not value:
        return None
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError):
        return None


def endpoint_of(options_endpoint: str | None) -> str | None:
    """The endpoint the remote's requests go to: its ``endpointurl``, else botocore's
    AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS)."""
    if options_endpoint:
        return options_endpoint
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
