from collections import deque

from tvilling.dashboard.heat import matrix
from tvilling.dashboard.live import TenantState


def test_worst_value_per_bucket_carried_forward() -> None:
    state = TenantState()
    state.history["a"] = deque([(940, 90.0), (1000, 100.0), (1010, 50.0), (1015, 80.0)])
    labels, cells = matrix(state, ["a", "b"], span_s=60, bucket_s=20, now_s=1059)
    assert len(labels) == 3  # buckets 1000, 1020, 1040
    # 1000–1019: min(100, 50, 80) = 50; later buckets carry the last worst value forward.
    assert cells == [[0, 0, 50], [1, 0, 50], [2, 0, 50]]
    # An asset without history has no cells (shown blank, not as healthy).
    assert all(c[1] == 0 for c in cells)
