-- description: The latest users snapshot of every organization (from the last 7 days of ingest partitions), with roles.
-- Each run writes a full snapshot per organization; this keeps only each organization's newest run.
-- Widen the dt window if the last successful users sync is older than that.
WITH recent AS (
  SELECT *
  FROM users
  WHERE dt >= date_format(current_date - INTERVAL '7' DAY, '%Y-%m-%d')
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
  WHERE dt >= date_format(current_date - INTERVAL '7' DAY, '%Y-%m-%d')
  GROUP BY 1
) o ON o.uuid = u.organization_uuid
ORDER BY organization_name, u.organization_role, u.email
