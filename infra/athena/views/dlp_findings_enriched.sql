-- description: DLP findings with the user's current e-mail and name and the chat's / project's current name (from the *_latest views); typed timestamps (UTC).
SELECT
  f.id,
  CAST(from_iso8601_timestamp(f.detected_at) AT TIME ZONE 'UTC' AS timestamp(3)) AS detected_at,
  CAST(from_iso8601_timestamp(f.source_created_at) AT TIME ZONE 'UTC' AS timestamp(3)) AS source_created_at,
  f.severity,
  f.detector,
  f.confidence,
  f.source_kind,
  f.source_id,
  f.redacted,
  f.fingerprint,
  f.organization_uuid,
  f.user_id,
  coalesce(u.email, f.user_email) AS user_email,
  u.full_name AS user_full_name,
  f.chat_id,
  c.name AS chat_name,
  f.message_id,
  coalesce(f.project_id, c.project_id) AS project_id,
  p.name AS project_name,
  f.file_id,
  f.dt
FROM dlp_findings f
LEFT JOIN users_latest u ON u.organization_uuid = f.organization_uuid AND u.id = f.user_id
LEFT JOIN chats_latest c ON c.id = f.chat_id
LEFT JOIN projects_latest p ON p.id = coalesce(f.project_id, c.project_id)
