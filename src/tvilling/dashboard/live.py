"""The dashboard's live model: ONE bus listener per process feeds a per-tenant snapshot that every page reads.

Why one hub instead of a subscription per widget: with 200 twins at 1 Hz a page showing all of them would
otherwise hold 200 queues. The hub applies each committed event to the snapshot (latest value, unit, quality,
source time per property; health per twin; a health history for the heat map) and then notifies the pages
watching that tenant. Notifications are coalesced over ``FLUSH_S`` so a burst of events becomes one screen
update per page; nothing polls: without events, nothing runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tvilling.app.alarms import AlarmService
from tvilling.app.services import Services
from tvilling.core.events import Event
from tvilling.dashboard import health

log = logging.getLogger(__name__)
FLUSH_S = 0.2
HISTORY_BUCKET_S = 10  # heat-map resolution kept in memory
HISTORY_BUCKETS = 2160  # six hours at 10 s
INSIGHT_PREFIXES = ("insight.", "anomaly.", "rul.", "monitoring.")

# (changed twin ids, changed kinds: "twins" | "alarms" | "graph" | "insights" | "commands" | "registry" |
# "workorders")
Watcher = Callable[[set[str], set[str]], None]


@dataclass
class PropState:
    value: Any
    unit: str | None = None
    quality: str | None = None
    reason: str | None = None
    source_time: str | None = None
    updated_mono: float = 0.0  # when the dashboard saw it (monotonic)
    received: str | None = None  # when the platform committed it (wall clock, ISO); the age column counts from here
    # because source times may be simulated (the virtual plant runs faster than real time)


@dataclass
class TwinState:
    id: str
    model: str
    props: dict[str, PropState] = field(default_factory=dict)
    insights: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> latest event data
    health: float | None = None


@dataclass
class TenantState:
    twins: dict[str, TwinState] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (source, name, target)
    history: dict[str, deque[tuple[int, float]]] = field(default_factory=dict)  # twin -> (bucket start s, min)
    watchers: list[Watcher] = field(default_factory=list)
    events_seen: int = 0
    # False while the state only holds watchers: a page that watches before any page loaded the tenant (the
    # maintenance plan, say) must not make the twins look absent to every page opened after it.
    loaded: bool = False

    _index: dict[str, Any] | None = None  # parts/parent/containers/zones, rebuilt when the edges change

    def set_edges(self, edges: list[tuple[str, str, str]]) -> None:
        self.edges = edges
        self._index = None

    def _idx(self) -> dict[str, Any]:
        if self._index is None:
            parts: dict[str, list[str]] = {}
            parent: dict[str, str] = {}
            for s, n, t in self.edges:
                if n == "hasPart":
                    parts.setdefault(s, []).append(t)
                    parent.setdefault(t, s)
            self._index = {"parts": parts, "parent": parent,
                           "containers": {s for s, n, _ in self.edges if n == "contains"},
                           "zones": {t for _, n, t in self.edges if n == "locatedIn"}}
        return self._index

    def parts_of(self, twin_id: str) -> list[str]:
        parts: list[str] = self._idx()["parts"].get(twin_id, [])
        return parts

    def parent_of(self, twin_id: str) -> str | None:
        parent: str | None = self._idx()["parent"].get(twin_id)
        return parent

    def assets(self) -> list[str]:
        """Equipment shown in overviews: not a part, and either reporting data, having parts, or being a leaf of
        the containment tree that is not a zone (a chiller with no data yet is still equipment)."""
        idx = self._idx()
        part_ids, containers, zones = idx["parent"], idx["containers"], idx["zones"]
        return sorted(i for i, tw in self.twins.items() if i not in part_ids and (
            tw.props or self.parts_of(i) or (i not in containers and i not in zones)))


class LiveHub:
    def __init__(self, services: Services, alarms: AlarmService, app_state: Any = None) -> None:
        self.services = services
        self.alarms = alarms
        self.app_state = app_state  # where the platform's monitoring service lives (open episodes, RUL)
        self._tenants: dict[str, TenantState] = {}
        self._loading: dict[str, asyncio.Task[TenantState]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._remove: Callable[[], None] | None = None
        self._dirty: dict[str, tuple[set[str], set[str]]] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._remove is None:
            self._remove = self.services.bus.listen(self._on_event_any_thread)
        self.alarms.start()

    def stop(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None
        self.alarms.stop()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._tenants.clear()
        self._loop = None

    # -- access ---------------------------------------------------------------------------------------------
    async def tenant(self, tenant: str) -> TenantState:
        state = self._tenants.get(tenant)
        if state is not None and state.loaded:
            return state
        task = self._loading.get(tenant)
        if task is None:
            task = asyncio.ensure_future(asyncio.to_thread(self._load, tenant))
            self._loading[tenant] = task
        try:
            fresh = await asyncio.shield(task)
        finally:
            self._loading.pop(tenant, None)
        state = self._tenants.setdefault(tenant, fresh)
        if not state.loaded:  # watchers only so far: they keep watching the loaded twins
            state.twins, state.history = fresh.twins, fresh.history
            state.set_edges(fresh.edges)
            state.loaded = True
        for twin_id in state.twins:
            self._recompute(tenant, state, twin_id)
        return state

    def watch(self, tenant: str, watcher: Watcher) -> Callable[[], None]:
        state = self._tenants.setdefault(tenant, TenantState())
        state.watchers.append(watcher)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                state.watchers.remove(watcher)

        return remove

    def watcher_count(self) -> int:
        return sum(len(s.watchers) for s in self._tenants.values())

    # -- loading --------------------------------------------------------------------------------------------
    def _load(self, tenant: str) -> TenantState:
        state = TenantState(loaded=True)
        after: str | None = None
        while True:
            docs, after = self.services.twins.list(tenant, after=after, limit=500)
            for doc in docs:
                state.twins[doc["$dtId"]] = twin_from_document(doc)
            if after is None:
                break
        state.set_edges([e for twin_id in list(state.twins) for e in self._edges_of(tenant, twin_id)])
        monitoring = getattr(self.app_state, "monitoring", None)
        snapshot = getattr(monitoring, "snapshot", None)
        if snapshot is not None:  # open anomaly episodes and RUL from before this page was first opened
            for twin_id, twin in state.twins.items():
                live = snapshot(tenant, twin_id)
                if live and live.get("alert"):
                    twin.insights["insight.anomaly"] = dict(live["alert"])
                if live and live.get("rul"):
                    twin.insights["insight.rul"] = dict(live["rul"])
        return state

    def _edges_of(self, tenant: str, twin_id: str) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        after: str | None = None
        while True:
            rels, after = self.services.relationships.list_outgoing(tenant, twin_id, after=after)
            out.extend((r["$sourceId"], r["$relationshipName"], r["$targetId"]) for r in rels)
            if after is None:
                return out

    async def _reload_twin(self, tenant: str, twin_id: str, with_edges: bool) -> None:
        state = self._tenants.get(tenant)
        if state is None:
            return
        try:
            doc = await asyncio.to_thread(self.services.twins.get, tenant, twin_id)
        except Exception:  # deleted meanwhile
            state.twins.pop(twin_id, None)
            state.set_edges([e for e in state.edges if twin_id not in (e[0], e[2])])
        else:
            state.twins[twin_id] = twin_from_document(doc)
            if with_edges:
                edges = await asyncio.to_thread(self._edges_of, tenant, twin_id)
                state.set_edges([e for e in state.edges if e[0] != twin_id] + edges)
            self._recompute(tenant, state, twin_id)
        self._mark(tenant, {twin_id}, {"twins", "graph"})

    # -- events ---------------------------------------------------------------------------------------------
    def _on_event_any_thread(self, event: Event) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._apply(event)
        else:
            loop.call_soon_threadsafe(self._apply, event)

    def _apply(self, event: Event) -> None:
        state = self._tenants.get(event.tenant)
        if state is None:
            return  # nobody has opened this tenant yet: it is loaded fresh when someone does
        state.events_seen += 1
        kind, twin_id = event.kind, event.subject
        if kind in ("twin.telemetry", "twin.quality"):
            twin = state.twins.get(twin_id)
            if twin is None:
                return
            now = time.monotonic()
            for name, ch in (event.data.get("changes") or {}).items():
                prop = twin.props.get(name) or PropState(None)
                if kind == "twin.telemetry":
                    prop.value = ch.get("new")
                prop.quality, prop.reason = ch.get("quality"), ch.get("reason")
                prop.source_time, prop.updated_mono = ch.get("source_time"), now
                prop.received = event.time.isoformat()
                twin.props[name] = prop
            self._recompute(event.tenant, state, twin_id)
            self._mark(event.tenant, {twin_id}, {"twins"})
        elif kind.startswith("alarm."):
            self._recompute(event.tenant, state, twin_id)
            self._mark(event.tenant, {twin_id}, {"alarms"})
        elif kind.startswith(INSIGHT_PREFIXES):
            twin = state.twins.get(twin_id)
            if twin is not None:
                if kind == "insight.cleared":  # the episode is over: its score and RUL no longer apply
                    twin.insights.pop("insight.anomaly", None)
                    twin.insights.pop("insight.rul", None)
                else:
                    twin.insights[kind] = dict(event.data)
                self._recompute(event.tenant, state, twin_id)
                self._mark(event.tenant, {twin_id}, {"insights"})
        elif kind.startswith("command."):  # the twin page re-reads the twin's commands (state, history)
            self._mark(event.tenant, {twin_id}, {"commands"})
        elif kind.startswith("workorder."):  # created / approved / rejected / completed / cancelled: re-read the list
            # mode_changed (the tenant's kill switch) has the policy as its subject, not a twin: no twin changed
            self._mark(event.tenant, set() if kind == "workorder.mode_changed" else {twin_id}, {"workorders"})
        elif kind.startswith("ml.model."):  # subject is the model name, not a twin: the registry page re-reads
            self._mark(event.tenant, set(), {"registry"})
        elif kind.startswith(("twin.", "relationship.")) and state.loaded:
            # Rare (model-level edits): re-read the twin rather than replaying the change here (a tenant not loaded
            # yet is read whole when a page first needs it).
            task = asyncio.ensure_future(self._reload_twin(event.tenant, twin_id, kind.startswith("relationship.")))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _recompute(self, tenant: str, state: TenantState, twin_id: str) -> None:
        twin = state.twins.get(twin_id)
        if twin is None:
            return
        severities = [a.severity for a in self.alarms.list(tenant) if a.twin_id == twin_id and a.state == "active"]
        twin.health = health.twin_health([p.quality for p in twin.props.values()], severities,
                                         anomaly_score(twin))
        parent = state.parent_of(twin_id)
        for asset in (twin_id, parent) if parent else (twin_id,):
            score = self.asset_health(state, asset)
            if score is not None:
                record(state, asset, score)

    @staticmethod
    def asset_health(state: TenantState, asset: str) -> float | None:
        twin = state.twins.get(asset)
        if twin is None:
            return None
        parts = [state.twins[p].health for p in state.parts_of(asset) if p in state.twins]
        known = [h for h in [twin.health, *parts] if h is not None]
        return min(known) if known else None

    def _mark(self, tenant: str, twins: set[str], kinds: set[str]) -> None:
        ids, ks = self._dirty.setdefault(tenant, (set(), set()))
        ids |= twins
        ks |= kinds
        if self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_later(FLUSH_S, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        dirty, self._dirty = self._dirty, {}
        for tenant, (ids, kinds) in dirty.items():
            state = self._tenants.get(tenant)
            for watcher in list(state.watchers if state else []):
                try:
                    watcher(ids, kinds)
                except Exception:  # a page that fails to update must not stop the others
                    log.exception("dashboard watcher failed")


def record(state: TenantState, asset: str, score: float) -> None:
    """Keep the minimum health per 10 s bucket (the heat map shows the worst moment, not an average)."""
    bucket = int(time.time()) // HISTORY_BUCKET_S * HISTORY_BUCKET_S
    series = state.history.setdefault(asset, deque(maxlen=HISTORY_BUCKETS))
    if series and series[-1][0] == bucket:
        series[-1] = (bucket, min(series[-1][1], score))
    else:
        series.append((bucket, score))


def anomaly_score(twin: TwinState) -> float | None:
    scores = [d.get("score") for k, d in twin.insights.items() if "anomal" in k]
    numeric = [float(s) for s in scores if isinstance(s, int | float)]
    return max(numeric) if numeric else None


def twin_from_document(doc: dict[str, Any]) -> TwinState:
    meta = doc.get("$metadata") or {}
    twin = TwinState(id=doc["$dtId"], model=str(meta.get("$model", "")))
    for name, value in doc.items():
        if name.startswith("$"):
            continue
        m: dict[str, Any] = meta[name] if isinstance(meta.get(name), dict) else {}
        if "sourceTime" not in m and "quality" not in m:
            continue  # configuration (ratedPower …), not a live property
        twin.props[name] = PropState(value, m.get("unit"), m.get("quality"), m.get("reason"), m.get("sourceTime"),
                                     received=m.get("lastUpdateTime"))
    return twin


def age_s(source_time: str | None, now: datetime | None = None) -> float | None:
    if not source_time:
        return None
    try:
        t = datetime.fromisoformat(source_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ((now or datetime.now(UTC)) - t).total_seconds()
