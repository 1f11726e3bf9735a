-- description: Per chat owner, over the last 30 days: chats active (a version updated in the window, each chat counted once), of those soft-deleted, messages, messages they sent, and their last message.
-- The dt bounds are safe: a chat version is ingested on or after its updated_at, a message on or after its created_at.
WITH chats_per_user AS (
  SELECT
    "user".id AS user_id,
    max("user".email_address) AS email,
    count(DISTINCT id) AS chats,
    count(DISTINCT CASE WHEN deleted_at IS NOT NULL THEN id END) AS deleted_chats
  FROM chats
  WHERE date(from_iso8601_timestamp(updated_at) AT TIME ZONE 'UTC') >= current_date - INTERVAL '30' DAY
    AND dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d') -- dt bound
  GROUP BY 1
),
messages_per_user AS (
  SELECT
    chat_user.id AS user_id,
    max(chat_user.email_address) AS email,
    count(DISTINCT id) AS messages,
    count(DISTINCT CASE WHEN role = 'user' THEN id END) AS messages_sent,
    max(from_iso8601_timestamp(created_at)) AS last_message_at
  FROM chat_messages
  WHERE date(from_iso8601_timestamp(created_at) AT TIME ZONE 'UTC') >= current_date - INTERVAL '30' DAY
    AND dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d') -- dt bound
  GROUP BY 1
)
SELECT
  coalesce(c.user_id, m.user_id) AS user_id,
  coalesce(c.email, m.email) AS email,
  coalesce(c.chats, 0) AS chats,
  coalesce(c.deleted_chats, 0) AS deleted_chats,
  coalesce(m.messages, 0) AS messages,
  coalesce(m.messages_sent, 0) AS messages_sent,
  m.last_message_at
FROM chats_per_user c
-- IS NOT DISTINCT FROM: chats whose owner the API could not resolve (user null) pair up too
FULL OUTER JOIN messages_per_user m ON c.user_id IS NOT DISTINCT FROM m.user_id
ORDER BY messages DESC, chats DESC, email
