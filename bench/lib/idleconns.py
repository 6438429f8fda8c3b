#!/usr/bin/env python3
"""Opens COUNT keep-alive HTTP/1.1 connections to HOST:PORT, makes one
request on each (at most CONCURRENCY at a time, so the proxy needs only a few
server connections), checks the response, and keeps them all open and idle.

Prints "READY ok=N failed=F" on stdout once every connection has had its
answer, then holds the connections until stdin is closed (or SIGTERM).

Usage: idleconns.py HOST PORT COUNT [CONCURRENCY] [PATH]
"""
import asyncio
import resource
import signal
import sys


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def one(host, port, path, sem, keep):
    async with sem:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(("GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (path, host, port)).encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status = head.split(b" ", 2)[1]
        if status != b"200":
            raise RuntimeError("status %r" % status)
        length = None
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
            if k.strip().lower() == b"connection" and b"close" in v.lower():
                raise RuntimeError("proxy answered Connection: close")
        if length is None:
            raise RuntimeError("no Content-Length")
        await asyncio.wait_for(reader.readexactly(length), 10)
        keep.append((reader, writer))


async def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    conc = int(sys.argv[4]) if len(sys.argv) > 4 else 16
    path = sys.argv[5] if len(sys.argv) > 5 else "/small"
    limit = raise_nofile(count + 100)
    if limit < count + 20:
        print("idleconns: open-files limit %d is too low for %d connections" % (limit, count),
              file=sys.stderr)
        sys.exit(2)
    sem = asyncio.Semaphore(conc)
    keep = []
    results = await asyncio.gather(*(one(host, port, path, sem, keep) for _ in range(count)),
                                   return_exceptions=True)
    errs = [r for r in results if isinstance(r, BaseException)]
    if errs:
        print("idleconns: %d failed, first: %r" % (len(errs), errs[0]), file=sys.stderr)
    print("READY ok=%d failed=%d" % (len(keep), len(errs)), flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.buffer.read1(4096) else None)
    await stop.wait()
    for _, w in keep:
        w.close()


if __name__ == "__main__":
    asyncio.run(main())
