//! Errors at the Compliance API boundary, each classified retryable or terminal, each with a
//! message that names the problem and the fix (Capsule's troubleshooting table is the floor).
//! The access key never appears in any of these messages.

use std::time::Duration;

/// One failed exchange with the Compliance API (after the retry policy gave up, or a terminal answer).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Compliance Access Key is required: set ANTHROPIC_COMPLIANCE_ACCESS_KEY or pass --api-key-file (create one in claude.ai → Organization settings → API)")]
    KeyMissing,

    #[error("wrong key type: {0}")]
    WrongKeyType(String),

    #[error("Invalid Organization ID format (must be UUID): {0:?}")]
    OrgIdMalformed(String),

    #[error("API key invalid or revoked (401 {message}); create a fresh Compliance Access Key (sk-ant-api01-…) and reconnect{}", rid(.request_id))]
    Unauthorized { message: String, request_id: Option<String> },

    #[error("Key lacks the required compliance scopes, or wrong key type (403 {message}); use a Compliance Access Key (sk-ant-api01-…) with read:compliance_activities, read:compliance_user_data and read:compliance_org_data{}", rid(.request_id))]
    Forbidden { message: String, request_id: Option<String> },

    #[error("the API answered 404 \"Not found\" for {path}: the key is not a Compliance Access Key (a Claude API key sk-ant-api03-… or an Analytics key looks exactly like this), the key is missing, or --api-base-url does not point at the Compliance API{}", rid(.request_id))]
    NotAuthenticated { path: String, request_id: Option<String> },

    #[error("Organization or resource not found (404 {message}); confirm the organization UUID belongs to the parent organization the key was created for{}", rid(.request_id))]
    NotFound { message: String, request_id: Option<String> },

    #[error("Rate limited — try again shortly (429; still limited after {attempts} attempts){}", rid(.request_id))]
    RateLimited { attempts: u32, request_id: Option<String> },

    #[error("the API rejected the request (400 {message}){}", rid(.request_id))]
    BadRequest { message: String, request_id: Option<String> },

    /// 400 `transcript_page_read_limit_exceeded` ("Transcript page too large"): this exact request
    /// will fail again; the caller must change it (oldest-first, a smaller page, a longer timeout).
    #[error("the API refused a transcript page as too large (400 transcript_page_read_limit_exceeded: {message}); re-read oldest-first with a smaller page{}", rid(.request_id))]
    TranscriptPageTooLarge { message: String, request_id: Option<String> },

    /// 429 `transcript_read_server_busy` still answered after every resend: the server is busy
    /// reading a very large transcript. Not the rate limit; a later run may succeed.
    #[error("the API was still busy reading a large transcript after {attempts} attempts (429 transcript_read_server_busy, not a rate limit){}", rid(.request_id))]
    TranscriptBusy { attempts: u32, request_id: Option<String> },

    #[error("the API rejected the request ({status} {error_type}: {message}){}", rid(.request_id))]
    OtherClient { status: u16, error_type: String, message: String, request_id: Option<String> },

    #[error("the API failed with {status} {message} after {attempts} attempts{}{}", if *.should_retry_false { " (the server said not to retry)" } else { "" }, rid(.request_id))]
    Server { status: u16, message: String, attempts: u32, should_retry_false: bool, request_id: Option<String> },

    #[error("could not reach the Compliance API at {url} after {attempts} attempts: {reason}")]
    Transport { url: String, reason: String, attempts: u32 },

    #[error("the API sent a response that is not the expected JSON for {path}: {reason}{}", rid(.request_id))]
    Malformed { path: String, reason: String, request_id: Option<String> },

    #[error("response too large: the API response for {path} exceeded the {limit}-byte cap (raise --max-response-bytes; on Lambda the cap is an eighth of the function's memory: raise its MemorySize){}", rid(.request_id))]
    TooLarge { path: String, limit: usize, request_id: Option<String> },

    #[error("the API answered {status} redirecting {path} to {location_host}; redirects are never followed (the access key must not leave for another host): point --api-base-url at the Compliance API itself{}", rid(.request_id))]
    Redirected { status: u16, path: String, location_host: String, request_id: Option<String> },

    #[error("invalid client configuration: {0}")]
    Config(String),
}

fn rid(r: &Option<String>) -> String {
    match r {
        Some(id) => format!(" [request-id {id}]"),
        None => String::new(),
    }
}

impl ApiError {
    /// Whether trying the same operation again later may succeed. Used by callers that schedule
    /// work (the queue redelivers retryable failures; terminal ones go to the operator).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ApiError::RateLimited { .. }
                | ApiError::TranscriptBusy { .. }
                | ApiError::Transport { .. }
                | ApiError::Malformed { .. }
                | ApiError::Server { should_retry_false: false, .. }
        )
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            ApiError::Unauthorized { request_id, .. }
            | ApiError::Forbidden { request_id, .. }
            | ApiError::NotAuthenticated { request_id, .. }
            | ApiError::NotFound { request_id, .. }
            | ApiError::RateLimited { request_id, .. }
            | ApiError::BadRequest { request_id, .. }
            | ApiError::TranscriptPageTooLarge { request_id, .. }
            | ApiError::TranscriptBusy { request_id, .. }
            | ApiError::OtherClient { request_id, .. }
            | ApiError::Server { request_id, .. }
            | ApiError::Malformed { request_id, .. }
            | ApiError::Redirected { request_id, .. }
            | ApiError::TooLarge { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status behind this error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::Forbidden { .. } => Some(403),
            ApiError::NotAuthenticated { .. } | ApiError::NotFound { .. } => Some(404),
            ApiError::RateLimited { .. } | ApiError::TranscriptBusy { .. } => Some(429),
            ApiError::BadRequest { .. } | ApiError::TranscriptPageTooLarge { .. } => Some(400),
            ApiError::OtherClient { status, .. }
            | ApiError::Server { status, .. }
            | ApiError::Redirected { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for a 400 whose message says a query parameter is unknown (older API revisions).
    pub fn is_unknown_parameter(&self) -> bool {
        matches!(self, ApiError::BadRequest { message, .. } if message.contains("Unknown query parameter"))
    }

    /// True for a 400 about a cursor the API no longer accepts.
    pub fn is_invalid_cursor(&self) -> bool {
        matches!(self, ApiError::BadRequest { message, .. }
            if message.contains("cursor") || message.contains("Invalid activity_id") || message.contains("after_id"))
    }
}

/// What the retry policy decided for one failed attempt. Pure data so the policy is table-tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAfter(Duration),
    GiveUp,
}
