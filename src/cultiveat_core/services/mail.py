"""System mail of the core (password reset links) through ``CULTIVEAT_MAIL_URL``.

``smtp://host:port`` (plain), ``smtp://host:587?starttls=1`` (STARTTLS) or ``smtps://host:465``
(TLS), with optional ``user:password@``. Without a URL the message is logged at WARNING on the
``cultiveat.mail`` logger instead (development, or a deployment that reads its logs).
Campaign and contact email is the email plugin's business, not this module's.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from cultiveat_core.errors import ConfigurationError

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

log = logging.getLogger("cultiveat.mail")
TIMEOUT_SECONDS = 20.0


def send_mail(crm: CRM, to: str, subject: str, body: str) -> None:
    settings = crm.settings
    if not settings.mail_url:
        log.warning("no CULTIVEAT_MAIL_URL: mail to %s not sent\nSubject: %s\n\n%s", to, subject, body)
        return
    url = urlsplit(settings.mail_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise ConfigurationError(
            "CULTIVEAT_MAIL_URL must look like smtp://host:25, smtp://host:587?starttls=1 "
            f"or smtps://host:465 (got scheme {url.scheme!r})"
        )
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    port = url.port or (465 if url.scheme == "smtps" else 25)
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if url.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(url.hostname, port, timeout=TIMEOUT_SECONDS, context=context)
    else:
        smtp = smtplib.SMTP(url.hostname, port, timeout=TIMEOUT_SECONDS)
    with smtp:
        if url.scheme == "smtp" and parse_qs(url.query).get("starttls") == ["1"]:
            smtp.starttls(context=context)
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)


def send_password_reset(crm: CRM, to: str, link: str, minutes: int) -> None:
    send_mail(
        crm,
        to,
        "Reset your Cultiveat password",
        "Someone (hopefully you) asked to reset the password of this Cultiveat account.\n\n"
        f"Open this link within {minutes} minutes to choose a new password (it works once):\n"
        f"{link}\n\n"
        "If you did not ask for it, ignore this message: your password stays as it is.\n"
        "The link does not sign you in; your second factor is still asked at the next login.\n",
    )
