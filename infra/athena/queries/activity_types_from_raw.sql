-- description: Every activity type of the last 30 days with its count and one example line from activities_raw - shows types and fields that are not columns yet (read any field with json_extract_scalar(line, '$.field')).
SELECT
  json_extract_scalar(line, '$.type') AS type,
  count(*) AS activities,
  min(line) AS example -- any line would do; min is the same answer on every run
FROM activities_raw
WHERE date(from_iso8601_timestamp(json_extract_scalar(line, '$.created_at')) AT TIME ZONE 'UTC') >= current_date - INTERVAL '30' DAY
  AND dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d') -- dt bound
GROUP BY 1
ORDER BY 2 DESC, 1
