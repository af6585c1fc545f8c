"""Every test gets a CRM with the core, campaigns and the email channel, and a real aiosmtpd sink."""

import asyncio
import socket
import threading

import cultiveat_campaigns.plugin
import cultiveat_email.plugin
import pytest
from aiosmtpd.controller import Controller

from cultiveat_core import Actor

SYSTEM = Actor.system("tests")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """An SMTP server keeping what it accepts; ``rcpt_script[address]`` scripts RCPT replies."""

    def __init__(self):
        self.messages = []
        self.rcpt_script = {}
        self.delay = 0.0  # seconds before answering DATA (a slow server, for the fault test)
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
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
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.messages.append({"to": list(envelope.rcpt_tos), "msg": msg})
        return "250 Message accepted"

    def to(self, address):
        return [m["msg"] for m in self.messages if address in m["to"]]


@pytest.fixture
def sink():
    handler = Sink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.url = f"smtp://127.0.0.1:{port}"
    yield handler
    controller.stop()


@pytest.fixture
def env(sink):
    return {
        "CULTIVEAT_EMAIL_SMTP_URL": sink.url,
        "CULTIVEAT_EMAIL_FROM": "Cultiveat <crm@cultiveat.test>",
        "CULTIVEAT_EMAIL_RETRY_BACKOFF_SECONDS": "0.01",
        "CULTIVEAT_CAMPAIGNS_PUBLIC_URL": "https://crm.cultiveat.test",
    }


@pytest.fixture
def crm(make_crm, env):
    return make_crm(plugins=[cultiveat_campaigns.plugin, cultiveat_email.plugin], environ=env)


def grant(crm, contact_ids):
    """Email-marketing consent for these contacts (when the core records consent)."""
    consent = getattr(crm, "consent", None)
    if consent is None:
        return
    with crm.transaction(SYSTEM) as uow:
        for cid in contact_ids:
            consent.record(SYSTEM, cid, "email_marketing", True, source="test", uow=uow)


def make_contacts(crm, n, prefix="p", consent=True, **fields):
    rows = [
        {
            "email": f"{prefix}{i}@example.com",
            "first_name": f"First{i}",
            "last_name": "Lee",
            "company": "TechCorp Solutions",
            "position": "VP of Sales",
            **fields,
        }
        for i in range(n)
    ]
    created = (
        crm.contacts.create_many(SYSTEM, rows)
        if hasattr(crm.contacts, "create_many")
        else [crm.contacts.create(SYSTEM, row) for row in rows]
    )
    contacts = list(created.contacts) if hasattr(created, "contacts") else list(created)
    if consent:
        grant(crm, [c.id for c in contacts])
    return contacts
