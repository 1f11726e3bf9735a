//! Error mapping for the AWS adapters.
//!
//! Every message names the operation and the resource (bucket/key, table/key, queue, secret id) and
//! the service's error code and message. Nothing here ever formats a request, a credential or a
//! secret value: SDK errors are rendered from their code/message metadata only (plus the
//! connector's description for transport failures, which holds the endpoint and the cause).

use crate::store::StoreError;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::error::SdkError;

/// Errors of the non-store helpers ([`crate::aws::secrets`], [`crate::aws::init`],
/// [`crate::aws::config`]). The store traits use [`StoreError`] instead.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{what} does not exist")]
    NotFound { what: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{op} on {resource} failed: {message}")]
    Backend { op: &'static str, resource: String, message: String, retryable: bool },
}

impl AwsError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, AwsError::Backend { retryable: true, .. })
    }

    pub(crate) fn backend<E, R>(op: &'static str, resource: impl Into<String>, e: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        AwsError::Backend { op, resource: resource.into(), message: describe(e), retryable: is_transient(e) }
    }
}

impl From<AwsError> for StoreError {
    fn from(e: AwsError) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// `code: message` of a service error, or the kind and cause of a transport failure.
pub(crate) fn describe<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            let code = err.code().unwrap_or("UnknownError");
            match err.message() {
                Some(m) if !m.is_empty() => format!("{code}: {m}"),
                _ => code.to_string(),
            }
        }
        SdkError::TimeoutError(_) => "request timed out".to_string(),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                "timeout"
            } else if d.is_io() {
                "I/O error"
            } else {
                "connection failure"
            };
            format!("dispatch failure ({kind}): {}", aws_sdk_dynamodb::error::DisplayErrorContext(e))
        }
        SdkError::ResponseError(_) => {
            format!("unreadable response: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e))
        }
        SdkError::ConstructionFailure(_) => {
            format!("request could not be built: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e))
        }
        _ => format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(e)),
    }
}

/// Throttling, 5xx and transport failures: worth retrying. Validation/permission errors are not.
pub(crate) fn is_transient<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("");
            const TRANSIENT: &[&str] = &[
                "ThrottlingException",
                "Throttling",
                "ProvisionedThroughputExceededException",
                "RequestLimitExceeded",
                "RequestThrottled",
                "SlowDown",
                "InternalError",
                "InternalServerError",
                "InternalFailure",
                "ServiceUnavailable",
                "TransactionInProgressException",
            ];
            TRANSIENT.contains(&code) || code.is_empty()
        }
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    }
}

/// A store backend error (always retryable for the engine: `StoreError::Backend`).
pub(crate) fn store_backend<E, R>(op: &str, resource: &str, e: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend(format!("{op} {resource}: {}", describe(e)))
}
