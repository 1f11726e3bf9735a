-- description: Every project once: its newest version (highest updated_at, then newest fetch), with typed timestamps (UTC).
WITH ranked AS (
  SELECT
    *,
    row_number() OVER (
      PARTITION BY id
      ORDER BY from_iso8601_timestamp(updated_at) DESC, from_iso8601_timestamp(ingest.fetched_at) DESC
    ) AS rn
  FROM projects
)
SELECT
  id,
  name,
  description,
  instructions,
  organization_uuid,
  "user".id AS user_id,
  "user".email_address AS user_email,
  is_private,
  chats_count,
  attachments_count,
  CAST(from_iso8601_timestamp(created_at) AT TIME ZONE 'UTC' AS timestamp(3)) AS created_at,
  CAST(from_iso8601_timestamp(updated_at) AT TIME ZONE 'UTC' AS timestamp(3)) AS updated_at,
  CAST(from_iso8601_timestamp(deleted_at) AT TIME ZONE 'UTC' AS timestamp(3)) AS deleted_at,
  deleted_at IS NOT NULL AS is_deleted
FROM ranked
WHERE rn = 1
