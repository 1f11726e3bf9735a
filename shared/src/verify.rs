//! Reading the lake back: the ids written per table and how often, for `demo`'s end-to-end check,
//! the integration tests, and operators who want to audit a store against a source.

use crate::store::{ndjson, ObjectSink, StoreError, Table};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Every record of a table, in key order.
pub async fn read_table(sink: &dyn ObjectSink, table: Table) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::new();
    for key in sink.list(&format!("{}/", table.as_str())).await? {
        if !key.ends_with(".ndjson.gz") {
            continue;
        }
        let Some(bytes) = sink.get(&key).await? else { continue };
        let recs =
            ndjson::decode_gz(&bytes).map_err(|e| StoreError::Corrupt { key: key.clone(), reason: e.to_string() })?;
        out.extend(recs);
    }
    Ok(out)
}

/// The identity of a record in its table: `id` for most; users are per organization; chats and
/// projects are versioned (`id@updated_at`) because an updated or deleted chat is written again.
pub fn identity(table: Table, r: &Value) -> Option<String> {
    let s = |k: &str| r.get(k).and_then(Value::as_str);
    match table {
        Table::Organizations => s("uuid").map(str::to_string),
        Table::Users => Some(format!("{}/{}", s("organization_uuid")?, s("id")?)),
        Table::Chats | Table::Projects | Table::LocalSessions | Table::RemoteSessions => {
            Some(format!("{}@{}", s("id")?, s("updated_at").unwrap_or("")))
        }
        // Access Transparency log: each checkpoint once per org, each event's proof once, each detection once
        Table::TransparencyCheckpoints => Some(format!(
            "{}/{}/{}",
            s("organization_uuid")?,
            r.get("tree_size").and_then(Value::as_u64)?,
            s("root_hash")?
        )),
        Table::TransparencyInclusions => s("activity_id").map(str::to_string),
        Table::TransparencyFindings => Some(format!("{}@{}", s("finding_id")?, s("detected_at")?)),
        // directory snapshots (streams/directory/): identities inside one snapshot
        Table::Roles => Some(format!("{}/{}", s("organization_uuid")?, s("id")?)),
        Table::GroupMembers => Some(format!("{}/{}", s("group_id")?, s("user_id")?)),
        Table::OrgSettings => s("organization_uuid").map(str::to_string),
        Table::ProjectCollaborators => Some(crate::synthetic::directory::collaborator_identity(s("project_id")?, r)),
        // content objects: a chat artifact per version, a code artifact per listed version
        Table::ChatArtifacts => s("version_id").map(str::to_string),
        Table::CodeArtifacts => Some(format!("{}@{}", s("id")?, s("updated_at").unwrap_or(""))),
        _ => s("id").map(str::to_string),
    }
}

/// Tables written as a full snapshot every run: identities repeat across runs, never inside one.
pub fn is_snapshot(table: Table) -> bool {
    matches!(
        table,
        Table::Organizations
            | Table::Users
            | Table::Roles
            | Table::Groups
            | Table::GroupMembers
            | Table::OrgSettings
            | Table::ProjectCollaborators
    )
}

/// Count of each identity in a table; for snapshot tables, only each job's latest snapshot.
pub async fn identity_counts(sink: &dyn ObjectSink, table: Table) -> Result<BTreeMap<String, u64>, StoreError> {
    let recs = read_table(sink, table).await?;
    let s = |r: &'_ Value, p: &str| r.pointer(p).and_then(Value::as_str).map(str::to_string);
    // Snapshot tables: each job's (an organization's users, roles, …) snapshot fetched last. Per
    // job, not per table: jobs of an older run still queued can finish after this run's (run ids
    // need not sort by time either).
    let mut latest_run: BTreeMap<Option<String>, (String, String)> = BTreeMap::new();
    if is_snapshot(table) {
        for r in &recs {
            let (Some(at), Some(run)) = (s(r, "/_ingest/fetched_at"), s(r, "/_ingest/run_id")) else { continue };
            let e = latest_run.entry(s(r, "/_ingest/job")).or_insert_with(|| (at.clone(), run.clone()));
            if (at.as_str(), run.as_str()) > (e.0.as_str(), e.1.as_str()) {
                *e = (at, run);
            }
        }
    }
    let mut m = BTreeMap::new();
    for r in &recs {
        if is_snapshot(table) {
            let latest = latest_run.get(&s(r, "/_ingest/job")).map(|(_, run)| run.as_str());
            if s(r, "/_ingest/run_id").as_deref() != latest {
                continue;
            }
        }
        if let Some(id) = identity(table, r) {
            *m.entry(id).or_insert(0) += 1;
        }
    }
    Ok(m)
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct TableCheck {
    pub expected: usize,
    pub written: usize,
    pub missing: Vec<String>,
    pub duplicated: Vec<String>,
    pub unexpected: Vec<String>,
}

impl TableCheck {
    pub fn exact(&self) -> bool {
        self.missing.is_empty() && self.duplicated.is_empty() && self.unexpected.is_empty()
    }
}

/// Compares what a table holds against the ids the source holds.
pub fn check(expected: &BTreeSet<String>, written: &BTreeMap<String, u64>) -> TableCheck {
    TableCheck {
        expected: expected.len(),
        written: written.values().sum::<u64>() as usize,
        missing: expected.iter().filter(|id| !written.contains_key(*id)).cloned().collect(),
        duplicated: written.iter().filter(|(_, n)| **n > 1).map(|(id, _)| id.clone()).collect(),
        unexpected: written.keys().filter(|id| !expected.contains(*id)).cloned().collect(),
    }
}

/// One thing `verify` found wrong, with the object or manifest it concerns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub kind: ProblemKind,
    pub key: String,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProblemKind {
    /// An object's bytes no longer match the SHA-256 its manifest fixed.
    Altered,
    /// An object a committed manifest lists is not in the lake.
    Missing,
    /// An object under a table prefix that no committed manifest covers (injected or duplicated).
    Uncovered,
    /// A manifest missing from a job's chain, or one whose `prev_sha256` does not match.
    BrokenChain,
    /// A manifest that cannot be read.
    Unreadable,
    /// A record identity present more than once in a table.
    Duplicate,
}

impl ProblemKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProblemKind::Altered => "altered",
            ProblemKind::Missing => "missing",
            ProblemKind::Uncovered => "uncovered",
            ProblemKind::BrokenChain => "broken-chain",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::Duplicate => "duplicate",
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.kind.as_str(), self.key, self.detail)
    }
}

/// What `verify` saw, per stream, and every problem.
#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    pub problems: Vec<Problem>,
    pub manifests: u64,
    pub objects: u64,
    pub records: u64,
    pub bytes: u64,
    /// stream → (chains, manifests, objects, records)
    pub streams: BTreeMap<String, (u64, u64, u64, u64)>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Identity of a record for the duplicate check: snapshot tables are keyed per run.
fn lake_identity(table: Table, r: &Value) -> Option<String> {
    let id = identity(table, r)?;
    if is_snapshot(table) {
        let run = r.pointer("/_ingest/run_id").and_then(Value::as_str).unwrap_or("");
        return Some(format!("{run}/{id}"));
    }
    Some(id)
}

/// Walks the manifests and the lake: every committed object present and unaltered, every object
/// under a table prefix covered by a committed manifest, every job's manifests one unbroken hash
/// chain ending at the head its state names, and no record identity written twice.
pub async fn verify_lake(
    sink: &dyn ObjectSink,
    state: Option<&dyn crate::store::StateStore>,
) -> Result<VerifyReport, StoreError> {
    use crate::streams::segment::{sha256_hex, JobState, Manifest, MANIFESTS_PREFIX};
    let mut rep = VerifyReport::default();
    let problem = |rep: &mut VerifyReport, kind, key: &str, detail: String| {
        rep.problems.push(Problem { kind, key: key.to_string(), detail });
    };
    // (job, epoch) → seq → (manifest key, SHA-256, manifest)
    type Chains = BTreeMap<(String, String), BTreeMap<u64, (String, String, Manifest)>>;
    let mut chains: Chains = BTreeMap::new();
    for key in sink.list(&format!("{MANIFESTS_PREFIX}/")).await? {
        let Some(body) = sink.get(&key).await? else { continue };
        match serde_json::from_slice::<Manifest>(&body) {
            Ok(m) => {
                rep.manifests += 1;
                chains.entry((m.job.clone(), m.epoch.clone())).or_default().insert(m.seq, (key, sha256_hex(&body), m));
            }
            Err(e) => problem(&mut rep, ProblemKind::Unreadable, &key, format!("not a manifest: {e}")),
        }
    }
    // Heads named by state: the chain must end there (a deleted last manifest shows up here).
    let mut heads: BTreeMap<(String, String), (u64, String, String)> = BTreeMap::new();
    if let Some(st) = state {
        for k in st.keys("").await? {
            if crate::streams::marks::is_mark_key(&k) {
                continue;
            }
            let Some(v) = st.load(&k).await? else { continue };
            let Ok(js) = serde_json::from_value::<JobState>(v.value) else { continue };
            if let (Some(h), Some(epoch)) = (js.head, js.epoch) {
                heads.insert((k.clone(), epoch), (h.seq, h.manifest_key, h.manifest_sha256));
            }
        }
    }
    let mut covered: BTreeSet<String> = BTreeSet::new();
    let mut ids: BTreeMap<Table, BTreeMap<String, u64>> = BTreeMap::new();
    for ((job, epoch), seqs) in &chains {
        let mut prev: Option<&str> = None;
        let mut expect = 1u64;
        let stream = seqs.values().next().map(|(_, _, m)| m.stream.clone()).unwrap_or_default();
        let entry = rep.streams.entry(stream).or_default();
        entry.0 += 1;
        entry.1 += seqs.len() as u64;
        for (seq, (key, sha, m)) in seqs {
            if *seq != expect {
                problem(
                    &mut rep,
                    ProblemKind::BrokenChain,
                    key,
                    format!("job {job}: manifests {expect}..{} are missing", seq - 1),
                );
            } else if m.prev_sha256.as_deref() != prev {
                problem(
                    &mut rep,
                    ProblemKind::BrokenChain,
                    key,
                    format!("job {job}: prev_sha256 does not match manifest {}", seq - 1),
                );
            }
            prev = Some(sha.as_str());
            expect = seq + 1;
        }
        if let Some((hseq, hkey, hsha)) = heads.get(&(job.clone(), epoch.clone())) {
            match seqs.get(hseq) {
                Some((_, sha, _)) if sha == hsha => {}
                Some((k, _, _)) => problem(
                    &mut rep,
                    ProblemKind::Altered,
                    k,
                    format!("job {job}: the head manifest does not match the SHA-256 its state committed"),
                ),
                None => problem(
                    &mut rep,
                    ProblemKind::BrokenChain,
                    hkey,
                    format!("job {job}: the committed head manifest (seq {hseq}) is missing"),
                ),
            }
            if let Some((last, _)) = seqs.last_key_value() {
                if last > hseq {
                    problem(
                        &mut rep,
                        ProblemKind::BrokenChain,
                        &seqs[last].0,
                        format!("job {job}: manifest beyond the committed head {hseq}"),
                    );
                }
            }
        }
    }
    for ((job, epoch), (hseq, hkey, _)) in &heads {
        if !chains.contains_key(&(job.clone(), epoch.clone())) {
            problem(
                &mut rep,
                ProblemKind::BrokenChain,
                hkey,
                format!("job {job}: no manifest found for its {hseq} committed segment(s)"),
            );
        }
    }
    for seqs in chains.values() {
        for (_, _, m) in seqs.values() {
            let (mut n_objects, mut n_records) = (0u64, 0u64);
            for o in &m.objects {
                covered.insert(o.key.clone());
                if o.table == crate::streams::segment::WORK_TABLE {
                    continue; // work handed to other jobs: removed once they consumed it
                }
                let Some(body) = sink.get(&o.key).await? else {
                    problem(
                        &mut rep,
                        ProblemKind::Missing,
                        &o.key,
                        format!("listed by manifest {} seq {} of job {}", m.stream, m.seq, m.job),
                    );
                    continue;
                };
                if sha256_hex(&body) != o.sha256 || body.len() as u64 != o.bytes {
                    problem(
                        &mut rep,
                        ProblemKind::Altered,
                        &o.key,
                        format!("SHA-256 or size differs from manifest seq {} of job {}", m.seq, m.job),
                    );
                    continue;
                }
                rep.objects += 1;
                rep.bytes += o.bytes;
                n_objects += 1;
                let Some(table) = Table::parse(&o.table) else { continue };
                match ndjson::decode_gz(&body) {
                    Ok(recs) => {
                        rep.records += recs.len() as u64;
                        n_records += recs.len() as u64;
                        let t = ids.entry(table).or_default();
                        for r in &recs {
                            if let Some(id) = lake_identity(table, r) {
                                *t.entry(id).or_insert(0) += 1;
                            }
                        }
                    }
                    Err(e) => problem(&mut rep, ProblemKind::Altered, &o.key, format!("not gzip NDJSON: {e}")),
                }
            }
            let entry = rep.streams.entry(m.stream.clone()).or_default();
            entry.2 += n_objects;
            entry.3 += n_records;
        }
    }
    for table in Table::ALL {
        for key in sink.list(&format!("{}/", table.as_str())).await? {
            if covered.contains(&key) {
                continue;
            }
            problem(&mut rep, ProblemKind::Uncovered, &key, "no committed manifest covers this object".into());
            // Athena reads it all the same: its records count for the duplicate check.
            if let Some(recs) = sink.get(&key).await?.and_then(|b| ndjson::decode_gz(&b).ok()) {
                let t = ids.entry(table).or_default();
                for r in &recs {
                    if let Some(id) = lake_identity(table, r) {
                        *t.entry(id).or_insert(0) += 1;
                    }
                }
            }
        }
    }
    for (table, m) in &ids {
        for (id, n) in m.iter().filter(|(_, n)| **n > 1) {
            problem(&mut rep, ProblemKind::Duplicate, &format!("{table}/{id}"), format!("record written {n} times"));
        }
    }
    rep.problems.sort();
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ndjson, LocalObjectSink};
    use serde_json::json;

    fn user(org: &str, id: &str, job: &str, run: &str, at: &str) -> Value {
        json!({"id": id, "organization_uuid": org, "_ingest": {"job": job, "run_id": run, "fetched_at": at}})
    }

    /// An organization's users job of an older run still queued can finish after this run's jobs:
    /// each job's newest snapshot counts, not the table's newest run.
    #[tokio::test]
    async fn snapshot_counts_take_each_jobs_newest_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalObjectSink::new(dir.path()).unwrap();
        let (a, b) = ("a1b2c3d4-0000-4000-8000-00000000000a", "a1b2c3d4-0000-4000-8000-00000000000b");
        let (ja, jb) = (format!("users/{a}"), format!("users/{b}"));
        let rows = [
            // run 1 snapshots a (its job of b is killed, its message stays queued); run 2 both;
            // run 1's job of b is picked up again and finishes last
            user(a, "user_01A", &ja, "sched-1", "2026-12-02T10:00:00Z"),
            user(a, "user_01A", &ja, "sched-2", "2026-12-02T11:00:00Z"),
            user(a, "user_01C", &ja, "sched-2", "2026-12-02T11:00:00Z"),
            user(b, "user_01B", &jb, "sched-2", "2026-12-02T11:00:01Z"),
            user(b, "user_01B", &jb, "sched-1", "2026-12-02T11:00:05Z"),
            user(b, "user_01D", &jb, "sched-1", "2026-12-02T11:00:05Z"),
        ];
        for (i, r) in rows.iter().enumerate() {
            let body = ndjson::encode_gz(std::slice::from_ref(r)).unwrap();
            sink.put(&format!("users/dt=2026-12-02/part-{i}.ndjson.gz"), body.into()).await.unwrap();
        }
        let got = identity_counts(&sink, Table::Users).await.unwrap();
        let want: BTreeMap<String, u64> =
            [format!("{a}/user_01A"), format!("{a}/user_01C"), format!("{b}/user_01B"), format!("{b}/user_01D")]
                .into_iter()
                .map(|k| (k, 1))
                .collect();
        assert_eq!(got, want);
    }
}
