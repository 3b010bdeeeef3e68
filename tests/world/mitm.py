#!/usr/bin/python3
"""mitm.py - active attackers between a sending MTA and a real receiver, for the test world.

Reads RUNDIR/bad/mitm.json (written by worldgen.py): a list of
{addr, kind, upstream, name, log, chain}. Each proxy listens on ADDR:25 (the address
the MX host's A record points at) and relays SMTP to the case's real receiver at
UPSTREAM:25, in clear. Kinds:
  strip-starttls  deletes STARTTLS from the EHLO reply and answers a STARTTLS command
                  with 502 itself (the receiver never sees it); everything else passes
                  through unchanged, so a sender that goes on without TLS delivers in clear
  forged-cert     passes the receiver's EHLO reply (with STARTTLS) through, answers
                  STARTTLS itself, does TLS with the client using its own self-signed
                  certificate (CHAIN: key + certificate, same names as the real one), and
                  relays the decrypted SMTP to the receiver in clear
Both remove CHUNKING from EHLO replies (bodies are relayed as DATA lines) and write one
line per connection and per MAIL FROM they forward to LOG
(RUNDIR/mitm-<mx name>.log), with whether the client side was TLS.
Every connection is bounded: idle timeout 60 s, lines of at most 64 KiB.
"""
import asyncio
import json
import os
import ssl
import sys
import time

IDLE_S = 60
CONNECT_S = 10
MAX_LINE = 65536


class Log:
    """Appends lines to a proxy's log file, flushed at once (tests read it while we run)."""

    def __init__(self, path):
        self.path = path
        open(path, "a").close()

    def __call__(self, text):
        with open(self.path, "a") as f:
            f.write("%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), text))


async def read_line(reader):
    """One line (with its line ending), b"" at EOF or idle timeout."""
    try:
        return await asyncio.wait_for(reader.readuntil(b"\n"), IDLE_S)
    except asyncio.IncompleteReadError as e:
        return e.partial
    except (asyncio.TimeoutError, asyncio.LimitOverrunError):
        return b""


async def read_reply(reader):
    """One whole (possibly multi-line) SMTP reply as a list of lines, [] at EOF."""
    lines = []
    while len(lines) < 100:
        line = await read_line(reader)
        if not line:
            return []
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            return lines
    return lines


def without(lines, keywords):
    """The lines of an EHLO reply without the given keywords (last-line marker fixed)."""
    kept = [l for l in lines if l[4:].strip().upper() not in keywords]
    if kept and len(kept) < len(lines):
        last = kept[-1]
        kept[-1] = last[:3] + b" " + last[4:]
    return kept


class Proxy:
    """One client connection relayed to the real receiver."""

    def __init__(self, conf, tls_ctx, log, creader, cwriter):
        self.kind, self.tls_ctx, self.log = conf["kind"], tls_ctx, log
        self.upstream = conf["upstream"]
        self.cr, self.cw = creader, cwriter
        self.sr = self.sw = None
        self.client_tls = False   # the client side of this connection is TLS (forged-cert)
        self.saw_354 = False      # set by the reply pump when the receiver said 354
        self.pending = 1          # replies the receiver still owes (first: its banner)
        self.answered = asyncio.Event()   # set whenever pending drops to 0
        self.peer = "%s:%s" % cwriter.get_extra_info("peername")[:2]

    async def replies(self):
        """Receiver -> client: whole replies, STARTTLS removed where the kind wants it."""
        while True:
            lines = await read_reply(self.sr)
            if not lines:
                return
            if lines[0][:3] == b"250" and len(lines) > 1:
                # an EHLO reply: no CHUNKING (the proxy reads bodies as DATA lines), and no
                # STARTTLS where the client must not (or need not any more) start TLS
                drop = {b"CHUNKING"}
                if self.kind == "strip-starttls" or self.client_tls:
                    drop.add(b"STARTTLS")
                lines = without(lines, drop)
            if lines[0][:3] == b"354":
                self.saw_354 = True
            self.cw.write(b"".join(lines))
            await self.cw.drain()
            self.pending = max(0, self.pending - 1)
            if self.pending == 0:
                self.answered.set()

    async def body(self):
        """Client -> receiver: the message after 354, up to and including the lone dot."""
        for _ in range(10_000_000):
            line = await read_line(self.cr)
            if not line:
                return False
            if line in (b".\r\n", b".\n"):
                self.expect_reply()
                self.sw.write(line)
                await self.sw.drain()
                return True
            self.sw.write(line)
        return False

    async def starttls(self):
        """STARTTLS from the client: refuse it (strip) or terminate TLS ourselves (forged)."""
        if self.kind == "strip-starttls" or self.client_tls:
            self.cw.write(b"502 5.5.1 Error: command not implemented\r\n")
            await self.cw.drain()
            self.log("%s STARTTLS answered 502 by the proxy" % self.peer)
            return True
        self.cw.write(b"220 2.0.0 Ready to start TLS\r\n")
        await self.cw.drain()
        try:
            await self.cw.start_tls(self.tls_ctx)
        except (ssl.SSLError, ConnectionError, OSError) as e:
            self.log("%s TLS handshake with the client failed: %s" % (self.peer, e))
            return False
        obj = self.cw.get_extra_info("ssl_object")
        self.client_tls = True
        self.log("%s client TLS with the forged certificate: %s %s" % (
            self.peer, obj.version(), obj.cipher()[0]))
        return True

    async def commands(self):
        """Client -> receiver: commands, with STARTTLS intercepted and bodies passed on."""
        for _ in range(10000):
            if self.saw_354:   # the client only sends a body after it has seen 354
                self.saw_354 = False
                if not await self.body():
                    return
                continue
            line = await read_line(self.cr)
            if not line:
                return
            verb = line.strip().upper()
            if verb == b"STARTTLS":
                if not await self.starttls():
                    return
                continue
            if verb.startswith(b"MAIL FROM"):
                self.log("%s MAIL %s forwarded, client side %s" % (
                    self.peer, line.strip()[5:].decode(errors="replace"),
                    "TLS (forged certificate)" if self.client_tls else "in clear"))
            self.expect_reply()
            self.sw.write(line)
            await self.sw.drain()
            if verb == b"DATA":
                # every reply up to DATA's must be in before the next line is read: a 354
                # means the body follows, anything else that commands go on
                try:
                    await asyncio.wait_for(self.answered.wait(), IDLE_S)
                except asyncio.TimeoutError:
                    return

    def expect_reply(self):
        self.pending += 1
        self.answered.clear()

    async def run(self):
        self.log("%s connected, relaying to %s:25 (%s)" % (self.peer, self.upstream, self.kind))
        try:
            self.sr, self.sw = await asyncio.wait_for(
                asyncio.open_connection(self.upstream, 25, limit=MAX_LINE), CONNECT_S)
        except (OSError, asyncio.TimeoutError) as e:
            self.log("%s upstream %s:25 unreachable: %s" % (self.peer, self.upstream, e))
            return
        pump = asyncio.ensure_future(self.replies())
        try:
            await self.commands()
        finally:
            self.sw.close()
            try:
                await asyncio.wait_for(pump, 5)
            except (asyncio.TimeoutError, ConnectionError, ssl.SSLError):
                pump.cancel()
            self.log("%s closed" % self.peer)


async def main(rundir):
    with open(os.path.join(rundir, "bad", "mitm.json")) as f:
        conf = json.load(f)
    servers = []
    for c in conf:
        ctx = None
        if c.get("chain"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(c["chain"])   # key + certificate in one PEM file
        log = Log(c["log"])

        def handler(conf_=c, ctx_=ctx, log_=log):
            async def handle(reader, writer):
                try:
                    await Proxy(conf_, ctx_, log_, reader, writer).run()
                except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
                    pass
                finally:
                    try:
                        writer.close()
                    except Exception:
                        pass
            return handle
        servers.append(await asyncio.start_server(handler(), c["addr"], 25, limit=MAX_LINE))
    with open(os.path.join(rundir, "bad", "mitm.ready"), "w") as f:
        f.write("%d\n" % len(servers))
    if servers:
        await asyncio.gather(*(srv.serve_forever() for srv in servers))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: mitm.py RUNDIR")
    asyncio.run(main(sys.argv[1]))
