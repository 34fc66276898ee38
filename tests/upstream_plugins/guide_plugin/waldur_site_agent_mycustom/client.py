"""`MyCustomClient`: the guide's BaseClient table, over a JSON file standing for the system.

Usage is read from a file of its own (`<state_file>.usage`), written only by whoever plays the
system's users (a test), so it never races the agent's writes to the accounts."""

import json
from pathlib import Path

from waldur_site_agent.backend.clients import BaseClient
from waldur_site_agent.backend.structures import Association, ClientResource


class MyCustomClient(BaseClient):
    def __init__(self, state_file: str) -> None:
        self.path = Path(state_file)
        self.usage_path = Path(f"{state_file}.usage")

    def _load(self) -> dict:
        if not self.path.exists():
            return {"accounts": {}}
        return json.loads(self.path.read_text())

    def _save(self, state: dict) -> None:
        self.path.write_text(json.dumps(state, indent=1, sort_keys=True))

    def list_resources(self) -> list[ClientResource]:
        return [
            ClientResource(name=name, description=a["description"], organization=a["organization"])
            for name, a in self._load()["accounts"].items()
        ]

    def get_resource(self, resource_id: str) -> ClientResource | None:
        account = self._load()["accounts"].get(resource_id)
        if account is None:
            return None
        return ClientResource(
            name=resource_id,
            description=account["description"],
            organization=account["organization"],
        )

    def create_resource(
        self, name: str, description: str, organization: str, parent_name: str | None = None
    ) -> str:
        state = self._load()
        state["accounts"][name] = {
            "description": description,
            "organization": organization,
            "parent": parent_name,
            "limits": {},
            "user_limits": {},
            "users": [],
        }
        self._save(state)
        return name

    def delete_resource(self, name: str) -> str:
        state = self._load()
        state["accounts"].pop(name, None)
        self._save(state)
        return name

    def set_resource_limits(self, resource_id: str, limits_dict: dict[str, int]) -> str | None:
        state = self._load()
        state["accounts"][resource_id]["limits"] = dict(limits_dict)
        self._save(state)
        return None

    def get_resource_limits(self, resource_id: str) -> dict[str, int]:
        return dict(self._load()["accounts"][resource_id]["limits"])

    def get_resource_user_limits(self, resource_id: str) -> dict[str, dict[str, int]]:
        return dict(self._load()["accounts"][resource_id]["user_limits"])

    def set_resource_user_limits(
        self, resource_id: str, username: str, limits_dict: dict[str, int]
    ) -> str:
        state = self._load()
        state["accounts"][resource_id]["user_limits"][username] = dict(limits_dict)
        self._save(state)
        return username

    def get_association(self, user: str, resource_id: str) -> Association | None:
        account = self._load()["accounts"].get(resource_id)
        if account is None or user not in account["users"]:
            return None
        return Association(account=resource_id, user=user)

    def create_association(
        self, username: str, resource_id: str, default_account: str | None = None
    ) -> str:
        state = self._load()
        users = state["accounts"][resource_id]["users"]
        if username not in users:
            users.append(username)
        self._save(state)
        return username

    def delete_association(self, username: str, resource_id: str) -> str:
        state = self._load()
        users = state["accounts"][resource_id]["users"]
        if username in users:
            users.remove(username)
        self._save(state)
        return username

    def get_usage_report(self, resource_ids: list[str], timezone: str | None = None) -> list:
        """Raw usage: (account, user, component, backend amount) rows."""
        usage = json.loads(self.usage_path.read_text()) if self.usage_path.exists() else {}
        return [
            (account, user, component, amount)
            for account in resource_ids
            for user, amounts in usage.get(account, {}).items()
            for component, amount in amounts.items()
        ]

    def list_resource_users(self, resource_id: str) -> list[str]:
        return list(self._load()["accounts"][resource_id]["users"])
