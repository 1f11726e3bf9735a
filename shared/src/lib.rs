//! compliance-lake core: everything the CLI and the Lambda functions share.
//!
//! - [`api`]: the Compliance API client (pacing, retries, pagination, models).
//! - [`budget`]: the request budget every API call draws from.
//! - [`store`]: where records and state go (local directory here; S3/DynamoDB adapters later).
//! - [`streams`]: one module per stream, declaring its pagination family and checkpoint.
//! - [`sync`]: runs streams as jobs and reports what happened.
//! - [`binding`]: a state store is bound to one source (tenant, base URL, mode).

pub mod alerts;
pub mod api;
#[cfg(feature = "aws")]
pub mod aws;
pub mod binding;
pub mod budget;
#[cfg(feature = "aws")]
pub mod console;
pub mod diff;
pub mod dlp;
pub mod fake_api;
pub mod keys;
pub mod observability;
pub mod serverless;
pub mod status;
pub mod store;
pub mod streams;
pub mod sync;
pub mod synthetic;
pub mod time;
pub mod tlog;
pub mod verify;
