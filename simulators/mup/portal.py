"""MUP's data and rules: users, projects, allocations, members and usage, validated like the portal.

MUP is a Django REST Framework application, so a refused request answers the way DRF serializers
do: HTTP 400 with `{"field": ["message"]}` (or `non_field_errors`), 404 with `{"detail": ...}`.
Every method runs under one lock; the HTTP layer calls them from many threads.
"""

from __future__ import annotations

import copy
import re
import threading
from datetime import date
from typing import Any

Obj = dict[str, Any]

RESEARCH_FIELDS = (
    "Natural Sciences",
    "Engineering and Technology",
    "Medical and Health Sciences",
    "Agricultural Sciences",
    "Social Sciences",
    "Humanities",
)
ALLOCATION_TYPES = ("Deucalion x86_64", "storage")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_USERNAME = re.compile(r"^[\w.@+-]+$")


class PortalError(Exception):
    """A refused request: the HTTP status and the JSON body MUP answers with."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


def invalid(errors: dict[str, str]) -> PortalError:
    return PortalError(400, {field: [message] for field, message in errors.items()})


NOT_FOUND = PortalError(404, {"detail": "Not found."})
_OWN_USER_FIELDS = ("id", "is_approved", "is_active", "user_ssh_keys")
"""What the portal keeps for itself; a registration request cannot set it."""


class Portal:
    def __init__(
        self,
        allocation_types: tuple[str, ...] = ALLOCATION_TYPES,
        auto_approve_users: bool = True,
    ) -> None:
        self.allocation_types = allocation_types
        self.auto_approve_users = auto_approve_users
        self.lock = threading.RLock()
        self.research_fields = [
            {"id": n, "name": name} for n, name in enumerate(RESEARCH_FIELDS, start=1)
        ]
        self.users: dict[int, Obj] = {}
        self.projects: dict[int, Obj] = {}
        self.allocations: dict[int, Obj] = {}
        self.members: dict[int, Obj] = {}
        self.usage: dict[int, dict[str, float]] = {}  # allocation id -> username -> amount
        self._ids = 0

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- users ----------------------------------------------------------------------------------

    def create_user(self, data: Obj) -> Obj:
        """A registration request; approved at once unless the portal is told to wait."""
        with self.lock:
            errors = _required(data, ("username", "email", "first_name", "last_name"))
            username, email = str(data.get("username", "")), str(data.get("email", ""))
            if "username" not in errors and not _USERNAME.match(username):
                errors["username"] = (
                    "Enter a valid username. This value may contain only letters, numbers, "
                    "and @/./+/-/_ characters."
                )
            elif any(u["username"] == username for u in self.users.values()):
                errors["username"] = "A user with that username already exists."
            if "email" not in errors and not _EMAIL.match(email):
                errors["email"] = "Enter a valid email address."
            elif self._user_by("email", email) is not None:
                errors["email"] = "user with this email already exists."
            fields = data.get("research_fields", [])
            if not isinstance(fields, list):
                errors["research_fields"] = (
                    f'Expected a list of items but got type "{type(fields).__name__}".'
                )
            else:
                unknown = [f for f in fields if not self._research_field(f)]
                if unknown:
                    errors["research_fields"] = (
                        f'Invalid pk "{unknown[0]}" - object does not exist.'
                    )
            if errors:
                raise invalid(errors)
            user = {
                **{k: v for k, v in data.items() if k not in _OWN_USER_FIELDS},
                "id": self._next_id(),
                "is_approved": self.auto_approve_users,
                "is_active": self.auto_approve_users,
                "user_ssh_keys": [],
            }
            self.users[user["id"]] = user
            return _view(user)

    def approve_user(self, email: str) -> None:
        with self.lock:
            user = self._user_by("email", email)
            if user is None:
                raise NOT_FOUND
            user["is_approved"] = user["is_active"] = True

    def user(self, field: str, value: str) -> Obj:
        with self.lock:
            user = self._user_by(field, value)
            if user is None:
                raise NOT_FOUND
            return _view(user)

    def user_by_id(self, user_id: int) -> Obj:
        with self.lock:
            user = self.users.get(user_id)
            if user is None:
                raise NOT_FOUND
            return _view(user)

    def set_myaccessid(self, user_id: int, data: Obj) -> Obj:
        """A user's MyAccessID (the CUID of their Waldur identity). MUP lists it among the
        user's `user_ssh_keys`, which is where clients look for it; the same one is kept once."""
        with self.lock:
            user = self.users.get(user_id)
            if user is None:
                raise NOT_FOUND
            errors = _required(data, ("myaccessid",))
            if not errors and not isinstance(data["myaccessid"], str):
                errors["myaccessid"] = "Not a valid string."
            if errors:
                raise invalid(errors)
            cuid = data["myaccessid"].strip()
            if not any(k["key"] == cuid for k in user["user_ssh_keys"]):
                user["user_ssh_keys"].append({"id": self._next_id(), "key": cuid})
            return _view(user)

    def _user_by(self, field: str, value: Any) -> Obj | None:
        wanted = str(value).lower() if field == "email" else value
        for user in self.users.values():
            have = str(user[field]).lower() if field == "email" else user[field]
            if have == wanted:
                return user
        return None

    def _research_field(self, pk: Any) -> bool:
        return any(f["id"] == pk for f in self.research_fields)

    # -- projects -------------------------------------------------------------------------------

    def create_project(self, data: Obj) -> Obj:
        with self.lock:
            errors = _required(
                data,
                (
                    "title",
                    "pi",
                    "science_field",
                    "start_date",
                    "end_date",
                    "agency",
                    "grant_number",
                ),
            )
            pi = self._user_by("email", data.get("pi", "")) if "pi" not in errors else None
            if "pi" not in errors:
                if not _EMAIL.match(str(data["pi"])):
                    errors["pi"] = "Enter a valid email address."
                elif pi is None:
                    errors["pi"] = "No user with this email is registered in MUP."
                elif not pi["is_approved"]:
                    errors["pi"] = "The PI's account is pending approval."
            if data.get("co_pi") and not _EMAIL.match(str(data["co_pi"])):
                errors["co_pi"] = "Enter a valid email address."
            if "science_field" not in errors and not self._research_field(data["science_field"]):
                errors["science_field"] = (
                    f'Invalid pk "{data["science_field"]}" - object does not exist.'
                )
            dates = {}
            for key in ("start_date", "end_date"):
                if key not in errors:
                    try:
                        dates[key] = date.fromisoformat(str(data[key]))
                    except ValueError:
                        errors[key] = (
                            "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
                        )
            if len(dates) == 2 and dates["end_date"] <= dates["start_date"]:
                errors["non_field_errors"] = "End date must be after start date."
            grant = str(data.get("grant_number", ""))
            if "grant_number" not in errors and self._project_by_grant(grant) is not None:
                errors["grant_number"] = "project with this grant number already exists."
            storage = data.get("max_storage", 0)
            if not isinstance(storage, int) or isinstance(storage, bool) or storage < 0:
                errors["max_storage"] = "Ensure this value is greater than or equal to 0."
            if errors:
                raise invalid(errors)
            project = {
                "id": self._next_id(),
                "title": str(data["title"]),
                "description": str(data.get("description") or ""),
                "pi": str(data["pi"]),
                "co_pi": str(data.get("co_pi") or ""),
                "science_field": data["science_field"],
                "start_date": str(data["start_date"]),
                "end_date": str(data["end_date"]),
                "agency": str(data["agency"]),
                "grant_number": grant,
                "max_storage": storage,
                "ai_included": bool(data.get("ai_included", False)),
                "active": False,  # MUP staff (or the API user) activates a new project
            }
            self.projects[project["id"]] = project
            assert pi is not None
            self._add_member(project["id"], pi)  # the PI belongs to their project from the start
            return dict(project)

    def project(self, project_id: int) -> Obj:
        with self.lock:
            return dict(self._project(project_id))

    def project_by_grant(self, grant: str) -> Obj:
        with self.lock:
            project = self._project_by_grant(grant)
            if project is None:
                raise NOT_FOUND
            return dict(project)

    def list_projects(self) -> list[Obj]:
        with self.lock:
            return [dict(p) for p in self.projects.values()]

    def set_project_active(self, project_id: int, active: bool) -> Obj:
        with self.lock:
            project = self._project(project_id)
            project["active"] = active
            return dict(project)

    def _project(self, project_id: int) -> Obj:
        project = self.projects.get(project_id)
        if project is None:
            raise NOT_FOUND
        return project

    def _project_by_grant(self, grant: str) -> Obj | None:
        return next((p for p in self.projects.values() if p["grant_number"] == grant), None)

    # -- allocations ----------------------------------------------------------------------------

    def create_allocation(self, project_id: int, data: Obj) -> Obj:
        with self.lock:
            self._project(project_id)
            allocation = {"id": self._next_id(), "project": project_id, "used": 0}
            allocation.update(self._allocation_fields(data, None))
            self.allocations[allocation["id"]] = allocation
            self.usage[allocation["id"]] = {}
            return dict(allocation)

    def edit_allocation(self, project_id: int, allocation_id: int, data: Obj) -> Obj:
        with self.lock:
            allocation = self._allocation(project_id, allocation_id)
            allocation.update(self._allocation_fields(data, allocation_id))
            return dict(allocation)

    def _allocation_fields(self, data: Obj, allocation_id: int | None) -> Obj:
        errors = _required(data, ("type", "identifier", "size"))
        if "type" not in errors and data["type"] not in self.allocation_types:
            errors["type"] = f'"{data["type"]}" is not a valid choice.'
        identifier = str(data.get("identifier", ""))
        taken = self._allocation_by_identifier(identifier)
        if "identifier" not in errors and taken is not None and taken["id"] != allocation_id:
            errors["identifier"] = "allocation with this identifier already exists."
        size = data.get("size")
        if "size" not in errors:
            if not isinstance(size, int | float) or isinstance(size, bool):
                errors["size"] = "A valid integer is required."
            elif size < 0:
                errors["size"] = "Ensure this value is greater than or equal to 0."
        if errors:
            raise invalid(errors)
        # `used` is MUP's own bookkeeping (fed by the cluster's accounting): a client cannot set it.
        return {
            "type": data["type"],
            "identifier": identifier,
            "size": int(size),  # type: ignore[arg-type]
            "active": bool(data.get("active", True)),
        }

    def list_allocations(self, project_id: int) -> list[Obj]:
        with self.lock:
            self._project(project_id)
            return [dict(a) for a in self.allocations.values() if a["project"] == project_id]

    def allocation(self, project_id: int, allocation_id: int) -> Obj:
        with self.lock:
            return dict(self._allocation(project_id, allocation_id))

    def allocation_by_identifier(self, identifier: str) -> Obj:
        with self.lock:
            allocation = self._allocation_by_identifier(identifier)
            if allocation is None:
                raise NOT_FOUND
            return dict(allocation)

    def allocation_usage(self, project_id: int, allocation_id: int) -> Obj:
        with self.lock:
            allocation = self._allocation(project_id, allocation_id)
            users = dict(self.usage[allocation_id])
            return {"total": allocation["used"], "users": users}

    def record_usage(self, identifier: str, username: str, amount: float) -> None:
        """What the cluster's accounting feeds MUP: `amount` more used by `username`."""
        with self.lock:
            allocation = self._allocation_by_identifier(identifier)
            if allocation is None:
                raise NOT_FOUND
            users = self.usage[allocation["id"]]
            users[username] = users.get(username, 0) + amount
            allocation["used"] = allocation["used"] + amount

    def _allocation(self, project_id: int, allocation_id: int) -> Obj:
        allocation = self.allocations.get(allocation_id)
        if allocation is None or allocation["project"] != project_id:
            raise NOT_FOUND
        return allocation

    def _allocation_by_identifier(self, identifier: str) -> Obj | None:
        return next((a for a in self.allocations.values() if a["identifier"] == identifier), None)

    # -- members --------------------------------------------------------------------------------

    def add_member(self, project_id: int, data: Obj) -> Obj:
        with self.lock:
            self._project(project_id)
            errors = _required(data, ("user_id",))
            user = self.users.get(data.get("user_id"))  # type: ignore[arg-type]
            if "user_id" not in errors:
                if user is None:
                    errors["user_id"] = f'Invalid pk "{data["user_id"]}" - object does not exist.'
                elif not user["is_approved"]:
                    errors["user_id"] = "The user's account is pending approval."
                elif self._member_of(project_id, user["id"]) is not None:
                    errors["non_field_errors"] = "User is already a member of this project."
            if errors:
                raise invalid(errors)
            assert user is not None
            member = self._add_member(project_id, user, bool(data.get("active", True)))
            return _member_view(member, user)

    def _add_member(self, project_id: int, user: Obj, active: bool = True) -> Obj:
        member = {
            "id": self._next_id(),
            "project": project_id,
            "user": user["id"],
            "active": active,
        }
        self.members[member["id"]] = member
        return member

    def toggle_member(self, project_id: int, member_id: int, data: Obj) -> Obj:
        """Sets `active` when the body names it, flips it otherwise."""
        with self.lock:
            member = self.members.get(member_id)
            if member is None or member["project"] != self._project(project_id)["id"]:
                raise NOT_FOUND
            active = data.get("active")
            if active is not None and not isinstance(active, bool):
                raise invalid({"active": "Must be a valid boolean."})
            member["active"] = (not member["active"]) if active is None else active
            return _member_view(member, self.users[member["user"]])

    def list_members(self, project_id: int) -> list[Obj]:
        with self.lock:
            self._project(project_id)
            return [
                _member_view(m, self.users[m["user"]])
                for m in self.members.values()
                if m["project"] == project_id
            ]

    def _member_of(self, project_id: int, user_id: int) -> Obj | None:
        return next(
            (
                m
                for m in self.members.values()
                if m["project"] == project_id and m["user"] == user_id
            ),
            None,
        )


def _required(data: Obj, fields: tuple[str, ...]) -> dict[str, str]:
    errors = {}
    for field in fields:
        if field not in data:
            errors[field] = "This field is required."
        elif data[field] is None:
            errors[field] = "This field may not be null."
        elif data[field] == "":
            errors[field] = "This field may not be blank."
    return errors


def _view(user: Obj) -> Obj:
    return copy.deepcopy(user)


def _member_view(member: Obj, user: Obj) -> Obj:
    return {
        "id": member["id"],
        "user_id": user["id"],
        "username": user["username"],
        "email": user["email"],
        "first_name": user.get("first_name", ""),
        "last_name": user.get("last_name", ""),
        "active": member["active"],
    }
