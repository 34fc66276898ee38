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


# Names that a backend's naming folds into one: shell syntax that cleans to the same slug, long
# names that share the part a slug keeps, names with no letter a slug keeps at all.
COLLIDING_NAMES = {
    "shell": ["$(touch x)", "`touch x`"],
    "long": ["n" * 50 + "a" * 250, "n" * 50 + "b" * 250],
    "chinese": ["数据分析", "计算资源", "存储空间"],
}

# A limit value the tests' orders use only for the order a fault turns unreadable.
POISON_CPU = 7
POISON_REWRITE = {f'"cpu": {POISON_CPU},': '"cpu": NaN,'}


def one_slug(sim: Any, resource_uuids: list[str]) -> str:
    """Give these resources the first one's slug, as a slug race on a real server (or a
    Mastermind that does not make slugs unique) would; returns the slug."""
    with sim.state.lock:
        slug = str(sim.state.get("resources", resource_uuids[0])["slug"])
        for uuid in resource_uuids[1:]:
            resource = sim.state.get("resources", uuid)
            resource["slug"] = slug
            sim.state.put("resources", resource)
        sim.state.commit()
    return slug


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
