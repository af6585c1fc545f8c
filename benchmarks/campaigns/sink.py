"""An aiosmtpd sink for the send benchmark: one line per accepted message, "<rcpt>\t<Message-ID>".

    python benchmarks/campaigns/sink.py --port 2525 --out /tmp/sink.tsv

The handler does the least it can (find the Message-ID in the header block, write one line);
the port is opened with SO_REUSEPORT, so several sink processes can share it (the kernel
spreads the connections) when one Python process is the bottleneck.
"""

from __future__ import annotations

import argparse
import re
import signal
import threading

from aiosmtpd.controller import Controller

MSGID = re.compile(rb"^Message-ID:\s*(\S+)", re.I | re.M)


class Recorder:
    def __init__(self, path: str) -> None:
        self.out = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        head = envelope.content.split(b"\r\n\r\n", 1)[0]
        found = MSGID.search(head)
        mid = found.group(1).decode() if found else "-"
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.out.write(f"{rcpt}\t{mid}\n")
        return "250 OK"


class SharedPortController(Controller):
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
    args = parser.parse_args()
    controller = SharedPortController(Recorder(args.out), hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
