//! Artifact endpoints of the fake (spec §7.14): `GET /apps/code/artifacts` and the version
//! download `GET /apps/code/artifacts/{artifact_id}/versions/{version_id}`.
//!
//! Listing quirks served: `limit` 20 / 100, page tokens, sorted by identifier (not time); filters are
//! applied *after* a page is cut, so pages are short or empty while `next_page` is set (and
//! `has_more` is true for a page whose successor is empty); `updated_at.*` never matches an artifact
//! without `updated_at`; `organization_ids[]` ≤ 500, `user_ids[]` ≤ 200 (owners); anything else
//! (`order`, the removed `organization_uuid`) is an unknown parameter. The download answers a
//! single-file version's text (`Content-MD5`, file name `{artifact_id}-{version_id}.txt`), 422
//! `multi_file_unavailable` for a version of several files (every Claude Doc version), 404 for an
//! unknown artifact or a version rotated out of the listing.

use serde_json::Value;

use super::cursor;
use super::errors::ApiError;
use super::query::Query;
use super::routes::{org_matches, page_after, range_params, token_envelope, Reply};
use crate::synthetic::Tenant;

const SCOPE: &str = "code_artifacts";

/// `GET /apps/code/artifacts`.
pub fn list(q: &Query, t: &Tenant) -> Result<Reply, ApiError> {
    let ranges = range_params("updated_at");
    let mut allowed = vec!["limit", "page", "organization_ids[]", "user_ids[]"];
    allowed.extend(ranges.iter().map(String::as_str));
    q.check_allowed(&allowed)?;
    let limit = q.limit(20, 100)?;
    let orgs = q.all("organization_ids[]");
    if orgs.len() > 500 {
        return Err(ApiError::invalid("organization_ids[]: List should have at most 500 items after validation"));
    }
    let users = q.all("user_ids[]");
    if users.len() > 200 {
        return Err(ApiError::invalid("user_ids[]: List should have at most 200 items after validation"));
    }
    let updated = q.range("updated_at")?;
    let after = page_after(q, SCOPE)?;
    let mut items: Vec<(String, &crate::synthetic::artifacts::CodeArtifactRecord)> =
        t.content.code_artifacts.iter().map(|a| (a.id.clone(), a)).collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    // the page is cut first, then filtered: short and empty pages while more follow
    let (page, next) = cursor::token_page(items, after.as_deref(), limit);
    let data: Vec<Value> = page
        .into_iter()
        .filter(|a| org_matches(&orgs, None, Some(a.organization_uuid.as_str())))
        .filter(|a| users.is_empty() || a.owner_user_id.as_ref().is_some_and(|u| users.contains(u)))
        .filter(|a| updated.is_empty() || a.updated_at.is_some_and(|u| updated.contains(u)))
        .map(|a| a.wire())
        .collect();
    t.content.serve_listing(&data);
    let next = next.map(|k| cursor::encode_page(SCOPE, &k));
    Ok(Reply::Json(token_envelope(data, next)))
}

/// `GET /apps/code/artifacts/{artifact_id}/versions/{version_id}`.
pub fn version(q: &Query, t: &Tenant, artifact_id: &str, version_id: &str) -> Result<Reply, ApiError> {
    q.check_allowed(&["multi_file_format"])?;
    let zip = q.choice("multi_file_format", &["zip"], "")? == "zip";
    let not_found = || ApiError::resource_not_found(format!("Artifact version not found: '{version_id}'"));
    let a = t.content.code_artifacts.iter().find(|a| a.id == artifact_id).ok_or_else(not_found)?;
    let v = a.version(version_id).ok_or_else(not_found)?;
    if v.multi_file {
        let docs = matches!(a.artifact_type.as_str(), "claude_docs" | "claude_sheets");
        if !zip || docs {
            return Err(ApiError {
                status: 422,
                error_code: Some("multi_file_unavailable"),
                ..ApiError::invalid(
                    "This artifact version has more than one file. Pass multi_file_format=zip to download it as a ZIP archive (Claude Docs: download the document with /content).",
                )
            });
        }
        return Err(ApiError {
            status: 422,
            error_code: Some("file_set_unavailable"),
            ..ApiError::invalid("One file of this artifact version cannot be exported.")
        });
    }
    Ok(Reply::File {
        bytes: v.content.clone(),
        content_type: v.content_type.clone(),
        filename: format!("{artifact_id}-{version_id}.txt"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::TenantConfig;

    fn json(r: Result<Reply, ApiError>) -> Value {
        match r {
            Ok(Reply::Json(v)) => v,
            Ok(_) => panic!("not json"),
            Err(e) => panic!("{} {}", e.status, e.message),
        }
    }

    #[test]
    fn short_pages_while_next_page_is_set() {
        let t = Tenant::generate(TenantConfig::small());
        let total = t.content.code_artifacts.len();
        assert!(total >= 4);
        let filtered = t.content.code_artifacts.iter().filter(|a| a.updated_at.is_some()).count();
        let walk = |base: String| {
            let (mut seen, mut empty) = (Vec::new(), 0);
            let mut q = base.clone();
            loop {
                let v = json(list(&Query::parse(Some(&q)), &t));
                let data = v["data"].as_array().unwrap();
                seen.extend(data.iter().map(|a| a["id"].as_str().unwrap().to_string()));
                match v["next_page"].as_str() {
                    Some(p) => {
                        assert_eq!(v["has_more"], true);
                        empty += usize::from(data.is_empty());
                        q = format!("{base}&page={p}");
                    }
                    None => break,
                }
            }
            (seen, empty)
        };
        let (seen, _) = walk("limit=2&updated_at.gte=2000-01-01T00:00:00Z".into());
        assert_eq!(seen.len(), filtered, "the artifact without updated_at never matches the filter");
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "sorted by identifier");
        let org = t.orgs[0].uuid.clone();
        let (seen, empty) = walk(format!("limit=1&organization_ids[]={org}"));
        assert_eq!(seen.len(), t.content.code_artifacts.iter().filter(|a| a.organization_uuid == org).count());
        assert!(empty >= 2, "empty pages while next_page is set: {empty}");
        assert_eq!(list(&Query::parse(Some("order=asc")), &t).err().map(|e| e.status), Some(400));
        assert_eq!(list(&Query::parse(Some("limit=101")), &t).err().map(|e| e.status), Some(400));
    }
}
