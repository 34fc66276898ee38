"""Hostile input for the agent: raw messages into its queue, names meant to break commands."""

from __future__ import annotations

from typing import Any

import stomp

# Resource and user names as a hostile or careless user types them.
HOSTILE_NAMES = [
    "a;b",
    "$(id)",
    "`reboot`",
    "x" * 200,
    "Zoë Ωmega 资源 ✓",
    "--help",
    "../../etc/passwd",
    "name with\nnewline",
]


def send_raw(rabbitmq: Any, vhost: str, queue: str, body: str | bytes) -> None:
    """Put `body` into `queue` unchanged, as anyone with the broker's credentials could:
    `Broker.publish` only sends well-formed JSON."""
    rabbitmq.broker.set_permissions(vhost, rabbitmq.admin_user)
    connection = stomp.Connection([(rabbitmq.host, rabbitmq.stomp_port)], vhost=vhost)
    connection.connect(rabbitmq.admin_user, rabbitmq.admin_password, wait=True)
    try:
        connection.send(f"/amq/queue/{queue}", body, headers={"persistent": "true"})
    finally:
        connection.disconnect(receipt="sent")  # answered once the SEND before it was taken
