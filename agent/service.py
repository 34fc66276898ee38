"""`run`: the long-running service. One supervisor, one actor per offering, until SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

import pykka

from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.offering import OfferingActor
from waldur_site_agent_actors.actors.status import AgentStatus
from waldur_site_agent_actors.actors.supervisor import Supervisor
from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.actors.waldur_actor import WaldurPool
from waldur_site_agent_actors.agent import logs, process, sdnotify
from waldur_site_agent_actors.agent import status as status_file
from waldur_site_agent_actors.agent.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, version
from waldur_site_agent_actors.config import MODES, AgentConfig, ConfigError, Offering, load_file
from waldur_site_agent_actors.config.secrets import secret_values

log = logging.getLogger("agent.service")

STATUS_EVERY = 2.0
STOP_TIMEOUT = 90.0


class Service:
    """Owns the supervisor, the timer and the Waldur actors; reacts to signals."""

    def __init__(self, config: AgentConfig, modes: frozenset[str], config_path: str | None):
        self.config, self.modes, self.config_path = config, modes, config_path
        self.started_at = time.time()
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self.timer = Timer()
        self.pool = WaldurPool(config.global_proxy, f"waldur-site-agent/{version()}", self.stopping)
        self.supervisor: pykka.ActorRef[Supervisor] | None = None

    def start_offering(
        self, offering: Offering, generation: int, supervisor: pykka.ActorRef[Any]
    ) -> pykka.ActorRef[Any]:
        context = OfferingContext(
            offering=offering,
            root=self.config,
            timer=self.timer,
            waldur=self.pool.api_for(offering),
            modes=self.modes,
            version=version(),
            stopping=self.stopping,
        )
        return OfferingActor.start(context, supervisor, generation)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())
        self.supervisor = Supervisor.start(self.config, self.start_offering, self.timer)
        log.info(
            "agent %s started: %d offering(s), modes %s",
            version(),
            len(self.config.offerings),
            ", ".join(sorted(self.modes)),
        )
        sdnotify.notify("READY=1")
        watchdog = sdnotify.watchdog_interval()
        last_ping = 0.0
        while not self.stopping.wait(min(STATUS_EVERY, watchdog or STATUS_EVERY)):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
            healthy = self.write_status()
            if watchdog and healthy and time.monotonic() - last_ping >= watchdog:
                sdnotify.notify("WATCHDOG=1")
                last_ping = time.monotonic()
        return self.shutdown()

    def reload(self) -> None:
        if not self.config_path:
            return
        try:
            loaded = load_file(self.config_path)
        except ConfigError as exc:
            log.error("reload refused, the running config stays: %s", "; ".join(exc.errors))
            return
        sdnotify.notify("RELOADING=1")
        self.config = loaded.config
        logs.setup(loaded.config.log_level, secret_values(loaded.config))
        assert self.supervisor is not None
        try:
            self.supervisor.proxy().reload(loaded.config).get(timeout=STOP_TIMEOUT)
        except pykka.Timeout:
            log.error("reload still running after %.0f s; it goes on meanwhile", STOP_TIMEOUT)
        sdnotify.notify("READY=1")

    def write_status(self) -> bool:
        assert self.supervisor is not None
        try:
            proxy = self.supervisor.proxy()
            offerings = proxy.status().get(timeout=10)
            healthy = proxy.healthy().get(timeout=10)
        except (pykka.Timeout, pykka.ActorDeadError):
            return False
        try:
            status_file.write(
                self.config.state_dir,
                AgentStatus(
                    pid=os.getpid(),
                    started_at=self.started_at,
                    version=version(),
                    healthy=healthy,
                    offerings=offerings,
                ),
            )
        except OSError as exc:
            log.warning("cannot write the status file: %s", exc)
        return bool(healthy)

    def shutdown(self) -> int:
        sdnotify.notify("STOPPING=1")
        log.info("stopping: finishing calls in flight")
        code = EXIT_OK
        if self.supervisor is not None:
            try:
                self.supervisor.stop(block=True, timeout=STOP_TIMEOUT)
            except pykka.Timeout:
                log.error("actors did not stop within %.0f s", STOP_TIMEOUT)
                code = EXIT_FAILURE
        self.write_status_stopped()
        self.pool.stop()
        self.timer.stop()
        pykka.ActorRegistry.stop_all(block=True, timeout=10)
        log.info("stopped")
        return code

    def write_status_stopped(self) -> None:
        with contextlib.suppress(OSError):
            status_file.status_path(self.config.state_dir).unlink(missing_ok=True)


def run_service(
    config: AgentConfig, modes: Sequence[str] | None = None, config_path: str | None = None
) -> int:
    process.prepare(config)
    chosen = frozenset(modes or MODES)
    unknown = chosen - set(MODES)
    if unknown:
        log.error("unknown mode(s): %s", ", ".join(sorted(unknown)))
        return EXIT_CONFIG
    return Service(config, chosen, config_path).run()
