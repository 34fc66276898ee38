"""`test-order` (upstream's `waldur_site_test_order`): check an order before Waldur sends one.

An order comes from a template (built in, or a JSON file of `--template-dir`) filled with
`--var name=value`, or from a JSON file (`--order-file`). It is checked as upstream's harness
checks it (a known type, valid UUIDs, the resource an Update or Terminate needs) and, with a
config, against the offering (its components); `--use-real-backend` also builds the offering's
order plugin as the agent does and pings it. Nothing is sent to Waldur and, without
`--use-real-backend`, the backend is not touched. Exit 0 when the order passes, 1 when not,
2 for a config that does not load.

A template is the order's JSON with `${name}` placeholders, and an optional `"defaults"` object
of values for them; a string that is only a placeholder takes the value's type (`"${cpu}"` with
`--var cpu=4` is the number 4). `order_uuid`, `project_uuid`, `customer_uuid`,
`marketplace_resource_uuid` (new UUIDs) and `created` (now) need no value.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid as uuidlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ORDER_TYPES = ("Create", "Update", "Terminate", "Restore")
UUID_FIELDS = (
    "uuid",
    "offering_uuid",
    "marketplace_resource_uuid",
    "project_uuid",
    "customer_uuid",
)
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")

_CREATE = {
    "uuid": "${order_uuid}",
    "type": "Create",
    "resource_name": "${resource_name}",
    "project_slug": "${project_slug}",
    "customer_slug": "${customer_slug}",
    "project_uuid": "${project_uuid}",
    "customer_uuid": "${customer_uuid}",
    "offering_uuid": "${offering_uuid}",
    "marketplace_resource_uuid": "${marketplace_resource_uuid}",
    "state": "executing",
    "created": "${created}",
    "attributes": {"name": "${resource_name}"},
}
_NAMES = {
    "resource_name": "test-allocation",
    "project_slug": "test-project",
    "customer_slug": "test-customer",
}
TEMPLATES: dict[str, dict[str, Any]] = {
    "create/basic.json": {**_CREATE, "defaults": _NAMES},
    "create/with-limits.json": {
        **_CREATE,
        "limits": {"cpu": "${cpu_limit}", "mem": "${mem_limit}"},
        "defaults": {**_NAMES, "cpu_limit": 1000, "mem_limit": 2000},
    },
    "update/limits-only.json": {
        "uuid": "${order_uuid}",
        "type": "Update",
        "resource_name": "${resource_name}",
        "marketplace_resource_uuid": "${marketplace_resource_uuid}",
        "offering_uuid": "${offering_uuid}",
        "state": "executing",
        "created": "${created}",
        "limits": {"cpu": "${new_cpu_limit}", "mem": "${new_mem_limit}"},
        "defaults": {"resource_name": "test-allocation", "new_mem_limit": 2000},
    },
    "terminate/basic.json": {
        "uuid": "${order_uuid}",
        "type": "Terminate",
        "resource_name": "${resource_name}",
        "marketplace_resource_uuid": "${marketplace_resource_uuid}",
        "offering_uuid": "${offering_uuid}",
        "state": "executing",
        "created": "${created}",
        "defaults": {"resource_name": "test-allocation"},
    },
}
"""Built in, under upstream's names; upstream's variables (`resource_name`, `cpu_limit`, ...)."""


class Result:
    def __init__(self, order: dict[str, Any]) -> None:
        self.order = order
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.operations: list[dict[str, str]] = []
        self.started = time.monotonic()

    def as_dict(self) -> dict[str, Any]:
        return {
            "success": not self.errors,
            "order_uuid": str(self.order.get("uuid") or ""),
            "order_type": str(self.order.get("type") or ""),
            "resource_name": self.order.get("resource_name"),
            "backend_operations": self.operations,
            "errors": self.errors,
            "warnings": self.warnings,
            "execution_time_seconds": round(time.monotonic() - self.started, 3),
        }

    def show(self, verbose: bool, as_json: bool) -> None:
        data = self.as_dict()
        if as_json:
            print(json.dumps(data, indent=2))
            return
        print(f"Test Result: {'SUCCESS' if data['success'] else 'FAILED'}")
        print(f"Order UUID: {data['order_uuid']}")
        print(f"Order Type: {data['order_type']}")
        if data["resource_name"]:
            print(f"Resource Name: {data['resource_name']}")
        print(f"Execution Time: {data['execution_time_seconds']:.2f}s")
        for title, items in (("Warnings", self.warnings), ("Errors", self.errors)):
            if items:
                print(f"\n{title}:")
                for item in items:
                    print(f"  - {item}")
        if verbose and self.operations:
            print("\nBackend Operations:")
            for number, operation in enumerate(self.operations, 1):
                print(f"  {number}. {operation}")


def run(args: argparse.Namespace) -> int:
    from waldur_site_agent_actors.agent.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK

    templates = _templates(args.template_dir)
    if args.list_templates:
        print("Available templates:" if templates else "No templates found")
        for name in sorted(templates):
            print(f"  - {name}")
        return EXIT_OK
    try:
        order = _order(args, templates)
    except (ValueError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.generate_only:
        text = json.dumps(order, indent=2)
        if args.output:
            Path(args.output).write_text(text + "\n")
            print(f"Generated order saved to: {args.output}")
        else:
            print(text)
        return EXIT_OK
    result = Result(order)
    check_order(order, result)
    if not args.validate_only:
        from waldur_site_agent_actors.agent.cli import load_or_report

        loaded = load_or_report(args.config_file, args.strict)
        if loaded is None:
            return EXIT_CONFIG
        _check_against_offering(loaded.config, args, result)
    result.show(args.verbose, args.json_output)
    return EXIT_OK if not result.errors else EXIT_FAILURE


def _templates(directory: str | None) -> dict[str, Any]:
    """Name -> template (parsed), or the file's text when it is not JSON."""
    if not directory:
        return dict(TEMPLATES)
    found: dict[str, Any] = {}
    for path in sorted(Path(directory).rglob("*.json")):
        text = path.read_text()
        try:
            found[str(path.relative_to(directory))] = json.loads(text)
        except ValueError:
            found[str(path.relative_to(directory))] = text
    return found


def _order(args: argparse.Namespace, templates: dict[str, Any]) -> dict[str, Any]:
    if args.order_file:
        order = json.loads(Path(args.order_file).read_text())
    elif args.template:
        if args.template not in templates:
            raise ValueError(f"no template {args.template!r} (see --list-templates)")
        template = templates[args.template]
        if not isinstance(template, dict):
            raise ValueError(
                f"template {args.template!r} is not JSON with ${{name}} placeholders "
                "(upstream's Jinja templates are not read here)"
            )
        order = fill(template, variables(args.variables or []))
    else:
        raise ValueError("give --template or --order-file")
    if not isinstance(order, dict):
        raise ValueError("an order is a JSON object")
    return order


def variables(given: list[str]) -> dict[str, Any]:
    """`name=value` pairs; a value that reads as JSON (a number, true, an object) is that."""
    found: dict[str, Any] = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--var {item!r}: expected NAME=VALUE")
        try:
            found[name] = json.loads(value)
        except ValueError:
            found[name] = value
    return found


def fill(template: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    values = {
        "order_uuid": str(uuidlib.uuid4()),
        "project_uuid": str(uuidlib.uuid4()),
        "customer_uuid": str(uuidlib.uuid4()),
        "marketplace_resource_uuid": str(uuidlib.uuid4()),
        "created": datetime.now(UTC).isoformat(),
        **template.get("defaults", {}),
        **given,
    }
    missing: set[str] = set()

    def filled(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: filled(item) for key, item in value.items()}
        if isinstance(value, list):
            return [filled(item) for item in value]
        if not isinstance(value, str):
            return value
        whole = PLACEHOLDER.fullmatch(value)
        if whole:
            if whole.group(1) not in values:
                missing.add(whole.group(1))
            return values.get(whole.group(1))
        for name in PLACEHOLDER.findall(value):
            if name not in values:
                missing.add(name)
        return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), value)

    order = filled({key: item for key, item in template.items() if key != "defaults"})
    if missing:
        needed = " ".join(f"--var {name}=..." for name in sorted(missing))
        raise ValueError(f"the template needs {needed}")
    return order


def check_order(order: dict[str, Any], result: Result) -> None:
    """Upstream's checks, from the order's own fields."""
    import msgspec

    from waldur_site_agent_actors.actors.waldur.models import Order

    if not order.get("uuid"):
        result.warnings.append("no order UUID: one is made up")
        order["uuid"] = str(uuidlib.uuid4())
    kind = order.get("type")
    if not kind:
        result.errors.append("no order type")
    elif kind not in ORDER_TYPES:
        result.errors.append(f"order type {kind!r} is none of {', '.join(ORDER_TYPES)}")
    for key in UUID_FIELDS:
        value = order.get(key)
        if value:
            try:
                uuidlib.UUID(str(value))
            except ValueError:
                result.errors.append(f"{key} {value!r} is not a UUID")
    try:
        msgspec.convert(order, Order, strict=False)
    except msgspec.ValidationError as exc:
        result.errors.append(f"not an order Waldur would send: {exc}")
    if kind == "Create":
        if not order.get("resource_name"):
            result.warnings.append("no resource name for a Create order")
        if not order.get("marketplace_resource_uuid"):
            result.warnings.append("no marketplace resource UUID for a Create order")
    elif kind in ("Update", "Terminate", "Restore") and not order.get("marketplace_resource_uuid"):
        result.errors.append(f"the {kind} order needs its marketplace_resource_uuid")


def _check_against_offering(config: Any, args: argparse.Namespace, result: Result) -> None:
    order = result.order
    wanted = args.offering_uuid or order.get("offering_uuid") or ""
    offering = next(
        (o for o in config.offerings if _same_uuid(o.waldur_offering_uuid, wanted)), None
    )
    if offering is None:
        if args.offering_uuid:
            result.errors.append(f"no offering {args.offering_uuid} in the config")
            return
        offering = config.offerings[0]
        if wanted:
            result.warnings.append(f"offering {wanted} is not in the config: {offering.name} used")
    unknown = set(order.get("limits") or {}) - set(offering.backend_components)
    if unknown:
        result.errors.append(
            f"limits of {', '.join(sorted(unknown))}: no such component in {offering.name}"
        )
    if not offering.backend_for("order"):
        result.errors.append(f"{offering.name} has no order processing backend")
    elif args.use_real_backend:
        _ping(config, offering, result)


def _ping(config: Any, offering: Any, result: Result) -> None:
    from waldur_site_agent_actors.agent.site_tools import _backend

    name = offering.backend_for("order")
    try:
        backend = _backend(config, offering, "order")
        answered = bool(backend is not None and backend.ping(raise_exception=True))
        outcome = "ok" if answered else "no answer"
    except Exception as exc:  # the plugin's failure, whatever its kind, is this check's result
        answered, outcome = False, f"failed: {exc}"
    result.operations.append({"operation": "ping", "backend": name, "result": outcome})
    if not answered:
        result.errors.append(f"backend {name} of {offering.name}: ping {outcome}")


def _same_uuid(a: str, b: str) -> bool:
    try:
        return uuidlib.UUID(a) == uuidlib.UUID(b)
    except ValueError:
        return False
