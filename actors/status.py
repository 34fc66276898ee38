"""What `waldur-site-agent status` shows: a snapshot per offering and per mode."""

from __future__ import annotations

import msgspec


class ModeStatus(msgspec.Struct, kw_only=True):
    last_cycle_at: float | None = None
    last_error: str | None = None
    last_summary: str = ""
    cycles: int = 0
    errors: int = 0


class OfferingStatus(msgspec.Struct, kw_only=True):
    name: str
    uuid: str
    state: str
    restarts: int = 0
    last_error: str | None = None
    modes: dict[str, ModeStatus] = msgspec.field(default_factory=dict)


class ReloadResult(msgspec.Struct, kw_only=True):
    """The agent's verdict on its latest reload, which `waldur-site-agent reload` waits for."""

    serial: int  # how many reloads this process has handled
    ok: bool
    message: str
    at: float


class AgentStatus(msgspec.Struct, kw_only=True):
    pid: int
    started_at: float
    version: str
    healthy: bool
    offerings: list[OfferingStatus]
    reload: ReloadResult | None = None
