//! AWS adapters of the storage, queue, budget and key traits.
//!
//! | core trait / need | adapter | AWS service |
//! |---|---|---|
//! | `crate::store::ObjectSink` | [`s3::S3ObjectSink`] | S3 (`s3://<bucket>/<prefix>/<table>/dt=…/….ndjson.gz`) |
//! | `crate::store::StateStore` | [`dynamodb::DynamoStateStore`] | DynamoDB, single table (`pk`/`sk`) |
//! | job exclusivity | [`lease::LeaseManager`] | DynamoDB, same table |
//! | `crate::budget::RequestBudget` | [`budget::DynamoBudget`] | DynamoDB atomic counters, same table |
//! | `crate::store::WorkQueue` | [`sqs::SqsWorkQueue`] | SQS standard queue + DLQ |
//! | the access key | [`secrets::SecretKeySource`] | Secrets Manager |
//! | the DLP fingerprint key | [`dlp_key::load_or_create`] | Secrets Manager (never the state table) |
//!
//! [`config::AwsClients`] builds all clients from one `aws_config` load (so `AWS_ENDPOINT_URL`
//! points them at an emulator) and [`init`] creates the resources idempotently.
//! The table layout is documented in [`dynamodb`].

pub mod budget;
pub mod config;
pub mod dlp_key;
pub mod dynamodb;
pub mod error;
pub mod init;
pub mod lease;
pub mod runtime;
pub mod s3;
pub mod secrets;
pub mod sqs;

pub use budget::{DynamoBudget, DynamoBudgetConfig, DynamoBudgetCounters};
pub use config::{AwsClients, AwsSettings};
pub use dynamodb::DynamoStateStore;
pub use error::AwsError;
pub use init::{InitOutput, InitSpec, Queues};
pub use lease::{Lease, LeaseManager};
pub use s3::{Encryption, S3ObjectSink};
pub use secrets::SecretKeySource;
pub use sqs::{message_idempotency_id, SqsWorkQueue};
