-- description: Activities of the last 30 days per day (event time, UTC) and type, with how many distinct actors.
-- The dt bound is safe: an activity is ingested (dt) on or after the day it happened. Widen both 30s together.
SELECT
  date(from_iso8601_timestamp(created_at) AT TIME ZONE 'UTC') AS day,
  type,
  count(*) AS activities,
  count(DISTINCT coalesce(actor.user_id, actor.api_key_id, actor.admin_api_key_id, actor.email_address, actor.type)) AS actors
FROM activities
WHERE date(from_iso8601_timestamp(created_at) AT TIME ZONE 'UTC') >= current_date - INTERVAL '30' DAY
  AND dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d') -- dt bound
GROUP BY 1, 2
ORDER BY 1 DESC, 3 DESC, 2
