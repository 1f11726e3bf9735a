//! Access Transparency log checks (spec §7.17): RFC 6962 Merkle proofs ([`merkle`]), C2SP signed
//! checkpoints with Anthropic's ECDSA P-256 note signatures ([`note`]), and the v1 leaf encoding of
//! an event ([`leaf`]). Written from the RFCs and C2SP specs; tested with published vectors.

pub mod leaf;
pub mod merkle;
pub mod note;

pub use leaf::LeafError;
pub use merkle::{Hash, ProofError};
pub use note::NoteError;

/// Fingerprints (SHA-256 of the DER SPKI) of the log signing keys Anthropic publishes in its
/// Access Transparency log docs (the trust anchor lives outside the API; spec §7.17.1), with the
/// date each started signing. A key not in this list (or added by configuration) is not trusted,
/// whatever `GET /keys` serves.
pub const PUBLISHED_LOG_KEYS: &[(&str, &str)] =
    &[("1dff5fe420d49743fe444a04fc17f818eea856699dec2ebbc24df15602c74a58", "2026-08-17")];

/// Any verification failure of the log (all terminal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogError {
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error(transparent)]
    Leaf(#[from] LeafError),
}

impl TlogError {
    /// Verification failures never heal by retrying.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
