-- description: Every (organization, user) once: the row from the newest users snapshot that listed the user; in_latest_snapshot is false for users no longer listed.
WITH versions AS (
  SELECT
    organization_uuid,
    id,
    email,
    full_name,
    organization_role,
    created_at,
    ingest.run_id AS run_id,
    from_iso8601_timestamp(ingest.fetched_at) AS fetched_at
  FROM users
),
ranked AS (
  SELECT
    *,
    row_number() OVER (PARTITION BY organization_uuid, id ORDER BY fetched_at DESC, run_id DESC) AS rn,
    max_by(run_id, fetched_at) OVER (PARTITION BY organization_uuid) AS latest_run
  FROM versions
)
SELECT
  organization_uuid,
  id,
  email,
  full_name,
  organization_role,
  CAST(from_iso8601_timestamp(created_at) AT TIME ZONE 'UTC' AS timestamp(3)) AS created_at,
  CAST(fetched_at AT TIME ZONE 'UTC' AS timestamp(3)) AS last_seen_at,
  run_id = latest_run AS in_latest_snapshot
FROM ranked
WHERE rn = 1
