//! The job queue on SQS: [`SqsWorkQueue`] implements `crate::store::WorkQueue` on a *standard*
//! queue whose redrive policy moves a message to the dead-letter queue after `maxReceiveCount`
//! receives (created by [`crate::aws::init`]).
//!
//! - `send`: SendMessageBatch in chunks of at most 10 entries and 256 KiB; failed entries of a batch
//!   are retried (twice, with a short backoff) unless SQS says the sender is at fault; entries still
//!   failing make `send` return an error naming how many and why.
//! - `receive`: long poll (`wait_time`, default 2 s, configurable), up to 10 messages per call,
//!   `ApproximateReceiveCount` → `receive_count`; the message id handed out is the **receipt handle**,
//!   which is what `ack`/`release` need.
//! - `ack` = DeleteMessage; `release` = ChangeMessageVisibility(0): visible again at once, and SQS
//!   dead-letters it on the receive after `maxReceiveCount`.
//!
//! Standard queues deliver at least once and do not deduplicate; [`message_idempotency_id`] gives
//! the scheduler a stable id per (job, schedule time) to put in the body. The consumer's real
//! deduplication is the checkpoint protocol (a duplicate run finds the job already advanced).

use crate::aws::error::{describe, store_backend};
use crate::store::{QueueMessage, StoreError, WorkQueue};
use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use std::time::Duration;

pub const MAX_BATCH_ENTRIES: usize = 10;
pub const MAX_BATCH_BYTES: usize = 256 * 1024;
const SEND_ATTEMPTS: u32 = 3;

/// A stable id for one scheduled run of a job: hex SHA-256 of `job`, a NUL and the schedule time
/// (RFC 3339, microseconds, `Z`). 64 characters, valid as an SQS FIFO deduplication id too.
pub fn message_idempotency_id(job: &str, scheduled_at: &crate::time::Timestamp) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(job.as_bytes());
    h.update([0u8]);
    h.update(scheduled_at.to_rfc3339().as_bytes());
    hex::encode(h.finalize())
}

#[derive(Debug, Clone)]
pub struct SqsWorkQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    wait_time: Duration,
    visibility_timeout: Option<Duration>,
}

impl SqsWorkQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsWorkQueue {
            client,
            queue_url: queue_url.into(),
            // only the CLI driver receives (Lambda's event source mapping polls for the functions):
            // a short poll keeps the end of a run prompt, and what a killed CLI's poll takes small
            wait_time: Duration::from_secs(2),
            visibility_timeout: None,
        }
    }

    /// Long-poll wait of `receive` (0 ..= 20 s; 0 = short poll).
    pub fn with_wait_time(mut self, wait: Duration) -> Self {
        self.wait_time = wait.min(Duration::from_secs(20));
        self
    }

    /// Visibility timeout for received messages (default: the queue's).
    pub fn with_visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = Some(timeout);
        self
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Splits bodies into batches of ≤ 10 entries and ≤ 256 KiB.
    fn chunks(bodies: Vec<String>) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = Vec::new();
        let mut cur: Vec<String> = Vec::new();
        let mut bytes = 0usize;
        for b in bodies {
            if !cur.is_empty() && (cur.len() == MAX_BATCH_ENTRIES || bytes + b.len() > MAX_BATCH_BYTES) {
                out.push(std::mem::take(&mut cur));
                bytes = 0;
            }
            bytes += b.len();
            cur.push(b);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    async fn send_batch(&self, batch: Vec<String>, delay: Duration) -> Result<(), StoreError> {
        let delay_s = delay.as_secs().min(900) as i32;
        // (entry id, body) still to send.
        let mut pending: Vec<(String, String)> =
            batch.into_iter().enumerate().map(|(i, b)| (format!("m{i}"), b)).collect();
        let mut last_reason = String::new();
        for attempt in 0..SEND_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body)
                        .set_delay_seconds((delay_s > 0).then_some(delay_s))
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::Backend(format!("SendMessageBatch {}: {e}", self.queue_url)))?;
            let out = match self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(o) => o,
                Err(e) => {
                    last_reason = describe(&e);
                    if attempt + 1 == SEND_ATTEMPTS {
                        return Err(store_backend("SendMessageBatch", &self.queue_url, &e));
                    }
                    continue;
                }
            };
            let failed = out.failed();
            if failed.is_empty() {
                return Ok(());
            }
            if let Some(f) = failed.iter().find(|f| f.sender_fault()) {
                return Err(StoreError::Backend(format!(
                    "SendMessageBatch {}: {} of {} messages rejected ({}: {})",
                    self.queue_url,
                    failed.len(),
                    pending.len(),
                    f.code(),
                    f.message().unwrap_or("")
                )));
            }
            last_reason = failed.iter().map(|f| f.code().to_string()).collect::<Vec<_>>().join(", ");
            let failed_ids: std::collections::HashSet<&str> = failed.iter().map(|f| f.id()).collect();
            pending.retain(|(id, _)| failed_ids.contains(id.as_str()));
        }
        Err(StoreError::Backend(format!(
            "SendMessageBatch {}: {} messages still failing after {SEND_ATTEMPTS} attempts ({last_reason})",
            self.queue_url,
            pending.len()
        )))
    }
}

#[async_trait]
impl WorkQueue for SqsWorkQueue {
    async fn send(&self, bodies: Vec<String>) -> Result<(), StoreError> {
        self.send_delayed(bodies, Duration::ZERO).await
    }

    async fn send_delayed(&self, bodies: Vec<String>, delay: Duration) -> Result<(), StoreError> {
        for batch in Self::chunks(bodies) {
            self.send_batch(batch, delay).await?;
        }
        Ok(())
    }

    async fn receive(&self, max: usize) -> Result<Vec<QueueMessage>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.min(10) as i32)
            .wait_time_seconds(self.wait_time.as_secs() as i32)
            .set_visibility_timeout(self.visibility_timeout.map(|v| v.as_secs().min(43_200) as i32))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| store_backend("ReceiveMessage", &self.queue_url, &e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                let id = m.receipt_handle()?.to_string();
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                Some(QueueMessage { id, body: m.body().unwrap_or_default().to_string(), receive_count })
            })
            .collect())
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(id)
            .send()
            .await
            .map_err(|e| store_backend("DeleteMessage", &self.queue_url, &e))?;
        Ok(())
    }

    async fn release(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(id)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| store_backend("ChangeMessageVisibility", &self.queue_url, &e))?;
        Ok(())
    }

    /// Visible + in-flight + delayed messages (approximate, as SQS reports them).
    async fn depth(&self) -> Result<Option<u64>, StoreError> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| store_backend("GetQueueAttributes", &self.queue_url, &e))?;
        let attrs = out.attributes();
        let n = |a: A| attrs.and_then(|m| m.get(&a)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok(Some(
            n(A::ApproximateNumberOfMessages)
                + n(A::ApproximateNumberOfMessagesNotVisible)
                + n(A::ApproximateNumberOfMessagesDelayed),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_by_count_and_size() {
        let c = SqsWorkQueue::chunks((0..25).map(|i| format!("m{i}")).collect());
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 10, 5]);
        let big = "x".repeat(100 * 1024);
        let c = SqsWorkQueue::chunks(vec![big.clone(), big.clone(), big.clone()]);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1]);
    }

    #[test]
    fn idempotency_id_is_stable() {
        let t = crate::time::Timestamp::parse("2026-11-23T10:00:00Z").unwrap();
        let a = message_idempotency_id("users/org-1", &t);
        assert_eq!(a, message_idempotency_id("users/org-1", &t));
        assert_ne!(a, message_idempotency_id("users/org-2", &t));
        assert_eq!(a.len(), 64);
    }
}
