-- description: One row per text block of every chat message, with chat, user and organization context and a typed timestamp (UTC); dt is the ingest date (filter on it to scan less).
-- element_at (not content[i]) because it is NULL past the end: a message without blocks yields no row.
SELECT
  m.id AS message_id,
  b.idx AS block_index,
  m.role,
  element_at(m.content, b.idx).text AS text,
  CAST(from_iso8601_timestamp(m.created_at) AT TIME ZONE 'UTC' AS timestamp(3)) AS created_at,
  m.chat_id,
  m.chat_name,
  m.chat_user.id AS user_id,
  m.chat_user.email_address AS user_email,
  m.organization_uuid,
  m.project_id,
  m.dt
FROM chat_messages m
CROSS JOIN UNNEST(sequence(1, greatest(cardinality(m.content), 1))) AS b (idx)
WHERE element_at(m.content, b.idx).type = 'text'
