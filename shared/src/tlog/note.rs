//! C2SP signed notes carrying C2SP checkpoints (spec §7.17.1): parsing, the ECDSA P-256 note
//! signature Anthropic's log uses (C2SP signature type `0x02`: key ID = the first 4 bytes of
//! SHA-256 of the DER SubjectPublicKeyInfo, signature = ASN.1 DER ECDSA over the note body), and
//! signing (the fake log only).

use super::merkle::Hash;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use sha2::{Digest, Sha256};

/// `— ` (U+2014, U+0020) opens every signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note or checkpoint was refused. All terminal: a verification failure, never a transient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed signed note: {0}")]
    Malformed(String),
    #[error("malformed checkpoint body: {0}")]
    Checkpoint(String),
    #[error("checkpoint origin {got:?} is not this organization's origin {want:?}")]
    WrongOrigin { got: String, want: String },
    #[error("no signature by a trusted key for {origin:?} (signature lines: {lines}, key hashes seen: {seen})")]
    NoTrustedSignature { origin: String, lines: usize, seen: String },
    #[error("the signature by key {key_hash} does not verify")]
    BadSignature { key_hash: String },
    #[error("malformed verifier key: {0}")]
    Key(String),
}

/// One signature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    pub signature: Vec<u8>,
}

/// A parsed signed note: `text` is every byte before the blank line (with its final `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

/// A checkpoint body (C2SP tlog-checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Extension lines (covered by the signature; not interpreted).
    pub extensions: Vec<String>,
}

/// The origin of an organization's log: derived from its UUID, never read off a response.
pub fn origin_for(org_uuid: &str) -> String {
    format!("axt.anthropic.com/{}", org_uuid.to_ascii_lowercase())
}

pub fn parse_note(raw: &[u8]) -> Result<Note, NoteError> {
    let s = std::str::from_utf8(raw).map_err(|_| NoteError::Malformed("not UTF-8".into()))?;
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("control character other than newline".into()));
    }
    let split = s.rfind("\n\n").ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
    let text = &s[..split + 1];
    let sigs = &s[split + 2..];
    if !sigs.ends_with('\n') || sigs.is_empty() {
        return Err(NoteError::Malformed("signature block does not end in a newline".into()));
    }
    let mut signatures = vec![];
    for line in sigs[..sigs.len() - 1].split('\n') {
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or_else(|| NoteError::Malformed("signature line without the em-dash prefix".into()))?;
        let (name, b64) =
            rest.rsplit_once(' ').ok_or_else(|| NoteError::Malformed("signature line without a signature".into()))?;
        if name.is_empty() || name.contains(' ') || name.contains('+') {
            return Err(NoteError::Malformed("bad key name on a signature line".into()));
        }
        let bytes = STANDARD.decode(b64).map_err(|_| NoteError::Malformed("signature is not base64".into()))?;
        if bytes.len() < 5 {
            return Err(NoteError::Malformed("signature shorter than its key ID".into()));
        }
        let key_id = [bytes[0], bytes[1], bytes[2], bytes[3]];
        signatures.push(NoteSignature { name: name.to_string(), key_id, signature: bytes[4..].to_vec() });
    }
    if signatures.is_empty() {
        return Err(NoteError::Malformed("no signature lines".into()));
    }
    Ok(Note { text: text.to_string(), signatures })
}

pub fn parse_checkpoint(text: &str) -> Result<Checkpoint, NoteError> {
    let body = text.strip_suffix('\n').ok_or_else(|| NoteError::Checkpoint("no final newline".into()))?;
    let mut lines = body.split('\n');
    let origin = lines.next().filter(|o| !o.is_empty()).ok_or_else(|| NoteError::Checkpoint("no origin".into()))?;
    let size_s = lines.next().ok_or_else(|| NoteError::Checkpoint("no tree size".into()))?;
    let digits_ok = !size_s.is_empty() && size_s.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok || (size_s.len() > 1 && size_s.starts_with('0')) {
        return Err(NoteError::Checkpoint(format!("tree size {size_s:?} is not a decimal without leading zeros")));
    }
    let size = size_s.parse::<u64>().map_err(|_| NoteError::Checkpoint("tree size out of range".into()))?;
    let root_s = lines.next().ok_or_else(|| NoteError::Checkpoint("no root hash".into()))?;
    let root: Hash = STANDARD
        .decode(root_s)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| NoteError::Checkpoint("root hash is not base64 of 32 bytes".into()))?;
    let extensions = lines.map(str::to_string).collect::<Vec<_>>();
    if extensions.iter().any(String::is_empty) {
        return Err(NoteError::Checkpoint("empty extension line".into()));
    }
    Ok(Checkpoint { origin: origin.to_string(), size, root, extensions })
}

/// The body of a checkpoint note (three lines, no extensions).
pub fn checkpoint_text(c: &Checkpoint) -> String {
    let mut s = format!("{}\n{}\n{}\n", c.origin, c.size, STANDARD.encode(c.root));
    for e in &c.extensions {
        s.push_str(e);
        s.push('\n');
    }
    s
}

/// A log verifier key (ECDSA P-256), identified by its key hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    pub key_hash: [u8; 4],
    /// SHA-256 of the DER SPKI (what the trust anchor pins).
    pub fingerprint: [u8; 32],
    pub key: VerifyingKey,
}

impl LogKey {
    /// From a DER SubjectPublicKeyInfo (`public_key` of `GET /keys`, base64-decoded).
    pub fn from_spki_der(der: &[u8]) -> Result<LogKey, NoteError> {
        let key = VerifyingKey::from_public_key_der(der).map_err(|e| NoteError::Key(e.to_string()))?;
        let fingerprint: [u8; 32] = Sha256::digest(der).into();
        let key_hash = [fingerprint[0], fingerprint[1], fingerprint[2], fingerprint[3]];
        Ok(LogKey { key_hash, fingerprint, key })
    }

    pub fn key_hash_hex(&self) -> String {
        hex::encode(self.key_hash)
    }

    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }
}

/// Verifies a checkpoint note for `origin` under `keys` and returns the checkpoint and the key
/// that verified it. Checklist order (§7.17.4): origin byte for byte first, then the signature
/// named for the origin with a known key hash; unknown (name, key ID) lines are ignored.
pub fn verify_checkpoint(raw: &[u8], origin: &str, keys: &[LogKey]) -> Result<(Checkpoint, LogKey), NoteError> {
    let note = parse_note(raw)?;
    let cp = parse_checkpoint(&note.text)?;
    if cp.origin != origin {
        return Err(NoteError::WrongOrigin { got: cp.origin, want: origin.to_string() });
    }
    let mut seen = vec![];
    let mut failed: Option<NoteError> = None;
    for s in &note.signatures {
        seen.push(hex::encode(s.key_id));
        if s.name != origin {
            continue;
        }
        let Some(k) = keys.iter().find(|k| k.key_hash == s.key_id) else { continue };
        let ok =
            Signature::from_der(&s.signature).ok().is_some_and(|sig| k.key.verify(note.text.as_bytes(), &sig).is_ok());
        if ok {
            return Ok((cp, k.clone()));
        }
        failed = Some(NoteError::BadSignature { key_hash: k.key_hash_hex() });
    }
    Err(failed.unwrap_or(NoteError::NoTrustedSignature {
        origin: origin.to_string(),
        lines: note.signatures.len(),
        seen: seen.join(","),
    }))
}

/// A log signer (the fake log).
pub struct LogSigner {
    key: SigningKey,
    spki_der: Vec<u8>,
}

impl LogSigner {
    /// A deterministic key from 32 seed bytes (retries the derivation until it is a valid scalar).
    pub fn from_seed(seed: &[u8]) -> LogSigner {
        let mut material: [u8; 32] = Sha256::digest(seed).into();
        loop {
            if let Ok(key) = SigningKey::from_slice(&material) {
                let spki_der =
                    key.verifying_key().to_public_key_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default();
                return LogSigner { key, spki_der };
            }
            material = Sha256::digest(material).into();
        }
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    pub fn log_key(&self) -> Result<LogKey, NoteError> {
        LogKey::from_spki_der(&self.spki_der)
    }

    /// `text` + blank line + one signature line named `name`.
    pub fn sign(&self, name: &str, text: &str) -> String {
        let sig: Signature = self.key.sign(text.as_bytes());
        let fp: [u8; 32] = Sha256::digest(&self.spki_der).into();
        let mut bytes = fp[..4].to_vec();
        bytes.extend_from_slice(sig.to_der().as_bytes());
        format!("{text}\n{SIG_PREFIX}{name} {}\n", STANDARD.encode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "25f6429a-3293-49bf-afed-cb312911554b";

    fn signed(size: u64, root: Hash, signer: &LogSigner) -> String {
        let origin = origin_for(ORG);
        let text = checkpoint_text(&Checkpoint { origin: origin.clone(), size, root, extensions: vec![] });
        signer.sign(&origin, &text)
    }

    #[test]
    fn parses_the_spec_checkpoint_body() {
        let text = "axt.anthropic.com/25f6429a-3293-49bf-afed-cb312911554b\n1207\nC6C4HzGRqDNlbu54LWCvpDX0NcB5DRTmLcjM4u5vWUI=\n";
        let c = parse_checkpoint(text).unwrap();
        assert_eq!(c.size, 1207);
        assert_eq!(checkpoint_text(&c), text);
        for bad in ["o\n01\nC6C4HzGRqDNlbu54LWCvpDX0NcB5DRTmLcjM4u5vWUI=\n", "o\n-1\nAA==\n", "o\n5\nAA==\n", "o\n5\n"]
        {
            assert!(parse_checkpoint(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signs_and_verifies_and_refuses_what_it_must() {
        let signer = LogSigner::from_seed(b"tenant-seed-7");
        let key = signer.log_key().unwrap();
        let origin = origin_for(ORG);
        let note = signed(42, [7u8; 32], &signer);
        let (c, k) = verify_checkpoint(note.as_bytes(), &origin, std::slice::from_ref(&key)).unwrap();
        assert_eq!((c.size, c.root), (42, [7u8; 32]));
        assert_eq!(k.key_hash, key.key_hash);
        // the key hash is the head of the fingerprint, independent of the origin
        assert_eq!(&key.fingerprint[..4], &key.key_hash);

        // another org's origin: refused before the signature is looked at
        let other = origin_for("11111111-1111-1111-1111-111111111111");
        assert!(matches!(
            verify_checkpoint(note.as_bytes(), &other, std::slice::from_ref(&key)),
            Err(NoteError::WrongOrigin { .. })
        ));
        // an untrusted key
        let stranger = LogSigner::from_seed(b"someone else").log_key().unwrap();
        assert!(matches!(
            verify_checkpoint(note.as_bytes(), &origin, &[stranger]),
            Err(NoteError::NoTrustedSignature { .. })
        ));
        // the body changed after signing
        let tampered = note.replacen("\n42\n", "\n43\n", 1);
        assert!(matches!(
            verify_checkpoint(tampered.as_bytes(), &origin, std::slice::from_ref(&key)),
            Err(NoteError::BadSignature { .. })
        ));
        // an extra signature line from an unknown key is ignored
        let extra = format!("{note}{SIG_PREFIX}witness.example {}\n", STANDARD.encode([1u8, 2, 3, 4, 5, 6]));
        assert!(verify_checkpoint(extra.as_bytes(), &origin, std::slice::from_ref(&key)).is_ok());
        // every single bit flip of the signed note fails
        let bytes = note.as_bytes();
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = bytes.to_vec();
                b[i] ^= bit;
                if let Ok((c, _)) = verify_checkpoint(&b, &origin, std::slice::from_ref(&key)) {
                    panic!("bit flip at {i} ({bit:#x}) verified: {c:?}");
                }
            }
        }
    }

    #[test]
    fn note_framing() {
        assert!(parse_note(b"a\nb\n").is_err(), "no signatures");
        assert!(parse_note("a\n\n- x AAAAAAA=\n".as_bytes()).is_err(), "hyphen, not em-dash");
        assert!(parse_note("a\n\n\u{2014} x AAAAAAA=".as_bytes()).is_err(), "no final newline");
        assert!(parse_note("a\u{7}\n\n\u{2014} x AAAAAAA=\n".as_bytes()).is_err(), "control character");
        let n = parse_note("a\n\nb\n\n\u{2014} x AAAAAAA=\n".as_bytes()).unwrap();
        assert_eq!(n.text, "a\n\nb\n", "split at the last blank line");
    }
}
