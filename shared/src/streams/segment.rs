//! The checkpoint protocol, shared by every stream.
//!
//! A job's state document holds its stream checkpoint and, while a segment is being written, a
//! `pending` marker naming the segment's batch id and partition date. Invariants:
//! 1. the marker is saved before the first object of a segment is written, so a re-run after a
//!    crash reuses the same batch id and date and therefore the same object names (overwrite, not add);
//! 2. the checkpoint advances only after every object of the segment is durable, in one conditional
//!    save that also clears the marker; a stale or concurrent writer fails that save and advances nothing;
//! 3. parts left by a crashed attempt beyond what the re-run wrote are deleted before the commit.

use super::{JobContext, JobStats, SyncError};
use crate::store::layout::{batch_prefix, object_key, part_of};
use crate::store::{ndjson, Table};
use crate::time::Timestamp;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub batch: String,
    pub dt: String,
    pub started_at: Timestamp,
    pub run_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    #[serde(default)]
    pub checkpoint: Value,
    #[serde(default)]
    pub pending: Option<Pending>,
    #[serde(default)]
    pub last_commit_at: Option<Timestamp>,
    #[serde(default)]
    pub last_run_id: Option<String>,
    #[serde(default)]
    pub records_written: u64,
}

pub struct Segment<'a> {
    ctx: &'a JobContext,
    stats: &'a JobStats,
    stream: &'static str,
    job_key: String,
    tables: &'static [Table],
    version: Option<u64>,
    state: JobState,
    buffers: BTreeMap<Table, Vec<Value>>,
    parts: BTreeMap<Table, u32>,
    written_in_segment: u64,
    /// DLP alerts: the `dlp_findings` rows of this segment, kept only when alerts are on.
    alert_rows: Vec<Value>,
}

impl<'a> Segment<'a> {
    /// Loads the job's state. Returns the segment and the last committed checkpoint (`Null` on a first run).
    pub async fn open(
        ctx: &'a JobContext,
        stats: &'a JobStats,
        stream: &'static str,
        job_key: String,
        tables: &'static [Table],
    ) -> Result<(Segment<'a>, Value), SyncError> {
        let (version, state) = match ctx.state.load(&job_key).await? {
            Some(v) => {
                let st: JobState = serde_json::from_value(v.value)
                    .map_err(|e| crate::store::StoreError::Corrupt { key: job_key.clone(), reason: e.to_string() })?;
                (Some(v.version), st)
            }
            None => (None, JobState::default()),
        };
        if let Some(p) = &state.pending {
            tracing::info!(job = %job_key, batch = %p.batch, dt = %p.dt, "resuming an unfinished segment; its objects will be rewritten in place");
        }
        let cp = state.checkpoint.clone();
        Ok((
            Segment {
                ctx,
                stats,
                stream,
                job_key,
                tables,
                version,
                state,
                buffers: BTreeMap::new(),
                parts: BTreeMap::new(),
                written_in_segment: 0,
                alert_rows: Vec::new(),
            },
            cp,
        ))
    }

    pub fn job_key(&self) -> &str {
        &self.job_key
    }

    pub fn push(&mut self, table: Table, record: Value) {
        self.buffers.entry(table).or_default().push(record);
    }

    pub fn buffered(&self) -> usize {
        self.buffers.values().map(Vec::len).sum()
    }

    /// True when the buffer is big enough that the stream should commit at its next safe point.
    pub fn should_commit(&self) -> bool {
        self.buffered() >= self.ctx.cfg.max_records_per_segment
    }

    async fn ensure_pending(&mut self) -> Result<Pending, SyncError> {
        if let Some(p) = &self.state.pending {
            return Ok(p.clone());
        }
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.job_key.as_bytes());
        h.update(self.version.unwrap_or(0).to_be_bytes());
        h.update(self.ctx.run_id.as_bytes());
        let p = Pending {
            batch: hex::encode(h.finalize())[..12].to_string(),
            dt: self.ctx.now.date_partition(),
            started_at: Timestamp::now(),
            run_id: self.ctx.run_id.clone(),
        };
        self.state.pending = Some(p.clone());
        self.save().await?;
        Ok(p)
    }

    async fn save(&mut self) -> Result<(), SyncError> {
        let value = serde_json::to_value(&self.state).map_err(|e| SyncError::Encode(e.to_string()))?;
        let v = self.ctx.state.save(&self.job_key, self.version, &value).await?;
        self.version = Some(v);
        Ok(())
    }

    /// Writes buffered records as objects (one per table) without advancing the checkpoint.
    pub async fn write_parts(&mut self) -> Result<(), SyncError> {
        if self.buffered() == 0 {
            return Ok(());
        }
        let p = self.ensure_pending().await?;
        let buffers = std::mem::take(&mut self.buffers);
        for (table, records) in buffers {
            if records.is_empty() {
                continue;
            }
            let part = self.parts.entry(table).or_insert(0);
            let key = object_key(table, &p.dt, &self.job_key, &p.batch, *part);
            *part += 1;
            let n = records.len() as u64;
            if table == Table::DlpFindings && self.ctx.alerts.is_some() {
                self.alert_rows.extend(records.iter().cloned()); // DLP alerts (see commit)
            }
            let body = tokio::task::spawn_blocking(move || ndjson::encode_gz(&records))
                .await
                .map_err(|e| SyncError::Encode(e.to_string()))?
                .map_err(|e| SyncError::Encode(e.to_string()))?;
            self.ctx.sink.put(&key, Bytes::from(body)).await?;
            self.stats.add_records(table, n);
            self.written_in_segment += n;
            tracing::debug!(job = %self.job_key, key, records = n, "object written");
        }
        Ok(())
    }

    /// Makes everything pushed so far durable, then advances the checkpoint to `checkpoint`.
    pub async fn commit(&mut self, checkpoint: Value) -> Result<(), SyncError> {
        self.write_parts().await?;
        if let Some(p) = self.state.pending.clone() {
            // Remove parts a crashed attempt of this same segment wrote beyond ours.
            for table in self.tables {
                let have = self.parts.get(table).copied().unwrap_or(0);
                let prefix = batch_prefix(*table, &p.dt, &self.job_key, &p.batch);
                for key in self.ctx.sink.list(&prefix).await? {
                    if part_of(&key).is_some_and(|n| n >= have) {
                        tracing::info!(job = %self.job_key, key, "removing a stale part of an earlier failed attempt");
                        self.ctx.sink.delete(&key).await?;
                    }
                }
            }
        }
        self.ctx.failpoints.hit("after_write", self.stream)?;
        if self.state.pending.is_none() && self.state.checkpoint == checkpoint {
            return Ok(()); // nothing written, nothing moved
        }
        self.state.checkpoint = checkpoint;
        self.state.pending = None;
        self.state.last_commit_at = Some(Timestamp::now());
        self.state.last_run_id = Some(self.ctx.run_id.clone());
        self.state.records_written += self.written_in_segment;
        self.save().await?;
        // ---- DLP alerts (shared::alerts): after the checkpoint save, with this segment's
        // dlp_findings rows; best effort, never fails the commit. ----
        if let Some(alerts) = &self.ctx.alerts {
            let rows = std::mem::take(&mut self.alert_rows);
            alerts.on_commit(self.stream, &self.job_key, &self.ctx.run_id, &rows).await;
        }
        // ---- end DLP alerts ----
        self.stats.segments.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.parts.clear();
        self.written_in_segment = 0;
        self.ctx.failpoints.hit("after_commit", self.stream)?;
        Ok(())
    }
}
