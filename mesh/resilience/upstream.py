"""What one calling service keeps about one upstream (one outbound listener), across requests:
outlier detection per endpoint, a retry budget per route, the requests and connections in flight.

Settings come from each request's RoutePlan (KV documents can change at any time); the state
they act on lives here, so a document change keeps the counts and ejections that still apply.
"""

from __future__ import annotations

from mesh.resilience.budget import RetryBudgetWindow
from mesh.resilience.outlier import OutlierDetector
from mesh.routing import RoutePlan
from mesh.traffic.model import RetryBudget

# Budgets are per route; a router with this many distinct budgets is not a real configuration.
MAX_BUDGETS = 256


class UpstreamResilience:
    def __init__(self) -> None:
        self.outliers = OutlierDetector()
        self.requests_in_flight = 0  # HTTP requests, for MaxConcurrentRequests
        self.connections_open = 0  # TCP connections relayed, for MaxConnections on a tcp upstream
        self._budgets: dict[tuple[int | None, RetryBudget], RetryBudgetWindow] = {}

    def apply(self, plan: RoutePlan) -> None:
        """Take the plan's outlier detection settings (the calling service's UpstreamConfig)."""
        if plan.passive_health_check != self.outliers.config:
            self.outliers.configure(plan.passive_health_check)

    def budget(self, plan: RoutePlan) -> RetryBudgetWindow | None:
        """The retry budget of the plan's route (its own, or the upstream's), None without one."""
        budget = plan.retry.budget
        if budget is None or plan.retry.max_retries == 0:
            return None
        key = (plan.route_index, budget)
        window = self._budgets.get(key)
        if window is None:
            if len(self._budgets) >= MAX_BUDGETS:
                self._budgets.clear()
            window = self._budgets[key] = RetryBudgetWindow(budget)
        return window
