"""`run`: the long-running service. One supervisor, one actor per offering, until SIGTERM."""

from __future__ import annotations

import collections
import contextlib
import faulthandler
import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

import pykka
import pykka.debug

from waldur_site_agent_actors.actors.context import ROLES, OfferingContext
from waldur_site_agent_actors.actors.log_shipping import LogShipper
from waldur_site_agent_actors.actors.offering import OfferingActor
from waldur_site_agent_actors.actors.status import AgentStatus, ReloadResult
from waldur_site_agent_actors.actors.stomp import object_types
from waldur_site_agent_actors.actors.supervisor import Supervisor
from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.agent import exporter, logs, process, sdnotify
from waldur_site_agent_actors.agent import status as status_file
from waldur_site_agent_actors.agent.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, version
from waldur_site_agent_actors.config import MODES, AgentConfig, ConfigError, Offering, load_file
from waldur_site_agent_actors.config.secrets import secret_values

log = logging.getLogger("agent.service")

STATUS_EVERY = 2.0
# Calls in flight get this long to finish after SIGTERM; then the agent exits without them (the
# next start redoes their work). The unit's TimeoutStopSec leaves room above it.
STOP_TIMEOUT = 30.0
STOP_GRACE = 2.0  # for actors asked to stop after the deadline (idle ones stop at once)
RELOAD_TIMEOUT = 90.0  # offerings whose settings changed finishing their calls to restart


class Service:
    """Owns the supervisor, the timer and the Waldur actors; reacts to signals."""

    def __init__(self, config: AgentConfig, modes: frozenset[str], config_path: str | None):
        self.config, self.modes, self.config_path = config, modes, config_path
        self.started_at = time.time()
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self.wake = threading.Event()  # a signal arrived: the main loop acts now, not in 2 s
        self.reloads = 0
        self.last_reload: ReloadResult | None = None
        self.summary = ""
        self.timer = Timer()
        self.supervisor: pykka.ActorRef[Supervisor] | None = None
        self.shipper: pykka.ActorRef[LogShipper] | None = None
        self.exporter: exporter.Exporter | None = None

    def context(self, offering: Offering) -> OfferingContext:
        return OfferingContext(
            offering=offering,
            root=self.config,
            timer=self.timer,
            modes=self.modes,
            version=version(),
            log_shipper=self.shipper,
        )

    def start_offering(
        self, offering: Offering, generation: int, supervisor: pykka.ActorRef[Any]
    ) -> pykka.ActorRef[Any]:
        context = self.context(offering)
        return OfferingActor.start(context, supervisor, generation)

    def running_modes(self) -> list[str]:
        """The modes some offering actually runs, which may be fewer than the modes asked for."""
        running: set[str] = set()
        for offering in self.config.offerings:
            context = self.context(offering)
            running.update(mode for mode in ROLES if context.serves(mode))
            if context.events and object_types(context):
                running.add("event_process")
        return [mode for mode in MODES if mode in running]

    def on_signal(self, event: threading.Event) -> None:
        event.set()
        self.wake.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.on_signal(self.stopping))
        signal.signal(signal.SIGINT, lambda *_: self.on_signal(self.stopping))
        signal.signal(signal.SIGHUP, lambda *_: self.on_signal(self.reload_requested))
        signal.signal(signal.SIGUSR1, pykka.debug.log_thread_tracebacks)
        # Before the offerings: their actors record from their first step.
        try:
            self.exporter = exporter.start(self.config, version())
        except OSError as exc:
            log.error("cannot expose the metrics on %s: %s", _listen(self.config), exc)
            return EXIT_FAILURE
        self.start_shipper()
        self.supervisor = Supervisor.start(self.config, self.start_offering, self.timer)
        log.info(
            "agent %s started: %d offering(s), modes %s",
            version(),
            len(self.config.offerings),
            ", ".join(self.running_modes()) or "none",
        )
        # Before READY: `status` answers from the moment `systemctl start` returns.
        self.write_status()
        sdnotify.notify("READY=1")
        watchdog = sdnotify.watchdog_interval()
        last_ping = 0.0
        while not self.idle(min(STATUS_EVERY, watchdog or STATUS_EVERY)):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
            # The watchdog says the supervisor answers, no more: a FAILED offering is retried
            # by the supervisor, and a restart by systemd would stop the healthy ones too.
            answered = self.write_status()
            if self.exporter is not None:
                self.exporter.tick()
            if watchdog and answered and time.monotonic() - last_ping >= watchdog:
                sdnotify.notify("WATCHDOG=1")
                last_ping = time.monotonic()
        return self.shutdown()

    def idle(self, seconds: float) -> bool:
        """Wait until a signal or `seconds`; True once the agent is stopping."""
        self.wake.wait(seconds)
        self.wake.clear()
        return self.stopping.is_set()

    def reload(self) -> None:
        sdnotify.notify("RELOADING=1")
        self.reloads += 1
        try:
            ok, message = self.apply_reload()
        except Exception as exc:  # a bug must not end the main loop: the running config stays
            log.exception("reload failed, the running config stays")
            ok, message = False, f"failed, the running config stays: {type(exc).__name__}: {exc}"
        self.last_reload = ReloadResult(
            serial=self.reloads, ok=ok, message=logs.mask(message), at=time.time()
        )
        self.write_status()
        sdnotify.notify("READY=1")

    def apply_reload(self) -> tuple[bool, str]:
        """The new config in force, or the running one kept: (accepted, what happened)."""
        if not self.config_path:
            return False, "refused: the agent was started without a config file"
        try:
            loaded = load_file(self.config_path)
        except ConfigError as exc:
            errors = "; ".join(exc.errors)
            log.error("reload refused, the running config stays: %s", errors)
            return False, f"refused, the running config stays: {errors}"
        shipping_changed = loaded.config.log_shipping != self.config.log_shipping
        self.config = loaded.config
        logs.setup(
            loaded.config.log_level,
            secret_values(loaded.config),
            shipping=loaded.config.log_shipping,
        )
        try:
            self.exporter = exporter.restart(self.exporter, loaded.config, version())
        except OSError as exc:  # the new address is taken: the agent runs on without a listener
            log.error("metrics not exposed: cannot listen on %s: %s", _listen(loaded.config), exc)
            self.exporter = None
        if shipping_changed:  # every offering restarts too, and registers with the new shipper
            self.stop_shipper(STOP_TIMEOUT)
            self.start_shipper()
        assert self.supervisor is not None
        pending = self.supervisor.proxy().reload(loaded.config)
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while True:
            try:
                restarted = pending.get(timeout=1.0)
            except pykka.Timeout:
                if self.stopping.is_set() or time.monotonic() > deadline:
                    log.error("reload still restarting offerings; it goes on meanwhile")
                    return True, "accepted; offerings still restarting"
            else:
                return True, "accepted; restarted: " + (", ".join(restarted) or "none")

    def start_shipper(self) -> None:
        """Log shipping's actor, while `log_shipping` is on (logs.setup buffers the lines)."""
        buffer = logs.shipping_buffer()
        if buffer is None or not self.config.log_shipping.enabled:
            return
        self.shipper = LogShipper.start(
            buffer,
            float(self.config.log_shipping.ship_interval_seconds),
            self.timer,
            self.config.global_proxy,
            f"waldur-site-agent/{version()}",
            self.stopping,
        )

    def stop_shipper(self, timeout: float) -> None:
        """Ships what is left (one try per batch while stopping)."""
        if self.shipper is not None:
            with contextlib.suppress(pykka.Timeout):
                self.shipper.stop(block=True, timeout=timeout)
            self.shipper = None

    def write_status(self) -> bool:
        """Write the status file; False when the supervisor did not answer."""
        assert self.supervisor is not None
        try:
            proxy = self.supervisor.proxy()
            offerings = proxy.status().get(timeout=10)
            healthy = proxy.healthy().get(timeout=10)
        except (pykka.Timeout, pykka.ActorDeadError):
            return False
        summary = logs.mask(status_file.summary(offerings))
        if summary != self.summary:
            sdnotify.notify(f"STATUS={summary}")
            self.summary = summary
        try:
            status_file.write(
                status_file.own_directory(self.config.state_dir),
                AgentStatus(
                    pid=os.getpid(),
                    started_at=self.started_at,
                    version=version(),
                    healthy=healthy,
                    offerings=offerings,
                    reload=self.last_reload,
                ),
            )
        except OSError as exc:
            log.warning("cannot write the status file: %s", exc)
        return True

    def shutdown(self) -> int:
        """Stop within STOP_TIMEOUT, whatever hangs; exit 0 either way (a stop is no failure)."""
        sdnotify.notify("STOPPING=1")
        log.info("stopping: calls in flight get up to %.0f s to finish", STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        if self.supervisor is not None:
            with contextlib.suppress(pykka.Timeout):
                self.supervisor.stop(block=True, timeout=STOP_TIMEOUT)
        self.remove_status()
        if self.exporter is not None:
            self.exporter.stop()
        self.stop_shipper(max(STOP_GRACE, deadline - time.monotonic()))
        self.timer.stop()
        busy = stop_all(max(deadline, time.monotonic() + STOP_GRACE))
        if busy:
            log.error(
                "stopped without waiting for %s: still in a call after %.0f s (Waldur or the "
                "backend not answering); the next start redoes their work",
                busy,
                STOP_TIMEOUT,
            )
            # A thread blocked in a call cannot be interrupted, and would hold the exit.
            logging.shutdown()
            os._exit(EXIT_OK)
        log.info("stopped")
        return EXIT_OK

    def remove_status(self) -> None:
        path = status_file.status_path(status_file.own_directory(self.config.state_dir))
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _listen(config: AgentConfig) -> str:
    return f"{config.metrics.listen_address}:{config.metrics.listen_port}"


def stop_all(deadline: float) -> str:
    """Ask every live actor to stop and wait for their threads until `deadline`.

    Threads, not actor refs: pykka unregisters an actor before its `on_stop` runs, and a
    thread still in `on_stop` (or in a call) would keep the process from exiting.
    Returns '' or what is still running, by kind ("1 OrderActor, 1 WaldurActor").
    """
    for ref in pykka.ActorRegistry.get_all():
        ref.stop(block=False)
    busy: collections.Counter[str] = collections.Counter()
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            busy[thread.name.rsplit("-", 1)[0]] += 1
    return ", ".join(f"{count} {name}" for name, count in sorted(busy.items()))


def run_service(
    config: AgentConfig, modes: Sequence[str] | None = None, config_path: str | None = None
) -> int:
    process.prepare(config, ship_logs=True)
    # A hung agent that systemd's watchdog aborts (SIGABRT) shows every thread's stack first.
    faulthandler.enable()
    chosen = frozenset(modes or MODES)
    unknown = chosen - set(MODES)
    if unknown:
        log.error("unknown mode(s): %s", ", ".join(sorted(unknown)))
        return EXIT_CONFIG
    return Service(config, chosen, config_path).run()
