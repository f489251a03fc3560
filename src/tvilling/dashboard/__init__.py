"""The operator dashboard: NiceGUI pages mounted on the platform's FastAPI app at ``/ui`` (one process).

``mount(app, services)`` is called by ``bootstrap.build_platform``. NiceGUI is a per-process singleton, so the
pages are registered once and read the platform they serve from :mod:`tvilling.dashboard.context`; mounting on a
second app in the same process (tests build several platforms) re-points the dashboard at the newest one.
"""

from tvilling.dashboard.mount import MOUNT_PATH, mount

__all__ = ["MOUNT_PATH", "mount"]
