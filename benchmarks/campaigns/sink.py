"""An aiosmtpd sink for the send benchmark: one line per accepted message, "<rcpt>\t<Message-ID>".

    python benchmarks/campaigns/sink.py --port 2525 --out /tmp/sink.tsv [--plain]

It stands in for a real MTA and behaves as one (Postfix, Exim) does, no more:

- it advertises ``PIPELINING`` (RFC 2920) in its EHLO reply; aiosmtpd reads commands from a
  buffered stream, so pipelined commands were always handled correctly, it just did not say so;
- replies to pipelined commands go out together, when no more input is waiting (Postfix
  flushes its reply buffer the same way), instead of one ``send`` per reply;
- it runs on uvloop, and the port is opened with SO_REUSEPORT, so several sink processes can
  share it (the kernel spreads the connections) when one Python process is the bottleneck;
- the handler does the least it can: find the Message-ID in the header block and append one
  line to a buffered file, flushed every 0.2 s (the benchmark polls the files for progress).

``--plain`` is the stock aiosmtpd behaviour (no PIPELINING, one send per reply, asyncio loop,
line-buffered file), for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

MSGID = re.compile(rb"^Message-ID:\s*(\S+)", re.I | re.M)


class Recorder:
    def __init__(self, path: str, buffered: bool) -> None:
        # lives as long as the process
        self.out = open(path, "a", buffering=1 << 16 if buffered else 1)  # noqa: SIM115
        self.buffered = buffered

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.buffered:
            # what a real MTA says: it accepts pipelined commands (aiosmtpd always did)
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_DATA(self, server, session, envelope):
        head = envelope.content.split(b"\r\n\r\n", 1)[0]
        found = MSGID.search(head)
        mid = found.group(1).decode() if found else "-"
        for rcpt in envelope.rcpt_tos:  # one event loop thread: no lock needed
            self.out.write(f"{rcpt}\t{mid}\n")
        return "250 OK"

    def flush_every(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.out.flush()
        loop.call_later(seconds, self.flush_every, loop, seconds)


class BufferedReplies(SMTP):
    """Replies are held while more pipelined input is already waiting, then sent together."""

    _held: list[bytes]

    async def push(self, status):
        response = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii") if isinstance(
            status, str
        ) else status
        held = getattr(self, "_held", None)
        if held is None:
            held = self._held = []
        held.append(response + b"\r\n")
        if self._reader._buffer:  # more commands already read: answer them together
            return
        self._held = []
        self._writer.write(b"".join(held))
        await self._writer.drain()


class SharedPortController(Controller):
    def __init__(self, *args, buffered: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.buffered = buffered

    def factory(self):
        return (BufferedReplies if self.buffered else SMTP)(self.handler, **self.SMTP_kwargs)

    def _create_server(self):
        return self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, reuse_port=True
        )

    def _trigger_server(self):
        # aiosmtpd connects to itself to check the factory; with a shared port that connection
        # may reach another sink process, so this one would wait for it in vain: build the
        # protocol object here instead (what the check verifies is that this works).
        self.smtpd = self.factory()
        self._factory_invoked.set()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--plain", action="store_true", help="stock aiosmtpd (see the docstring)")
    args = parser.parse_args()
    buffered = not args.plain
    if buffered:
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    recorder = Recorder(args.out, buffered)
    controller = SharedPortController(
        recorder, loop=loop, hostname="127.0.0.1", port=args.port, buffered=buffered
    )
    controller.start()
    if buffered:
        loop.call_soon_threadsafe(recorder.flush_every, loop, 0.2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    recorder.out.flush()


if __name__ == "__main__":
    main()
