"""`SlurmRestClient`: the SLURM client doing its accounting through slurmrestd (REST mode).

Accounts, associations, limits, QoS, default accounts and jobs go through slurmrestd's OpenAPI
(`/slurmdb/<version>/...`, `/slurm/<version>/...`) with JWT authentication; usage is still
read with sacct (slurmrestd has no equivalent of its time-window clipping), and a raw usage
reset still runs `sacctmgr` (there is no REST call for it), both as upstream does. Any other
`sacctmgr` call in this mode is a programming error and raises instead of running quietly.

Versions: the server lists the data parser versions it offers (`GET /openapi/v3`); this client
speaks those from v0.0.40 on (Slurm 23.11 and later). Slurm 22.05's v0.0.36-v0.0.38 cannot
serve the plugin (a new account's parent is ignored, so it lands at the top of the tree, and
changes to an account's association are dropped or crash slurmrestd), and 23.02's v0.0.39 has
no call that creates an account with its association; they are refused with that reason.

slurmrestd replaces the whole TRES list of a limit it is sent, and clears the TRES limits an
association update leaves out, so every update reads the association (its own values, without
what it inherits) and writes it back whole with the change applied. Names are checked by
`backends.slurm.naming` before any request is built, and quoted into paths and queries.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import requests
import urllib3
from requests.adapters import HTTPAdapter

from waldur_site_agent_actors.backends.exceptions import BackendError, ConfigurationError
from waldur_site_agent_actors.backends.slurm import naming
from waldur_site_agent_actors.backends.slurm.client import (
    USER_LIMIT_TYPE,
    AssocRow,
    ComponentMap,
    SlurmClient,
)
from waldur_site_agent_actors.backends.slurm.settings import LIMIT_TYPES, RestApi
from waldur_site_agent_actors.backends.structures import ClientResource

log = logging.getLogger("backends.slurm")

OLDEST = (0, 0, 40)
"""The first data parser version this client speaks (Slurm 23.11)."""
VERSION = re.compile(r"^/slurm(?:db)?/(v(\d+)\.(\d+)\.(\d+))/")
FAIRSHARE_PARENT = 0x7FFFFFFF
"""`shares_raw` of an association whose fairshare is `parent`."""
ACTIVE_JOB_STATES = frozenset(
    {"PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "REQUEUED", "RESIZING"}
)
NOT_MODIFIED = 304
UNAUTHORIZED = 401
OWN_VALUES = {"Exclude limits from parents": "true"}
"""Query flag: association rows without the limits they inherit (what `sacctmgr show` lists)."""

# Where each limit type lives in an association record, and its key in an add template.
LIMIT_PATHS: dict[str, tuple[str, ...]] = {
    "GrpTRESMins": ("max", "tres", "group", "minutes"),
    "MaxTRESMins": ("max", "tres", "minutes", "per", "job"),
    "GrpTRES": ("max", "tres", "total"),
}
Change = Callable[[dict[str, Any]], dict[str, Any]]
"""What to write into an association record, from the record as it is."""
TEMPLATE_KEYS = {
    "GrpTRESMins": "grptresmins",
    "MaxTRESMins": "maxtresminsperjob",
    "GrpTRES": "grptres",
}


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version[1:].split("."))


def pick_version(offered: Sequence[str], pinned: str | None) -> str:
    """The data parser version to speak, or `ConfigurationError` saying why there is none."""
    spoken = sorted((v for v in offered if version_key(v) >= OLDEST), key=version_key)
    listed = ", ".join(sorted(offered, key=version_key)) or "none"
    if pinned:
        if pinned not in offered:
            raise ConfigurationError(
                f"rest_api.api_version {pinned} is not offered by this slurmrestd "
                f"(it offers {listed})"
            )
        if pinned not in spoken:
            raise ConfigurationError(f"rest_api.api_version {pinned}: {_too_old(pinned)}")
        return pinned
    if not spoken:
        raise ConfigurationError(
            f"this slurmrestd offers {listed}; this agent speaks v0.0.40 and later "
            f"(Slurm 23.11+): {_too_old(max(offered, key=version_key)) if offered else ''}"
        )
    return spoken[-1]


def _too_old(version: str) -> str:
    if version_key(version) <= (0, 0, 38):
        return (
            "Slurm 22.05's data parsers (v0.0.36-v0.0.38) ignore a new account's parent and "
            "cannot change an account's association, so the plugin cannot work through them; "
            "use execution_mode: cli with this Slurm"
        )
    return f"{version} has no call creating an account with its association (v0.0.40 and later)"


class SlurmRestClient(SlurmClient):
    def __init__(
        self,
        rest: RestApi,
        bin_path: str,
        cluster: str,
        components: dict[str, ComponentMap],
        partition: str | None = None,
        preferred_default: str = "",
    ) -> None:
        super().__init__(bin_path, cluster, components, partition, preferred_default)
        self.rest = rest
        self.cluster_name = cluster
        self.session = requests.Session()
        self.session.verify = rest.verify_ssl
        if rest.url.startswith("unix://"):
            self.session.mount("http://slurmrestd/", UnixSocketAdapter(rest.url[len("unix://") :]))
            self.base_url = "http://slurmrestd"
        else:
            self.base_url = rest.url.rstrip("/")
        self._token: str | None = None
        self._version: str | None = None
        self.offered: list[str] = []

    # -- transport ------------------------------------------------------------------------------

    def _read_token(self) -> str:
        if self.rest.token_file:
            try:
                with open(self.rest.token_file, encoding="utf-8") as handle:
                    token = handle.read().strip()
            except OSError as exc:
                raise BackendError(
                    f"cannot read rest_api.token_file {self.rest.token_file}: {exc.strerror}"
                ) from exc
        else:
            token = os.environ.get(self.rest.token_env or "", "").strip()
        token = token.removeprefix("SLURM_JWT=")
        if not token:
            where = self.rest.token_file or f"${self.rest.token_env}"
            raise BackendError(f"no slurmrestd token in {where}")
        return token

    def _send(self, method: str, path: str, query: dict[str, str], body: Any) -> requests.Response:
        if self._token is None:
            self._token = self._read_token()
        response = self._call(method, path, query, body)
        if self.rest.token_file and _refused_token(response):
            # The token may have been rotated (a cron job running `scontrol token`): read it
            # again and retry once when it changed.
            current = self._token
            self._token = self._read_token()
            if self._token != current:
                response = self._call(method, path, query, body)
        return response

    def _call(self, method: str, path: str, query: dict[str, str], body: Any) -> requests.Response:
        headers = {"X-SLURM-USER-NAME": self.rest.username, "X-SLURM-USER-TOKEN": self._token or ""}
        try:
            return self.session.request(
                method,
                self.base_url + path,
                params=query,
                json=body,
                headers=headers,
                timeout=self.rest.timeout,
            )
        except requests.RequestException as exc:
            raise BackendError(f"slurmrestd at {self.rest.url}: {exc}") from exc

    def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        """The answer's JSON; `BackendError` with slurmrestd's own words when it failed.

        304 (nothing to add or remove) answers `{"not_modified": True}`.
        """
        shown = f"{method} {path}"
        response = self._send(method, path, query or {}, body)
        if response.status_code == NOT_MODIFIED:
            return {"not_modified": True}
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        errors = [_describe(e) for e in payload.get("errors") or []]
        if errors or response.status_code >= 400:
            detail = "; ".join(errors) or response.text.strip()[:300] or "no details"
            raise BackendError(f"slurmrestd {shown}: HTTP {response.status_code}: {detail}")
        for warning in payload.get("warnings") or []:
            log.debug("slurmrestd %s: %s", shown, _describe(warning))
        return payload

    @property
    def version_in_use(self) -> str:
        """The data parser version this client speaks, found once from the server's list."""
        if self._version is None:
            spec = self.request("GET", "/openapi/v3")
            self.offered = sorted(
                {m.group(1) for p in spec.get("paths") or {} if (m := VERSION.match(p))},
                key=version_key,
            )
            self._version = pick_version(self.offered, self.rest.api_version)
        return self._version

    def _db(self, path: str) -> str:
        return f"/slurmdb/{self.version_in_use}/{path}"

    def _ctld(self, path: str) -> str:
        return f"/slurm/{self.version_in_use}/{path}"

    # -- no sacctmgr in this mode ---------------------------------------------------------------

    def sacctmgr(self, *args: str, write: bool = False) -> str:
        raise BackendError(
            f"sacctmgr {' '.join(args[:2])} has no slurmrestd implementation (execution_mode rest)"
        )

    def modify_account(self, account: str, *settings: str) -> str:
        raise BackendError(
            f"sacctmgr modify account set {' '.join(settings)} has no slurmrestd implementation"
        )

    # -- cluster --------------------------------------------------------------------------------

    def version(self) -> str:
        answer = self.request("GET", self._ctld("ping/"))
        release = (answer.get("meta") or {}).get("slurm", {}).get("release", "unknown")
        return (
            f"slurmrestd {self.version_in_use} (offers {', '.join(self.offered)}), Slurm {release}"
        )

    def clusters(self) -> list[str]:
        answer = self.request("GET", self._db("clusters/"))
        return [c.get("name", "") for c in answer.get("clusters") or []]

    def cluster_tres(self) -> set[str]:
        if self._cluster_tres is None:
            answer = self.request("GET", self._db("tres/"))
            self._cluster_tres = {_tres_key(t) for t in answer.get("TRES") or []}
        return self._cluster_tres

    def qos_names(self) -> set[str]:
        return {q.get("name", "") for q in self.request("GET", self._db("qos/")).get("qos") or []}

    # -- accounts -------------------------------------------------------------------------------

    def list_resources(self) -> list[ClientResource]:
        return [
            _account(a) for a in self.request("GET", self._db("accounts/")).get("accounts") or []
        ]

    def get_resource(self, resource_id: str) -> ClientResource | None:
        name = naming.account(resource_id)
        found = self.request("GET", self._db(f"account/{quote(name)}")).get("accounts") or []
        return _account(found[0]) if found else None

    def create_resource(
        self,
        name: str,
        description: str,
        organization: str,
        parent_name: str | None = None,
        limits: dict[str, int] | None = None,
    ) -> str:
        """The account with its association, under its parent and with its limits: one call."""
        account = naming.account(name)
        template: dict[str, Any] = {}
        if parent_name:
            template["parent"] = naming.account(parent_name)
        for kind, tres in self.by_limit_type(limits or {}).items():
            template[TEMPLATE_KEYS[kind]] = _tres_list(tres)
        condition: dict[str, Any] = {"accounts": [account], "clusters": [self.cluster_name]}
        if template:
            condition["association"] = template
        self.request(
            "POST",
            self._db("accounts_association/"),
            body={
                "association_condition": condition,
                "account": {
                    "description": naming.description(description) or account,
                    "organization": naming.description(organization) or account,
                },
            },
        )
        return name

    def set_parent(self, name: str, parent: str) -> None:
        parent = naming.account(parent)
        self._update(naming.account(name), "", lambda _: {"parent_account": parent})

    def delete_resource(self, name: str) -> str:
        self.request("DELETE", self._db(f"account/{quote(naming.account(name))}"))
        return name

    def _records(
        self,
        account: str | Sequence[str] | None = None,
        user: str | None = None,
        inherited: bool = False,
        **query: str,
    ) -> list[dict[str, Any]]:
        """Association records; their own values only, unless `inherited`."""
        names = [account] if isinstance(account, str) else list(account or [])
        params = {"cluster": self.cluster_name, **({} if inherited else OWN_VALUES), **query}
        if names:
            params["account"] = ",".join(naming.account(a) for a in names)
        if user:
            params["user"] = naming.user(user)
        return self.request("GET", self._db("associations/"), params).get("associations") or []

    def associations(
        self, account: str | Sequence[str] | None = None, user: str | None = None
    ) -> list[AssocRow]:
        """Rows as `sacctmgr show association` lists them: each association's own limits and
        parent, and the QoS it has in effect (inherited ones included), so two reads."""
        effective = {_identity(r): r for r in self._records(account, user, inherited=True)}
        rows = []
        for record in self._records(account, user):
            qos_of = effective.get(_identity(record), record)
            record["qos"], record["default"] = qos_of.get("qos"), qos_of.get("default")
            rows.append(_row(record))
        return rows

    def children(self, account: str) -> list[str]:
        rows = self._records(parent_account=naming.account(account))
        return sorted({r["account"].lower() for r in rows if not r.get("user")})

    def _update(self, account: str, user: str, change: Change) -> str:
        """Read the association(s) of `account` (and `user`: one per partition), apply what
        `change` gives for each (dotted paths), write them back whole; returns what it did."""
        records = [r for r in self._records(account, user or None) if (r.get("user") or "") == user]
        if not records:
            who = f"user {user} in account {account}" if user else f"account {account}"
            raise BackendError(f"no association of {who}")
        done = []
        for record in records:
            fields = change(record)
            for path, value in fields.items():
                _put(record, path.split("."), value)
            done.append(", ".join(f"{k}={_shown(v)}" for k, v in fields.items()))
        path = self._db("associations/")
        self.request("POST", path, body={"associations": records})
        who = f"{account} user={user}" if user else account
        return f"POST {path} {who}: {'; '.join(sorted(set(done)))}"

    # -- limits ---------------------------------------------------------------------------------

    def _set_tres(self, account: str, user: str, by_type: dict[str, dict[str, int]]) -> str:
        """These TRES limits on the association, its other TRES limits kept (as sacctmgr)."""

        def change(record: dict[str, Any]) -> dict[str, Any]:
            fields = {}
            for kind, tres in by_type.items():
                path = LIMIT_PATHS[kind]
                current = {_tres_key(t): t["count"] for t in _dig(record, path) or []}
                fields[".".join(path)] = _tres_list({**current, **tres})
            return fields

        return self._update(account, user, change)

    def set_resource_limits(self, resource_id: str, limits_dict: dict[str, int]) -> str | None:
        account = naming.account(resource_id)
        by_type = self.by_limit_type(limits_dict)
        if by_type:
            self._set_tres(account, "", by_type)
        return resource_id

    def set_resource_user_limits(
        self, resource_id: str, username: str, limits_dict: dict[str, int]
    ) -> str:
        """The user's MaxTRESMins: the given components' TRES, every other TRES cleared (a
        limit Waldur no longer holds goes away), as in CLI mode."""
        user, account = naming.user(username), naming.account(resource_id)
        wanted = {
            self.components[c].tres: int(v) for c, v in limits_dict.items() if c in self.components
        }
        path = ".".join(LIMIT_PATHS[USER_LIMIT_TYPE])
        self._update(account, user, lambda _: {path: _tres_list(wanted)})
        return username

    def set_fairshare(self, account: str, shares: int) -> str:
        return self._update(naming.account(account), "", lambda _: {"shares_raw": int(shares)})

    def set_tres_limit(self, account: str, limit_type: str, tres: dict[str, int]) -> str:
        return self._set_tres(naming.account(account), "", {limit_type: tres})

    def reset_raw_usage(self, account: str) -> str:
        # slurmrestd cannot reset raw usage: sacctmgr does it, as upstream's REST mode.
        return SlurmClient.modify_account(self, account, "RawUsage=0")

    # -- users ----------------------------------------------------------------------------------

    def add_association(
        self,
        username: str,
        resource_id: str,
        default_account: str | None = None,
        partitions: Sequence[str] = (),
        qos: str | None = None,
    ) -> bool:
        """False when the association already existed (slurmrestd: 304). One association per
        partition (the given ones, else the default partition), `qos` its only QoS and default,
        fairshare the parent's: as in CLI mode."""
        chosen = sorted(partitions) or ([self.partition] if self.partition else [])
        accounts = [naming.account(resource_id)]
        if default_account and naming.account(default_account) != accounts[0]:
            # sacctmgr gives the user an association with their default account too.
            accounts.append(naming.account(default_account))
        condition: dict[str, Any] = {
            "users": [naming.user(username)],
            "accounts": accounts,
            "clusters": [self.cluster_name],
        }
        if chosen:
            condition["partitions"] = [naming.qos(p, "partition") for p in chosen]
        template: dict[str, Any] = {"fairshare": FAIRSHARE_PARENT}
        if qos:
            template.update(qoslevel=[naming.qos(qos)], defaultqos=qos)
        condition["association"] = template
        user: dict[str, str] = {}
        if default_account:
            user["defaultaccount"] = naming.account(default_account)
        answer = self.request(
            "POST",
            self._db("users_association/"),
            body={"association_condition": condition, "user": user},
        )
        return not answer.get("not_modified")

    def delete_association(self, username: str, resource_id: str) -> str:
        user, account = naming.user(username), naming.account(resource_id)
        self.move_default_account(user, away_from=account)
        self.request(
            "DELETE",
            self._db("associations/"),
            {"account": account, "user": user, "cluster": self.cluster_name},
        )
        return username

    def default_account(self, user: str) -> str:
        """The account of the user's default association (`is_default`)."""
        rows = self._records(user=naming.user(user))
        return next((r["account"].lower() for r in rows if r.get("is_default")), "")

    def set_default_account(self, user: str, account: str) -> None:
        body = {
            "users": [{"name": naming.user(user), "default": {"account": naming.account(account)}}]
        }
        self.request("POST", self._db("users/"), body=body)

    def users_defaulting_to(self, account: str) -> list[str]:
        rows = self._records(naming.account(account))
        return sorted({r["user"].lower() for r in rows if r.get("user") and r.get("is_default")})

    # -- QoS ------------------------------------------------------------------------------------

    def set_qos(self, account: str, qos: str) -> None:
        name = naming.qos(qos)
        self._set_qos_lists(naming.account(account), lambda _: [name], name)

    def _set_qos_lists(
        self, account: str, qos_of: Callable[[list[str]], list[str]], default: str
    ) -> None:
        """The QoS of the account and of every user association in it, users first.

        sacctmgr changes the account's association and its users inherit it; slurmrestd pins
        a user association's QoS whenever it writes one (per-user limits), and then refuses
        an account default QoS such a user has no access to. So the users get it explicitly.
        """
        records = sorted(self._records(account), key=lambda r: not r.get("user"))
        own = next((r for r in records if not r.get("user")), None)
        if own is None:
            raise BackendError(f"no association of account {account}")
        current = [str(q) for q in own.get("qos") or []] or self._effective_qos(account)
        wanted = qos_of(current)
        for record in records:
            record["qos"], record["default"] = wanted, {"qos": naming.qos(default)}
        self.request("POST", self._db("associations/"), body={"associations": records})

    def _effective_qos(self, account: str) -> list[str]:
        rows = self._records(account, inherited=True)
        own = next((r for r in rows if not r.get("user")), {})
        return [str(q) for q in own.get("qos") or []]

    # -- jobs -----------------------------------------------------------------------------------

    def active_jobs(self, account: str, user: str | None = None) -> list[str]:
        """Pending and running jobs of the account (of one user of it, when given)."""
        name = naming.account(account)
        who = naming.user(user) if user else None
        jobs = self.request("GET", self._ctld("jobs/")).get("jobs") or []
        return [
            str(job["job_id"])
            for job in jobs
            if (job.get("account") or "").lower() == name
            and (who is None or (job.get("user_name") or "").lower() == who)
            and job.get("job_id") is not None
            and set(_states(job)) & ACTIVE_JOB_STATES
        ]

    def cancel_jobs(self, account: str, user: str | None = None) -> None:
        for job in self.active_jobs(account, user):
            self.request("DELETE", self._ctld(f"job/{job}"))

    def remove_users(self, account: str) -> None:
        """Every user association of the account (the account's own one stays)."""
        name = naming.account(account)
        users = sorted({r["user"] for r in self._records(name) if r.get("user")})
        if users:
            query = {"account": name, "user": ",".join(users), "cluster": self.cluster_name}
            self.request("DELETE", self._db("associations/"), query)

    def set_grp_submit_jobs(self, account: str, jobs: int) -> None:
        """`GrpSubmitJobs`; -1 clears it, as with sacctmgr."""
        value = {"set": jobs >= 0, "infinite": jobs < 0, "number": max(jobs, 0)}
        self._update(naming.account(account), "", lambda _: {"max.jobs.per.submitted": value})

    def grant_qos(self, account: str, names: Sequence[str], default: str) -> None:
        """`qos+=NAMES defaultqos=DEFAULT` on the account and its user associations."""
        self._set_qos_lists(
            naming.account(account),
            lambda current: [*current, *(n for n in names if n not in current)],
            default,
        )


class UnixSocketAdapter(HTTPAdapter):
    """`requests` over slurmrestd's Unix socket (`rest_api.url: unix:///path`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__()

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        return _UnixPool(self.path)

    def get_connection(self, url, proxies=None):
        return _UnixPool(self.path)


class _UnixConnection(urllib3.connection.HTTPConnection):
    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__("localhost", **kwargs)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if isinstance(self.timeout, int | float):
            sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class _UnixPool(urllib3.HTTPConnectionPool):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.socket_path = path

    def _new_conn(self) -> _UnixConnection:
        return _UnixConnection(self.socket_path, timeout=self.timeout.connect_timeout)


# -- records ------------------------------------------------------------------------------------


def _refused_token(response: requests.Response) -> bool:
    """slurmrestd answers a bad or expired token with 401, or with 502 when slurmdbd or
    slurmctld refused it."""
    return response.status_code == UNAUTHORIZED or (
        response.status_code >= 500 and "authentication" in response.text.lower()
    )


def _describe(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("description") or item.get("error") or item)
    return str(item)


def _tres_key(tres: dict[str, Any]) -> str:
    name = tres.get("name") or ""
    return f"{tres.get('type', '')}/{name}" if name else str(tres.get("type", ""))


def _tres_list(tres: dict[str, int]) -> list[dict[str, Any]]:
    result = []
    for key, count in sorted(tres.items()):
        kind, _, name = key.partition("/")
        result.append({"type": kind, "name": name, "count": int(count)})
    return result


def _dig(record: dict[str, Any], path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(record, dict):
            return None
        record = record.get(key)  # type: ignore[assignment]
    return record


def _put(record: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        record = record.setdefault(key, {})
    record[path[-1]] = value


def _shown(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return ",".join(f"{_tres_key(t)}={t['count']}" for t in value)
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _number(value: Any) -> int | None:
    """A plain number or slurmrestd's `{"set", "infinite", "number"}`; None when unset."""
    if isinstance(value, dict):
        return int(value["number"]) if value.get("set") and not value.get("infinite") else None
    return None if value is None else int(value)


def _row(record: dict[str, Any]) -> AssocRow:
    shares = _number(record.get("shares_raw"))
    limits: dict[str, dict[str, float]] = {
        kind: {_tres_key(t): float(t["count"]) for t in _dig(record, LIMIT_PATHS[kind]) or []}
        for kind in LIMIT_TYPES
    }
    submit = _number(_dig(record, ("max", "jobs", "per", "submitted")))
    return AssocRow(
        account=(record.get("account") or "").lower(),
        user=(record.get("user") or "").lower(),
        parent=(record.get("parent_account") or "").lower(),
        qos=",".join(record.get("qos") or []),
        default_qos=(record.get("default") or {}).get("qos") or "",
        fairshare="parent" if shares in (None, FAIRSHARE_PARENT) else str(shares),
        grp_submit="" if submit is None else str(submit),
        limits=limits,
    )


def _identity(record: dict[str, Any]) -> tuple[str, str, str]:
    return (record.get("account") or "", record.get("user") or "", record.get("partition") or "")


def _account(record: dict[str, Any]) -> ClientResource:
    name = (record.get("name") or "").lower()
    return ClientResource(
        name=name,
        description=record.get("description") or "",
        organization=record.get("organization") or "",
        backend_id=name,
    )


def _states(job: dict[str, Any]) -> list[str]:
    state = job.get("job_state")
    return [state] if isinstance(state, str) else list(state or [])
