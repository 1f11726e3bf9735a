//! How an Access Transparency event becomes a log leaf (spec §7.17.2, field set v1): entry =
//! `0x01` ‖ RFC 8785 canonical JSON of exactly 11 fields of the event *as the feed served it*.
//! No numbers occur, so JCS reduces to: keys in code-point order, no whitespace, two-character
//! escapes for `"` `\` `\b` `\f` `\n` `\r` `\t`, `\u00xx` (lowercase) for other C0 controls, every
//! other character as literal UTF-8.

use serde_json::{Map, Value};

pub const VERSION_V1: u8 = 0x01;

/// The two activity types the log holds.
pub const AT_TYPES: [&str; 2] = ["anthropic_access", "cmek_preserve"];

/// Why an event's leaf cannot be rebuilt (a verification failure, never transient).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    #[error("activity type {0:?} has no transparency-log leaf")]
    NotAccessTransparency(String),
    #[error("field {0} is not a string or null")]
    NotAString(&'static str),
    #[error("{0} is not an object or null")]
    NotAnObject(&'static str),
}

/// The top-level string fields of the v1 leaf (besides `actor` and `resource_details`).
const STRING_FIELDS: [&str; 9] = [
    "accessed_at",
    "accessor_department",
    "created_at",
    "id",
    "organization_id",
    "organization_uuid",
    "reason_code",
    "type",
    "workspace_id",
];

fn string_or_null(obj: &Map<String, Value>, k: &'static str) -> Result<Value, LeafError> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(Value::String(s)) => Ok(Value::String(s.clone())),
        Some(_) => Err(LeafError::NotAString(k)),
    }
}

/// The projected v1 object (keys sorted by the `BTreeMap` the writer walks).
fn project(event: &Value) -> Result<std::collections::BTreeMap<&'static str, Value>, LeafError> {
    let empty = Map::new();
    let obj = event.as_object().unwrap_or(&empty);
    let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
    if !AT_TYPES.contains(&ty) {
        return Err(LeafError::NotAccessTransparency(ty.to_string()));
    }
    let mut out = std::collections::BTreeMap::new();
    for k in STRING_FIELDS {
        out.insert(k, string_or_null(obj, k)?);
    }
    let actor = match obj.get("actor") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Object(a)) => {
            // under 0x01 `email_address` is always null, whatever was served
            serde_json::json!({"email_address": null, "type": string_or_null(a, "type").map_err(|_| LeafError::NotAString("actor.type"))?})
        }
        Some(_) => return Err(LeafError::NotAnObject("actor")),
    };
    out.insert("actor", actor);
    let rd = match obj.get("resource_details") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Object(r)) => serde_json::json!({
            "id": string_or_null(r, "id").map_err(|_| LeafError::NotAString("resource_details.id"))?,
            "parent": null,
            "type": string_or_null(r, "type").map_err(|_| LeafError::NotAString("resource_details.type"))?,
        }),
        Some(_) => return Err(LeafError::NotAnObject("resource_details")),
    };
    out.insert("resource_details", rd);
    Ok(out)
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Canonical JSON of a value holding only objects, strings and nulls (what the leaf holds).
fn write_canonical(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::String(s) => write_str(out, s),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort(); // UTF-8 byte order = code-point order; the fixed keys are ASCII anyway
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_canonical(out, &m[k]);
            }
            out.push('}');
        }
        // never produced by `project`
        other => out.push_str(&other.to_string()),
    }
}

/// The canonical JSON of an event's v1 leaf fields.
pub fn canonical_json(event: &Value) -> Result<String, LeafError> {
    let p = project(event)?;
    let mut out = String::with_capacity(512);
    out.push('{');
    for (i, (k, v)) in p.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(&mut out, k);
        out.push(':');
        write_canonical(&mut out, v);
    }
    out.push('}');
    Ok(out)
}

/// The leaf entry bytes of an event: `0x01` ‖ canonical JSON.
pub fn leaf_entry(event: &Value) -> Result<Vec<u8>, LeafError> {
    let json = canonical_json(event)?;
    let mut e = Vec::with_capacity(json.len() + 1);
    e.push(VERSION_V1);
    e.extend_from_slice(json.as_bytes());
    Ok(e)
}

/// The leaf hash of an event (`SHA-256(0x00 ‖ entry)`).
pub fn event_leaf_hash(event: &Value) -> Result<super::merkle::Hash, LeafError> {
    Ok(super::merkle::leaf_hash(&leaf_entry(event)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    /// The docs' served event (spec §7.1.1 / §7.17.2, D-tlog).
    fn docs_event() -> Value {
        serde_json::json!({
          "id": "activity_01GPXmAhizavrUuoXNn3tzeA",
          "type": "anthropic_access",
          "created_at": "2025-07-08T18:40:00Z",
          "accessed_at": "2025-07-08T18:39:58Z",
          "organization_id": "org_015gtSHLz269eTwgrH8NX5yk",
          "organization_uuid": "25f6429a-3293-49bf-afed-cb312911554b",
          "workspace_id": "wrkspc_01PaGUP2rbg1XDh7Z9W1CEpd",
          "workspace_uuid": "b6ce2143-1083-d4a7-247c-17530f55a076",
          "accessor_department": "Trust & Safety",
          "reason_code": "safety_review",
          "actor": { "type": "anthropic_actor", "email_address": null },
          "resource_details": { "type": "message", "id": "msg_01HXAMPLE12345678" },
          "transparency_log_leaf_index": 17
        })
    }

    #[test]
    fn the_docs_test_vector() {
        let want = r#"{"accessed_at":"2025-07-08T18:39:58Z","accessor_department":"Trust & Safety","actor":{"email_address":null,"type":"anthropic_actor"},"created_at":"2025-07-08T18:40:00Z","id":"activity_01GPXmAhizavrUuoXNn3tzeA","organization_id":"org_015gtSHLz269eTwgrH8NX5yk","organization_uuid":"25f6429a-3293-49bf-afed-cb312911554b","reason_code":"safety_review","resource_details":{"id":"msg_01HXAMPLE12345678","parent":null,"type":"message"},"type":"anthropic_access","workspace_id":"wrkspc_01PaGUP2rbg1XDh7Z9W1CEpd"}"#;
        assert_eq!(canonical_json(&docs_event()).unwrap(), want);
        let h = event_leaf_hash(&docs_event()).unwrap();
        assert_eq!(STANDARD.encode(h), "6ro7vTcFq+sYDZiiGvZaFetUIoMSLig3DGDrCKK1HFU=");
    }

    #[test]
    fn projection_rules() {
        let mut e = docs_event();
        // fields outside the set do not change the leaf; a served actor email is nulled
        e["workspace_uuid"] = Value::String("other".into());
        e["transparency_log_leaf_index"] = 99.into();
        e["actor"]["email_address"] = "x@example.com".into();
        e["resource_details"]["parent"] = "p".into();
        assert_eq!(event_leaf_hash(&e).unwrap(), event_leaf_hash(&docs_event()).unwrap());
        // absent == null; "" is distinct
        let mut a = docs_event();
        a.as_object_mut().unwrap().remove("workspace_id");
        let mut n = docs_event();
        n["workspace_id"] = Value::Null;
        let mut s = docs_event();
        s["workspace_id"] = "".into();
        assert_eq!(canonical_json(&a).unwrap(), canonical_json(&n).unwrap());
        assert_ne!(canonical_json(&a).unwrap(), canonical_json(&s).unwrap());
        // absent resource_details is null, not an object of nulls
        let mut r = docs_event();
        r.as_object_mut().unwrap().remove("resource_details");
        assert!(canonical_json(&r).unwrap().contains(r#""resource_details":null"#));
        // escapes
        let mut c = docs_event();
        c["accessor_department"] = "T\"S\\\n\u{1}é".into();
        assert!(canonical_json(&c).unwrap().contains(r#""accessor_department":"T\"S\\\n\u0001é""#));
        // refusals
        let mut o = docs_event();
        o["type"] = "claude_chat_viewed".into();
        assert!(matches!(leaf_entry(&o), Err(LeafError::NotAccessTransparency(_))));
        let mut num = docs_event();
        num["reason_code"] = 5.into();
        assert_eq!(leaf_entry(&num), Err(LeafError::NotAString("reason_code")));
    }
}
