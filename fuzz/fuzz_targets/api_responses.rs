//! API response decoding: every typed model, the paginators' page interpreter (both families, with
//! and without a previous position), error bodies and header values — on arbitrary bytes. No panic;
//! a page that is not done always names where the walk continues, and never where it just was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shared::api::client::parse_error_body;
use shared::api::models::*;
use shared::api::paginate::{interpret, Family};

fn models(v: &Value) {
    let _ = serde_json::from_value::<Organization>(v.clone());
    let _ = serde_json::from_value::<User>(v.clone());
    if let Ok(a) = serde_json::from_value::<Activity>(v.clone()) {
        if let Some(actor) = &a.actor {
            let _ = (actor.user_id().map(str::len), actor.ip_address().map(str::len));
        }
        let _ = serde_json::to_value(&a);
    }
    let _ = serde_json::from_value::<Actor>(v.clone());
    let _ = serde_json::from_value::<Chat>(v.clone());
    let _ = serde_json::from_value::<ContentBlock>(v.clone());
    let _ = serde_json::from_value::<FileRef>(v.clone());
    let _ = serde_json::from_value::<ArtifactRef>(v.clone());
    let _ = serde_json::from_value::<ChatMessage>(v.clone()).map(|m| m.user_text());
    let _ = serde_json::from_value::<Project>(v.clone());
    let _ = serde_json::from_value::<ProjectAttachment>(v.clone());
    let _ = serde_json::from_value::<ProjectDocument>(v.clone());
    let _ = serde_json::from_value::<UserRef>(v.clone());
}

fn pages(v: &Value, prev: Option<&str>) {
    for family in [Family::PageToken, Family::Cursor { items: "data" }, Family::Cursor { items: "chat_messages" }] {
        if let Ok(page) = interpret(family, v.clone(), prev, "/fuzz") {
            if !page.done {
                let pos = page.position.as_deref();
                assert!(pos.is_some(), "{family:?}: not done but no position");
                assert_ne!(pos, prev, "{family:?}: not done but the position did not move");
            }
            for item in &page.items {
                models(item);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_error_body(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = shared::api::retry::parse_retry_after(s);
        let _ = shared::time::Timestamp::parse(s);
    }
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        models(&v);
        pages(&v, None);
        // a previous position taken from the input itself, as a resumed walk would have
        let prev = v.get("last_id").or_else(|| v.get("next_page")).and_then(Value::as_str).map(str::to_string);
        pages(&v, prev.as_deref().or(Some("claude_chat_01JzFuzzPrevious")));
    }
});
