//! The work queue: at-least-once delivery of job messages, with a receive count and a dead-letter
//! list after too many failed receives (the same contract SQS gives the Lambda path).

use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    pub id: String,
    pub body: String,
    pub receive_count: u32,
}

#[async_trait]
pub trait WorkQueue: Send + Sync {
    async fn send(&self, bodies: Vec<String>) -> Result<(), super::StoreError>;
    /// Up to `max` messages, now invisible to other receivers until acked or released.
    async fn receive(&self, max: usize) -> Result<Vec<QueueMessage>, super::StoreError>;
    async fn ack(&self, id: &str) -> Result<(), super::StoreError>;
    /// Makes the message visible again (or dead-letters it after too many receives).
    async fn release(&self, id: &str) -> Result<(), super::StoreError>;
    /// Messages waiting or in flight, if the backend can tell (`None` = unknown).
    async fn depth(&self) -> Result<Option<u64>, super::StoreError>;
}

#[derive(Debug, Default)]
struct Inner {
    ready: VecDeque<QueueMessage>,
    in_flight: HashMap<String, QueueMessage>,
    dead: Vec<QueueMessage>,
    next: u64,
}

/// In-process queue for the embedded default.
#[derive(Debug)]
pub struct LocalQueue {
    inner: Mutex<Inner>,
    max_receives: u32,
}

impl LocalQueue {
    pub fn new(max_receives: u32) -> Self {
        LocalQueue { inner: Mutex::new(Inner::default()), max_receives: max_receives.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dead_letters(&self) -> Vec<QueueMessage> {
        self.lock().dead.clone()
    }

    pub fn is_idle(&self) -> bool {
        let g = self.lock();
        g.ready.is_empty() && g.in_flight.is_empty()
    }
}

#[async_trait]
impl WorkQueue for LocalQueue {
    async fn send(&self, bodies: Vec<String>) -> Result<(), super::StoreError> {
        let mut g = self.lock();
        for body in bodies {
            g.next += 1;
            let id = format!("m{}", g.next);
            g.ready.push_back(QueueMessage { id, body, receive_count: 0 });
        }
        Ok(())
    }

    async fn receive(&self, max: usize) -> Result<Vec<QueueMessage>, super::StoreError> {
        let mut g = self.lock();
        let mut out = Vec::new();
        while out.len() < max {
            let Some(mut m) = g.ready.pop_front() else {
                break;
            };
            m.receive_count += 1;
            g.in_flight.insert(m.id.clone(), m.clone());
            out.push(m);
        }
        Ok(out)
    }

    async fn ack(&self, id: &str) -> Result<(), super::StoreError> {
        self.lock().in_flight.remove(id);
        Ok(())
    }

    async fn depth(&self) -> Result<Option<u64>, super::StoreError> {
        let g = self.lock();
        Ok(Some((g.ready.len() + g.in_flight.len()) as u64))
    }

    async fn release(&self, id: &str) -> Result<(), super::StoreError> {
        let mut g = self.lock();
        if let Some(m) = g.in_flight.remove(id) {
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
