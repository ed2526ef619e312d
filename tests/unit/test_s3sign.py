"""mlvc's S3 client's signatures (mlvc.odb.s3http.Signer): AWS's published SigV4 example, and
botocore's own signer on requests with a body, a query and keys that need encoding. A server
that checks them is in tests/func/test_s3http.py."""

from __future__ import annotations

import datetime
import hashlib

import pytest

from mlvc.odb.s3http import EMPTY_SHA256, S3HTTP, Credentials, Signer, _query


def test_the_get_object_example_of_aws_signature_version_4():
    # docs.aws.amazon.com, "Signature Calculations for the Authorization Header", Example: GET Object
    auth = Signer("us-east-1").sign(
        "GET", "/test.txt", "",
        {"host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9", "x-amz-content-sha256": EMPTY_SHA256,
         "x-amz-date": "20130524T000000Z"},
        EMPTY_SHA256, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524T000000Z")
    assert auth == ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                    "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                    "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


@pytest.mark.parametrize(("method", "key", "params", "body", "token"), [
    ("PUT", "team/data/files/xxh3/ab/cdef0123", None, b"4 KiB of data" * 300, None),
    ("GET", "", {"list-type": "2", "prefix": "a b/ü+=&/", "delimiter": "/", "max-keys": "1000",
                 "continuation-token": "1/2+3=="}, b"", "a-session-token"),
    ("HEAD", "odd key/with spaces+plus/ünï~códe", None, b"", None),
    ("DELETE", "x/y", None, b"", None),
])
def test_signatures_are_botocores(method, key, params, body, token, monkeypatch):
    pytest.importorskip("botocore")
    import botocore.auth
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    stamp = "20261201T123456Z"
    client = S3HTTP("http://127.0.0.1:9000/", "eu-west-3", Credentials("AKIDEXAMPLE", "s3cr3t/key", token, None),
                    fallback=None)
    uri = client._uri("my-bucket", key)
    query = _query(params) if params else ""
    payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    headers = {"host": "127.0.0.1:9000", "x-amz-date": stamp, "x-amz-content-sha256": payload}
    if token:
        headers["x-amz-security-token"] = token
    ours = Signer("eu-west-3").sign(method, uri, query, headers, payload, "AKIDEXAMPLE", "s3cr3t/key", stamp)

    url = f"http://127.0.0.1:9000{uri}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body,
                         headers={"x-amz-content-sha256": payload})
    signer = S3SigV4Auth(BotoCredentials("AKIDEXAMPLE", "s3cr3t/key", token), "s3", "eu-west-3")
    when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)  # botocore's clock: the same second
    signer.add_auth(request)
    theirs = request.headers["Authorization"].replace(", ", ",")  # the same, with spaces after the commas
    assert ours == theirs
