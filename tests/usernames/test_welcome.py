"""`ldap.welcome_email`: users the `ldap` username plugin creates in the real slapd
(`tests/services/ldap`) get upstream's welcome message, received by a real SMTP server this test
runs on loopback (aiosmtpd): plain, STARTTLS with a login, implicit TLS; a message that cannot be
sent leaves the user created; no secret of the site ever reaches the message or the log."""

from __future__ import annotations

import base64
import email
import email.policy
import importlib.util
import logging
import socket
import ssl
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.tls import self_signed
from waldur_site_agent_actors.backends.exceptions import ConfigurationError
from waldur_site_agent_actors.backends.ldap.settings import LdapSettings
from waldur_site_agent_actors.backends.ldap.usernames import LdapUsernameBackend
from waldur_site_agent_actors.backends.usernames import OfferingUserInfo

pytestmark = pytest.mark.ldap

SMTP_LOGIN, SMTP_PASSWORD = "mailer", "smtp-secret-value-8d1f"
TEMPLATE = """Dear {{ first_name }} {{ last_name }},

your account {{ username }} (uid {{ uid_number }}) is ready.
{% if vpn_password %}
VPN password: {{ vpn_password }}
{% endif %}
Home: {{ home_directory }}, shell: {{ login_shell }}, mail: {{ email }}.
{{ no_such_field }}
"""


class Sink:
    """An SMTP server's delivery step: keeps every message it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            SMTP_LOGIN.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            self.logins.append(SMTP_LOGIN)
        return AuthResult(success=ok)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def tls(tmp_path) -> ssl.SSLContext:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def smtp() -> Iterator[Any]:
    """Starts SMTP servers on loopback: `smtp(**controller options)` -> (sink, port)."""
    started: list[Controller] = []

    def start(**options: Any) -> tuple[Sink, int]:
        sink, port = Sink(), free_port()
        controller = Controller(
            sink, hostname="127.0.0.1", port=port, authenticator=sink.authenticate, **options
        )
        controller.start()
        started.append(controller)
        return sink, port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def directory(ldap):
    run = uuid.uuid4().hex[:6]
    with ldap.units(run) as ous:
        yield (
            run,
            ldap.settings(
                uid_range_start=7000,
                uid_range_end=7999,
                gid_range_start=8000,
                gid_range_end=8999,
                **ous,
            ),
        )


def plugin(directory_settings, template: Path, **mail: Any) -> LdapUsernameBackend:
    welcome = {
        "smtp_host": "127.0.0.1",
        "from_address": "hpc@example.org",
        "from_name": "HPC Team",
        "subject": "Welcome, {{ username }}",
        "template_path": str(template),
        **mail,
    }
    settings = {**directory_settings, "generate_vpn_password": True, "welcome_email": welcome}
    return LdapUsernameBackend({"ldap": settings})


def person(run: str, first: str, last: str, mail: bool = True) -> OfferingUserInfo:
    login = f"{first.lower().encode('ascii', 'ignore').decode()}-{run}"
    return OfferingUserInfo(
        uuid=uuid.uuid4().hex,
        user_first_name=first,
        user_last_name=f"{last}{run}",
        user_full_name=f"{first} {last}{run}",
        user_email=f"{login}@example.org" if mail else "",
        user_username=login,
    )


def secrets_absent(ldap, text: str) -> None:
    for secret in (ldap.password, SMTP_PASSWORD):
        assert secret not in text


def test_a_new_user_gets_the_welcome_email_and_no_secret_of_the_site(
    ldap, directory, smtp, tmp_path, caplog
):
    run, settings = directory
    sink, port = smtp()
    template = tmp_path / "welcome.txt"
    template.write_text(TEMPLATE)
    caplog.set_level(logging.DEBUG)
    users = plugin(settings, template, smtp_port=port, use_tls=False)

    name = users.generate_username(person(run, "Seán", "O'Brien"))
    entry = ldap.user(name, settings["people_ou"])
    (recipients, message), *more = sink.received
    assert more == []
    assert recipients == [f"sen-{run}@example.org"]
    assert message["To"] == f"sen-{run}@example.org"
    assert message["From"] == "HPC Team <hpc@example.org>"
    assert message["Subject"] == f"Welcome, {name}"
    assert message.get_content_type() == "text/plain"
    body = message.get_content().replace("\r\n", "\n")
    # Every field, as plain text (no HTML escaping of the apostrophe); unknown fields are empty.
    assert f"Dear Seán O'Brien{run},\n" in body
    assert f"your account {name} (uid {entry['uidNumber'][0]}) is ready." in body
    assert f"Home: /home/{name}, shell: /bin/bash, mail: sen-{run}@example.org." in body
    # The user's own generated VPN password is theirs to read (upstream's template field) ...
    vpn_password = body.split("VPN password: ", 1)[1].split("\n", 1)[0]
    stored = entry["userPassword"][0]  # ldapsearch prints it as is or in base64
    assert stored == vpn_password or base64.b64decode(stored).decode() == vpn_password
    # ... but no secret of the site is in the message, and no password in the log.
    secrets_absent(ldap, message.as_string())
    # (The test's SMTP server logs the whole conversation as `mail.log`: not the agent's log.)
    log = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    assert f"welcome email sent to sen-{run}@example.org" in log
    secrets_absent(ldap, log)
    assert vpn_password not in log

    # No address, no message; an existing user is found, not created, and gets none either.
    users.generate_username(person(run, "Nobody", "Else", mail=False))
    assert users.get_username(person(run, "Seán", "O'Brien")) == name
    assert len(sink.received) == 1


def test_welcome_email_over_starttls_with_login(ldap, directory, smtp, tls, tmp_path, caplog):
    run, settings = directory
    sink, port = smtp(tls_context=tls, require_starttls=True, auth_require_tls=True)
    template = tmp_path / "welcome.txt"
    template.write_text(TEMPLATE)
    mail = {"smtp_port": port, "smtp_username": SMTP_LOGIN, "smtp_password": SMTP_PASSWORD}

    # The certificate is checked by default: a self-signed one stops the message, not the user.
    checked = plugin(settings, template, **mail)
    first = checked.generate_username(person(run, "Ada", "Lovelace"))
    assert ldap.user(first, settings["people_ou"]) is not None
    assert sink.received == []
    refusal = next(r.getMessage() for r in caplog.records if "not sent" in r.getMessage())
    assert "certificate verify failed" in refusal and "user was created" in refusal
    secrets_absent(ldap, refusal)

    trusting = plugin(settings, template, verify_ssl=False, **mail)
    second = trusting.generate_username(person(run, "Grace", "Hopper"))
    assert sink.logins == [SMTP_LOGIN]
    ((recipients, message),) = sink.received
    assert recipients == [f"grace-{run}@example.org"]
    assert message["Subject"] == f"Welcome, {second}"
    secrets_absent(ldap, message.as_string())


def test_welcome_email_over_implicit_tls(ldap, directory, smtp, tls, tmp_path):
    run, settings = directory
    sink, port = smtp(ssl_context=tls)
    template = tmp_path / "welcome.html"
    template.write_text("<html><body><p>Hello {{ last_name }}: {{ username }}</p></body></html>")
    users = plugin(settings, template, smtp_port=port, use_ssl=True, verify_ssl=False)
    name = users.generate_username(person(run, "Seán", "O'Brien"))
    ((_, message),) = sink.received
    assert message.get_content_type() == "text/html"  # an HTML body is escaped as HTML
    assert f"<p>Hello O&#39;Brien{run}: {name}</p>" in message.get_content()


def test_a_server_that_cannot_be_reached_leaves_the_user_created(ldap, directory, tmp_path, caplog):
    run, settings = directory
    template = tmp_path / "welcome.txt"
    template.write_text(TEMPLATE)
    mail = {"smtp_username": SMTP_LOGIN, "smtp_password": SMTP_PASSWORD, "timeout": 5}
    users = plugin(settings, template, smtp_port=free_port(), **mail)
    name = users.generate_username(person(run, "Alan", "Turing"))
    assert ldap.user(name, settings["people_ou"]) is not None
    refusal = next(r.getMessage() for r in caplog.records if "not sent" in r.getMessage())
    assert "Connection refused" in refusal
    secrets_absent(ldap, refusal)


def test_welcome_email_settings_are_checked(ldap, directory, tmp_path, monkeypatch):
    _, settings = directory
    base = {"smtp_host": "mail", "from_address": "hpc@example.org", "template_path": "x"}

    def check(**mail: Any) -> None:
        msgspec.convert({**settings, "welcome_email": {**base, **mail}}, LdapSettings)

    with pytest.raises(msgspec.ValidationError, match="go together"):
        check(smtp_username=SMTP_LOGIN)
    with pytest.raises(msgspec.ValidationError, match="is not an address"):
        check(from_address="hpc")
    with pytest.raises(msgspec.ValidationError, match="smtp_hots"):
        check(smtp_hots="typo")
    with pytest.raises(ConfigurationError, match=r"No such file or directory: .*missing\.txt"):
        plugin(settings, tmp_path / "missing.txt")
    broken = tmp_path / "broken.txt"
    broken.write_text("{% if %}")
    with pytest.raises(ConfigurationError, match="not a valid template"):
        plugin(settings, broken)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "jinja2" else real(name, *a)
    )
    with pytest.raises(msgspec.ValidationError, match=r"needs the jinja2 package"):
        check()
