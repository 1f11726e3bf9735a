-- description: Which Compliance Access Keys exist: every key of the latest settings snapshot of each organization (among the snapshots fetched in the last 7 days), active or not.
-- Each settings snapshot carries the parent's key list (no secrets exist in it); this keeps each
-- organization's newest run and lists its keys. Widen both 7s together if the last org_settings sync is
-- older than that. The dt bounds are safe: a snapshot is written (dt) on or after the day it was fetched.
WITH recent AS (
  SELECT *
  FROM org_settings
  WHERE date(from_iso8601_timestamp(ingest.fetched_at) AT TIME ZONE 'UTC') >= current_date - INTERVAL '7' DAY
    AND dt >= date_format(current_date - INTERVAL '7' DAY, '%Y-%m-%d') -- dt bound
),
latest AS (
  SELECT organization_uuid, max_by(ingest.run_id, from_iso8601_timestamp(ingest.fetched_at)) AS run_id
  FROM recent
  GROUP BY 1
)
SELECT
  s.organization_uuid,
  k.id AS api_key_id,
  k.name AS api_key_name,
  k.is_active,
  array_join(k.scopes, ',') AS scopes,
  k.created_at,
  k.created_by_id,
  s.ingest.fetched_at AS snapshot_at
FROM recent s
JOIN latest l ON s.organization_uuid = l.organization_uuid AND s.ingest.run_id = l.run_id
CROSS JOIN UNNEST(s.api_keys) AS t (k)
ORDER BY s.organization_uuid, k.created_at, k.id
