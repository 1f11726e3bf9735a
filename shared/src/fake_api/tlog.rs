//! The fake transparency log (spec §7.17): `GET /v1/compliance/transparency_log/{checkpoint,keys,
//! inclusion,consistency}` over a real RFC 6962 tree of each organization's Access Transparency
//! leaves (the synthetic tenant's AT events in index order), checkpoints signed with the tenant's
//! ECDSA P-256 log key, and the fault switches of [`crate::synthetic::tlog::TlogFaults`].
//! Hash tiles and entry bundles are not served (the lake verifies through the proof endpoints).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::query::Query;
use super::routes::Reply;
use crate::synthetic::Tenant;
use crate::tlog::{leaf, merkle, note};

/// One transparency-log endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlogRoute {
    Checkpoint,
    Keys,
    Inclusion,
    Consistency,
}

impl TlogRoute {
    pub fn parse(seg: &[&str]) -> Option<TlogRoute> {
        match seg {
            ["transparency_log", "checkpoint"] => Some(TlogRoute::Checkpoint),
            ["transparency_log", "keys"] => Some(TlogRoute::Keys),
            ["transparency_log", "inclusion"] => Some(TlogRoute::Inclusion),
            ["transparency_log", "consistency"] => Some(TlogRoute::Consistency),
            _ => None,
        }
    }
}

fn no_log() -> ApiError {
    ApiError::resource_not_found("No transparency log is available for this organization.")
}

/// The served tree of one organization: leaf hashes in index order (a fork replaces leaf 0).
fn tree(t: &Tenant, org_uuid: &str) -> Result<Vec<merkle::Hash>, ApiError> {
    let mut leaves: Vec<merkle::Hash> = vec![];
    for a in t.log_events(org_uuid) {
        let entry = leaf::leaf_entry(&a.wire).map_err(|_| ApiError::server(500))?;
        leaves.push(merkle::leaf_hash(&entry));
    }
    if leaves.is_empty() || t.tlog_faults.no_log {
        return Err(no_log());
    }
    if t.tlog_faults.fork {
        leaves[0] = merkle::leaf_hash(b"\x01{\"forked\":true}");
    }
    Ok(leaves)
}

fn signed_checkpoint(t: &Tenant, org_uuid: &str, leaves: &[merkle::Hash]) -> String {
    let origin = note::origin_for(org_uuid);
    let body = note::checkpoint_text(&note::Checkpoint {
        origin: origin.clone(),
        size: leaves.len() as u64,
        root: merkle::root(leaves),
        extensions: vec![],
    });
    let signed = crate::synthetic::tlog::log_signer(t.config.seed).sign(&origin, &body);
    if !t.tlog_faults.bad_signature {
        return signed;
    }
    // re-sign a different body, keep the served one: a signature that does not verify
    let other = crate::synthetic::tlog::log_signer(t.config.seed).sign(&origin, &format!("{body}x\n"));
    let sig_line = other.rsplit_once("\n\n").map(|(_, s)| s.to_string()).unwrap_or_default();
    format!("{body}\n{sig_line}")
}

fn org_param(q: &Query, t: &Tenant) -> Result<String, ApiError> {
    // the synthetic key is a parent-level key: organization_id names one child org (400 if omitted)
    let o = q.get("organization_id").ok_or_else(|| {
        ApiError::invalid("organization_id is required when the key belongs to a parent organization.")
    })?;
    t.orgs.iter().find(|x| x.uuid == o || x.org_id == o).map(|x| x.uuid.clone()).ok_or_else(no_log)
}

fn b64(hs: &[merkle::Hash]) -> Vec<Value> {
    hs.iter().map(|h| json!(STANDARD.encode(h))).collect()
}

pub fn handle(route: TlogRoute, q: &Query, t: &Tenant) -> Result<Reply, ApiError> {
    match route {
        TlogRoute::Checkpoint => {
            q.check_allowed(&["organization_id"])?;
            let org = org_param(q, t)?;
            let leaves = tree(t, &org)?;
            Ok(Reply::File {
                bytes: signed_checkpoint(t, &org, &leaves).into_bytes(),
                content_type: "text/plain; charset=utf-8".into(),
                filename: "checkpoint".into(),
            })
        }
        TlogRoute::Keys => {
            q.check_allowed(&["organization_id"])?;
            let org = org_param(q, t)?;
            tree(t, &org)?;
            let signer = crate::synthetic::tlog::log_signer(t.config.seed);
            let key = signer.log_key().map_err(|_| ApiError::server(500))?;
            let origin = note::origin_for(&org);
            let mut vk = vec![0x02u8];
            vk.extend_from_slice(signer.spki_der());
            Ok(Reply::Json(json!({
                "type": "transparency_log_keys",
                "origin": origin,
                "log_keys": [{
                    "verifier_key": format!("{origin}+{}+{}", key.key_hash_hex(), STANDARD.encode(vk)),
                    "key_hash": key.key_hash_hex(),
                    "fingerprint": key.fingerprint_hex(),
                    "algorithm": "ecdsa_p256_sha256",
                    "public_key": STANDARD.encode(signer.spki_der()),
                }]
            })))
        }
        TlogRoute::Inclusion => {
            q.check_allowed(&["organization_id", "leaf_index"])?;
            let org = org_param(q, t)?;
            let index = q.int("leaf_index", 0, None)?.ok_or_else(|| ApiError::invalid("leaf_index is required."))?;
            let leaves = tree(t, &org)?;
            let index = index as usize;
            if index >= leaves.len() {
                return Err(ApiError::resource_not_found("The latest checkpoint does not cover this leaf index."));
            }
            let mut hashes = merkle::inclusion_proof(&leaves, index);
            if t.tlog_faults.wrong_inclusion {
                match hashes.first_mut() {
                    Some(h) => h[0] ^= 0x08,
                    None => hashes.push([0x5a; 32]),
                }
            }
            Ok(Reply::Json(json!({
                "type": "transparency_log_inclusion_proof",
                "leaf_index": index,
                "hashes": b64(&hashes),
                "checkpoint": signed_checkpoint(t, &org, &leaves),
            })))
        }
        TlogRoute::Consistency => {
            q.check_allowed(&["organization_id", "from"])?;
            let org = org_param(q, t)?;
            let from = q.int("from", 1, None)?.ok_or_else(|| ApiError::invalid("from is required."))?;
            let leaves = tree(t, &org)?;
            if from as usize > leaves.len() {
                return Err(ApiError::invalid("from is larger than the latest tree size."));
            }
            let hashes = merkle::consistency_proof(&leaves, from as usize);
            Ok(Reply::Json(json!({
                "type": "transparency_log_consistency_proof",
                "hashes": b64(&hashes),
                "checkpoint": signed_checkpoint(t, &org, &leaves),
            })))
        }
    }
}
