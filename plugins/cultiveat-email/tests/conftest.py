"""Every test gets a CRM with the core and the email plugin, and a real aiosmtpd sink."""

import socket
import threading

import cultiveat_email.plugin
import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """An SMTP server that keeps what it accepts; ``rcpt_script[address]`` lists the replies
    (e.g. ``["451 4.7.1 try later"]``) given to the next RCPT TO of that address,
    ``data_script`` the replies to the next message contents (after the final dot).

    With ``pipelining`` it advertises PIPELINING (RFC 2920) as Postfix does; ``pipelined``
    records, per MAIL FROM, whether the RCPT TO and DATA of that transaction had already
    arrived with it (the client sent the three in one write). ``connections`` counts EHLOs.
    """

    def __init__(self, pipelining=False):
        self.pipelining = pipelining
        self.messages = []
        self.rcpt_script = {}
        self.rcpt_attempts = {}
        self.data_script = []
        self.pipelined = []
        self.connections = 0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        waiting = bytes(server._reader._buffer)  # what the client sent after MAIL FROM
        with self.lock:
            self.pipelined.append(b"RCPT TO:" in waiting and b"DATA\r\n" in waiting)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpt_attempts[address] = self.rcpt_attempts.get(address, 0) + 1
            script = self.rcpt_script.get(address)
            if script:
                reply = script.pop(0)
                if not reply.startswith("250"):
                    return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes
        from email.policy import default

        msg = message_from_bytes(envelope.content, policy=default)
        with self.lock:
            if self.data_script:
                return self.data_script.pop(0)
            self.messages.append(
                {"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "msg": msg}
            )
        return "250 Message accepted"

    def to(self, address):
        return [m for m in self.messages if address in m["to"]]


def running_sink(pipelining=False):
    handler = Sink(pipelining)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.url = f"smtp://127.0.0.1:{port}"
    yield handler
    controller.stop()


@pytest.fixture
def sink():
    yield from running_sink()


@pytest.fixture
def email_env(sink):
    return {
        "CULTIVEAT_EMAIL_SMTP_URL": sink.url,
        "CULTIVEAT_EMAIL_FROM": "Cultiveat <crm@cultiveat.test>",
        "CULTIVEAT_EMAIL_RETRY_BACKOFF_SECONDS": "0.01",
        "CULTIVEAT_EMAIL_WEBHOOK_SECRET": "whsec-test",
    }


@pytest.fixture
def crm(make_crm, email_env):
    return make_crm(plugins=[cultiveat_email.plugin], environ=email_env)
