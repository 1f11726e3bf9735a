//! compliance-lake core: everything the CLI and the Lambda functions share.
//!
//! - [`api`]: the Compliance API client (pacing, retries, pagination, models).
//! - [`budget`]: the request budget every API call draws from.
//! - [`store`]: where records and state go (local directory here; S3/DynamoDB adapters later).
//! - [`streams`]: one module per stream, declaring its pagination family and checkpoint.
//! - [`sync`]: runs streams as jobs and reports what happened.

pub mod alerts;
pub mod api;
pub mod aws;
pub mod budget;
pub mod console;
pub mod dlp;
pub mod fake_api;
pub mod keys;
pub mod observability;
pub mod serverless;
pub mod store;
pub mod streams;
pub mod sync;
pub mod synthetic;
pub mod time;
pub mod verify;
