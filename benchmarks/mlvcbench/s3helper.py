"""S3 chores for the runner, run with mlvc's Python (s3fs, the client mlvc uses):

    python s3helper.py ENDPOINT mkbucket NAME [--probe]
    python s3helper.py ENDPOINT ceiling BUCKET COUNT JOBS [SERVER_PID]

``ceiling`` measures what the server answers with this client library alone, no version
control around it: COUNT PUTs of distinct 4 KiB objects, then COUNT GETs of them, JOBS in
flight (0: mlvc's default, ``mlvc.odb.transfer.DEFAULT_JOBS``), in two ways:

- ``async``: one event loop, ``S3FileSystem._pipe_file`` / ``_cat_file`` gathered under a
  semaphore of JOBS: the most this client gets from the server;
- ``threads``: JOBS threads calling the blocking ``pipe_file`` / ``cat_file`` (each call
  hops onto fsspec's loop thread), which is how mlvc's transfer calls s3fs; and
  ``open`` + ``read`` from the threads, as s3fs's download of a large object does;
- ``mlvc``: JOBS threads calling mlvc's own client (``mlvc.odb.s3http.S3HTTP``), which
  mlvc's push and pull use for these requests.

Each way also reports the CPU time per request of this process (the client) and, given
SERVER_PID, of the server: on a 2-core machine shared by both, their sum bounds the rate.

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


def _cpu(pid: int | None) -> float:
    """CPU seconds so far of this process (``None``) or of process ``pid``."""
    if pid is None:
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    import os

    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(fn, count: int, server_pid: int | None = None) -> dict:
    c0, w0 = _cpu(None), _cpu(server_pid) if server_pid else 0.0
    t0 = time.perf_counter()
    fn()
    s = time.perf_counter() - t0
    out = {"seconds": round(s, 3), "per_s": round(count / s, 1),
           "client_cpu_ms": round((_cpu(None) - c0) / count * 1000, 3)}
    if server_pid:
        out["server_cpu_ms"] = round((_cpu(server_pid) - w0) / count * 1000, 3)
    return out


def ceiling(endpoint: str, bucket: str, count: int, jobs: int, server_pid: int | None = None) -> dict:
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

    from mlvc.odb.s3http import S3HTTP, Credentials

    ours = S3HTTP(endpoint, None, Credentials("testing", "testing", None, None), fallback=None)
    ours.pipe_file(f"{bucket}/warm", b"x")
    a, t, m = paths("async"), paths("threads"), paths("mlvc")
    out = {"count": count, "jobs": jobs, "size": SIZE}
    timed = lambda fn: _timed(fn, count, server_pid)  # noqa: E731
    out["put_async"] = timed(lambda: run_async(fs._pipe_file, list(zip(a, blobs))))
    out["get_async"] = timed(lambda: run_async(fs._cat_file, [(p,) for p in a]))
    out["put_threads"] = timed(lambda: run_threads(fs.pipe_file, list(zip(t, blobs))))
    out["get_threads"] = timed(lambda: run_threads(fs.cat_file, [(p,) for p in t]))
    out["open_threads"] = timed(lambda: run_threads(open_read, [(p,) for p in t]))
    out["put_mlvc"] = timed(lambda: run_threads(ours.pipe_file, list(zip(m, blobs))))
    out["get_mlvc"] = timed(lambda: run_threads(ours.cat_file, [(p,) for p in m]))
    return out


def main(argv: list[str]) -> int:
    endpoint, cmd, *rest = argv
    if cmd == "mkbucket":
        mkbucket(endpoint, rest[0], "--probe" in rest[1:])
    elif cmd == "ceiling":
        pid = int(rest[3]) if len(rest) > 3 else None
        print(json.dumps(ceiling(endpoint, rest[0], int(rest[1]), int(rest[2]), pid)))
    else:
        raise SystemExit(f"unknown command {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
