"""The shipped dashboard and alert rules query only metrics the agent exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from waldur_site_agent_actors.actors import metrics

MONITORING = Path(__file__).resolve().parents[2] / "packaging" / "monitoring"
NAME = re.compile(r"\b(?:waldur_site_agent_\w+|process_\w+)")
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}


def exported() -> set[str]:
    """Every sample name the agent's registry can expose."""
    families = metrics.enable()
    try:
        names = set()
        for family in families.registry.collect():
            names.add(family.name)
            names.update(family.name + s for s in SUFFIXES.get(family.type, []))
            if family.type == "info":
                names.add(family.name + "_info")
        return names
    finally:
        metrics.disable()


def test_every_dashboard_query_names_exported_metrics():
    dashboard = json.loads((MONITORING / "waldur-site-agent-dashboard.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    named = {name for q in queries for name in NAME.findall(q)}
    assert named - exported() == set()
    # every family of docs/monitoring.md has a panel
    families = {
        n.removesuffix("_bucket").removesuffix("_sum").removesuffix("_total") for n in named
    }
    assert len(families) >= 25, sorted(families)


def test_every_alert_names_exported_metrics():
    rules = (MONITORING / "waldur-site-agent-alerts.yml").read_text()
    named = set(NAME.findall(rules))
    assert named and named - exported() == set()


def test_every_exported_family_is_documented():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "monitoring.md").read_text()
    families = metrics.enable().registry.collect()
    try:
        ours = {
            f.name.removeprefix("waldur_site_agent_") + ("_info" if f.type == "info" else "")
            for f in families
            if "waldur_site_agent" in f.name
        }
    finally:
        metrics.disable()
    documented = set(re.findall(r"^\| `(\w+)`", doc, re.M))
    documented = {d.removesuffix("_total") for d in documented}
    assert ours - documented == set()
