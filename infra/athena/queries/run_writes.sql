-- description: What run X wrote, from which API requests: one row per lake object the run committed, with its segment (stream, job, seq, checkpoints) and the requests the segment came from.
-- parameters: run_id, run_date
-- Run it with two execution parameters: the run id (e.g. 'run-20261201T101500123Z-1a2b3c4d' or
-- 'sched-20261201T101500Z') and the run's start date 'yyyy-MM-dd' (the 8 digits after run-/sched-).
-- The dt bound is safe: a run's segments are committed on or after the day the run started.
SELECT
  m.stream,
  m.job,
  m.seq,
  from_iso8601_timestamp(m.committed_at) AS committed_at,
  element_at(m.objects, o.i).key AS object_key,
  element_at(m.objects, o.i)."table" AS table_name,
  element_at(m.objects, o.i).records AS records,
  element_at(m.objects, o.i).bytes AS bytes,
  element_at(m.objects, o.i).sha256 AS sha256,
  array_join(transform(m.requests, r -> r.request_id), ', ') AS request_ids,
  array_join(array_sort(array_distinct(transform(m.requests, r -> r.endpoint))), ', ') AS endpoints,
  m.checkpoint_before,
  m.checkpoint_after
FROM manifests m
-- one row per object (by index: element_at is NULL past the end, so an empty list yields no row)
CROSS JOIN UNNEST(sequence(1, greatest(cardinality(m.objects), 1))) AS o (i)
WHERE element_at(m.objects, o.i) IS NOT NULL
  AND m.run_id = ?
  AND m.dt >= ? -- dt bound
ORDER BY m.stream, m.job, m.seq, object_key
