"""A backend for the *upstream* agent (runs in its venv, not ours): upstream's MockBackend with
its accounts kept in a JSON file (`SIMMOCK_STATE`) so separate mode processes share them, and a
fixed usage report. Registered through a generated dist-info as backend `simmock`."""

import dataclasses
import json
import os

from waldur_site_agent.backend.structures import BackendResourceInfo
from waldur_site_agent.testing.mock_backend import MockBackend

USAGE = {"cpu": 12.5, "mem": 3.25}
PER_USER = {"cpu": 1.0, "mem": 0.5}


class SimMockBackend(MockBackend):
    def __init__(self, backend_settings=None, backend_components=None, **kwargs):
        super().__init__(backend_settings, backend_components, **kwargs)
        self.backend_type = "simmock"
        self.path = os.environ["SIMMOCK_STATE"]
        if os.path.exists(self.path):
            with open(self.path) as f:
                for backend_id, info in json.load(f).items():
                    self._created_resources[backend_id] = BackendResourceInfo(**info)

    def _save(self):
        data = {k: dataclasses.asdict(v) for k, v in self._created_resources.items()}
        with open(self.path + ".tmp", "w") as f:
            json.dump(data, f)
        os.replace(self.path + ".tmp", self.path)

    def create_resource_with_id(self, waldur_resource, resource_backend_id, user_context=None):
        info = super().create_resource_with_id(waldur_resource, resource_backend_id, user_context)
        self._save()
        return info

    def add_user(self, waldur_resource, username, **kwargs):
        info = self._created_resources.get(waldur_resource.backend_id)
        if info is not None and username not in info.users:
            info.users.append(username)
            self._save()
        return True

    def remove_user(self, waldur_resource, username, **kwargs):
        info = self._created_resources.get(waldur_resource.backend_id)
        if info is not None and username in info.users:
            info.users.remove(username)
            self._save()
        return True

    def add_users_to_resource(self, waldur_resource, user_ids, **kwargs):
        added = super().add_users_to_resource(waldur_resource, user_ids, **kwargs)
        self._save()
        return added

    def remove_users_from_resource(self, waldur_resource, usernames, **kwargs):
        removed = super().remove_users_from_resource(waldur_resource, usernames, **kwargs)
        self._save()
        return removed

    def pull_resource(self, waldur_resource):
        info = super().pull_resource(waldur_resource)
        if info is not None:
            info.usage = self._get_usage_report([info.backend_id])[info.backend_id]
        return info

    def _get_usage_report(self, backend_ids):
        report = {}
        for backend_id in backend_ids:
            info = self._created_resources.get(backend_id)
            users = info.users if info else []
            report[backend_id] = {"TOTAL_ACCOUNT_USAGE": dict(USAGE)}
            report[backend_id].update({user: dict(PER_USER) for user in users})
        return report
