-- description: DLP findings of the last 30 days per day the content was created (UTC), severity and user, with the detectors and sources involved.
-- The dt bound is safe: a finding is ingested with its source, on or after the day the content was created.
SELECT
  date(from_iso8601_timestamp(coalesce(source_created_at, detected_at)) AT TIME ZONE 'UTC') AS day,
  severity,
  user_email,
  count(DISTINCT id) AS findings,
  count(DISTINCT source_id) AS sources,
  array_join(array_sort(array_distinct(array_agg(detector))), ', ') AS detectors,
  array_join(array_sort(array_distinct(array_agg(source_kind))), ', ') AS source_kinds
FROM dlp_findings
WHERE date(from_iso8601_timestamp(coalesce(source_created_at, detected_at)) AT TIME ZONE 'UTC') >= current_date - INTERVAL '30' DAY
  AND dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d') -- dt bound
GROUP BY 1, 2, 3
ORDER BY 1 DESC,
  CASE severity WHEN 'CRITICAL' THEN 1 WHEN 'HIGH' THEN 2 WHEN 'MEDIUM' THEN 3 WHEN 'LOW' THEN 4 ELSE 5 END,
  4 DESC, 3
