"""`expose_backend_error_details`: what an erred order tells Waldur of the backend's failure, with
the real actor tree against the Waldur simulator and a plugin whose creates fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from tests.actors.test_lifecycle import Tree, agent_config, wait_for
from waldur_site_agent_actors.actors.failure import HIDDEN
from waldur_site_agent_actors.config import plugins


@pytest.fixture
def erred_orders(sim: Any, consumer: Any, world: Any, fake_plugins: Any) -> Iterator[Any]:
    """Runs the agent with the key at a value and places two orders its backend fails: one
    refused in the backend's words, one failing inside; gives back both orders, erred."""
    fake_plugins.add(plugins.BACKENDS, "crashing", "tests.actors.plugins:Crashing")
    offering, projects = world
    trees: list[Tree] = []

    def run(expose: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        # Placed first: the agent's first order sweep, at its start, finds them (the next one is
        # a period later).
        placed = [
            consumer.order(offering["url"], projects[0]["url"], {"cpu": 1}, name=name)["uuid"]
            for name in ("refused run", "crashed run")
        ]
        config = agent_config(sim, backend="crashing")
        trees.append(Tree(msgspec.structs.replace(config, expose_backend_error_details=expose)))

        def erred(uuid: str) -> dict[str, Any] | None:
            order = consumer.order_details(uuid)
            return order if order["state"] == "erred" else None

        refused, crashed = (wait_for(lambda u=u: erred(u), f"order {u} erred") for u in placed)
        return refused, crashed

    yield run
    for tree in trees:
        tree.stop()


def test_exposed_errors_carry_the_exception_and_its_traceback(erred_orders):
    refused, crashed = erred_orders(expose=True)
    assert refused["error_message"] == "quota exhausted for this project"
    assert "BackendError: quota exhausted" in refused["error_traceback"]
    assert "internal-detail: /etc/site/secret-path" in crashed["error_message"]
    assert "Traceback (most recent call last)" in crashed["error_traceback"]
    assert "_pre_create_resource" in crashed["error_traceback"]


def test_hidden_errors_keep_only_the_backends_refusal(erred_orders):
    """Upstream's rule: no traceback at all; a `BackendError`'s text stays (the backend worded it
    for the user), any other exception becomes a sentence pointing at the agent's log."""
    refused, crashed = erred_orders(expose=False)
    assert refused["error_message"] == "quota exhausted for this project"
    assert refused["error_traceback"] == ""
    assert crashed["error_message"] == HIDDEN
    assert "secret-path" not in crashed["error_message"]
    assert crashed["error_traceback"] == ""
