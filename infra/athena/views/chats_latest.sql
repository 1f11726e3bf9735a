-- description: Every chat once: its newest version (highest updated_at, then newest fetch), with typed timestamps (UTC).
WITH ranked AS (
  SELECT
    *,
    row_number() OVER (
      PARTITION BY id
      ORDER BY from_iso8601_timestamp(updated_at) DESC, from_iso8601_timestamp(ingest.fetched_at) DESC
    ) AS rn
  FROM chats
)
SELECT
  id,
  name,
  organization_uuid,
  project_id,
  "user".id AS user_id,
  "user".email_address AS user_email,
  model,
  CAST(from_iso8601_timestamp(created_at) AT TIME ZONE 'UTC' AS timestamp(3)) AS created_at,
  CAST(from_iso8601_timestamp(updated_at) AT TIME ZONE 'UTC' AS timestamp(3)) AS updated_at,
  CAST(from_iso8601_timestamp(deleted_at) AT TIME ZONE 'UTC' AS timestamp(3)) AS deleted_at,
  deleted_at IS NOT NULL AS is_deleted,
  href
FROM ranked
WHERE rn = 1
