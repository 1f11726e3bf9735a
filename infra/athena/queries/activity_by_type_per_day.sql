-- description: Activities per day (event time, UTC) and type, with how many distinct actors.
-- Add "WHERE dt >= '2026-11-01'" to scan only recent ingest partitions.
SELECT
  date(from_iso8601_timestamp(created_at)) AS day,
  type,
  count(*) AS activities,
  count(DISTINCT coalesce(actor.user_id, actor.api_key_id, actor.admin_api_key_id, actor.email_address, actor.type)) AS actors
FROM activities
GROUP BY 1, 2
ORDER BY 1 DESC, 3 DESC, 2
