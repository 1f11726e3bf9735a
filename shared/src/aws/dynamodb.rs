//! Checkpoint state in DynamoDB: [`DynamoStateStore`] implements `crate::store::StateStore`.
//!
//! ## Single-table design
//! One table (name from config) with string keys `pk` (HASH) and `sk` (RANGE), on-demand billing and
//! TTL on the numeric attribute `expires_at` (epoch seconds). It holds:
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | state document | `state#<key>` | `v` | `version` (N), `value` (S) **or** `value_gz` (B), `updated_at` (S) |
//! | job lease ([`crate::aws::lease`]) | `lease#<job key>` | `lease` | `owner`, `expires_at`, `fence` |
//! | budget sub-window ([`crate::aws::budget`]) | `budget#<tenant>` | `w#<window start ms>` | `n`, `pause_until`, `expires_at` |
//! | budget pause | `budget#<tenant>` | `pause` | `pause_until`, `expires_at` |
//!
//! ## State documents
//! The value is stored as its **JSON text**, not as a DynamoDB map, so numbers keep their exact
//! digits and objects their key order (the engine compares checkpoints for equality):
//! - `value` (String): the JSON text, when it is at most [`INLINE_LIMIT`] bytes (64 KiB);
//! - `value_gz` (Binary): the gzip-compressed JSON text, when it is larger (items cap at 400 KB).
//!
//! Exactly one of the two is present. A compressed document above [`MAX_COMPRESSED`] is refused
//! before the write with a clear error.
//!
//! `save(key, expected, value)` is a single conditional PutItem: `attribute_not_exists(pk)` when
//! `expected` is `None`, `version = :expected` otherwise, writing `version = expected + 1`. A failed
//! condition is `StoreError::Conflict`; the current version comes back in the same failed call
//! (`ReturnValuesOnConditionCheckFailure = ALL_OLD`), so reporting it costs nothing extra.
//! `load` is a strongly consistent GetItem. `keys(prefix)` is a **Scan** with
//! `begins_with(pk, "state#<prefix>")` (the key is the partition key, so a Query cannot do prefixes);
//! it reads the whole table, which is fine for the occasional status listing it serves but should not
//! sit in a hot path.

use crate::aws::error::store_backend;
use crate::store::{StateStore, StoreError, Versioned};
use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const TTL_ATTR: &str = "expires_at";
pub const STATE_PREFIX: &str = "state#";
pub const STATE_SK: &str = "v";
/// Documents up to this many bytes of JSON are stored as text.
pub const INLINE_LIMIT: usize = 64 * 1024;
/// Largest compressed document accepted (DynamoDB items cap at 400 KB including attribute names).
pub const MAX_COMPRESSED: usize = 380 * 1024;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    inline_limit: usize,
}

impl DynamoStateStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoStateStore { client, table: table.into(), inline_limit: INLINE_LIMIT }
    }

    /// Overrides the size above which documents are compressed (tests use a small one).
    pub fn with_inline_limit(mut self, bytes: usize) -> Self {
        self.inline_limit = bytes;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Deletes a state document (per-item marks of a deleted item; moving the DLP key out).
    pub async fn delete_doc(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(Self::pk(key)))
            .key(SK, AttributeValue::S(STATE_SK.into()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_backend("DeleteItem", &self.where_(key), &e))
    }

    fn pk(key: &str) -> String {
        format!("{STATE_PREFIX}{key}")
    }

    fn where_(&self, key: &str) -> String {
        format!("dynamodb://{}/{}{}", self.table, STATE_PREFIX, key)
    }
}

/// Why a state document cannot be written.
#[derive(Debug)]
pub enum EncodeError {
    /// Over DynamoDB's item limit even compressed: terminal (retrying writes the same bytes).
    TooLarge {
        json: usize,
        compressed: usize,
    },
    Other(String),
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::TooLarge { json, compressed } => write!(
                f,
                "state document is too large for DynamoDB: {json} bytes of JSON, {compressed} bytes compressed (max {MAX_COMPRESSED})"
            ),
            EncodeError::Other(m) => f.write_str(m),
        }
    }
}

/// The value attribute(s) of a state document.
pub fn encode_value(value: &Value, inline_limit: usize) -> Result<(&'static str, AttributeValue), EncodeError> {
    let text =
        serde_json::to_string(value).map_err(|e| EncodeError::Other(format!("cannot encode state as JSON: {e}")))?;
    if text.len() <= inline_limit {
        return Ok(("value", AttributeValue::S(text)));
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).map_err(|e| EncodeError::Other(format!("cannot compress state: {e}")))?;
    let gz = enc.finish().map_err(|e| EncodeError::Other(format!("cannot compress state: {e}")))?;
    if gz.len() > MAX_COMPRESSED {
        return Err(EncodeError::TooLarge { json: text.len(), compressed: gz.len() });
    }
    Ok(("value_gz", AttributeValue::B(Blob::new(gz))))
}

/// Reads a state item back; `Err` is the reason it is corrupt.
pub fn decode_item(item: &Item) -> Result<Versioned, String> {
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or("missing or non-numeric `version`")?;
    let value = if let Some(s) = item.get("value").and_then(|v| v.as_s().ok()) {
        serde_json::from_str(s).map_err(|e| format!("`value` is not JSON: {e}"))?
    } else if let Some(b) = item.get("value_gz").and_then(|v| v.as_b().ok()) {
        let mut text = String::new();
        flate2::read::GzDecoder::new(b.as_ref())
            .read_to_string(&mut text)
            .map_err(|e| format!("`value_gz` is not gzip text: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("`value_gz` is not JSON: {e}"))?
    } else {
        return Err("neither `value` nor `value_gz` present".into());
    };
    Ok(Versioned { version, value })
}

pub(crate) fn item_version(item: Option<&Item>) -> Option<u64> {
    item?.get("version")?.as_n().ok()?.parse().ok()
}

#[async_trait]
impl StateStore for DynamoStateStore {
    async fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(Self::pk(key)))
            .key(SK, AttributeValue::S(STATE_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_backend("GetItem", &self.where_(key), &e))?;
        match out.item() {
            None => Ok(None),
            Some(item) => {
                decode_item(item).map(Some).map_err(|reason| StoreError::Corrupt { key: key.to_string(), reason })
            }
        }
    }

    async fn save(&self, key: &str, expected: Option<u64>, value: &Value) -> Result<u64, StoreError> {
        let next = expected.unwrap_or(0) + 1;
        let (attr, val) = encode_value(value, self.inline_limit).map_err(|e| match e {
            // Terminal: the same document would be refused again. An operator must look.
            EncodeError::TooLarge { compressed, .. } => {
                StoreError::TooLarge { key: self.where_(key), bytes: compressed, limit: MAX_COMPRESSED }
            }
            EncodeError::Other(m) => StoreError::Backend(format!("{}: {m}", self.where_(key))),
        })?;
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(Self::pk(key)))
            .item(SK, AttributeValue::S(STATE_SK.into()))
            .item("version", AttributeValue::N(next.to_string()))
            .item(attr, val)
            .item("updated_at", AttributeValue::S(crate::time::Timestamp::now().to_rfc3339()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        req = match expected {
            None => req.condition_expression("attribute_not_exists(pk)"),
            Some(v) => req
                .condition_expression("#ver = :expected")
                .expression_attribute_names("#ver", "version")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        };
        match req.send().await {
            Ok(_) => Ok(next),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_conditional_check_failed_exception() => {
                    let found = match s {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                            item_version(c.item())
                        }
                        _ => None,
                    };
                    Err(StoreError::Conflict { key: key.to_string(), expected, found })
                }
                _ => Err(store_backend("PutItem", &self.where_(key), &e)),
            },
        }
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :p) AND sk = :v")
            .expression_attribute_values(":p", AttributeValue::S(Self::pk(prefix)))
            .expression_attribute_values(":v", AttributeValue::S(STATE_SK.into()))
            .projection_expression("pk")
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_backend("Scan", &self.where_(&format!("{prefix}*")), &e))?;
            for item in page.items() {
                if let Some(k) = item.get(PK).and_then(|v| v.as_s().ok()).and_then(|s| s.strip_prefix(STATE_PREFIX)) {
                    out.push(k.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.delete_doc(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn small_values_inline_large_compressed() {
        let v = json!({"checkpoint": {"cursor": "abc", "n": 12345678901234567890u64}, "pending": null});
        let (attr, av) = encode_value(&v, INLINE_LIMIT).unwrap();
        assert_eq!(attr, "value");
        let mut item = Item::new();
        item.insert("version".into(), AttributeValue::N("3".into()));
        item.insert(attr.into(), av);
        assert_eq!(decode_item(&item).unwrap(), Versioned { version: 3, value: v });

        let big = json!({"ids": (0..20_000).map(|i| format!("id-{i}")).collect::<Vec<_>>()});
        let (attr, av) = encode_value(&big, INLINE_LIMIT).unwrap();
        assert_eq!(attr, "value_gz");
        let mut item = Item::new();
        item.insert("version".into(), AttributeValue::N("1".into()));
        item.insert(attr.into(), av);
        assert_eq!(decode_item(&item).unwrap().value, big);
    }

    #[test]
    fn corrupt_items_are_reported() {
        let mut item = Item::new();
        item.insert("value".into(), AttributeValue::S("{}".into()));
        assert!(decode_item(&item).is_err());
        item.insert("version".into(), AttributeValue::N("1".into()));
        item.insert("value".into(), AttributeValue::S("{not json".into()));
        assert!(decode_item(&item).is_err());
    }
}
