"""`resource_import_enabled`: Waldur's requests for the backend's resources, answered.

A provider asks Waldur which resources the backend holds that Waldur does not (a
`backend-resource-request`, announced as an `importable_resources` event); the agent takes the
request up (Processing), offers each such resource to the project it belongs to (a
`backend-resource`, which the project may then import) and marks the request Done, or Erred with
the reason. Events are the fast path; each order sweep also takes up requests still `Sent`,
whose event was missed (the agent was down, or runs without events). Owned by the order actor,
which owns the order plugin's calls; runs in its thread.
"""

from __future__ import annotations

import logging
from typing import Any

from waldur_site_agent_actors.actors.backend import PluginProxy
from waldur_site_agent_actors.actors.failure import said, waldur_error
from waldur_site_agent_actors.actors.offering_child import BACKEND_TIMEOUT
from waldur_site_agent_actors.actors.waldur.api import WaldurApiProxy
from waldur_site_agent_actors.actors.waldur.client import WaldurError, WaldurUnreachable
from waldur_site_agent_actors.backends.exceptions import BackendError


class ResourceImports:
    def __init__(
        self,
        offering_uuid: str,
        plugin: PluginProxy,
        waldur: WaldurApiProxy,
        log: logging.LoggerAdapter[Any],
        expose_details: bool,
    ) -> None:
        self.offering_uuid, self.plugin, self.waldur, self.log = offering_uuid, plugin, waldur, log
        self.expose_details = expose_details

    def sweep(self) -> None:
        """Requests still waiting: their event never reached this agent."""
        for request in self.waldur.imports.waiting(self.offering_uuid).get():
            self.answer(request.uuid)

    def answer(self, request_uuid: str) -> None:
        """Take one request up and answer it. Waldur unreachable leaves it for a later sweep;
        a request someone else took up already is left alone."""
        imports = self.waldur.imports
        request = imports.request(request_uuid).get()
        if request.state != "Sent":
            self.log.info("import request %s is %s: nothing to do", request_uuid, request.state)
            return
        imports.start(request_uuid).get()
        try:
            found = self.plugin.importable_resources().get(timeout=BACKEND_TIMEOUT)
            offered = imports.offer(self.offering_uuid, found).get()
        except (WaldurUnreachable, BackendError, WaldurError) as exc:
            self._erred(request_uuid, exc)
            return
        for line in offered:
            self.log.info("import request %s: %s", request_uuid, line)
        imports.done(request_uuid).get()
        self.log.info("import request %s done: %d line(s)", request_uuid, len(offered))

    def _erred(self, request_uuid: str, exc: BaseException) -> None:
        message, trace = waldur_error(exc, self.expose_details)
        self.log.error("import request %s failed: %s", request_uuid, said(exc))
        self.waldur.imports.erred(request_uuid, message, trace).get()
