//! Idempotent creation of the resources the adapters use — the same definitions the deployment
//! template declares:
//!
//! - **Bucket** `<bucket>`: all four public-access blocks on, default encryption (SSE-S3 `AES256`, or
//!   SSE-KMS with the bucket key enabled), versioning enabled; optionally a lifecycle rule expiring
//!   noncurrent versions (retried batches overwrite objects, leaving noncurrent versions behind).
//! - **Table** `<table>`: `pk` (S, HASH) + `sk` (S, RANGE), on-demand billing, TTL on `expires_at`.
//! - **Queues** `<queue>` and `<queue>-dlq`: the DLQ keeps messages 14 days; the work queue has the
//!   given visibility timeout (set it ≥ 6× the worker Lambda's timeout, AWS's advice for event source
//!   mappings) and a redrive policy to the DLQ after `max_receive_count` receives (default 5). Both
//!   use SQS-managed encryption. Standard queues only (a `.fifo` name is refused).
//!
//! Every step checks what exists first and converges it, so running it again is harmless.

use crate::aws::config::AwsClients;
use crate::aws::dynamodb::{PK, SK, TTL_ATTR};
use crate::aws::error::AwsError;
use crate::aws::s3::Encryption;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    ExpirationStatus, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;
use std::time::Duration;

pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(900);
const DLQ_RETENTION_SECS: u32 = 1_209_600;

#[derive(Debug, Clone, PartialEq)]
pub struct InitSpec {
    pub bucket: String,
    pub table: String,
    /// Work queue name; the DLQ is `<queue>-dlq`.
    pub queue: String,
    pub encryption: Encryption,
    pub max_receive_count: u32,
    pub visibility_timeout: Duration,
    /// Days after which noncurrent object versions expire (`None` = keep them).
    pub noncurrent_version_expiration_days: Option<i32>,
}

impl InitSpec {
    pub fn new(bucket: impl Into<String>, table: impl Into<String>, queue: impl Into<String>) -> Self {
        InitSpec {
            bucket: bucket.into(),
            table: table.into(),
            queue: queue.into(),
            encryption: Encryption::Aes256,
            max_receive_count: DEFAULT_MAX_RECEIVE_COUNT,
            visibility_timeout: DEFAULT_VISIBILITY_TIMEOUT,
            noncurrent_version_expiration_days: None,
        }
    }

    pub fn dlq_name(&self) -> String {
        format!("{}-dlq", self.queue)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queues {
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOutput {
    pub bucket: String,
    pub table: String,
    pub table_arn: Option<String>,
    pub queues: Queues,
}

/// Creates or converges everything in [`InitSpec`].
pub async fn ensure_all(clients: &AwsClients, spec: &InitSpec) -> Result<InitOutput, AwsError> {
    ensure_bucket(&clients.s3, &spec.bucket, &spec.encryption, spec.noncurrent_version_expiration_days).await?;
    let table_arn = ensure_table(&clients.dynamodb, &spec.table).await?;
    let queues = ensure_queues(&clients.sqs, &spec.queue, spec.max_receive_count, spec.visibility_timeout).await?;
    Ok(InitOutput { bucket: spec.bucket.clone(), table: spec.table.clone(), table_arn, queues })
}

pub async fn ensure_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    encryption: &Encryption,
    noncurrent_version_expiration_days: Option<i32>,
) -> Result<(), AwsError> {
    let what = || format!("bucket {bucket}");
    let exists = match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => false,
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => false,
        Err(e) => return Err(AwsError::backend("HeadBucket", what(), &e)),
    };
    if !exists {
        let region = s3.config().region().map(|r| r.as_ref().to_string()).unwrap_or_default();
        let mut req = s3.create_bucket().bucket(bucket);
        if !region.is_empty() && region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
            Err(e) => return Err(AwsError::backend("CreateBucket", what(), &e)),
        }
    }
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::backend("PutPublicAccessBlock", what(), &e))?;
    let default = match encryption {
        Encryption::Aes256 => ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256),
        Encryption::Kms { key_id } => ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::AwsKms)
            .set_kms_master_key_id(key_id.clone()),
    }
    .build()
    .map_err(|e| AwsError::Invalid(format!("bucket encryption for {bucket}: {e}")))?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(default)
        .bucket_key_enabled(matches!(encryption, Encryption::Kms { .. }))
        .build();
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(|e| AwsError::Invalid(format!("bucket encryption for {bucket}: {e}")))?,
        )
        .send()
        .await
        .map_err(|e| AwsError::backend("PutBucketEncryption", what(), &e))?;
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .map_err(|e| AwsError::backend("PutBucketVersioning", what(), &e))?;
    if let Some(days) = noncurrent_version_expiration_days {
        let rule = LifecycleRule::builder()
            .id("expire-noncurrent-versions")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(days).build())
            .build()
            .map_err(|e| AwsError::Invalid(format!("lifecycle rule for {bucket}: {e}")))?;
        s3.put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(|e| AwsError::Invalid(format!("lifecycle rule for {bucket}: {e}")))?,
            )
            .send()
            .await
            .map_err(|e| AwsError::backend("PutBucketLifecycleConfiguration", what(), &e))?;
    }
    Ok(())
}

/// Creates the table if missing, waits until it is ACTIVE, enables TTL on `expires_at`. Returns its ARN.
pub async fn ensure_table(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Option<String>, AwsError> {
    let what = || format!("table {table}");
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| AwsError::Invalid(format!("table {table}: {e}")))
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| AwsError::Invalid(format!("table {table}: {e}")))
    };
    let created = ddb
        .create_table()
        .table_name(table)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(AwsError::backend("CreateTable", what(), &e)),
    }
    // Poll (the SDK waiter's minimum delay is 20 s).
    let mut arn = None;
    for attempt in 0..120 {
        let desc = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| AwsError::backend("DescribeTable", what(), &e))?;
        let t = desc.table().ok_or_else(|| AwsError::NotFound { what: what() })?;
        let keys: Vec<(&str, &KeyType)> = t.key_schema().iter().map(|k| (k.attribute_name(), k.key_type())).collect();
        if keys != [(PK, &KeyType::Hash), (SK, &KeyType::Range)] {
            return Err(AwsError::Invalid(format!(
                "table {table} exists with a different key schema ({keys:?}); it must be pk (HASH, S) + sk (RANGE, S)"
            )));
        }
        arn = t.table_arn().map(str::to_string);
        if t.table_status() == Some(&TableStatus::Active) {
            break;
        }
        if attempt == 119 {
            return Err(AwsError::Backend {
                op: "DescribeTable",
                resource: what(),
                message: "table did not become ACTIVE within 2 minutes".into(),
                retryable: true,
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let ttl = ddb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| AwsError::backend("DescribeTimeToLive", what(), &e))?;
    let current = ttl.time_to_live_description();
    let status = current.and_then(|d| d.time_to_live_status());
    let attr_name = current.and_then(|d| d.attribute_name());
    let on = matches!(status, Some(TimeToLiveStatus::Enabled) | Some(TimeToLiveStatus::Enabling));
    if on && attr_name != Some(TTL_ATTR) {
        return Err(AwsError::Invalid(format!(
            "table {table} has TTL on {attr_name:?}; compliance-lake needs it on {TTL_ATTR:?}"
        )));
    }
    if !on {
        ddb.update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTR)
                    .enabled(true)
                    .build()
                    .map_err(|e| AwsError::Invalid(format!("table {table}: {e}")))?,
            )
            .send()
            .await
            .map_err(|e| AwsError::backend("UpdateTimeToLive", what(), &e))?;
    }
    Ok(arn)
}

async fn queue_url_if_exists(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<Option<String>, AwsError> {
    match sqs.get_queue_url().queue_name(name).send().await {
        Ok(o) => Ok(o.queue_url().map(str::to_string)),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_queue_does_not_exist()) => Ok(None),
        Err(e) => Err(AwsError::backend("GetQueueUrl", format!("queue {name}"), &e)),
    }
}

async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attrs: Vec<(QueueAttributeName, String)>,
) -> Result<(String, String), AwsError> {
    let what = || format!("queue {name}");
    let url = match queue_url_if_exists(sqs, name).await? {
        Some(url) => {
            let mut req = sqs.set_queue_attributes().queue_url(&url);
            for (k, v) in &attrs {
                req = req.attributes(k.clone(), v);
            }
            req.send().await.map_err(|e| AwsError::backend("SetQueueAttributes", what(), &e))?;
            url
        }
        None => {
            let mut req = sqs.create_queue().queue_name(name);
            for (k, v) in &attrs {
                req = req.attributes(k.clone(), v);
            }
            let out = req.send().await.map_err(|e| AwsError::backend("CreateQueue", what(), &e))?;
            out.queue_url().map(str::to_string).ok_or_else(|| AwsError::NotFound { what: what() })?
        }
    };
    let got = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| AwsError::backend("GetQueueAttributes", what(), &e))?;
    let arn = got
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| AwsError::NotFound { what: format!("ARN of {}", what()) })?;
    Ok((url, arn))
}

/// Creates (or converges) `<queue>-dlq` and `<queue>` with its redrive policy.
pub async fn ensure_queues(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    max_receive_count: u32,
    visibility_timeout: Duration,
) -> Result<Queues, AwsError> {
    if queue.ends_with(".fifo") {
        return Err(AwsError::Invalid(format!("queue {queue}: FIFO queues are not supported; use a standard queue")));
    }
    let dlq_name = format!("{queue}-dlq");
    let (dlq_url, dlq_arn) = ensure_queue(
        sqs,
        &dlq_name,
        vec![
            (QueueAttributeName::MessageRetentionPeriod, DLQ_RETENTION_SECS.to_string()),
            (QueueAttributeName::SqsManagedSseEnabled, "true".into()),
        ],
    )
    .await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count.max(1).to_string(),
    })
    .to_string();
    let (queue_url, queue_arn) = ensure_queue(
        sqs,
        queue,
        vec![
            (QueueAttributeName::VisibilityTimeout, visibility_timeout.as_secs().min(43_200).to_string()),
            (QueueAttributeName::RedrivePolicy, redrive),
            (QueueAttributeName::SqsManagedSseEnabled, "true".into()),
        ],
    )
    .await?;
    Ok(Queues { queue_url, queue_arn, dlq_url, dlq_arn })
}
