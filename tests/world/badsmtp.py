#!/usr/bin/python3
"""badsmtp.py - the SMTP servers Postfix cannot play, for the test world.

Reads RUNDIR/bad/servers.json (written by worldgen.py): a list of
{addr, kind, chain}. Kinds:
  silent           accept the connection, never send a banner
  nostarttls       normal ESMTP without STARTTLS
  refuse-starttls  STARTTLS advertised, the command answered with 454
  tlsfail          STARTTLS accepted with 220, then bytes that are not TLS
  split            a working STARTTLS server whose replies arrive split across
                   packets at odd places (mid-line, mid-CRLF)
  tempfail         421 banner, then close
Every connection is bounded: idle timeout 60 s, at most 100 commands.
"""
import asyncio
import json
import os
import ssl
import sys

IDLE_S = 60
MAX_COMMANDS = 100
HOLD_S = 120


async def send_split(writer, data):
    """Write data in pieces: 1 byte, then up to the CR, the LF alone, the rest."""
    cuts = sorted({1, data.find(b"\r"), data.find(b"\r") + 1, len(data) // 2} - {-1, 0})
    prev = 0
    for c in cuts + [len(data)]:
        if c <= prev or c > len(data):
            continue
        if prev > 0:
            # pause between pieces only: after the last piece the client may answer at
            # once (a ClientHello after "220 Ready") and must find us listening for it
            await asyncio.sleep(0.02)
        writer.write(data[prev:c])
        await writer.drain()
        prev = c


class Session:
    def __init__(self, kind, tls_ctx, reader, writer):
        self.kind, self.tls_ctx = kind, tls_ctx
        self.reader, self.writer = reader, writer
        self.tls = False

    async def reply(self, text):
        data = text.encode()
        if self.kind == "split":
            await send_split(self.writer, data)
        else:
            self.writer.write(data)
            await self.writer.drain()

    def ehlo_reply(self):
        lines = ["badsmtp.world.test", "PIPELINING", "SIZE 10240000", "8BITMIME"]
        if self.kind != "nostarttls" and not self.tls:
            lines.append("STARTTLS")
        lines.append("ENHANCEDSTATUSCODES")
        out = ""
        for i, l in enumerate(lines):
            out += "250%s%s\r\n" % (" " if i == len(lines) - 1 else "-", l)
        return out

    async def run(self):
        if self.kind == "silent":
            try:
                await asyncio.wait_for(self.reader.read(), HOLD_S)
            except asyncio.TimeoutError:
                pass
            return
        if self.kind == "tempfail":
            await self.reply("421 4.3.2 badsmtp.world.test service not available\r\n")
            return
        await self.reply("220 badsmtp.world.test ESMTP %s\r\n" % self.kind)
        for _ in range(MAX_COMMANDS):
            try:
                line = await asyncio.wait_for(self.reader.readline(), IDLE_S)
            except asyncio.TimeoutError:
                return
            if not line:
                return
            cmd = line.decode(errors="replace").strip().upper()
            if cmd.startswith("EHLO"):
                await self.reply(self.ehlo_reply())
            elif cmd.startswith("HELO"):
                await self.reply("250 badsmtp.world.test\r\n")
            elif cmd == "STARTTLS" and self.kind != "nostarttls" and not self.tls:
                if self.kind == "refuse-starttls":
                    await self.reply("454 4.7.0 TLS not available due to local problem\r\n")
                    continue
                await self.reply("220 2.0.0 Ready to start TLS\r\n")
                if self.kind == "tlsfail":
                    # answer the ClientHello with bytes that are no TLS record
                    await asyncio.wait_for(self.reader.read(1), IDLE_S)
                    self.writer.write(b"this is not a TLS server hello\r\n" * 4)
                    await self.writer.drain()
                    return
                await self.writer.start_tls(self.tls_ctx)
                self.tls = True
            elif cmd == "QUIT":
                await self.reply("221 2.0.0 Bye\r\n")
                return
            elif cmd in ("RSET", "NOOP"):
                await self.reply("250 2.0.0 Ok\r\n")
            else:
                await self.reply("502 5.5.2 Error: command not recognized\r\n")


def make_handler(kind, tls_ctx):
    async def handle(reader, writer):
        try:
            await Session(kind, tls_ctx, reader, writer).run()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass
    return handle


async def main(rundir):
    with open(os.path.join(rundir, "bad", "servers.json")) as f:
        conf = json.load(f)
    servers = []
    for s in conf:
        ctx = None
        if s.get("chain"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(s["chain"])   # key + certificates in one PEM file
        servers.append(await asyncio.start_server(make_handler(s["kind"], ctx), s["addr"], 25))
    with open(os.path.join(rundir, "bad", "ready"), "w") as f:
        f.write("%d\n" % len(servers))
    await asyncio.gather(*(srv.serve_forever() for srv in servers))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: badsmtp.py RUNDIR")
    asyncio.run(main(sys.argv[1]))
