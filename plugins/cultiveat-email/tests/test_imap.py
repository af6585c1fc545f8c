"""IMAP polling against a real IMAP server: Dovecot (Debian's ``dovecot-imapd``), started by
the test on a free port with a temporary configuration. Skipped locally when Dovecot is not
installed; a failure under ``CI=true`` (where ``.ci/run`` installs it)."""

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from cultiveat_email import imap
from cultiveat_email.tables import suppressions

from .conftest import free_port
from .test_inbound import DSN, SYSTEM, contact, sent_to

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
PASSWORD = "imap-secret"

CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{base}/home/%u/Maildir
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
"""


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("dovecot stopped: " + (log.read_text() if log.exists() else ""))
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("dovecot did not open its port in time")


@pytest.fixture
def imap_server():
    if not os.path.exists(DOVECOT):
        message = "dovecot is not installed (apt-get install dovecot-imapd)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("dovecot")  # mail is never accessed as root
        uid, gid = owner.pw_uid, owner.pw_gid
    else:
        uid, gid = os.getuid(), os.getgid()
    base = Path(tempfile.mkdtemp(prefix="cultiveat-dovecot-"))
    base.chmod(0o755)  # the login process runs as dovecot's unprivileged user
    (base / "home").mkdir()
    os.chown(base / "home", uid, gid)
    port = free_port()
    conf = base / "dovecot.conf"
    conf.write_text(CONFIG.format(base=base, password=PASSWORD, uid=uid, gid=gid, port=port))
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, proc, base / "dovecot.log")
        yield {"port": port, "url": f"imap://crm:{PASSWORD}@127.0.0.1:{port}/INBOX"}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)


def _append(port: int, raw: bytes) -> None:
    conn = imaplib.IMAP4("127.0.0.1", port)
    try:
        conn.login("crm", PASSWORD)
        typ, _ = conn.append("INBOX", None, None, raw)
        assert typ == "OK"
    finally:
        conn.logout()


def test_polling_imap_logs_replies_and_bounces_once(make_crm, email_env, sink, imap_server):
    import cultiveat_email.plugin

    crm = make_crm(
        plugins=[cultiveat_email.plugin],
        environ={**email_env, "CULTIVEAT_EMAIL_IMAP_URL": imap_server["url"]},
    )
    ann = contact(crm)
    bob = contact(crm, "bob@example.com")
    to_ann, to_bob = sent_to(crm, ann), sent_to(crm, bob)
    reply = (
        f"From: Ann Lee <ann@example.com>\r\nTo: crm@cultiveat.test\r\nSubject: Re: Offer\r\n"
        f"Message-ID: <imap-reply-1@example.com>\r\nIn-Reply-To: {to_ann['message_id']}\r\n\r\n"
        "Sounds good, send the details.\r\n"
    ).encode()
    bounce = DSN.format(to=bob.email, mid=to_bob["message_id"]).replace("\n", "\r\n").encode()
    _append(imap_server["port"], reply)
    _append(imap_server["port"], bounce)

    assert imap.poll(crm) == {"reply": 1, "bounce": 1}
    [replied] = crm.activities.timeline(SYSTEM, ann.id, types=["email_replied"])
    assert replied.data["in_reply_to"] == to_ann["message_id"]
    assert replied.data["campaign_id"] == 7
    [bounced] = crm.activities.timeline(SYSTEM, bob.id, types=["email_bounced"])
    assert bounced.data["status"] == "5.1.1"
    with crm.connect() as conn:
        assert conn.execute(sa.select(suppressions.c.address)).scalars().all() == [bob.email]
    # both are flagged seen: the next poll finds nothing new
    assert imap.poll(crm) == {}
    assert len(crm.activities.timeline(SYSTEM, ann.id, types=["email_replied"])) == 1


def test_wrong_imap_credentials_fail_clearly(make_crm, email_env, imap_server):
    import cultiveat_email.plugin

    bad = imap_server["url"].replace(PASSWORD, "wrong")
    crm = make_crm(
        plugins=[cultiveat_email.plugin],
        environ={**email_env, "CULTIVEAT_EMAIL_IMAP_URL": bad},
    )
    with pytest.raises(imaplib.IMAP4.error):
        imap.poll(crm)
