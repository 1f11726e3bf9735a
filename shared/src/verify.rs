//! Reading the lake back: the ids written per table and how often, for `demo`'s end-to-end check,
//! the integration tests, and operators who want to audit a store against a source.

use crate::store::{ndjson, ObjectSink, StoreError, Table};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Every record of a table, in key order.
pub async fn read_table(sink: &dyn ObjectSink, table: Table) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::new();
    for key in sink.list(&format!("{}/", table.as_str())).await? {
        if !key.ends_with(".ndjson.gz") {
            continue;
        }
        let Some(bytes) = sink.get(&key).await? else { continue };
        let recs =
            ndjson::decode_gz(&bytes).map_err(|e| StoreError::Corrupt { key: key.clone(), reason: e.to_string() })?;
        out.extend(recs);
    }
    Ok(out)
}

/// The identity of a record in its table: `id` for most; users are per organization; chats and
/// projects are versioned (`id@updated_at`) because an updated or deleted chat is written again.
pub fn identity(table: Table, r: &Value) -> Option<String> {
    let s = |k: &str| r.get(k).and_then(Value::as_str);
    match table {
        Table::Organizations => s("uuid").map(str::to_string),
        Table::Users => Some(format!("{}/{}", s("organization_uuid")?, s("id")?)),
        Table::Chats | Table::Projects => Some(format!("{}@{}", s("id")?, s("updated_at").unwrap_or(""))),
        _ => s("id").map(str::to_string),
    }
}

/// Count of each identity in a table; for snapshot tables, only the latest snapshot (by run id).
pub async fn identity_counts(sink: &dyn ObjectSink, table: Table) -> Result<BTreeMap<String, u64>, StoreError> {
    let recs = read_table(sink, table).await?;
    let latest_run = if matches!(table, Table::Organizations | Table::Users) {
        // the snapshot fetched last (run ids need not sort by time)
        recs.iter()
            .filter_map(|r| {
                Some((r.pointer("/_ingest/fetched_at")?.as_str()?, r.pointer("/_ingest/run_id")?.as_str()?))
            })
            .max()
            .map(|(_, run)| run.to_string())
    } else {
        None
    };
    let mut m = BTreeMap::new();
    for r in &recs {
        if let Some(run) = &latest_run {
            if r.pointer("/_ingest/run_id").and_then(Value::as_str) != Some(run) {
                continue;
            }
        }
        if let Some(id) = identity(table, r) {
            *m.entry(id).or_insert(0) += 1;
        }
    }
    Ok(m)
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct TableCheck {
    pub expected: usize,
    pub written: usize,
    pub missing: Vec<String>,
    pub duplicated: Vec<String>,
    pub unexpected: Vec<String>,
}

impl TableCheck {
    pub fn exact(&self) -> bool {
        self.missing.is_empty() && self.duplicated.is_empty() && self.unexpected.is_empty()
    }
}

/// Compares what a table holds against the ids the source holds.
pub fn check(expected: &BTreeSet<String>, written: &BTreeMap<String, u64>) -> TableCheck {
    TableCheck {
        expected: expected.len(),
        written: written.values().sum::<u64>() as usize,
        missing: expected.iter().filter(|id| !written.contains_key(*id)).cloned().collect(),
        duplicated: written.iter().filter(|(_, n)| **n > 1).map(|(id, _)| id.clone()).collect(),
        unexpected: written.keys().filter(|id| !expected.contains(*id)).cloned().collect(),
    }
}
