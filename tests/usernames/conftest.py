import logging

import pykka
import pytest

from waldur_site_agent_actors.actors.backend import BackendActor, backend_proxy
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.actors.usernames import UsernameSync
from waldur_site_agent_actors.actors.waldur_actor import WaldurActor, api_of
from waldur_site_agent_actors.config import plugins
from waldur_site_agent_actors.config.load import load_mapping
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.seed import default_scenario


def scenario():
    """The default world plus Anna Andersen (her name collides with Alice Andersen's) and Lei,
    whose name is in Chinese script and whose Waldur username is a number: no name by rule."""
    spec = default_scenario()
    spec["users"] += [
        {"username": "anna", "full_name": "Anna Andersen"},
        {"username": "8172634", "full_name": "李雷"},
    ]
    spec["projects"][0]["members"] += [
        {"user": "anna", "role": "PROJECT.MEMBER"},
        {"user": "8172634", "role": "PROJECT.MEMBER"},
    ]
    return spec


@pytest.fixture
def sim():
    with WaldurSimulator(scenario(), tick_interval=0) as simulator:
        yield simulator


class Waldur:
    """Offering users as Waldur shows them, by the Waldur username of their person."""

    def __init__(self, sim, staff):
        self.sim, self.staff = sim, staff
        self.offering = sim.summary()["offerings"][0]

    def users(self):
        rows = self.staff._call(
            "GET", "marketplace-offering-users/", offering_uuid=self.offering["uuid"]
        )
        return {row["user_username"]: row for row in rows}

    def names(self):
        return {who: (row["username"], row["state"]) for who, row in self.users().items()}

    def act(self, who, action, body=None):
        uuid = self.users()[who]["uuid"]
        if action == "PATCH":
            return self.staff._call("PATCH", f"marketplace-offering-users/{uuid}/", body)
        return self.staff._call("POST", f"marketplace-offering-users/{uuid}/{action}/", body or {})

    def calls(self, action):
        """Offering users (by person) the agent moved with `action`, in order."""
        by_uuid = {row["uuid"]: who for who, row in self.users().items()}
        return [
            by_uuid[r["path"].split("/")[3]]
            for r in self.sim.requests()
            if r["method"] == "POST" and r["path"].endswith(f"/{action}/")
        ]

    def set_full_name(self, username, full_name):
        """A profile change (from the user or the identity provider)."""
        with self.sim.state.lock:
            user = self.sim.state.first("users", username=username)
            user["full_name"] = full_name
            self.sim.state.put("users", user)
            self.sim.state.commit()


@pytest.fixture
def waldur(sim, consumer):
    """The offering's resource exists, so its project's members have offering users."""
    world = Waldur(sim, consumer)
    project = sim.summary()["projects"][0]
    consumer.order(world.offering["url"], project["url"], {"cpu": 1, "mem": 1})
    sim.reset_counters()
    return world


@pytest.fixture
def sync(sim, fake_plugins):
    """One username sync of the offering, as the membership actor runs it: the real backend
    actor (with the named username plugin) and the real Waldur client, against the simulator.
    Username plugins: `base` and `scripted` (tests/usernames/plugins.py), or one a test adds;
    `settings`: the offering's `backend_settings`."""
    fake_plugins.add(plugins.USERNAME_BACKENDS, "scripted", "tests.usernames.plugins:Scripted")
    offering = sim.summary()["offerings"][0]
    actors = []

    def run(plugin="base", settings=None):
        config = load_mapping(
            {
                "offerings": [
                    {
                        "name": "hpc",
                        "waldur_api_url": sim.api_url,
                        "waldur_api_token": sim.provider_token,
                        "waldur_offering_uuid": offering["uuid"],
                        "membership_sync_backend": "mycustom",
                        "username_management_backend": plugin,
                        "backend_settings": settings or {},
                    }
                ]
            }
        ).config
        context = OfferingContext(config.offerings[0], config, timer, frozenset())
        parent = pykka.ThreadingActor.start()  # hears a death, if any, as an unhandled message
        backend = BackendActor.start(context, parent)
        api = WaldurActor.start(context, parent)
        actors.extend([backend, api, parent])
        log = logging.LoggerAdapter(logging.getLogger("tests.usernames"), {})
        sync = UsernameSync(
            context, backend_proxy(backend), log, lambda future: future.get(timeout=60)
        )
        return sync.sync(api_of(api))

    timer = Timer()
    yield run
    for actor in actors:
        actor.stop()
    timer.stop()
