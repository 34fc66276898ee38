"""`ldap.welcome_email`: the message a user gets when the `ldap` username plugin creates them.

As upstream's LDAP plugin: the body is the operator's Jinja2 template (`template_path`, relative
to the working directory), the subject a Jinja2 string, both given the new entry's `username`,
`first_name`, `last_name`, `email`, `home_directory`, `login_shell`, `uid_number` and
`vpn_password` (the user's own generated password, "" without `generate_vpn_password`). A body
with `<html` or `<body` goes as HTML (autoescaped), any other as plain text. It is sent over
SMTP (`use_ssl`: TLS from the start; else `use_tls`: STARTTLS), logging in when both
`smtp_username` and `smtp_password` are set. A message that cannot be sent is logged and the user
stays created; no password ever reaches the log.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path
from typing import Any

from waldur_site_agent_actors.backends.exceptions import ConfigurationError
from waldur_site_agent_actors.backends.ldap.settings import INSTALL_HINT, WelcomeEmail

log = logging.getLogger("backends.ldap")

HTML_MARKERS = ("<html", "<body")


class WelcomeMail:
    def __init__(self, settings: WelcomeEmail) -> None:
        try:
            import jinja2
        except ImportError:
            raise ConfigurationError(
                f"ldap.welcome_email needs the jinja2 package ({INSTALL_HINT})"
            ) from None
        self.settings = settings
        self.template = Path(settings.template_path).absolute()
        loader = jinja2.FileSystemLoader(str(self.template.parent))
        options: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.ChainableUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
        }
        # Plain text is not HTML: escaping would print O'Brien as O&#39;Brien.
        self.text = jinja2.Environment(**options, autoescape=False)  # noqa: S701
        self.html = jinja2.Environment(**options, autoescape=True)
        try:
            self._body()
            self.text.from_string(settings.subject)
        except OSError as exc:
            raise ConfigurationError(
                f"ldap.welcome_email.template_path: {exc.strerror}: {self.template}"
            ) from None
        except jinja2.TemplateError as exc:
            raise ConfigurationError(f"ldap.welcome_email: not a valid template: {exc}") from None

    def _body(self) -> tuple[Any, bool]:
        """The body template, read now (edits need no restart), and whether it is HTML."""
        source = self.template.read_text()
        is_html = any(marker in source.lower() for marker in HTML_MARKERS)
        return (self.html if is_html else self.text).from_string(source), is_html

    def message(self, recipient: str, fields: dict[str, str]) -> EmailMessage:
        """The message for `recipient`."""
        s = self.settings
        template, is_html = self._body()
        body = template.render(**fields)
        message = EmailMessage()
        message["Subject"] = self.text.from_string(s.subject).render(**fields)
        message["From"] = formataddr((s.from_name or "", s.from_address))
        message["To"] = recipient
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=s.from_address.rpartition("@")[2] or None)
        message.set_content(body, subtype="html" if is_html else "plain")
        return message

    def send(self, recipient: str, fields: dict[str, str]) -> bool:
        """True when the SMTP server took the message; a failure is logged, never raised."""
        try:
            self._deliver(recipient, self.message(recipient, fields))
        except Exception as exc:  # any failure: the user is created all the same
            log.error(
                "welcome email to %s not sent (the user was created): %s",
                recipient,
                _reason(exc),
            )
            return False
        log.info("welcome email sent to %s", recipient)
        return True

    def _deliver(self, recipient: str, message: EmailMessage) -> None:
        s = self.settings
        context = ssl.create_default_context()
        if not s.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        smtp: smtplib.SMTP
        if s.use_ssl:
            smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout)
        with smtp:
            if s.use_tls and not s.use_ssl:
                smtp.starttls(context=context)
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password)
            smtp.send_message(message, from_addr=s.from_address, to_addrs=[recipient])


def _reason(exc: Exception) -> str:
    """What went wrong, without the server's own words (a refused login may quote it)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__} (SMTP {exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "the server refused the recipient"
    return str(exc) or type(exc).__name__
