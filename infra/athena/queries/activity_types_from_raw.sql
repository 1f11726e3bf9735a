-- description: Every activity type with its count and one example line from activities_raw - shows types and fields that are not columns yet (read any field with json_extract_scalar(line, '$.field')).
SELECT
  json_extract_scalar(line, '$.type') AS type,
  count(*) AS activities,
  arbitrary(line) AS example
FROM activities_raw
GROUP BY 1
ORDER BY 2 DESC, 1
