//! Job leases: at most one worker runs a job (one stream position) at a time. A lease expires, so
//! a crashed worker's job is picked up again; only the owner renews or releases it.

use super::StoreError;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[async_trait]
pub trait Leases: Send + Sync {
    /// `true` if `owner` now holds `key` for `ttl` (free, expired, or already its own).
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError>;
    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError>;
}

/// In-process leases for the embedded default.
#[derive(Debug, Default)]
pub struct LocalLeases {
    held: Mutex<HashMap<String, (String, Instant)>>,
}

#[async_trait]
impl Leases for LocalLeases {
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut g = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match g.get(key) {
            Some((o, until)) if o != owner && *until > now => Ok(false),
            _ => {
                g.insert(key.to_string(), (owner.to_string(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut g = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if g.get(key).is_some_and(|(o, _)| o == owner) {
            g.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exclusive_until_expiry() {
        let l = LocalLeases::default();
        assert!(l.acquire("k", "a", Duration::from_millis(50)).await.unwrap());
        assert!(!l.acquire("k", "b", Duration::from_secs(1)).await.unwrap());
        assert!(l.acquire("k", "a", Duration::from_secs(1)).await.unwrap(), "owner renews");
        l.release("k", "b").await.unwrap();
        assert!(!l.acquire("k", "b", Duration::from_secs(1)).await.unwrap(), "only the owner releases");
        l.release("k", "a").await.unwrap();
        assert!(l.acquire("k", "b", Duration::from_millis(10)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(l.acquire("k", "c", Duration::from_secs(1)).await.unwrap(), "expired lease taken over");
    }
}
