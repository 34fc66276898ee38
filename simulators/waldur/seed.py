"""Seed scenarios: the built-in default, or a TOML/YAML/JSON file with the same structure.

seed = "uuid-seed"                         # UUIDs and tokens derive from it
[[users]]      username, full_name?, email?, is_staff?, token?
[[customers]]  name, owners = [usernames], service_managers? = [usernames]
[[offerings]]  name, customer, type?, plugin_options, components, plans, managers? = [users]
[[projects]]   name, customer, members = [{user, role}]
[[ssh_keys]]   user, name, public_key
[[resources]]  name, offering, project, plan?, backend_id?, limits?, state? (already created)
[[oidc_clients]] client_id, client_secret, user   (for Bearer tokens from /_idp/token/)

Owners and service managers of an offering's customer, and the offering's managers, act as its
service provider.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from waldur_site_agent_actors.simulators.waldur.consumer import (
    add_key,
    grant_role,
    new_customer,
    new_project,
    new_user,
)
from waldur_site_agent_actors.simulators.waldur.offering_users import ensure_offering_users
from waldur_site_agent_actors.simulators.waldur.slugs import unique_slug
from waldur_site_agent_actors.simulators.waldur.state import Obj, State

DEFAULT_SEED = "waldur-simulator"

SLURM_COMPONENTS = [
    {
        "type": "cpu",
        "name": "CPU",
        "billing_type": "limit",
        "measured_unit": "k-Hours",
        "unit_factor": 60000,
    },
    {
        "type": "mem",
        "name": "Memory",
        "billing_type": "limit",
        "measured_unit": "gb-Hours",
        "unit_factor": 61440,
    },
    {
        "type": "gpu",
        "name": "GPU",
        "billing_type": "usage",
        "measured_unit": "gpu-Hours",
        "unit_factor": 60,
    },
]

DEFAULT: dict[str, Any] = {
    "seed": DEFAULT_SEED,
    "users": [
        {"username": "staff", "full_name": "Staff User", "is_staff": True},
        {"username": "provider", "full_name": "Provider Admin"},
        {"username": "alice", "full_name": "Alice Andersen"},
        {"username": "bob", "full_name": "Bob Berg"},
        {"username": "carol", "full_name": "Carol Clark"},
        {"username": "dave", "full_name": "Dave Dahl"},
    ],
    "customers": [
        {"name": "HPC Centre", "owners": ["provider"]},
        {"name": "University", "owners": []},
    ],
    "offerings": [
        {
            "name": "SLURM cluster",
            "customer": "HPC Centre",
            "type": "Marketplace.Slurm",
            "plugin_options": {
                "username_generation_policy": "service_provider",
                "service_provider_can_create_offering_user": True,
                "enable_membership_sync_status": True,
                "auto_approve_remote_orders": False,
                "can_restore_resource": True,
            },
            "components": SLURM_COMPONENTS,
            "partitions": [],
            "plans": [
                {
                    "name": "Default",
                    "quotas": {"cpu": 1000, "mem": 2000, "gpu": 0},
                    "prices": {"cpu": "0.10", "mem": "0.01", "gpu": "1.00"},
                },
            ],
        }
    ],
    "projects": [
        {
            "name": "Climate modelling",
            "customer": "University",
            "members": [
                {"user": "alice", "role": "PROJECT.ADMIN"},
                {"user": "bob", "role": "PROJECT.MEMBER"},
            ],
        },
        {
            "name": "Protein folding",
            "customer": "University",
            "members": [
                {"user": "carol", "role": "PROJECT.MANAGER"},
                {"user": "dave", "role": "PROJECT.MEMBER"},
            ],
        },
    ],
    "ssh_keys": [
        {
            "user": "alice",
            "name": "laptop",
            "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAliceKeyForTheSimulator alice",
        },
        {
            "user": "carol",
            "name": "workstation",
            "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICarolKeyForTheSimulator carol",
        },
    ],
    "resources": [],
    "oidc_clients": [
        {"client_id": "site-agent", "client_secret": "site-agent-secret", "user": "provider"}
    ],
}


def default_scenario() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT)


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    text = path.read_text()
    if path.suffix == ".toml":
        import tomllib

        return tomllib.loads(text)
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return dict(yaml.safe_load(text) or {})
    return dict(json.loads(text))


def apply(state: State, spec: dict[str, Any]) -> None:
    """Create everything the scenario names; references are by username and name."""
    users: dict[str, Obj] = {}
    for u in spec.get("users", []):
        users[u["username"]] = new_user(state, u["username"], u)
    customers: dict[str, Obj] = {}
    for c in spec.get("customers", []):
        owners = [users[name]["uuid"] for name in c.get("owners", [])]
        customers[c["name"]] = new_customer(state, c["name"], owners)
        managers = [users[name]["uuid"] for name in c.get("service_managers", [])]
        if managers:
            customers[c["name"]]["service_managers"] = managers
    offerings: dict[str, Obj] = {}
    plans: dict[str, Obj] = {}
    for o in spec.get("offerings", []):
        customer = customers[o["customer"]]
        if not state.first("service_providers", customer=customer["uuid"]):
            state.put("service_providers", {"customer": customer["uuid"]})
        offering = state.put(
            "offerings",
            {
                "name": o["name"],
                "slug": unique_slug(state, "offerings", o["name"]),
                "customer": customer["uuid"],
                "type": o.get("type", "Marketplace.Slurm"),
                "state": o.get("state", "Active"),
                "plugin_options": dict(o.get("plugin_options", {})),
                "components": [{"uuid": state.new_uuid(), **c} for c in o.get("components", [])],
                "partitions": list(o.get("partitions", [])),
                "backend_id": o.get("backend_id", ""),
                "description": o.get("description", ""),
                "managers": [users[name]["uuid"] for name in o.get("managers", [])],
            },
        )
        offerings[o["name"]] = offering
        for p in o.get("plans", []):
            plans[p["name"]] = state.put(
                "plans",
                {
                    "name": p["name"],
                    "offering": offering["uuid"],
                    "quotas": dict(p.get("quotas", {})),
                    "prices": dict(p.get("prices", {})),
                    "unit": p.get("unit", "month"),
                },
            )
    projects: dict[str, Obj] = {}
    for p in spec.get("projects", []):
        project = new_project(state, customers[p["customer"]]["uuid"], p["name"], p)
        projects[p["name"]] = project
        for member in p.get("members", []):
            grant_role(state, project, users[member["user"]], member["role"])
    for k in spec.get("ssh_keys", []):
        add_key(state, users[k["user"]], k.get("name", "key"), k["public_key"])
    for client in spec.get("oidc_clients", []):
        state.put("oidc_clients", {**client, "user": users[client["user"]]["uuid"]})
    for r in spec.get("resources", []):
        offering, project = offerings[r["offering"]], projects[r["project"]]
        plan = plans.get(r.get("plan", "")) or state.first("plans", offering=offering["uuid"])
        state.put(
            "resources",
            {
                "name": r["name"],
                "slug": unique_slug(state, "resources", r["name"]),
                "offering": offering["uuid"],
                "project": project["uuid"],
                "plan": plan["uuid"] if plan else None,
                "state": r.get("state", "OK"),
                "backend_id": r.get("backend_id", ""),
                "limits": dict(r.get("limits", {})),
                "attributes": {"name": r["name"]},
                "backend_metadata": {},
                "endpoints": [],
                "current_usages": {},
            },
        )
        ensure_offering_users(state, offering, project["uuid"])
    state.commit()


def summary(state: State, api_url: str) -> dict[str, Any]:
    """What scripts need: tokens, and the offerings and projects with their URLs."""
    base = api_url.rstrip("/")
    staff = next((u for u in state.all("users") if u["is_staff"]), None)
    offerings = list(state.all("offerings"))
    provider = None
    if offerings:
        customer = state.get("customers", offerings[0]["customer"]) or {}
        owners = customer.get("owners", [])
        provider = state.get("users", owners[0]) if owners else None
    return {
        "api_url": api_url,
        "staff_token": staff["token"] if staff else None,
        "provider_token": provider["token"] if provider else None,
        "offerings": [
            {
                "uuid": o["uuid"],
                "name": o["name"],
                "url": f"{base}/marketplace-public-offerings/{o['uuid']}/",
                "provider_url": f"{base}/marketplace-provider-offerings/{o['uuid']}/",
                "plans": [
                    {
                        "uuid": p["uuid"],
                        "name": p["name"],
                        "url": f"{base}/marketplace-public-plans/{p['uuid']}/",
                    }
                    for p in state.find("plans", offering=o["uuid"])
                ],
            }
            for o in offerings
        ],
        "projects": [
            {"uuid": p["uuid"], "name": p["name"], "url": f"{base}/projects/{p['uuid']}/"}
            for p in state.all("projects")
        ],
        "oidc": [
            {
                "token_url": f"{base.removesuffix('/api')}/_idp/token/",
                "client_id": c["client_id"],
                "client_secret": c["client_secret"],
            }
            for c in state.all("oidc_clients")
        ],
        "users": {
            u["username"]: {"uuid": u["uuid"], "token": u["token"]} for u in state.all("users")
        },
    }
