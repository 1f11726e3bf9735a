//! The Compliance Access Key, in a type that cannot be printed. Its prefix tells its kind, which is
//! how we give "wrong key type" answers before the API's indistinguishable 404.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `sk-ant-api01-`: reaches every endpoint its scopes allow.
    Compliance,
    /// `sk-ant-admin01-`: the Activity Feed only.
    Admin,
    /// `sk-ant-api03-`: a Claude (model) API key; never accepted.
    ClaudeApi,
    Unknown,
}

#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    pub fn new(s: impl Into<String>) -> Self {
        ApiKey(SecretString::from(s.into().trim().to_string()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    pub fn kind(&self) -> KeyKind {
        let k = self.expose();
        if k.starts_with("sk-ant-api01-") {
            KeyKind::Compliance
        } else if k.starts_with("sk-ant-admin01-") {
            KeyKind::Admin
        } else if k.starts_with("sk-ant-api03-") {
            KeyKind::ClaudeApi
        } else {
            KeyKind::Unknown
        }
    }

    /// A short, non-reversible identifier for logs and key status: `sha256:` + 12 hex chars.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(self.expose().as_bytes());
        format!("sha256:{}", &hex::encode(d)[..12])
    }

    /// Checks the key's shape before any request. `Err` carries an operator message.
    pub fn check_shape(&self) -> Result<KeyKind, super::ApiError> {
        if self.is_empty() {
            return Err(super::ApiError::KeyMissing);
        }
        if self.expose().chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(super::ApiError::WrongKeyType(
                "the key contains whitespace or control characters; paste it again without line breaks".into(),
            ));
        }
        match self.kind() {
            KeyKind::ClaudeApi => Err(super::ApiError::WrongKeyType(
                "this is a Claude API key (sk-ant-api03-…); the Compliance API only accepts a Compliance Access Key (sk-ant-api01-…) created in claude.ai by the primary owner".into(),
            )),
            k => Ok(k),
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.fingerprint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_key() {
        let k = ApiKey::new("sk-ant-api01-test-abcdefghijklmnop");
        let s = format!("{k:?}");
        assert!(!s.contains("abcdefghijklmnop"), "{s}");
        assert!(s.starts_with("ApiKey(sha256:"));
    }

    #[test]
    fn kinds() {
        assert_eq!(ApiKey::new("sk-ant-api01-x").kind(), KeyKind::Compliance);
        assert_eq!(ApiKey::new("sk-ant-admin01-x").kind(), KeyKind::Admin);
        assert!(ApiKey::new("sk-ant-api03-x").check_shape().is_err());
        assert!(matches!(ApiKey::new("  ").check_shape(), Err(crate::api::ApiError::KeyMissing)));
        assert_eq!(ApiKey::new("whatever").check_shape().unwrap(), KeyKind::Unknown);
    }
}
