//! The work queue: at-least-once delivery of job messages, with a receive count and a dead-letter
//! list after too many failed receives (the same contract SQS gives the Lambda path).

use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    pub id: String,
    pub body: String,
    pub receive_count: u32,
}

#[async_trait]
pub trait WorkQueue: Send + Sync {
    async fn send(&self, bodies: Vec<String>) -> Result<(), super::StoreError>;
    /// Like `send`, invisible for `delay` first (SQS caps it at 15 minutes).
    async fn send_delayed(&self, bodies: Vec<String>, delay: std::time::Duration) -> Result<(), super::StoreError>;
    /// Up to `max` messages, now invisible to other receivers until acked or released.
    async fn receive(&self, max: usize) -> Result<Vec<QueueMessage>, super::StoreError>;
    async fn ack(&self, id: &str) -> Result<(), super::StoreError>;
    /// Makes the message visible again (or dead-letters it after too many receives).
    async fn release(&self, id: &str) -> Result<(), super::StoreError>;
    /// A terminal failure: straight to the dead letters where the backend can (`true`); else it is
    /// released (`false`) and the queue's redrive policy dead-letters it after its receives.
    async fn dead_letter(&self, id: &str) -> Result<bool, super::StoreError> {
        self.release(id).await.map(|_| false)
    }
    /// Messages waiting or in flight, if the backend can tell (`None` = unknown).
    async fn depth(&self) -> Result<Option<u64>, super::StoreError>;
}

#[derive(Debug, Default)]
struct Inner {
    ready: VecDeque<QueueMessage>,
    /// Sent with a delay: visible from the instant.
    delayed: Vec<(Instant, QueueMessage)>,
    /// Received, with the instant they become visible again if neither acked nor released.
    in_flight: HashMap<String, (Instant, QueueMessage)>,
    dead: Vec<QueueMessage>,
    next: u64,
}

/// In-process queue for the embedded default, with SQS's contract: a received message becomes
/// visible again after the visibility timeout (a killed worker's job is redelivered), delayed sends,
/// and a dead-letter list after too many receives.
#[derive(Debug)]
pub struct LocalQueue {
    inner: Mutex<Inner>,
    max_receives: u32,
    visibility: Duration,
}

impl LocalQueue {
    pub fn new(max_receives: u32) -> Self {
        Self::with_visibility(max_receives, Duration::from_secs(3600))
    }

    pub fn with_visibility(max_receives: u32, visibility: Duration) -> Self {
        LocalQueue { inner: Mutex::new(Inner::default()), max_receives: max_receives.max(1), visibility }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dead_letters(&self) -> Vec<QueueMessage> {
        self.lock().dead.clone()
    }

    pub fn is_idle(&self) -> bool {
        let g = self.lock();
        g.ready.is_empty() && g.in_flight.is_empty() && g.delayed.is_empty()
    }
}

impl Inner {
    /// Moves due delayed messages and expired in-flight ones back to `ready` (or to the dead letters).
    fn promote(&mut self, now: Instant, max_receives: u32) {
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.delayed).into_iter().partition(|(t, _)| *t <= now);
        self.delayed = later;
        self.ready.extend(due.into_iter().map(|(_, m)| m));
        let expired: Vec<String> =
            self.in_flight.iter().filter(|(_, (t, _))| *t <= now).map(|(k, _)| k.clone()).collect();
        for id in expired {
            if let Some((_, m)) = self.in_flight.remove(&id) {
                if m.receive_count >= max_receives {
                    self.dead.push(m);
                } else {
                    self.ready.push_back(m);
                }
            }
        }
    }
}

#[async_trait]
impl WorkQueue for LocalQueue {
    async fn send(&self, bodies: Vec<String>) -> Result<(), super::StoreError> {
        self.send_delayed(bodies, Duration::ZERO).await
    }

    async fn send_delayed(&self, bodies: Vec<String>, delay: Duration) -> Result<(), super::StoreError> {
        let mut g = self.lock();
        let at = Instant::now() + delay;
        for body in bodies {
            g.next += 1;
            let id = format!("m{}", g.next);
            let m = QueueMessage { id, body, receive_count: 0 };
            if delay.is_zero() {
                g.ready.push_back(m);
            } else {
                g.delayed.push((at, m));
            }
        }
        Ok(())
    }

    async fn receive(&self, max: usize) -> Result<Vec<QueueMessage>, super::StoreError> {
        let mut g = self.lock();
        let now = Instant::now();
        g.promote(now, self.max_receives);
        let mut out = Vec::new();
        while out.len() < max {
            let Some(mut m) = g.ready.pop_front() else {
                break;
            };
            m.receive_count += 1;
            g.in_flight.insert(m.id.clone(), (now + self.visibility, m.clone()));
            out.push(m);
        }
        Ok(out)
    }

    async fn ack(&self, id: &str) -> Result<(), super::StoreError> {
        self.lock().in_flight.remove(id);
        Ok(())
    }

    async fn dead_letter(&self, id: &str) -> Result<bool, super::StoreError> {
        let mut g = self.lock();
        if let Some((_, m)) = g.in_flight.remove(id) {
            g.dead.push(m);
        }
        Ok(true)
    }

    async fn depth(&self) -> Result<Option<u64>, super::StoreError> {
        let g = self.lock();
        Ok(Some((g.ready.len() + g.in_flight.len() + g.delayed.len()) as u64))
    }

    async fn release(&self, id: &str) -> Result<(), super::StoreError> {
        let mut g = self.lock();
        if let Some((_, m)) = g.in_flight.remove(id) {
            if m.receive_count >= self.max_receives {
                g.dead.push(m);
            } else {
                g.ready.push_back(m);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn redelivers_then_dead_letters() {
        let q = LocalQueue::new(2);
        q.send(vec!["a".into()]).await.unwrap();
        let m = q.receive(10).await.unwrap();
        q.release(&m[0].id).await.unwrap();
        let m = q.receive(10).await.unwrap();
        assert_eq!(m[0].receive_count, 2);
        q.release(&m[0].id).await.unwrap();
        assert!(q.receive(10).await.unwrap().is_empty());
        assert_eq!(q.dead_letters().len(), 1);
        assert!(q.is_idle());
    }
}
