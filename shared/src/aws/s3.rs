//! The lake on S3: [`S3ObjectSink`] implements `crate::store::ObjectSink`.
//!
//! - Object key = `<prefix>/<key>` (just `<key>` with an empty prefix); `list` returns keys relative
//!   to the prefix, so the layout (`<table>/dt=YYYY-MM-DD/<job>-<batch>-<part>.ndjson.gz`) is the
//!   same as the local store's.
//! - `put` is one PutObject (atomic, overwrites: a retried batch replaces its objects). Bodies are
//!   already gzip files, so the object gets `Content-Type: application/x-ndjson` and **no**
//!   `Content-Encoding` (clients must not transparently decompress them). Server-side encryption is
//!   requested on every put: `AES256` (default) or `aws:kms` with an optional key id. Single-request
//!   uploads cap at 5 GiB, far above the engine's segment objects.
//! - Errors become `StoreError::Backend` (retryable) naming the bucket and key.

use crate::aws::error::store_backend;
use crate::store::{ObjectSink, StoreError};
use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use bytes::Bytes;

pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// Server-side encryption requested on each object (and set as the bucket default by `init`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Encryption {
    /// SSE-S3.
    #[default]
    Aes256,
    /// SSE-KMS; `None` = the AWS-managed `aws/s3` key.
    Kms { key_id: Option<String> },
}

#[derive(Debug, Clone)]
pub struct S3ObjectSink {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    encryption: Encryption,
    page_size: Option<i32>,
}

impl S3ObjectSink {
    /// `prefix` may be empty; leading/trailing slashes are ignored.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: impl AsRef<str>) -> Self {
        S3ObjectSink {
            client,
            bucket: bucket.into(),
            prefix: prefix.as_ref().trim_matches('/').to_string(),
            encryption: Encryption::Aes256,
            page_size: None,
        }
    }

    pub fn with_encryption(mut self, encryption: Encryption) -> Self {
        self.encryption = encryption;
        self
    }

    /// ListObjectsV2 page size (`MaxKeys`, 1..=1000; default: the service's 1000).
    pub fn with_page_size(mut self, max_keys: i32) -> Self {
        self.page_size = Some(max_keys.clamp(1, 1000));
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full S3 key of a lake key.
    pub fn object_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{}", self.prefix, key)
        }
    }

    fn checked_key(&self, key: &str) -> Result<String, StoreError> {
        let bad = key.is_empty()
            || key.starts_with('/')
            || key.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..");
        if bad {
            return Err(StoreError::Backend(format!("refusing unsafe key {key:?} for s3://{}", self.bucket)));
        }
        Ok(self.object_key(key))
    }

    fn where_(&self, full_key: &str) -> String {
        format!("s3://{}/{}", self.bucket, full_key)
    }
}

#[async_trait]
impl ObjectSink for S3ObjectSink {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        let full = self.checked_key(key)?;
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .content_type(CONTENT_TYPE)
            .body(ByteStream::from(body));
        req = match &self.encryption {
            Encryption::Aes256 => req.server_side_encryption(ServerSideEncryption::Aes256),
            Encryption::Kms { key_id } => {
                req.server_side_encryption(ServerSideEncryption::AwsKms).set_ssekms_key_id(key_id.clone())
            }
        };
        req.send().await.map_err(|e| store_backend("PutObject", &self.where_(&full), &e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let full = self.checked_key(key)?;
        let out = match self.client.get_object().bucket(&self.bucket).key(&full).send().await {
            Ok(o) => o,
            Err(e) => {
                // NoSuchKey, or a bare 404 from an emulator; never a missing bucket.
                let missing = e.as_service_error().is_some_and(|s| {
                    s.is_no_such_key() || (s.code().is_none_or(|c| c == "NotFound" || c == "NoSuchKey"))
                }) && e.raw_response().is_none_or(|r| r.status().as_u16() == 404);
                if missing {
                    return Ok(None);
                }
                return Err(store_backend("GetObject", &self.where_(&full), &e));
            }
        };
        let data = out.body.collect().await.map_err(|e| {
            StoreError::Backend(format!("GetObject {}: reading the body failed: {e}", self.where_(&full)))
        })?;
        Ok(Some(data.into_bytes()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let base = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        let full_prefix = format!("{base}{prefix}");
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&full_prefix)
            .set_max_keys(self.page_size)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_backend("ListObjectsV2", &self.where_(&full_prefix), &e))?;
            for obj in page.contents() {
                if let Some(rel) = obj.key().and_then(|k| k.strip_prefix(base.as_str())) {
                    out.push(rel.to_string());
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let full = self.checked_key(key)?;
        // DeleteObject succeeds for a missing key, like the local store.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| store_backend("DeleteObject", &self.where_(&full), &e))?;
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let src = self.checked_key(from)?;
        let dst = self.checked_key(to)?;
        // CopySource is `bucket/key`, URL-encoded; our keys are [A-Za-z0-9._=/-] only.
        let mut req =
            self.client.copy_object().bucket(&self.bucket).key(&dst).copy_source(format!("{}/{}", self.bucket, src));
        req = match &self.encryption {
            Encryption::Aes256 => req.server_side_encryption(ServerSideEncryption::Aes256),
            Encryption::Kms { key_id } => {
                req.server_side_encryption(ServerSideEncryption::AwsKms).set_ssekms_key_id(key_id.clone())
            }
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let missing = e.as_service_error().is_some_and(|s| s.code() == Some("NoSuchKey"))
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
                if missing {
                    return Err(StoreError::Missing { key: from.to_string() });
                }
                Err(store_backend("CopyObject", &self.where_(&src), &e))
            }
        }
    }

    fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}
