//! Error envelope (spec §5.1) and the catalog of messages the fake emits.

use serde_json::{json, Map, Value};

/// An API error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// `error.type`.
    pub kind: &'static str,
    pub message: String,
    /// Include `error.details.error_visibility`.
    pub details: bool,
    /// Extra response headers (e.g. `retry-after`, `x-should-retry`).
    pub headers: Vec<(String, String)>,
    /// `error.details.error_code` (e.g. `transcript_read_server_busy`).
    pub error_code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, kind, message: message.into(), details: false, headers: vec![], error_code: None }
    }

    /// 404 `Not found` — unknown path, missing key or wrong key type (indistinguishable).
    pub fn not_found() -> Self {
        ApiError::new(404, "not_found_error", "Not found")
    }

    /// 404 for a known endpoint and an unknown resource.
    pub fn resource_not_found(message: impl Into<String>) -> Self {
        ApiError { details: true, ..ApiError::new(404, "not_found_error", message) }
    }

    /// 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError { details: true, ..ApiError::new(400, "invalid_request_error", message) }
    }

    /// 401 `authentication_error`.
    pub fn invalid_key() -> Self {
        ApiError::new(401, "authentication_error", "API key is invalid.")
    }

    /// 403 `permission_error` listing carried and needed scopes (Python-list style).
    pub fn missing_scopes(got: &[String], needed: &[&str]) -> Self {
        let got = got.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
        let needed = needed.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
        ApiError {
            details: true,
            ..ApiError::new(
                403,
                "permission_error",
                format!("Missing required scopes. Got: [{got}] Needed one of: [{needed}]"),
            )
        }
    }

    /// 429 from the shared request budget.
    pub fn rate_limited() -> Self {
        ApiError::new(
            429,
            "rate_limit_error",
            "Compliance API rate limit of 600 requests per minute per parent organization has been exceeded. Retry after the time indicated by the retry-after header. Quote the request-id response header when contacting Anthropic support.",
        )
    }

    /// Transient / platform 5xx.
    pub fn server(status: u16) -> Self {
        match status {
            529 => ApiError::new(529, "overloaded_error", "Overloaded"),
            503 => ApiError::new(503, "overloaded_error", "The service is temporarily unavailable. Try again shortly."),
            502 => ApiError::new(502, "api_error", "Bad gateway"),
            504 => ApiError::new(504, "api_error", "Gateway timeout"),
            s => ApiError::new(s, "api_error", "Internal server error"),
        }
    }

    pub fn with_header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_string(), v.into()));
        self
    }

    /// JSON body with the given request id.
    pub fn body(&self, request_id: &str) -> Value {
        let mut err = Map::new();
        err.insert("type".into(), json!(self.kind));
        err.insert("message".into(), json!(self.message));
        match (self.details, self.error_code) {
            (_, Some(code)) => {
                err.insert("details".into(), json!({"error_visibility": "user_facing", "error_code": code}));
            }
            (true, None) => {
                err.insert("details".into(), json!({"error_visibility": "user_facing"}));
            }
            (false, None) => {}
        }
        json!({"type": "error", "error": Value::Object(err), "request_id": request_id})
    }
}
