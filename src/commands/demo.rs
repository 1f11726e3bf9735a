//! `compliance-lake demo`: the synthetic tenant end to end, twice, with a tenant mutation (new,
//! late-indexed and updated records, a soft-deleted chat) in between, then a summary and an
//! exactly-once check of the whole store against the source.

use super::fake_api::start_synthetic;
use super::sync::{sync_local, ApiArgs, StreamArgs};
use crate::ui;
use anyhow::{bail, Context};
use clap::Args;
use shared::store::{LocalObjectSink, ObjectSink, Table};
use shared::synthetic::MutationConfig;
use shared::verify;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to write the demo lake (replaced if it is an earlier demo store).
    #[arg(long, default_value = "compliance-lake-demo")]
    pub store: PathBuf,
    /// Seed of the synthetic tenant.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Request budget (the fake enforces the same limit, as the real API enforces 600/min).
    #[arg(long, default_value_t = 6000)]
    pub budget_per_minute: u32,
    /// Hide progress bars.
    #[arg(long)]
    pub no_progress: bool,
}

fn prepare_store(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let ours = dir.join("_state").is_dir() || std::fs::read_dir(dir)?.next().is_none();
        if !ours {
            bail!("{} exists and is not a compliance-lake store; pass --store with a new directory", dir.display());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

pub async fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    prepare_store(&a.store)?;
    let (fake, key) = start_synthetic(a.seed, Some(a.budget_per_minute)).await?;
    // like the real API, the fake records each of our requests as a compliance_api_accessed row:
    // the second sync finds the first one's and learns our key (the self-audit heartbeat)
    fake.set_emit_access_activities(true);
    // one very large local session: the two large-transcript errors are met and handled
    let start = fake.with_tenant(|t| {
        t.sessions.make_very_large();
        t.config.start
    });
    // Access Transparency: two events per organization, one more that turns visible two business
    // days after it was recorded (revealed by the mutation below), all in the fake's signed log
    let tlog_key = fake.with_tenant(|t| {
        t.add_access_transparency(t.orgs.len(), 2);
        t.add_late_access_transparency(0, t.now);
        shared::synthetic::tlog::log_signer(t.config.seed).log_key().map(|k| k.fingerprint_hex())
    })?;
    println!(
        "Synthetic tenant (seed {}) served at {} — the same HTTP API a real tenant answers.",
        a.seed,
        fake.base_url()
    );
    let api = ApiArgs {
        api_base_url: fake.base_url(),
        api_key_file: None,
        budget_per_minute: a.budget_per_minute,
        request_timeout_secs: 60,
        connect_timeout_secs: 5,
        max_response_bytes: 256 * 1024 * 1024,
        anthropic_version: shared::api::client::ANTHROPIC_VERSION.into(),
    };
    let streams = StreamArgs {
        backfill_start: Some(shared::time::Timestamp(start).to_rfc3339()),
        org_ids: vec![],
        user_ids: vec![],
        project_ids: vec![],
        exclude_activity_types: vec![],
        streams: None,
        workers: 4,
        overlap_minutes: 10,
        activity_page_size: shared::streams::MAX_ACTIVITY_PAGE_SIZE,
        no_progress: a.no_progress,
        wait: false,
        // the synthetic log's key (a real tenant's log is verified under Anthropic's pinned key)
        tlog_trusted_keys: vec![tlog_key],
    };

    println!("\n[1/2] First sync (backfill from {}):", shared::time::Timestamp(start));
    let r1 = sync_local(api.client(key.clone())?, &a.store, &streams, !a.no_progress, false, false).await?;
    ui::print_summary(&r1, &a.store);
    if !r1.ok() {
        bail!("first sync failed");
    }

    let m = fake.with_tenant(|t| t.mutate(&MutationConfig::default()));
    println!(
        "\nTenant changed: {} new users, {} removed, {} new activities, {} late-indexed behind the last watermark, {} new chats, {} chats with new messages ({} messages), {} soft-deleted chat(s), {} updated and {} new projects, {} new documents.",
        m.new_users.len(),
        m.removed_users.len(),
        m.new_activity_ids.len(),
        m.late_activity_ids.len(),
        m.new_chat_ids.len(),
        m.appended_chat_ids.len(),
        m.new_message_ids.len(),
        m.soft_deleted_chat_ids.len(),
        m.updated_project_ids.len(),
        m.new_project_ids.len(),
        m.new_document_ids.len()
    );
    let ms = &m.sessions;
    println!(
        "Sessions: {} local and {} remote continued, {} new local, {} new remote, {} pending started, {} remote deleted by its user (gone from the API), {} local messages aged out (retention), {} new session messages.",
        ms.appended_local.len(),
        ms.appended_remote.len(),
        ms.new_local.len(),
        ms.new_remote.len(),
        ms.activated_remote.len(),
        ms.deleted_remote.len(),
        ms.aged_out_messages.len(),
        ms.new_message_ids.len()
    );

    let md = &m.directory;
    println!(
        "Directory: {} setting(s) flipped ({}), {} Compliance Access Key(s) added and {} deactivated (expect compliance_key_* rows in transparency_findings), {} group member(s) added and {} removed, {} role(s) with new permissions — see `compliance-lake diff settings --store {}`.",
        md.flipped_settings.len(),
        md.flipped_settings.iter().map(|(_, n, o, v)| format!("{n}: {o} → {v}")).collect::<Vec<_>>().join(", "),
        md.added_keys.len(),
        md.deactivated_keys.len(),
        md.members_added.len(),
        md.members_removed.len(),
        md.roles_changed.len(),
        a.store.display()
    );

    // Access Transparency tamper demo: the log now serves inclusion proofs that do not verify, so the
    // late event's proof fails and lands in transparency_findings (the TransparencyLogAlarm's metric)
    fake.with_tenant(|t| t.tlog_faults.wrong_inclusion = true);
    println!(
        "Access Transparency: one event turned visible 2 business days late; the fake log now serves a wrong inclusion proof (expect a transparency_findings row)."
    );

    // The rows of the second sync's own requests would only be read by a third: stop recording so
    // the exactly-once check below compares against a closed source.
    fake.set_emit_access_activities(false);
    println!("\n[2/2] Second sync (incremental):");
    let r2 = sync_local(api.client(key)?, &a.store, &streams, !a.no_progress, false, false).await?;
    ui::print_summary(&r2, &a.store);
    if !r2.ok() {
        bail!("second sync failed");
    }

    let expected = fake.expected();
    fake.shutdown().await;
    let sink = LocalObjectSink::new(&a.store)?;
    println!("\nExactly-once check of the whole store against the source:");
    let mut all_ok = true;
    let chat_ids: BTreeSet<String> = verify::read_table(&sink, Table::Chats)
        .await?
        .iter()
        .filter_map(|r| r.get("id").and_then(|v| v.as_str()).map(str::to_string))
        .collect();
    for (table, exp) in [
        (Table::Organizations, &expected.organizations),
        (Table::Users, &expected.users),
        (Table::Activities, &expected.activities),
        (Table::ChatMessages, &expected.chat_messages),
        (Table::ProjectDocuments, &expected.project_documents),
        (Table::LocalSessionMessages, &expected.sessions.local_session_messages),
        (Table::RemoteSessionMessages, &expected.sessions.remote_session_messages),
        // directory snapshots: the latest one holds the source, each row once
        (Table::Roles, &expected.directory.roles),
        (Table::Groups, &expected.directory.groups),
        (Table::GroupMembers, &expected.directory.group_members),
        (Table::OrgSettings, &expected.directory.org_settings),
        (Table::ProjectCollaborators, &expected.directory.project_collaborators),
        (Table::ChatArtifacts, &expected.content.chat_artifacts),
        (Table::GeneratedFiles, &expected.content.generated_files),
        (Table::CodeArtifacts, &expected.content.code_artifacts),
        (Table::CodeArtifactVersions, &expected.content.code_artifact_versions),
    ] {
        let mut written = verify::identity_counts(&sink, table).await?;
        if table == Table::ProjectDocuments {
            // uploaded project files sit next to documents (metadata rows); checked against the file set
            written.retain(|id, n| !(id.starts_with("claude_file_") && *n == 1 && expected.files.contains(id)));
        }
        let c = verify::check(exp, &written);
        all_ok &= c.exact();
        println!(
            "  {:<23} {:>6} in source  {:>6} written  missing {}  duplicated {}  unexpected {}  {}",
            table.as_str(),
            c.expected,
            c.written,
            c.missing.len(),
            c.duplicated.len(),
            c.unexpected.len(),
            if c.exact() { "✓" } else { "✗" }
        );
    }
    let versions = verify::identity_counts(&sink, Table::Chats).await?;
    let chats_ok = expected.chats.iter().all(|id| chat_ids.contains(id)) && versions.values().all(|n| *n == 1);
    all_ok &= chats_ok;
    println!(
        "  {:<23} {:>6} in source  {:>6} versions written (each once; updated and soft-deleted chats add a version)  {}",
        "chats",
        expected.chats.len(),
        versions.len(),
        if chats_ok { "✓" } else { "✗" }
    );
    for (table, exp) in [
        (Table::LocalSessions, &expected.sessions.local_sessions),
        (Table::RemoteSessions, &expected.sessions.remote_sessions),
    ] {
        let ids: BTreeSet<String> = verify::read_table(&sink, table)
            .await?
            .iter()
            .filter_map(|r| r.get("id").and_then(|v| v.as_str()).map(str::to_string))
            .collect();
        let versions = verify::identity_counts(&sink, table).await?;
        let ok = &ids == exp && versions.values().all(|n| *n == 1);
        all_ok &= ok;
        println!(
            "  {:<23} {:>6} in source  {:>6} versions written (each once; deleted and aged-out sessions kept)  {}",
            table.as_str(),
            exp.len(),
            versions.len(),
            if ok { "✓" } else { "✗" }
        );
    }
    let findings = verify::read_table(&sink, Table::DlpFindings).await?;
    println!("\nDLP findings at ingest: {}\n  {}", findings.len(), super::dlp::summarize(&findings));
    println!("  list them: compliance-lake findings --store {} --severity HIGH", a.store.display());
    print_tree(&sink).await?;
    let state = shared::store::LocalStateStore::new(&a.store)?;
    let jobs = shared::status::collect(&state).await?;
    println!("\n{}", shared::status::self_audit_line(&jobs, shared::time::Timestamp::now()));
    println!("\nChain of custody (compliance-lake verify --store {}):", a.store.display());
    let vr = super::verify::run_on(&sink, &state).await?;
    all_ok &= super::verify::print_report(&vr) == ExitCode::SUCCESS;
    if all_ok {
        println!(
            "\nEverything in the source is in the lake exactly once. Explore it: zcat {}/activities/*/*.gz | head",
            a.store.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("compliance-lake: demo: the store does not match the source exactly (see above)");
        Ok(ExitCode::FAILURE)
    }
}

async fn print_tree(sink: &LocalObjectSink) -> anyhow::Result<()> {
    println!("\nLake layout ({}):", sink.describe());
    for t in Table::ALL {
        let keys = sink.list(&format!("{}/", t.as_str())).await?;
        if keys.is_empty() {
            continue;
        }
        let bytes: u64 = keys.iter().filter_map(|k| std::fs::metadata(sink.root().join(k)).ok()).map(|m| m.len()).sum();
        println!("  {:<18} {:>3} objects {:>9} bytes   e.g. {}", t.as_str(), keys.len(), bytes, keys[0]);
    }
    Ok(())
}
