"""order_process: orders that need the provider are approved and carried out on the backend.

Idempotent across restarts: an executing order whose resource already exists on the backend
completes instead of creating it twice, and a replayed `set_state_done` is harmless. An account
is adopted only when the backend's owner record names the resource (`BaseBackend.claim`), so
no two resources ever share one, and a terminate never deletes another resource's account. An
order the agent cannot read fails alone: the sweep goes on with the others.
"""

from __future__ import annotations

from typing import Any

import msgspec

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors import metrics
from waldur_site_agent_actors.actors.api_keys import ResourceKeys
from waldur_site_agent_actors.actors.child import ModeActor
from waldur_site_agent_actors.actors.convert import waldur_resource
from waldur_site_agent_actors.actors.failure import said
from waldur_site_agent_actors.actors.imports import ResourceImports
from waldur_site_agent_actors.actors.pulled import apply_updates
from waldur_site_agent_actors.actors.user_context import Lookups, member_details
from waldur_site_agent_actors.actors.waldur.client import (
    Unreadable,
    UnreadableItem,
    WaldurError,
    WaldurUnreachable,
)
from waldur_site_agent_actors.actors.waldur.models import Order, Resource
from waldur_site_agent_actors.actors.waldur.orders import TERMINAL_STATES
from waldur_site_agent_actors.backends import backend_ids
from waldur_site_agent_actors.backends.backend_ids import Claim
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    BackendNotReadyError,
    CommandTimeout,
    DuplicateResourceError,
)
from waldur_site_agent_actors.backends.structures import (
    BackendResourceInfo,
    WaldurResource,
    is_linked,
)

RETRY_SECONDS = 15.0
"""An order left for later on a transient error is swept again at most this late, not a period
later (an hour with events, where the sweep is only the reconciliation)."""
FIRST_RETRY_SECONDS = 1.0
"""The first sweep after orders were left for later comes this soon: one dropped call keeps its
order waiting a second, not 15. The delay doubles up to RETRY_SECONDS while sweeps leave orders
and finish none (Waldur down), and is back to this after a sweep that finishes one: a few calls
failing among many that succeed is no reason to make the orders they left wait longer."""


class OrderActor(ModeActor):
    mode = "order_process"
    role = "order"
    tick = m.OrderTick()
    retry_wanted = False
    retry_delay = FIRST_RETRY_SECONDS

    def prepare(self) -> None:
        self.open_lanes()
        self.unreadable: dict[str, str] = {}
        """Orders that could not be read (by uuid, or by reason for one without), with why:
        each is reported to Waldur and logged once."""
        self.id_rules = backend_ids.settings_of(self.offering.backend_settings)
        caps = self.wait(self.backend.capabilities(self.role))
        # Upstream's flags: an order's own backend_id is a remote order to wait for only for a
        # backend with asynchronous orders (others may carry one set by someone else), and the
        # cycle starts with the backend's preflight only for one that declares it.
        self.async_orders: bool = caps["supports_async_orders"]
        self.preflight: bool = caps["supports_cycle_preflight"]
        # Upstream plugins keep no owner record: to them the backend id Waldur holds is the
        # resource's account, so Waldur hears a name only once the backend made it (as upstream
        # does); told first, a name the backend refuses as taken would pass for this resource's.
        self.name_first: bool = not caps["upstream"]
        self.keys = (
            ResourceKeys(
                self.context.uuid,
                self.plugin,
                self.waldur,
                self.log,
                self.context.root.expose_backend_error_details,
                self.context.events,
            )
            if caps["supports_resource_api_keys"]
            else None
        )
        self.imports = ResourceImports(
            self.context.uuid,
            self.plugin,
            self.waldur,
            self.log,
            self.context.root.expose_backend_error_details,
        )

    def receive(self, message: Any) -> Any:
        try:
            return super().receive(message)
        finally:
            # Lanes only ask; the sweep is rescheduled here, in the actor's own thread.
            if self.retry_wanted:
                self.retry_wanted = False
                self.schedule(self.retry_delay)
                self.retry_delay = min(RETRY_SECONDS, self.retry_delay * 2)

    def handle(self, message: Any) -> Any:
        if isinstance(message, m.OrderChanged):
            self.on_event(message)
        elif isinstance(message, m.PeriodicSettingsRequested):
            self.apply_periodic_settings(message)
        elif isinstance(message, m.ImportRequested):
            self.answer_import(message)
        elif isinstance(message, m.KeyRotationRequested):
            self.rotate_key(message)
        else:
            return super().handle(message)
        return None

    def cycle(self) -> None:
        try:
            self.wait(self.backend.cycle_started(self.role))
            if self.preflight:
                self.wait(self.plugin.run_preflight())
            listing = self.waldur.orders.actionable(self.context.uuid, self.user_agent).get()
        except BackendNotReadyError as exc:
            self.log.warning("orders left for the next cycle, the backend is not ready: %s", exc)
            self.finished(error=str(exc))
            return
        except (WaldurError, WaldurUnreachable) as exc:
            self.log.warning("cannot list orders: %s", exc)
            self.retry_soon()
            self.finished(error=str(exc))
            return
        listed = {item.uuid or item.reason for item in listing.unreadable}
        self.unreadable = {k: v for k, v in self.unreadable.items() if k in listed}
        for item in listing.unreadable:
            self.refuse_unreadable(item)
        done = self.process_all(listing.items, self.lookups())
        seen = len(listing.items) + len(listing.unreadable)
        if self.offering.resource_import_enabled and not self.stopping:
            self.sweep_imports()
        if self.keys is not None and not self.stopping:
            self.sweep_keys()
        if done or not self.retry_wanted:
            self.retry_delay = FIRST_RETRY_SECONDS
        self.finished(summary=f"{seen} order(s) seen, {done} finished", fixed=done)

    def sweep_keys(self) -> None:
        assert self.keys is not None
        try:
            self.keys.sweep()
        except (WaldurError, WaldurUnreachable) as exc:
            self.log.warning("API key rotations not swept now: %s", exc)

    def rotate_key(self, event: m.KeyRotationRequested) -> None:
        """A rotation the sweep would find too (the key stays Updating): a failure to reach
        Waldur leaves it to the sweep."""
        if self.keys is None:
            self.log.warning("API key rotation asked of a plugin without API keys: dropped")
        else:
            try:
                self.keys.on_event(event)
            except (WaldurError, WaldurUnreachable) as exc:
                self.log.warning("API key rotation left for a sweep: %s", exc)
        m.acknowledge(event)

    def sweep_imports(self) -> None:
        try:
            self.imports.sweep()
        except (WaldurError, WaldurUnreachable) as exc:
            self.log.warning("import requests not answered now: %s", exc)

    def answer_import(self, event: m.ImportRequested) -> None:
        """An event for a request the sweep would find too: a failure leaves it to the sweep."""
        if self.offering.resource_import_enabled:
            try:
                self.imports.answer(event.request_uuid)
            except (WaldurError, WaldurUnreachable) as exc:
                self.log.warning("import request %s left for a sweep: %s", event.request_uuid, exc)
        m.acknowledge(event)

    def on_event(self, event: m.OrderChanged) -> None:
        if event.order_state not in TERMINAL_STATES:
            try:
                self.wait(self.backend.cycle_started(self.role))
                self.process(self.waldur.orders.get(event.order_uuid).get(), self.lookups())
            except Unreadable as exc:
                self.refuse_unreadable(UnreadableItem(event.order_uuid, exc.reason))
            except (WaldurError, WaldurUnreachable) as exc:
                # The periodic sweep picks the order up again; the event is not lost.
                self.log.warning("order %s from an event: %s", event.order_uuid, exc)
                if exc.transient:
                    self.retry_soon()
        m.acknowledge(event)

    def apply_periodic_settings(self, event: m.PeriodicSettingsRequested) -> None:
        """A periodic usage policy's settings onto the resource's account, and the outcome back
        to the policy. The event is acknowledged once Waldur has the outcome: no sweep would
        bring a lost one back, so a Waldur that cannot be reached means trying again later."""
        try:
            resource = self.waldur.resources.get(event.resource_uuid).get()
            if resource.offering_uuid != self.context.uuid or not resource.backend_id:
                self.log.warning(
                    "periodic settings for resource %s ignored: not an account of this offering",
                    event.resource_uuid,
                )
            else:
                result = self._periodic_result(resource.backend_id, event.settings)
                self.waldur.resources.report_periodic_settings(
                    event.policy_uuid, resource.uuid, result
                ).get()
        except (WaldurError, WaldurUnreachable) as exc:
            if exc.transient and not self.stopping:
                self.log.warning("periodic settings of %s delayed: %s", event.resource_uuid, exc)
                self.context.timer.once(self.actor_ref, event, RETRY_SECONDS)
                return
            self.log.error("periodic settings of %s dropped: %s", event.resource_uuid, exc)
        m.acknowledge(event)

    def _periodic_result(self, backend_id: str, settings: dict[str, Any]) -> dict[str, Any]:
        try:
            applied = self.wait(self.plugin.apply_periodic_settings(backend_id, settings))
            result = dict(applied)
        except Exception as exc:  # the plugin broke its promise not to raise: report it
            result = {"success": False, "error": said(exc), "commands_executed": []}
        if result.get("success"):
            self.log.info(
                "periodic settings applied to %s (%d command(s))",
                backend_id,
                len(result.get("commands_executed") or []),
            )
        else:
            self.log.warning("periodic settings of %s failed: %s", backend_id, result.get("error"))
        return result

    def refuse_unreadable(self, item: UnreadableItem) -> None:
        """An order Waldur sent in a form the agent cannot decode: its error message says why
        (Waldur errs it when it is executing, and keeps the message on a pending one), logged
        once; the other orders carry on."""
        key = item.uuid or item.reason
        if self.unreadable.get(key) == item.reason:
            return
        self.log.error("order %s cannot be read, left undone: %s", item.uuid or "?", item.reason)
        self.unreadable[key] = item.reason
        if not item.uuid:
            return  # nothing to tell Waldur about
        message = f"The site agent cannot read this order: {item.reason}"
        try:
            self.waldur.orders.set_erred(item.uuid, message).get()
        except (WaldurError, WaldurUnreachable) as exc:
            self.log.warning("cannot tell Waldur that order %s is unreadable: %s", item.uuid, exc)
            del self.unreadable[key]  # told on the next sweep

    def retry_soon(self) -> None:
        self.retry_wanted = True

    def lookups(self) -> Lookups:
        return Lookups(self.waldur, self.backend, self.context)

    def process_all(self, orders: list[Order], lookups: Lookups) -> int:
        """The sweep's orders, those of different resources in different lanes; how many
        reached a final state. A plugin with API keys gets them one at a time: its key
        bookkeeping (`ResourceKeys`) is the actor's own."""
        by_resource: dict[str, list[Order]] = {}
        for order in orders:
            by_resource.setdefault(order.marketplace_resource_uuid or order.uuid, []).append(order)
        if len(by_resource) < 2 or self.keys is not None or self.lanes is None:
            return self.process_in_turn(orders, lookups)
        groups = list(by_resource.values())
        return sum(self.lanes.map(lambda group: self.process_in_turn(group, lookups), groups))

    def process_in_turn(self, orders: list[Order], lookups: Lookups) -> int:
        done = 0
        for order in orders:
            if self.stopping:
                break
            done += self.process(order, lookups)
        return done

    def process(self, order: Order, lookups: Lookups) -> bool:
        """Carry one order as far as it can go now; True when it reached a final state."""
        try:
            if order.state == "pending-provider":
                verdict = self._evaluate(order)
                if verdict != "accept":
                    return verdict == "reject"
                # From here a failure must end the order erred, so `_fail` sees the new state.
                order = msgspec.structs.replace(order, state="executing")
            return self._execute(order, lookups)
        except (WaldurUnreachable, BackendNotReadyError, CommandTimeout) as exc:
            # A command that timed out may or may not have done its work; the next cycle finds
            # out, every step being idempotent (an existing account is adopted, not recreated).
            self.log.warning("order %s left for a later cycle: %s", order.uuid, exc)
            self.retry_soon()
            metrics.order_handled(self.offering.name, order.type, "retried")
        except WaldurError as exc:
            if exc.transient:
                self.log.warning("order %s left for a later cycle: %s", order.uuid, exc)
                self.retry_soon()
                metrics.order_handled(self.offering.name, order.type, "retried")
            else:
                self._fail(order, exc)
        except Exception as exc:  # the backend refused or broke: the order fails, visibly
            self._fail(order, exc)
        return False

    def _evaluate(self, order: Order) -> str:
        """Ask the plugin about a pending order and tell Waldur; returns the verdict."""
        decision = self.wait(self.plugin.evaluate_pending_order(order))
        if decision.verdict == "reject":
            self.waldur.orders.reject(order.uuid, decision.reason).get()
            self.log.info("order %s rejected: %s", order.uuid, decision.reason)
            metrics.order_handled(self.offering.name, order.type, "rejected")
        elif decision.verdict == "accept":
            try:
                self.waldur.orders.approve(order.uuid).get()
            except WaldurError as exc:
                # A replayed approve whose first try went through is refused: that is fine.
                if (
                    exc.status != 409
                    or self.waldur.orders.get(order.uuid).get().state != "executing"
                ):
                    raise
        return str(decision.verdict)

    def _execute(self, order: Order, lookups: Lookups) -> bool:
        if order.state != "executing":
            return False
        pending = order.backend_id if self.async_orders else None
        if pending:
            if not self._pending_finished(pending):
                return False
            if order.type in ("Create", "Restore"):
                self._take_updates(order, lookups)
        if not pending:
            handler = {
                "Create": self._create,
                "Restore": self._create,
                "Update": self._update,
                "Terminate": self._terminate,
            }.get(order.type)
            if handler is None:
                raise ValueError(f"unknown order type {order.type!r}")
            pending_id = handler(order, lookups)
            if pending_id and self.async_orders:
                # Non-blocking backend: remember the remote order, check it on later cycles.
                self.waldur.orders.set_backend_id(order.uuid, pending_id).get()
                self.log.info("order %s waits for backend order %s", order.uuid, pending_id)
                return False
        self._mark_done(order)
        return True

    def _take_updates(self, order: Order, lookups: Lookups) -> None:
        """A resource the backend finished creating: what Waldur takes from it (the federation:
        the id B's provider gave it, its effective id here). Membership sync does it again, so
        a failure here only delays it."""
        try:
            resource = lookups.resource(order.marketplace_resource_uuid)
            apply_updates(self.waldur, self.plugin, waldur_resource(resource), self.log)
        except (WaldurError, BackendError) as exc:
            self.log.warning("order %s: the backend's view not taken yet: %s", order.uuid, exc)

    def _pending_finished(self, backend_id: str) -> bool:
        return bool(self.wait(self.plugin.check_pending_order(backend_id)))

    def _create(self, order: Order, lookups: Lookups) -> str | None:
        resource = lookups.resource(order.marketplace_resource_uuid)
        lookups.offering()  # the plugin names and links by the offering's current options
        context = lookups.user_context(resource)
        taken: set[str] = set()
        while True:
            target = waldur_resource(resource)
            backend_id, claim = self._backend_id_for(target, taken)
            if self.name_first and backend_id and backend_id != resource.backend_id:
                # Waldur hears the name before the backend has it: whatever a create failing
                # half-way leaves behind belongs to a resource Waldur knows, so nothing leaks.
                self.waldur.resources.set_backend_id(resource.uuid, backend_id).get()
                resource = msgspec.structs.replace(resource, backend_id=backend_id)
            try:
                info = self._adopt_or_create(
                    order, target.with_backend_id(backend_id), claim, context
                )
            except DuplicateResourceError:
                if claim != "free":
                    raise
                # Someone made it between the look and the create: the next name.
                taken.add(backend_id)
                continue
            self._publish(resource, target, info, context)
            if self.keys is not None and not info.pending_order_id:
                self.keys.provision(resource.uuid, info.backend_id)
            return str(info.pending_order_id) if info.pending_order_id else None

    def _backend_id_for(self, target: WaldurResource, taken: set[str]) -> tuple[str, Claim]:
        """The name this resource's account has or gets, and what the backend holds there.

        The one Waldur already has comes first (an earlier run's, or a restored resource's),
        then the plugin's candidates. A name is used only if the backend has nothing there or
        an account recorded as this resource's; a name no one is recorded for is left alone
        too. With `check_backend_id_uniqueness`, a new name must also never have been used in
        Waldur. "" when the backend names what it creates (it offers no candidates)."""
        candidates = self.wait(self.plugin.backend_id_candidates(target))
        names = list(
            dict.fromkeys([target.backend_id, *candidates] if target.backend_id else candidates)
        )
        for name in names:
            if name in taken:
                continue
            claim: Claim = self.wait(self.plugin.claim(target, name))
            if claim == "ours":
                return name, claim
            if claim != "free":
                self.log.warning(
                    "resource %s: %s on the backend is %s, not taken over",
                    target.uuid,
                    name,
                    "another resource's" if claim == "theirs" else "recorded as no resource's",
                )
                continue
            if name == target.backend_id or self._unused_in_waldur(name):
                return name, claim
        if not candidates:
            return "", "free"
        raise BackendError(
            f"no backend id left for resource {target.uuid}: {len(names)} name(s) from "
            f"{names[0]!r} on are held by other resources (backend_id_max_retries)"
        )

    def _unused_in_waldur(self, backend_id: str) -> bool:
        rules = self.id_rules
        if not rules.check_backend_id_uniqueness:
            return True
        try:
            unique = bool(
                self.waldur.offerings.is_backend_id_unique(
                    self.context.uuid, backend_id, rules.check_all_offerings
                ).get()
            )
        except WaldurError as exc:
            if exc.transient:
                raise
            # Upstream's choice: a Waldur that cannot answer the check does not stop creation.
            self.log.warning("backend id %s not checked in Waldur: %s", backend_id, exc)
            return True
        if not unique:
            self.log.info("backend id %s was used in Waldur before: the next one", backend_id)
        return unique

    def _adopt_or_create(
        self, order: Order, target: WaldurResource, claim: Claim, context: dict[str, Any]
    ) -> BackendResourceInfo:
        backend_id = target.backend_id
        existing = None
        if claim == "ours":
            existing = self.wait(self.plugin.pull_resource(target))
        if existing is None:
            # A free name, or this resource's account half made (the plugin completes it).
            created = self.plugin.create_resource_with_id(target, backend_id, context)
            info: BackendResourceInfo = self.wait(created)
            self.log.info("order %s: created %s", order.uuid, info.backend_id)
            return info
        # Created by an earlier run that stopped before telling Waldur: adopt, not twice, and
        # set the limits again in case it stopped before them (setting is idempotent).
        self.log.info("resource %s already exists on the backend as %s", target.uuid, backend_id)
        pending_id = self.wait(self.plugin.apply_resource_limits(target))
        return BackendResourceInfo(backend_id=backend_id, pending_order_id=pending_id or "")

    def _publish(
        self,
        resource: Resource,
        target: WaldurResource,
        info: BackendResourceInfo,
        context: dict[str, Any],
    ) -> None:
        """Tell Waldur what the backend made, and link the team; every step is idempotent."""
        resources = self.waldur.resources
        if info.backend_id != resource.backend_id:
            resources.set_backend_id(resource.uuid, info.backend_id).get()
        _, waldur_limits = self.wait(self.plugin.collect_limits(target))
        if waldur_limits and not same_limits(waldur_limits, resource.limits or {}):
            resources.set_limits(resource.uuid, waldur_limits).get()
        if info.backend_metadata:
            resources.set_backend_metadata(resource.uuid, info.backend_metadata).get()
        if info.endpoints:
            endpoints = [{"name": e.name, "url": e.url} for e in info.endpoints]
            resources.set_endpoints(resource.uuid, endpoints).get()
        usernames = {
            t["offering_user_username"]
            for t in context.get("team", [])
            if is_linked(t.get("offering_user_username"), t.get("offering_user_state"))
        }
        if usernames:
            details = member_details(context.get("team", []), resource)
            added = self.plugin.add_users_to_resource(info.backend_id, usernames, **details)
            self.wait(added)

    def _update(self, order: Order, lookups: Lookups) -> str | None:
        resource = lookups.resource(order.marketplace_resource_uuid)
        limits = dict(order.limits) or lookups.plan_quotas(order.plan_uuid)
        if not resource.backend_id:
            raise ValueError(f"resource {resource.uuid} has no backend id to update")
        new_options = order.attributes.get("new_options")
        if isinstance(new_options, dict) and new_options:
            pending = self.wait(
                self.plugin.set_resource_options(waldur_resource(resource), new_options)
            )
            self.log.info(
                "order %s: options %s of %s applied",
                order.uuid,
                ", ".join(sorted(new_options)),
                resource.backend_id,
            )
            if pending:
                # An option change carries the resource's limits unchanged: nothing else to do.
                return str(pending)
        if self.wait(self.plugin.has_prepaid_components()):
            # The budget is limit x duration: a renewal changes the duration with the same
            # limits, so the backend recomputes it from the whole resource either way.
            target = msgspec.structs.replace(waldur_resource(resource), limits=dict(limits))
            pending = self.wait(self.plugin.apply_resource_limits(target))
        elif same_limits(limits, resource.limits or {}):
            return None
        else:
            pending = self.wait(self.plugin.set_resource_limits(resource.backend_id, limits))
        self.log.info("order %s: limits of %s set to %s", order.uuid, resource.backend_id, limits)
        return str(pending) if pending else None

    def _terminate(self, order: Order, lookups: Lookups) -> str | None:
        """Delete the resource's account, unless the backend records it as another resource's.
        An account without a record (made by upstream's agent, or by hand) is deleted: Waldur
        naming it as this resource's is all there is to go by."""
        target = waldur_resource(lookups.resource(order.marketplace_resource_uuid))
        if target.backend_id:
            claim = self.wait(self.plugin.claim(target, target.backend_id))
            if claim == "theirs":
                self.log.warning(
                    "order %s: %s belongs to another resource on the backend: not deleted",
                    order.uuid,
                    target.backend_id,
                )
                return None
        pending = self.wait(self.plugin.delete_resource(target))
        self.log.info("order %s: deleted %s", order.uuid, target.backend_id)
        if self.keys is not None and target.backend_id:
            # Keys are gone with the user (or revoked by a soft delete): metadata showing
            # them must not outlive them.
            self.keys.republish_metadata(target.uuid, target.backend_id)
        return str(pending) if pending else None

    def _mark_done(self, order: Order) -> None:
        try:
            self.waldur.orders.set_done(order.uuid).get()
        except WaldurError as exc:
            # Refused when the order is no longer executing: done by an earlier run is fine.
            if exc.transient or self.waldur.orders.get(order.uuid).get().state != "done":
                raise
        self.log.info("order %s (%s) done", order.uuid, order.type)
        metrics.order_handled(self.offering.name, order.type, "done")

    def _fail(self, order: Order, exc: BaseException) -> None:
        message, trace = self.waldur_error(exc)
        self.log.error("order %s (%s) failed: %s", order.uuid, order.type, said(exc))
        if order.state == "pending-provider":
            metrics.order_handled(self.offering.name, order.type, "retried")
            return  # nothing was provisioned; a later cycle evaluates it again
        metrics.order_handled(self.offering.name, order.type, "erred")
        try:
            self.waldur.orders.set_erred(order.uuid, message, trace).get()
            if order.type == "Terminate" and order.marketplace_resource_uuid:
                # Waldur turns the resource OK again, but a deletion may have stopped half-way,
                # and an Erred resource may lack its limits: membership sync brings it back to
                # OK once a sync is clean, with Waldur's limits set again.
                resources = self.waldur.resources
                resources.set_erred(order.marketplace_resource_uuid, message, trace).get()
        except (WaldurError, WaldurUnreachable) as error:
            self.log.error("cannot mark order %s erred: %s", order.uuid, error)


def same_limits(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Waldur answers limits as floats or ints; 5 and 5.0 are the same limit."""
    return a.keys() == b.keys() and all(float(a[k]) == float(b[k]) for k in a)
