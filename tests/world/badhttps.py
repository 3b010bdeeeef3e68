#!/usr/bin/python3
"""badhttps.py - the MTA-STS policy servers nginx cannot easily play, for the test world.

Reads RUNDIR/bad/https.json (written by worldgen.py): a list of
{addr, kind, certs, key, policy}. Every server listens on ADDR:443 with TLS. Kinds:
  https-slow    reads the request, sends the headers and the first line of the policy,
                then nothing more (holds the connection): the client must time out
  https-stream  answers 200 text/plain with chunked transfer encoding (no
                Content-Length) and streams policy extension lines, 4 KiB at a time,
                up to 1 MiB: the client must stop at its size limit
  https-collector  a TLS-RPT report collector (RFC 8460 section 5.4): answers a POST with
                201 and keeps its body in RUNDIR/collector/<addr>-<n>.bin, with one JSON line
                per request {addr, path, content_type, length, file} in
                RUNDIR/collector/collector.log; anything else gets 405
Every connection is bounded: the request must arrive within 30 s, a held connection
is closed after 120 s, a stream after 1 MiB, a POST body at 1 MiB.
"""
import asyncio
import json
import os
import ssl
import sys

REQUEST_S = 30
HOLD_S = 120
STREAM_MAX = 1 << 20
CHUNK = 4096


async def read_request(reader):
    """Read the request head (bounded); False if none came."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_S)
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return False
    return head.startswith(b"GET ")


COLLECTED = [0]


async def collect(reader, writer, rundir, addr):
    """One POST: keep the body, log it, answer 201 (RFC 8460 5.4)."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_S)
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return
    lines = head.decode("latin-1").split("\r\n")
    method, path = (lines[0].split(" ") + ["", ""])[:2]
    hdr = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdr[k.strip().lower()] = v.strip()
    if method != "POST":
        writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
        await writer.drain()
        return
    n = min(int(hdr.get("content-length", "0") or 0), STREAM_MAX)
    body = await asyncio.wait_for(reader.readexactly(n), REQUEST_S) if n else b""
    d = os.path.join(rundir, "collector")
    os.makedirs(d, exist_ok=True)
    COLLECTED[0] += 1
    name = "%s-%d.bin" % (addr, COLLECTED[0])
    with open(os.path.join(d, name), "wb") as f:
        f.write(body)
    with open(os.path.join(d, "collector.log"), "a") as f:
        f.write(json.dumps({"addr": addr, "path": path,
                            "content_type": hdr.get("content-type", ""),
                            "length": len(body), "file": name}) + "\n")
    writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()


async def slow(reader, writer, policy):
    first = (policy.split("\n", 1)[0] + "\n").encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n" % len(policy.encode()) + first)
    await writer.drain()
    try:
        await asyncio.wait_for(reader.read(), HOLD_S)
    except asyncio.TimeoutError:
        pass


async def stream(writer, policy):
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                 b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    data = policy.encode()
    line = b"x-pad: " + b"s" * 56 + b"\n"
    sent = 0
    while sent < STREAM_MAX:
        while len(data) < CHUNK:
            data += line
        writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await writer.drain()
        sent += len(data)
        data = b""
        await asyncio.sleep(0.005)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def make_handler(kind, policy, rundir="", addr=""):
    async def handle(reader, writer):
        try:
            if kind == "https-collector":
                await collect(reader, writer, rundir, addr)
            elif await read_request(reader):
                if kind == "https-slow":
                    await slow(reader, writer, policy)
                else:
                    await stream(writer, policy)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass
    return handle


async def main(rundir):
    with open(os.path.join(rundir, "bad", "https.json")) as f:
        conf = json.load(f)
    servers = []
    for s in conf:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(s["certs"], s["key"])
        servers.append(await asyncio.start_server(make_handler(s["kind"], s["policy"], rundir,
                                                               s["addr"]),
                                                  s["addr"], 443, ssl=ctx))
    with open(os.path.join(rundir, "bad", "https-ready"), "w") as f:
        f.write("%d\n" % len(servers))
    if servers:
        await asyncio.gather(*(srv.serve_forever() for srv in servers))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: badhttps.py RUNDIR")
    asyncio.run(main(sys.argv[1]))
