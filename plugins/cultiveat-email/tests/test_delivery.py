"""Delivery against a real aiosmtpd server: outbox, retries, suppression, headers."""

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cultiveat_email import compose
from cultiveat_email.delivery import service
from cultiveat_email.smtp import parse_smtp_url
from cultiveat_email.tables import messages, suppressions
from cultiveat_email.throttle import Throttle

from cultiveat_core import Actor, ValidationError
from cultiveat_core.db.metadata import utcnow

from .conftest import running_sink

SYSTEM = Actor.system("tests")


@pytest.fixture(params=["plain", "pipelining"])
def sink(request):
    """Every delivery test runs against a server without and with PIPELINING (RFC 2920)."""
    yield from running_sink(pipelining=request.param == "pipelining")


def contact(crm, email="ann@example.com", first="Ann"):
    return crm.contacts.create(SYSTEM, {"email": email, "first_name": first, "last_name": "Lee"})


def message(c, key="campaign:1", **extra):
    return {
        "key": key,
        "contact_id": c.id,
        "to": c.email,
        "subject": "Hello",
        "text": "Hi there",
        "html": "<p>Hi there</p>",
        "meta": {"campaign_id": 1},
        **extra,
    }


def activity_types(crm, contact_id):
    return [a.type for a in crm.activities.timeline(SYSTEM, contact_id)]


def test_a_message_reaches_the_server_with_message_id_and_unsubscribe_headers(crm, sink):
    ann = contact(crm)
    [result] = service(crm).deliver([message(ann, unsubscribe_url="https://crm.test/u/1/sig")])
    assert result["status"] == "sent" and result["new"]
    [got] = sink.to("ann@example.com")
    msg = got["msg"]
    assert msg["Message-ID"] == result["message_id"]
    assert msg["Message-ID"].endswith("@cultiveat.test>")
    assert msg["List-Unsubscribe"] == "<https://crm.test/u/1/sig>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Subject"] == "Hello"
    assert got["from"] == "crm@cultiveat.test"
    assert msg.get_body(("html",)).get_content().strip() == "<p>Hi there</p>"
    sent = crm.activities.timeline(SYSTEM, ann.id, types=["email_sent"])
    assert sent[0].data["message_id"] == result["message_id"]
    assert sent[0].data["campaign_id"] == 1


def test_451_then_250_is_retried_and_delivered_once(crm, sink):
    ann = contact(crm)
    sink.rcpt_script["ann@example.com"] = ["451 4.7.1 greylisted, try later"]
    [result] = service(crm).deliver([message(ann)])
    assert result["status"] == "sent"
    assert sink.rcpt_attempts["ann@example.com"] == 2
    assert len(sink.to("ann@example.com")) == 1
    with crm.connect() as conn:
        assert conn.execute(sa.select(messages.c.attempts)).scalar() == 1  # one claim, retried inside it


def test_persistent_451_defers_and_a_later_run_delivers_once(crm, sink):
    ann = contact(crm)
    sink.rcpt_script["ann@example.com"] = ["451 4.3.0 busy"] * 4
    [first] = service(crm).deliver([message(ann)])
    assert first["status"] == "deferred" and first["code"] == 451
    assert sink.to("ann@example.com") == []
    [second] = service(crm).deliver([message(ann)])
    assert second["status"] == "sent"
    assert second["message_id"] == first["message_id"]
    assert len(sink.to("ann@example.com")) == 1


def test_550_suppresses_the_address_and_is_not_retried(crm, sink):
    ann = contact(crm)
    sink.rcpt_script["ann@example.com"] = ["550 5.1.1 no such user"]
    [result] = service(crm).deliver([message(ann)])
    assert result["status"] == "failed" and result["code"] == 550
    assert sink.rcpt_attempts["ann@example.com"] == 1
    with crm.connect() as conn:
        assert conn.execute(sa.select(suppressions.c.reason)).scalar() == "bounce"
    assert "email_bounced" in activity_types(crm, ann.id)
    # a later campaign never reaches the server for this address
    [again] = service(crm).deliver([message(ann, key="campaign:2")])
    assert again["status"] == "suppressed"
    assert sink.rcpt_attempts["ann@example.com"] == 1


def test_the_same_batch_twice_sends_each_message_once(crm, sink):
    people = [contact(crm, f"p{i}@example.com") for i in range(5)]
    batch = [message(p) for p in people]
    first = service(crm).deliver(batch)
    second = service(crm).deliver(batch)
    assert [r["status"] for r in first] == ["sent"] * 5
    assert [r["status"] for r in second] == ["sent"] * 5
    assert not any(r["new"] for r in second)
    assert len(sink.messages) == 5
    assert len(crm.activities.timeline(SYSTEM, people[0].id, types=["email_sent"])) == 1


def _left_sending(crm, c, key, message_id, age_seconds, status="sending"):
    """What a SIGKILL during a chunk leaves: a claimed row whose claim is ``age_seconds`` old."""
    with crm.begin() as conn:
        conn.execute(
            messages.insert().values(
                send_key=key,
                contact_id=c.id,
                to_address=c.email,
                subject="Hello",
                message_id=message_id,
                status=status,
                attempts=1,
                meta={},
                updated_at=utcnow() - timedelta(seconds=age_seconds),
            )
        )


def test_a_row_left_sending_is_resent_with_the_same_message_id_after_its_lease(crm, sink):
    ann = contact(crm)
    # claimed 10 s ago: the lease (120 s) is running, another process may be sending it now
    _left_sending(crm, ann, "campaign:9", "<dead@cultiveat.test>", 10)
    [result] = service(crm).deliver([message(ann, key="campaign:9")])
    assert result["status"] == "in_progress" and not result["new"]
    assert sink.messages == []
    # the lease ran out: the process died; resent once, with the Message-ID chosen at first
    with crm.begin() as conn:
        conn.execute(messages.update().values(updated_at=utcnow() - timedelta(seconds=121)))
    [result] = service(crm).deliver([message(ann, key="campaign:9")])
    assert result["status"] == "sent" and result["message_id"] == "<dead@cultiveat.test>"
    [got] = sink.to(ann.email)
    assert got["msg"]["Message-ID"] == "<dead@cultiveat.test>"
    with crm.connect() as conn:
        assert conn.execute(sa.select(messages.c.attempts)).scalar() == 2
    [again] = service(crm).deliver([message(ann, key="campaign:9")])
    assert again["status"] == "sent" and not again["new"]
    assert len(sink.messages) == 1


def test_a_legacy_unknown_row_is_never_resent(crm, sink):
    ann = contact(crm)
    _left_sending(crm, ann, "campaign:8", "<old@cultiveat.test>", 3600, status="unknown")
    [result] = service(crm).deliver([message(ann, key="campaign:8")])
    assert result["status"] == "unknown"
    assert sink.messages == []


def test_a_slow_chunk_renews_its_claim_so_no_other_process_takes_it(make_crm, email_env, sink):
    """Throttled to 5/s with a 1.5 s lease: the 30 messages take ~5 s, the sender renews its
    claims every 0.5 s, and a second process delivering the same batch 2 s after the first
    outcomes were recorded (~3 s) sends none."""
    import cultiveat_email.plugin
    from cultiveat_email.delivery import EmailService

    env = {
        **email_env,
        "CULTIVEAT_EMAIL_RATE_LIMIT": "5",
        "CULTIVEAT_EMAIL_SEND_LEASE_SECONDS": "1.5",
        "CULTIVEAT_EMAIL_THROTTLE_REDIS_URL": "off",
    }
    crm = make_crm(plugins=[cultiveat_email.plugin], environ=env)
    people = [contact(crm, f"s{i}@example.com") for i in range(30)]
    batch = [message(p) for p in people]
    first: list = []
    runner = threading.Thread(target=lambda: first.extend(service(crm).deliver(batch)))
    runner.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the chunk is claimed and sending has begun
        with crm.connect() as conn:
            if conn.execute(sa.select(messages.c.id).where(messages.c.status == "sent")).first():
                break
        time.sleep(0.05)
    time.sleep(2.0)  # past the first lease: only renewal keeps the rows claimed
    other = EmailService(crm)  # another process: its own throttle and connection
    second = other.deliver(batch)
    runner.join(30)
    assert [r["status"] for r in first] == ["sent"] * 30
    assert {r["status"] for r in second} <= {"sent", "in_progress"}
    assert not any(r["new"] for r in second)
    assert "in_progress" in {r["status"] for r in second}  # it came while the chunk was sending
    assert sorted(m["to"][0] for m in sink.messages) == sorted(p.email for p in people)


@pytest.mark.parametrize(
    "field,value",
    [
        ("subject", "Hi\r\nBcc: victim@example.com"),
        ("subject", "Hi\nX-Injected: 1"),
        ("to", "ann@example.com\r\nBcc: victim@example.com"),
    ],
)
def test_header_injection_is_rejected(crm, sink, field, value):
    ann = contact(crm)
    good = contact(crm, "bo@example.com")
    bad = {**message(ann), field: value}
    results = service(crm).deliver([bad, message(good)])
    assert results[0]["status"] == "failed"
    assert "line breaks" in results[0]["error"] or "not a valid" in results[0]["error"]
    assert results[1]["status"] == "sent"
    assert [m["to"] for m in sink.messages] == [["bo@example.com"]]
    with pytest.raises(ValidationError, match="line breaks"):
        compose.check_header("subject", "a\rb")


def test_extra_headers_are_checked_too(crm, sink):
    ann = contact(crm)
    [result] = service(crm).deliver([message(ann, headers={"X-Campaign": "1\r\nBcc: x@example.com"})])
    assert result["status"] == "failed"
    assert sink.messages == []


def test_overall_throttle_spaces_the_sends(make_crm, email_env, sink):
    import cultiveat_email.plugin

    crm = make_crm(plugins=[cultiveat_email.plugin], environ={**email_env, "CULTIVEAT_EMAIL_RATE_LIMIT": "20"})
    people = [contact(crm, f"t{i}@example.com") for i in range(30)]
    started = time.monotonic()
    service(crm).deliver([message(p) for p in people])
    # 20/s with a burst of 20: the last 10 wait ~0.5 s
    assert time.monotonic() - started >= 0.4
    assert len(sink.messages) == 30


def test_per_domain_throttle_limits_one_domain_only(make_crm, email_env, sink):
    import cultiveat_email.plugin

    crm = make_crm(
        plugins=[cultiveat_email.plugin],
        environ={**email_env, "CULTIVEAT_EMAIL_DOMAIN_RATE_LIMIT": "5"},
    )
    throttle = service(crm).throttle
    waited = sum(throttle.acquire("slow.example") for _ in range(8))
    assert waited >= 0.4
    assert throttle.acquire("other.example") == 0


def test_smtp_url_parsing():
    cfg = parse_smtp_url("smtp://user%40x:p%3Ass@mail.example.com:587?starttls=1")
    assert (cfg.host, cfg.port, cfg.username, cfg.password, cfg.starttls, cfg.ssl) == (
        "mail.example.com",
        587,
        "user@x",
        "p:ss",
        True,
        False,
    )
    assert parse_smtp_url("smtps://mail.example.com").port == 465
    with pytest.raises(Exception, match="smtp://"):
        parse_smtp_url("http://mail.example.com")


def test_connection_refused_defers(make_crm, email_env):
    import cultiveat_email.plugin

    from .conftest import free_port

    crm = make_crm(
        plugins=[cultiveat_email.plugin],
        environ={
            **email_env,
            "CULTIVEAT_EMAIL_SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
            "CULTIVEAT_EMAIL_RETRY_ATTEMPTS": "1",
        },
    )
    ann = contact(crm)
    [result] = service(crm).deliver([message(ann)])
    assert result["status"] == "deferred"
    assert "connection" in result["error"]


def test_no_sender_configured_says_how_to_fix(make_crm, sink):
    import cultiveat_email.plugin

    crm = make_crm(plugins=[cultiveat_email.plugin], environ={"CULTIVEAT_EMAIL_SMTP_URL": sink.url})
    ann = contact(crm)
    with pytest.raises(ValidationError, match="CULTIVEAT_EMAIL_FROM"):
        service(crm).deliver([message(ann)])


@pytest.mark.redis
def test_throttles_are_shared_across_processes_through_redis(redis_url):
    """Two throttles on one Redis (two worker processes) share one budget: 20 sends at 10/s
    with a burst of 10 wait about a second; two per-process buckets would not wait at all."""
    import uuid

    import redis

    namespace = f"test-{uuid.uuid4().hex}"
    first, second = (Throttle(10, 4, redis_url, namespace) for _ in range(2))
    assert first.shared and second.shared
    try:
        started = time.monotonic()
        waited = sum(t.acquire(f"d{i % 5}.example") for i, t in enumerate([first, second] * 10))
        assert waited >= 0.8 and time.monotonic() - started >= 0.8
        # one domain (4/s, burst 4) from both: the 5th to 8th sends wait ~0.25 s each
        waited = sum(t.acquire("busy.example") for t in [first, second] * 4)
        assert waited >= 0.7
        alone = [Throttle(10, 0) for _ in range(2)]
        assert not alone[0].shared
        assert sum(t.acquire("x.example") for t in alone * 10) == 0
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{namespace}:*"))
        if keys:
            client.delete(*keys)


def test_an_unreachable_redis_falls_back_to_per_process_buckets(make_crm, email_env, sink):
    import cultiveat_email.plugin

    from .conftest import free_port

    crm = make_crm(
        plugins=[cultiveat_email.plugin],
        environ={
            **email_env,
            "CULTIVEAT_EMAIL_RATE_LIMIT": "20",
            "CULTIVEAT_EMAIL_THROTTLE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        },
    )
    throttle = service(crm).throttle
    assert throttle.shared
    waited = sum(throttle.acquire("x.example") for _ in range(25))
    assert waited >= 0.15  # still limited (20/s, burst 20), per process
    people = [contact(crm, f"r{i}@example.com") for i in range(3)]
    assert [r["status"] for r in service(crm).deliver([message(p) for p in people])] == ["sent"] * 3


@pytest.mark.parametrize("html", [None, "<p>Grüße, Zoë</p>\n<p>line two</p>"])
def test_the_direct_mime_writer_reads_back_like_email_message(html):
    """``compose.build_bytes`` (the sending path) and ``compose.build`` (EmailMessage) give the
    same message to a parser: headers (RFC 2047 for non-ASCII), parts and bodies."""
    from email import message_from_bytes
    from email.policy import default

    args = {
        "sender": "Café Crème <crm@cultiveat.test>",
        "to": "ann@example.com",
        "subject": "Grüße, Ann: " + "a long subject line " * 6,
        "text": "Hi Ann,\n.a line starting with a dot\nünïcödé = equals\n",
        "html": html,
        "message_id": "<x1@cultiveat.test>",
        "unsubscribe_url": "https://crm.test/t/c1.abc/u",
        "headers": {"X-Campaign": "12", "X-Note": "naïve"},
    }
    fast = message_from_bytes(compose.build_bytes(**args), policy=default)
    slow = message_from_bytes(compose.build(**args).as_bytes(), policy=default)
    for name in (
        "From",
        "To",
        "Subject",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "X-Campaign",
        "X-Note",
    ):
        assert str(fast[name]) == str(slow[name]), name
    assert fast.get_content_type() == slow.get_content_type()
    for kind in ("plain", "html") if html else ("plain",):
        got = fast.get_body((kind,)).get_content().replace("\r\n", "\n")
        want = slow.get_body((kind,)).get_content().replace("\r\n", "\n")
        assert got.rstrip("\n") == want.rstrip("\n"), kind
    assert all(len(line) <= 998 for line in compose.build_bytes(**args).split(b"\r\n"))
    with pytest.raises(ValidationError, match="line breaks"):
        compose.build_bytes(**{**args, "headers": {"X-Bad": "a\r\nBcc: x@example.com"}})


# -- PIPELINING and the kept connection ------------------------------------------------------


@pytest.fixture
def pipelining_sink():
    yield from running_sink(pipelining=True)


def piped_env(url):
    return {
        "CULTIVEAT_EMAIL_SMTP_URL": url,
        "CULTIVEAT_EMAIL_FROM": "Cultiveat <crm@cultiveat.test>",
        "CULTIVEAT_EMAIL_RETRY_BACKOFF_SECONDS": "0.01",
    }


@pytest.fixture
def piped(make_crm, pipelining_sink):
    import cultiveat_email.plugin

    return make_crm(plugins=[cultiveat_email.plugin], environ=piped_env(pipelining_sink.url))


def test_pipelined_envelope_goes_in_one_write_and_the_content_is_dot_stuffed(
    piped, pipelining_sink
):
    people = [contact(piped, f"p{i}@example.com") for i in range(3)]
    text = "Hi there\n.a line starting with a dot\n.\nend"
    results = service(piped).deliver([message(p, text=text) for p in people])
    assert [r["status"] for r in results] == ["sent"] * 3
    assert pipelining_sink.pipelined == [True, True, True]
    assert pipelining_sink.connections == 1
    for person, result in zip(people, results, strict=True):
        [got] = pipelining_sink.to(person.email)
        assert got["msg"]["Message-ID"] == result["message_id"]
        body = got["msg"].get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert ".a line starting with a dot\n.\nend" in body


def test_pipelining_off_in_the_url_sends_one_command_at_a_time(make_crm, pipelining_sink):
    import cultiveat_email.plugin

    crm = make_crm(
        plugins=[cultiveat_email.plugin], environ=piped_env(pipelining_sink.url + "?pipelining=0")
    )
    [result] = service(crm).deliver([message(contact(crm))])
    assert result["status"] == "sent"
    assert pipelining_sink.pipelined == [False]


def test_pipelined_451_then_550_then_a_good_one_on_the_same_connection(piped, pipelining_sink):
    """A refused RCPT makes the server refuse the pipelined DATA too; the client resets the
    transaction and the next message on the same connection goes through."""
    grey, gone, fine = (contact(piped, f"{n}@example.com") for n in ("grey", "gone", "fine"))
    pipelining_sink.rcpt_script["grey@example.com"] = ["451 4.7.1 greylisted, try later"]
    pipelining_sink.rcpt_script["gone@example.com"] = ["550 5.1.1 no such user"]
    results = service(piped).deliver([message(grey), message(gone), message(fine)])
    assert [(r["status"], r["code"]) for r in results] == [("sent", 250), ("failed", 550), ("sent", 250)]
    assert pipelining_sink.rcpt_attempts == {
        "grey@example.com": 2, "gone@example.com": 1, "fine@example.com": 1
    }
    assert len(pipelining_sink.to("grey@example.com")) == 1
    assert pipelining_sink.to("gone@example.com") == []
    assert len(pipelining_sink.to("fine@example.com")) == 1
    assert pipelining_sink.connections == 1  # RSET, not a new connection
    with piped.connect() as conn:
        assert conn.execute(sa.select(suppressions.c.address)).scalars().all() == ["gone@example.com"]
    assert "email_bounced" in activity_types(piped, gone.id)


def test_pipelined_451_and_550_after_the_content(piped, pipelining_sink):
    """The reply to the content itself: 451 is retried (same Message-ID), 550 fails and
    suppresses."""
    ann, bob = contact(piped, "ann@example.com"), contact(piped, "bob@example.com")
    pipelining_sink.data_script = ["451 4.3.0 queue full", "550 5.7.1 content rejected"]
    results = service(piped).deliver([message(ann), message(bob)])
    assert [(r["status"], r["code"]) for r in results] == [("failed", 550), ("sent", 250)]
    # ann: 451 then 550 (both replies to her content); bob: delivered
    assert pipelining_sink.to("ann@example.com") == []
    assert len(pipelining_sink.to("bob@example.com")) == 1
    with piped.connect() as conn:
        assert conn.execute(sa.select(suppressions.c.address)).scalars().all() == ["ann@example.com"]


def test_the_smtp_connection_is_kept_across_chunks_and_renewed_after_idling(
    piped, pipelining_sink, monkeypatch
):
    from cultiveat_email import delivery

    for i in range(3):
        [r] = service(piped).deliver([message(contact(piped, f"k{i}@example.com"))])
        assert r["status"] == "sent"
    assert pipelining_sink.connections == 1
    monkeypatch.setattr(delivery, "SMTP_IDLE_SECONDS", 0.0)
    [r] = service(piped).deliver([message(contact(piped, "late@example.com"))])
    assert r["status"] == "sent"
    assert pipelining_sink.connections == 2


def test_a_connection_the_server_dropped_is_reopened(piped, pipelining_sink):
    """A kept connection the server closed meanwhile (its idle timeout): the send fails with a
    connection error, is retried on a new connection, delivered once."""
    [r] = service(piped).deliver([message(contact(piped, "a@example.com"))])
    smtp = service(piped)._local.smtp
    smtp._conn.sock.close()  # as if the server had gone away
    [r] = service(piped).deliver([message(contact(piped, "b@example.com"))])
    assert r["status"] == "sent"
    assert len(pipelining_sink.to("b@example.com")) == 1
