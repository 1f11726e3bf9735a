//! Per-item marks: one small state document per tenant object (a chat's message position, a written
//! attachment), kept beside the job's checkpoint so that no job document grows with the tenant.
//!
//! Marks commit with the segment that wrote the records they describe, without a multi-item
//! transaction:
//! 1. a stream *stages* a mark change in its segment ([`super::segment::Segment::stage_mark`]);
//! 2. the commit puts every staged change into the manifest (evidence, and the roll-forward log) and
//!    counts them in the head; the conditional state save commits them with the checkpoint;
//! 3. after the save, the changes are applied to their documents; a crash in between is rolled
//!    forward by the next [`super::segment::Segment::open`], which re-applies the head's changes.
//!
//! Every stored mark carries a [`Stamp`]: the epoch of the state it belongs to and an order (the
//! commit sequence and position that produced it). Applying is idempotent and never goes backwards
//! (a late or repeated apply of an older change is a no-op), and a mark of another epoch (a state
//! reset) reads as absent.

use crate::store::{StateStore, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const MARKS_PREFIX: &str = "_marks/";

/// Which state a mark belongs to, and how recent it is inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub epoch: String,
    /// (commit sequence, position): later changes of the same item have a larger order.
    pub order: [u64; 2],
}

/// One staged mark change: `value: None` removes the mark (the item is gone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkWrite {
    pub key: String,
    pub stamp: Stamp,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    stamp: Stamp,
    value: Value,
}

/// The state key of an item's mark under the job that owns the marks.
pub fn key(owner_job: &str, item: &str) -> String {
    format!("{MARKS_PREFIX}{owner_job}/{item}")
}

/// Whether a state key is a mark (listings of job checkpoints skip them).
pub fn is_mark_key(k: &str) -> bool {
    k.starts_with(MARKS_PREFIX)
}

/// The current mark of `key` in `epoch` (`None`: never written, removed, or another epoch's).
pub async fn load(state: &dyn StateStore, key: &str, epoch: &str) -> Result<Option<Value>, StoreError> {
    let Some(doc) = state.load(key).await? else { return Ok(None) };
    match serde_json::from_value::<Stored>(doc.value) {
        Ok(s) if s.stamp.epoch == epoch => Ok(Some(s.value)),
        Ok(_) => Ok(None),
        Err(e) => Err(StoreError::Corrupt { key: key.to_string(), reason: format!("mark: {e}") }),
    }
}

/// Applies one change: idempotent, ordered (an older change never overwrites a newer one).
pub async fn apply_one(state: &dyn StateStore, w: &MarkWrite) -> Result<(), StoreError> {
    for _ in 0..8 {
        let current = state.load(&w.key).await?;
        let version = current.as_ref().map(|d| d.version);
        if let Some(d) = &current {
            if let Ok(s) = serde_json::from_value::<Stored>(d.value.clone()) {
                if s.stamp.epoch == w.stamp.epoch && s.stamp.order >= w.stamp.order {
                    return Ok(()); // already there, or newer
                }
            }
        }
        match &w.value {
            None => {
                if current.is_some() {
                    state.delete(&w.key).await?;
                }
                return Ok(());
            }
            Some(v) => {
                let doc = serde_json::to_value(Stored { stamp: w.stamp.clone(), value: v.clone() })
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                match state.save(&w.key, version, &doc).await {
                    Ok(_) => return Ok(()),
                    Err(StoreError::Conflict { .. }) => continue, // re-read and decide again
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(StoreError::Backend(format!("mark {} kept changing under us", w.key)))
}

/// Applies a commit's changes, a few at a time.
pub async fn apply(state: &dyn StateStore, writes: &[MarkWrite]) -> Result<(), StoreError> {
    use futures::stream::{self, TryStreamExt};
    stream::iter(writes.iter().map(Ok::<_, StoreError>)).try_for_each_concurrent(16, |w| apply_one(state, w)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LocalStateStore;
    use serde_json::json;

    fn w(key: &str, epoch: &str, order: [u64; 2], value: Option<Value>) -> MarkWrite {
        MarkWrite { key: key.into(), stamp: Stamp { epoch: epoch.into(), order }, value }
    }

    #[tokio::test]
    async fn ordered_idempotent_epoch_scoped() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStateStore::new(dir.path()).unwrap();
        let k = key("chats", "claude_chat_8hYq2");
        apply_one(&s, &w(&k, "e1", [2, 0], Some(json!({"n": 2})))).await.unwrap();
        // an older change applied late is a no-op
        apply_one(&s, &w(&k, "e1", [1, 5], Some(json!({"n": 1})))).await.unwrap();
        assert_eq!(load(&s, &k, "e1").await.unwrap(), Some(json!({"n": 2})));
        // re-applying the same change is a no-op
        apply(&s, &[w(&k, "e1", [2, 0], Some(json!({"n": 2})))]).await.unwrap();
        assert_eq!(s.load(&k).await.unwrap().unwrap().version, 1);
        // another epoch's mark reads as absent
        assert_eq!(load(&s, &k, "e2").await.unwrap(), None);
        // removal
        apply_one(&s, &w(&k, "e1", [3, 0], None)).await.unwrap();
        assert_eq!(load(&s, &k, "e1").await.unwrap(), None);
        assert!(s.load(&k).await.unwrap().is_none());
    }
}
