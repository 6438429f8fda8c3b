#!/usr/bin/env python3
"""A real HTTP/1.1 + WebSocket backend process for the system tests.

Each instance answers with its own name so tests can see where a request
went. Endpoints:
  GET  /            -> "NAME\n" (headers X-Backend: NAME)
  GET  /headers     -> JSON of the request headers as received
  GET  /slow?ms=N   -> answers after N ms
  GET  /healthz     -> status from the file given by --health-file (default 200)
  GET  /setcookie?name=N&value=V -> sets a cookie
  GET  /big?kb=N    -> N KiB body
  POST /echo        -> echoes the body
  GET  /ws          -> WebSocket echo (Upgrade)
  GET  /chunked     -> a chunked response
It prints "ready PORT" on stdout once listening.
"""
import argparse
import asyncio
import json
import os
import sys
import time
import urllib.parse



class Backend:
    def __init__(self, name, health_file):
        self.name = name
        self.health_file = health_file
        self.count = 0

    def health_status(self):
        if self.health_file and os.path.exists(self.health_file):
            with open(self.health_file) as f:
                txt = f.read().strip()
            return int(txt or "200")
        return 200

    async def handle(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                headers = {}
                hlist = []
                for ln in lines[1:]:
                    if not ln:
                        continue
                    k, v = ln.split(":", 1)
                    hlist.append([k, v.strip()])
                    headers[k.lower()] = v.strip()
                body = b""
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding", "").lower() == "chunked":
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                        if size == 0:
                            await reader.readuntil(b"\r\n")
                            break
                        body += await reader.readexactly(size)
                        await reader.readexactly(2)
                self.count += 1
                url = urllib.parse.urlsplit(target)
                q = dict(urllib.parse.parse_qsl(url.query))
                keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                if url.path == "/ws" and headers.get("upgrade", "").lower() == "websocket":
                    await self.websocket(reader, writer, headers)
                    return
                status, extra, out = 200, [], (self.name + "\n").encode()
                if url.path == "/headers":
                    out = json.dumps({"headers": hlist, "backend": self.name}).encode()
                elif url.path == "/slow":
                    await asyncio.sleep(int(q.get("ms", "100")) / 1000)
                elif url.path == "/healthz":
                    status = self.health_status()
                elif url.path == "/setcookie":
                    extra.append(("Set-Cookie", "%s=%s; Path=/" % (q["name"], q["value"])))
                elif url.path == "/big":
                    out = b"x" * (int(q.get("kb", "4")) * 1024)
                elif url.path == "/echo":
                    out = body
                if url.path == "/chunked":
                    resp = ["HTTP/1.1 200 OK", "X-Backend: " + self.name, "Transfer-Encoding: chunked"]
                    writer.write(("\r\n".join(resp) + "\r\n\r\n").encode())
                    for part in (self.name.encode(), b"-chunk-", b"end\n"):
                        writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                    writer.write(b"0\r\n\r\n")
                else:
                    resp = ["HTTP/1.1 %d X" % status, "X-Backend: " + self.name,
                            "Content-Length: %d" % (0 if method == "HEAD" else len(out))]
                    resp += ["%s: %s" % kv for kv in extra]
                    if not keep:
                        resp.append("Connection: close")
                    writer.write(("\r\n".join(resp) + "\r\n\r\n").encode())
                    if method != "HEAD":
                        writer.write(out)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def websocket(self, reader, writer, headers):
        import base64
        import hashlib
        key = headers["sec-websocket-key"]
        acc = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + acc + b"\r\nX-Backend: " + self.name.encode() + b"\r\n\r\n")
        await writer.drain()
        # A minimal RFC 6455 echo: text/binary frames echoed unmasked, close answered.
        while True:
            h = await reader.readexactly(2)
            op, ln = h[0] & 0x0F, h[1] & 0x7F
            if ln == 126:
                ln = int.from_bytes(await reader.readexactly(2), "big")
            elif ln == 127:
                ln = int.from_bytes(await reader.readexactly(8), "big")
            mask = await reader.readexactly(4) if h[1] & 0x80 else b"\0\0\0\0"
            data = bytearray(await reader.readexactly(ln))
            for i in range(len(data)):
                data[i] ^= mask[i % 4]
            if op == 8:
                writer.write(b"\x88\x00")
                await writer.drain()
                return
            if op == 9:
                op = 10
            if ln < 126:
                hdr = bytes([0x80 | op, ln])
            elif ln < 65536:
                hdr = bytes([0x80 | op, 126]) + ln.to_bytes(2, "big")
            else:
                hdr = bytes([0x80 | op, 127]) + ln.to_bytes(8, "big")
            writer.write(hdr + bytes(data))
            await writer.drain()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--name", required=True)
    ap.add_argument("--health-file")
    a = ap.parse_args()
    b = Backend(a.name, a.health_file)
    srv = await asyncio.start_server(b.handle, "127.0.0.1", a.port, reuse_address=True, backlog=1024)
    port = srv.sockets[0].getsockname()[1]
    print("ready", port, flush=True)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
