"""S3 chores for the runner, run with mlvc's Python (s3fs, the client mlvc uses):

    python s3helper.py ENDPOINT mkbucket NAME [--probe]
    python s3helper.py ENDPOINT ceiling BUCKET COUNT JOBS

``ceiling`` measures what the server answers with this client library alone, no version
control around it: COUNT PUTs of distinct 4 KiB objects, then COUNT GETs of them, JOBS in
flight (0: mlvc's default, ``mlvc.odb.transfer.DEFAULT_JOBS``), in two ways:

- ``async``: one event loop, ``S3FileSystem._pipe_file`` / ``_cat_file`` gathered under a
  semaphore of JOBS: the most this client gets from the server;
- ``threads``: JOBS threads calling the blocking ``pipe_file`` / ``cat_file`` (each call
  hops onto fsspec's loop thread), which is how mlvc's transfer calls s3fs; and
  ``open`` + ``read`` from the threads, as mlvc's download into the cache does.

The file system is opened as mlvc opens it (no listings cache, botocore and s3fs retries
off). Prints one JSON object: per way, seconds and objects per second. Timed inside this
process, after the imports and the connection's first request.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

SIZE = 4096


def open_fs(endpoint: str):
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing",
                           use_listings_cache=False, skip_instance_cache=True,
                           config_kwargs={"retries": {"total_max_attempts": 1}})
    fs.retries = 1
    return fs


def mkbucket(endpoint: str, name: str, probe: bool) -> None:
    fs = open_fs(endpoint)
    fs.mkdir(name)
    if probe:  # the filer and a volume answer too
        fs.pipe_file(f"{name}/probe", b"x")
        assert fs.cat_file(f"{name}/probe") == b"x"


def _timed(fn, count: int) -> dict:
    t0 = time.perf_counter()
    fn()
    s = time.perf_counter() - t0
    return {"seconds": round(s, 3), "per_s": round(count / s, 1)}


def ceiling(endpoint: str, bucket: str, count: int, jobs: int) -> dict:
    import fsspec.asyn

    if jobs <= 0:
        from mlvc.odb.transfer import DEFAULT_JOBS

        jobs = DEFAULT_JOBS
    fs = open_fs(endpoint)
    fs.pipe_file(f"{bucket}/warm", b"x")  # the connection set up, untimed
    blobs = [random.Random(f"ceiling:{i}").randbytes(SIZE) for i in range(count)]

    def paths(way: str) -> list[str]:
        return [f"{bucket}/{way}/{i:02x}/{i:08d}" for i in range(count)]

    async def gather(op, items) -> None:
        sem = asyncio.Semaphore(jobs)

        async def one(item):
            async with sem:
                await op(*item)

        await asyncio.gather(*(one(item) for item in items))

    def run_async(op, items) -> None:
        fsspec.asyn.sync(fs.loop, gather, op, items)

    def run_threads(op, items) -> None:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for _ in pool.map(lambda item: op(*item), items):
                pass

    def open_read(path: str) -> None:
        with fs.open(path, "rb") as f:
            while f.read(1024 * 1024):
                pass

    a, t = paths("async"), paths("threads")
    out = {"count": count, "jobs": jobs, "size": SIZE}
    out["put_async"] = _timed(lambda: run_async(fs._pipe_file, list(zip(a, blobs))), count)
    out["get_async"] = _timed(lambda: run_async(fs._cat_file, [(p,) for p in a]), count)
    out["put_threads"] = _timed(lambda: run_threads(fs.pipe_file, list(zip(t, blobs))), count)
    out["get_threads"] = _timed(lambda: run_threads(fs.cat_file, [(p,) for p in t]), count)
    out["open_threads"] = _timed(lambda: run_threads(open_read, [(p,) for p in t]), count)
    return out


def main(argv: list[str]) -> int:
    endpoint, cmd, *rest = argv
    if cmd == "mkbucket":
        mkbucket(endpoint, rest[0], "--probe" in rest[1:])
    elif cmd == "ceiling":
        print(json.dumps(ceiling(endpoint, rest[0], int(rest[1]), int(rest[2]))))
    else:
        raise SystemExit(f"unknown command {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
