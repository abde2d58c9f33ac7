"""Small demo workloads the built-in templates run on the ``local`` provider.

- ``python -m plinth_demo.webapp``: a JSON web service (optionally using ``DATABASE_URL``).
- ``python -m plinth_demo.cron_task``: prints a timestamped line and exits 0.
- ``python -m plinth_demo.static_site``: serves ``SITE_DIR`` (or a bundled page).
"""

from __future__ import annotations

__all__: list[str] = []
