-- description: Every organization once: its row from the newest snapshot that listed it (typed timestamps, UTC).
WITH versions AS (
  SELECT
    uuid,
    name,
    created_at,
    ingest.run_id AS run_id,
    from_iso8601_timestamp(ingest.fetched_at) AS fetched_at
  FROM organizations
),
ranked AS (
  SELECT
    *,
    row_number() OVER (PARTITION BY uuid ORDER BY fetched_at DESC, run_id DESC) AS rn,
    max_by(run_id, fetched_at) OVER () AS latest_run
  FROM versions
)
SELECT
  uuid,
  name,
  CAST(from_iso8601_timestamp(created_at) AT TIME ZONE 'UTC' AS timestamp(3)) AS created_at,
  CAST(fetched_at AT TIME ZONE 'UTC' AS timestamp(3)) AS last_seen_at,
  run_id = latest_run AS in_latest_snapshot
FROM ranked
WHERE rn = 1
