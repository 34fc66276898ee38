"""`backend_settings.ldap`: the directory upstream's LDAP plugin (`waldur-site-agent-ldap`) writes.

The same block serves two plugins, as upstream: the SLURM plugin keeps a posixGroup per
allocation in it, and the `ldap` username plugin creates POSIX users there. Key names and
defaults are upstream's, so an existing `ldap:` block loads unchanged. Declared here without
importing `ldap3`, so a config can be validated where the optional dependency is missing.
"""

from __future__ import annotations

import importlib.util
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

UsernameFormat = Literal[
    "first_initial_lastname",
    "first_letter_full_lastname",
    "firstname_dot_lastname",
    "firstname_lastname",
    "waldur_username",
]
Id = Annotated[int, Meta(ge=0)]
INSTALL_HINT = "pip install 'waldur-site-agent-actors[ldap]'"


class AccessGroup(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A group every user the `ldap` username plugin creates joins (VPN access, say)."""

    name: str
    attribute: Literal["memberUid", "member"] = "memberUid"
    """`memberUid` lists usernames, `member` lists the users' DNs."""


class WelcomeEmail(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Upstream's `welcome_email`: a message to each user the `ldap` username plugin creates
    (backends.ldap.welcome)."""

    smtp_host: str
    smtp_port: Annotated[int, Meta(ge=1, le=65535)] = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    use_tls: bool = True
    """STARTTLS on the plain connection (port 587); not used with `use_ssl`."""
    use_ssl: bool = False
    """TLS from the first byte (port 465)."""
    verify_ssl: bool = True
    """Check the server's certificate against the system's CAs (upstream never checks)."""
    timeout: Annotated[float, Meta(gt=0)] = 30
    from_address: str
    from_name: str | None = None
    subject: str = "Your new account has been created"
    """A Jinja2 template, given the same fields as the body."""
    template_path: str
    """The body's Jinja2 template: a file, relative to the agent's working directory."""

    def __post_init__(self) -> None:
        if bool(self.smtp_username) != bool(self.smtp_password):
            raise ValueError(
                "ldap.welcome_email: smtp_username and smtp_password go together (login needs both)"
            )
        if "@" not in self.from_address or any(c.isspace() for c in self.from_address):
            raise ValueError(
                f"ldap.welcome_email.from_address {self.from_address!r} is not an address"
            )
        if importlib.util.find_spec("jinja2") is None:
            raise ValueError(
                f"ldap.welcome_email needs the jinja2 package, which is not installed "
                f"({INSTALL_HINT})"
            )


class LdapSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    uri: str
    """`ldap://host[:port]` or `ldaps://host[:port]`."""
    bind_dn: str
    bind_password: str
    base_dn: str
    use_starttls: bool = False
    people_ou: str = "ou=People"
    groups_ou: str = "ou=Groups"
    uid_range_start: Id = 10000
    uid_range_end: Id = 65000
    gid_range_start: Id = 10000
    gid_range_end: Id = 65000
    default_login_shell: str = "/bin/bash"
    default_home_base: str = "/home"
    username_format: UsernameFormat = "first_initial_lastname"
    remove_user_on_deactivate: bool = False
    """Upstream's core never asks its plugin to deactivate anyone, so it has no effect there or
    here (config/keys.py: inert)."""
    generate_vpn_password: bool = False
    """A random `userPassword` on each user the username plugin creates."""
    waldur_username_attribute: str = ""
    """An attribute of the user entry (e.g. `employeeNumber`) that keeps the Waldur username."""
    access_groups: list[AccessGroup] | None = None
    welcome_email: WelcomeEmail | None = None
    """A message to each user the `ldap` username plugin creates."""
    user_object_classes: list[str] | None = None
    user_group_object_classes: list[str] | None = None
    project_group_object_classes: list[str] | None = None

    def __post_init__(self) -> None:
        if not self.uri.startswith(("ldap://", "ldaps://")):
            raise ValueError(f"ldap.uri {self.uri!r} must start with ldap:// or ldaps://")
        for key in ("bind_dn", "base_dn", "people_ou", "groups_ou"):
            if "=" not in getattr(self, key):
                raise ValueError(f"ldap.{key} {getattr(self, key)!r} is not a DN")
        for kind in ("uid", "gid"):
            start, end = getattr(self, f"{kind}_range_start"), getattr(self, f"{kind}_range_end")
            if start > end:
                raise ValueError(f"ldap.{kind}_range_start {start} is above {kind}_range_end {end}")
        if importlib.util.find_spec("ldap3") is None:
            raise ValueError(
                f"ldap needs the ldap3 package, which is not installed ({INSTALL_HINT})"
            )

    @property
    def people_dn(self) -> str:
        return f"{self.people_ou},{self.base_dn}"

    @property
    def groups_dn(self) -> str:
        return f"{self.groups_ou},{self.base_dn}"

    @property
    def user_classes(self) -> list[str]:
        return self.user_object_classes or [
            "inetOrgPerson",
            "organizationalPerson",
            "person",
            "posixAccount",
            "top",
        ]

    @property
    def personal_group_classes(self) -> list[str]:
        return self.user_group_object_classes or [
            "groupOfNames",
            "nsMemberOf",
            "organizationalUnit",
            "posixGroup",
            "top",
        ]

    @property
    def project_group_classes(self) -> list[str]:
        return self.project_group_object_classes or ["posixGroup", "top"]
