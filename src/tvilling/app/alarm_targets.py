"""Which alarm rules apply to a twin: by its id, or by its model or any model that model extends.

The twin -> rules answer is cached (a twin's model does not change while it exists) and forgotten when the twin
or the tenant's models change. Also the reference check of the rules against the tenant's current model set.
"""

from __future__ import annotations

import contextlib
from typing import Any

from tvilling.alarms.rules import AlarmRule, RuleSet, check_rules
from tvilling.core.errors import NotFoundError, Problem
from tvilling.core.events import Event


class RuleTargets:
    def __init__(self, rules: RuleSet | None = None, services: Any = None) -> None:
        self.rules = rules or RuleSet()
        self.services = services  # twins + models
        self._cache: dict[tuple[str, str], tuple[AlarmRule, ...]] = {}

    def configure(self, rules: RuleSet, services: Any) -> None:
        self.rules, self.services = rules, services
        self._cache.clear()

    def _model_of(self, tenant: str, twin_id: str) -> str | None:
        try:
            doc = self.services.twins.get(tenant, twin_id)
        except NotFoundError:
            return None
        return str(doc.get("$metadata", {}).get("$model", ""))

    def forget(self, event: Event) -> None:
        if event.kind.startswith("model."):
            for key in [k for k in self._cache if k[0] == event.tenant]:
                del self._cache[key]
        else:
            self._cache.pop((event.tenant, event.subject), None)

    def rules_for(self, tenant: str, twin_id: str) -> tuple[AlarmRule, ...]:
        if not self.rules.rules or tenant != self.rules.tenant or self.services is None:
            return ()
        key = (tenant, twin_id)
        hit = self._cache.get(key)
        if hit is None:
            model_id = self._model_of(tenant, twin_id)
            if model_id is None:
                return ()  # not cached: the twin may be created later
            ms = self.services.models.model_set(tenant)
            hit = self.rules.for_twin(twin_id, model_id, lambda m, base: bool(m in ms and ms.is_subtype(m, base)))
            self._cache[key] = hit
        return hit

    def rule_list(self, tenant: str) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.rules.rules] if tenant == self.rules.tenant else []

    def check(self, tenant: str) -> list[Problem]:
        """Reference problems of the rules against the tenant's current models and twins."""
        if tenant != self.rules.tenant or self.services is None or not self.rules.rules:
            return []
        ms = self.services.models.model_set(tenant)
        models = {m: frozenset({*ms.get(m).properties, *ms.get(m).telemetry}) for m in ms.interfaces}
        twins: dict[str, str] = {}
        for rule in self.rules.rules:
            if rule.twin is not None and rule.twin not in twins:
                with contextlib.suppress(NotFoundError):
                    model = self._model_of(tenant, rule.twin)
                    if model is not None:
                        twins[rule.twin] = model
        return check_rules(self.rules, models, twins)
