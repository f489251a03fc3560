"""SQL for tests that read the history tables directly (samples refer to their series by integer id)."""

from __future__ import annotations

# Use as ``FROM {RAW_SAMPLES}``: every committed sample row, merged (samples) or not yet (samples_recent, SQLite).
RAW_SAMPLES = "(SELECT * FROM samples UNION ALL SELECT * FROM samples_recent)"
# Use as ``FROM {SAMPLE_POINTS}``: every sample with its series' tenant, twin_id and name.
SAMPLE_POINTS = ("(SELECT s.tenant AS tenant, s.twin_id AS twin_id, s.name AS name, p.source_time AS source_time, "
                 "p.value AS value, p.value_json AS value_json, p.quality AS quality, p.reason AS reason "
                 f"FROM {RAW_SAMPLES} p JOIN series s ON s.id = p.series_id) AS sample_points")
