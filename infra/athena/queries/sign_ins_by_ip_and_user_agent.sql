-- description: Sign-ins (every *_login_succeeded type) and failed sign-ins of the last 30 days per source IP address and user agent, with the users seen and first/last time.
SELECT
  actor.ip_address AS ip_address,
  actor.user_agent AS user_agent,
  count_if(regexp_like(type, '_login_succeeded$')) AS sign_ins,
  count_if(regexp_like(type, '_login_failed$')) AS failed_sign_ins,
  count(DISTINCT coalesce(actor.email_address, actor.unauthenticated_email_address)) AS users,
  array_join(array_sort(array_distinct(array_agg(coalesce(actor.email_address, actor.unauthenticated_email_address)))), ', ') AS user_emails,
  min(from_iso8601_timestamp(created_at)) AS first_seen,
  max(from_iso8601_timestamp(created_at)) AS last_seen
FROM activities
WHERE (regexp_like(type, '_login_succeeded$') OR regexp_like(type, '_login_failed$'))
  AND date(from_iso8601_timestamp(created_at) AT TIME ZONE 'UTC') >= current_date - INTERVAL '30' DAY
  AND dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d') -- dt bound
GROUP BY 1, 2
ORDER BY sign_ins DESC, failed_sign_ins DESC, 1, 2
