//! The window of recently written versions (`id@updated_at` → `updated_at`) of the listings that
//! are filtered by `updated_at ≥ watermark − overlap` (projects, code artifacts): the next walk lists
//! again what changed in the last minutes of this one, and the window says which of those versions
//! are already written. It holds the last minutes' edits, never the tenant.

use crate::time::Timestamp;
use std::collections::BTreeMap;

/// Remembers a version just handled, if the next walk can list it again (`at ≥` this walk's start
/// − `overlap`); `at` unknown counts as now.
pub fn remember(
    recent: &mut BTreeMap<String, Timestamp>,
    dirty: &mut bool,
    version: String,
    at: Option<Timestamp>,
    now: Timestamp,
    walk_started: Timestamp,
    overlap: chrono::Duration,
) {
    let at = at.unwrap_or(now);
    if at >= walk_started.minus(overlap) {
        recent.insert(version, at);
        *dirty = true;
    }
}

/// A complete walk: the watermark moves to its start, and versions below the new floor are dropped.
pub fn close(
    watermark: &mut Option<Timestamp>,
    recent: &mut BTreeMap<String, Timestamp>,
    dirty: &mut bool,
    walk_started: Timestamp,
    overlap: chrono::Duration,
) {
    *watermark = Some(walk_started);
    let floor = walk_started.minus(overlap);
    let before = recent.len();
    recent.retain(|_, t| *t >= floor);
    *dirty |= recent.len() != before;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_only_what_the_next_walk_can_list_again() {
        let t = |s: &str| Timestamp::parse(s).unwrap();
        let (start, overlap) = (t("2026-12-02T12:00:00Z"), chrono::Duration::minutes(10));
        let (mut recent, mut dirty, mut wm) = (BTreeMap::new(), false, None);
        remember(&mut recent, &mut dirty, "a@old".into(), Some(t("2026-12-01T00:00:00Z")), start, start, overlap);
        assert!(recent.is_empty() && !dirty, "older than start − overlap: never listed again");
        remember(&mut recent, &mut dirty, "b@new".into(), Some(t("2026-12-02T11:55:00Z")), start, start, overlap);
        remember(&mut recent, &mut dirty, "c@none".into(), None, start, start, overlap);
        assert_eq!(recent.len(), 2);
        assert!(dirty);
        dirty = false;
        // the next walk closes 20 minutes later: both drop below its floor
        close(&mut wm, &mut recent, &mut dirty, t("2026-12-02T12:20:00Z"), overlap);
        assert_eq!(wm, Some(t("2026-12-02T12:20:00Z")));
        assert!(recent.is_empty() && dirty);
    }
}
