-- description: The latest users snapshot of every organization (among the snapshots fetched in the last 7 days), with roles.
-- Each run writes a full snapshot per organization; this keeps only each organization's newest run.
-- Widen both 7s together if the last successful users sync is older than that. The dt bounds are safe:
-- a snapshot is written (dt) on or after the day it was fetched.
WITH recent AS (
  SELECT *
  FROM users
  WHERE date(from_iso8601_timestamp(ingest.fetched_at) AT TIME ZONE 'UTC') >= current_date - INTERVAL '7' DAY
    AND dt >= date_format(current_date - INTERVAL '7' DAY, '%Y-%m-%d') -- dt bound
),
latest AS (
  SELECT organization_uuid, max_by(ingest.run_id, from_iso8601_timestamp(ingest.fetched_at)) AS run_id
  FROM recent
  GROUP BY 1
)
SELECT
  u.organization_uuid,
  o.name AS organization_name,
  u.id AS user_id,
  u.email,
  u.full_name,
  u.organization_role,
  u.created_at,
  u.ingest.fetched_at AS snapshot_at
FROM recent u
JOIN latest l ON u.organization_uuid = l.organization_uuid AND u.ingest.run_id = l.run_id
LEFT JOIN (
  SELECT uuid, max_by(name, from_iso8601_timestamp(ingest.fetched_at)) AS name
  FROM organizations
  WHERE date(from_iso8601_timestamp(ingest.fetched_at) AT TIME ZONE 'UTC') >= current_date - INTERVAL '7' DAY
    AND dt >= date_format(current_date - INTERVAL '7' DAY, '%Y-%m-%d') -- dt bound
  GROUP BY 1
) o ON o.uuid = u.organization_uuid
ORDER BY organization_name, u.organization_role, u.email
