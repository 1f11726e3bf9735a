//! Simulated time passing between two syncs.

use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::activities;
use super::generate::{create_project, new_profile, user_wire, weighted_role};
use super::ids::{self, rand_between, rand_ms, trunc_micros};
use super::{MemberRecord, Tenant};

/// How much changes in one [`Tenant::mutate`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutationConfig {
    /// New "now" of the tenant. Values not after the current `Tenant::now` are bumped to
    /// `Tenant::now + 1 minute`.
    pub now: DateTime<Utc>,
    pub new_users: usize,
    /// Background activities with `created_at` in `(previous now, now]`.
    pub new_activities: usize,
    /// Activities created a few minutes *before* the newest activity that was already visible
    /// (behind any saved cursor), visible from now on. Previously hidden rows are revealed too.
    pub late_activities: usize,
    /// New invisible (late-indexed) rows, revealed by the *next* mutation.
    pub hidden_activities: usize,
    pub new_chats: usize,
    /// Existing chats that receive a new user+assistant pair (bumping `updated_at`).
    pub appended_chats: usize,
    /// Chats soft-deleted by their user in claude.ai.
    pub soft_deleted_chats: usize,
    /// Projects whose description changes (bumping `updated_at`).
    pub updated_projects: usize,
    pub new_projects: usize,
    /// New documents attached to existing projects.
    pub new_documents: usize,
    /// Users removed from an org (their activities remain).
    pub removed_users: usize,
    /// Sessions lose data the way the API loses it for good: retention ages local calls out, a
    /// user deletes a remote session. Off where a test's earlier run may have died before
    /// committing what it was served: once the API drops it, nothing can fetch it again.
    pub session_removals: bool,
}

impl Default for MutationConfig {
    fn default() -> Self {
        MutationConfig {
            now: ids::trunc_secs(Utc::now()),
            new_users: 1,
            new_activities: 40,
            late_activities: 5,
            hidden_activities: 2,
            new_chats: 2,
            appended_chats: 3,
            soft_deleted_chats: 1,
            updated_projects: 1,
            new_projects: 1,
            new_documents: 2,
            removed_users: 1,
            session_removals: true,
        }
    }
}

impl MutationConfig {
    /// Default amounts with an explicit `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        MutationConfig { now, ..MutationConfig::default() }
    }
}

/// What one mutation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MutationSummary {
    pub previous_now: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// Newest visible activity `created_at` before the mutation (the "saved cursor" position).
    pub newest_visible_before: Option<DateTime<Utc>>,
    /// `(org_uuid, user_id)`.
    pub new_users: Vec<(String, String)>,
    /// `(org_uuid, user_id)`.
    pub removed_users: Vec<(String, String)>,
    /// Activities with `created_at` in `(previous_now, now]` (background + derived).
    pub new_activity_ids: Vec<String>,
    /// Activities that became visible now with `created_at` behind `newest_visible_before`.
    pub late_activity_ids: Vec<String>,
    /// Activities added invisible, to be revealed by the next mutation.
    pub hidden_activity_ids: Vec<String>,
    pub new_chat_ids: Vec<String>,
    pub appended_chat_ids: Vec<String>,
    pub new_message_ids: Vec<String>,
    pub soft_deleted_chat_ids: Vec<String>,
    pub updated_project_ids: Vec<String>,
    pub new_project_ids: Vec<String>,
    pub new_document_ids: Vec<String>,
    pub sessions: super::SessionMutation,
    /// Settings flipped, keys added and deactivated, group members and role permissions changed.
    pub directory: super::DirectoryMutation,
    pub content: super::artifacts::ContentMutation,
}

impl Tenant {
    /// Simulate time passing from `self.now` to `m.now`. A scale tenant is immutable: nothing
    /// changes and the summary says so (empty lists, `now` unchanged).
    pub fn mutate(&mut self, m: &MutationConfig) -> MutationSummary {
        if self.scale.is_some() {
            return MutationSummary { previous_now: self.now, now: self.now, ..MutationSummary::default() };
        }
        self.mutations += 1;
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(self.mutations),
        );
        let prev = self.now;
        let now = {
            let n = trunc_micros(m.now);
            if n <= prev {
                prev + Duration::minutes(1)
            } else {
                n
            }
        };
        // new records live strictly after `prev`
        let lo = prev + Duration::microseconds(1);
        let mut s = MutationSummary {
            previous_now: prev,
            now,
            newest_visible_before: self.newest_visible_activity().map(|a| a.created_at),
            ..MutationSummary::default()
        };
        let mut new_acts = Vec::new();

        // ---- reveal previously hidden rows
        s.late_activity_ids = self.reveal_hidden_activities();

        // ---- users
        for _ in 0..m.new_users {
            if self.orgs.is_empty() {
                break;
            }
            let oi = rng.gen_range(0..self.orgs.len());
            let org_uuid = self.orgs[oi].uuid.clone();
            let org_id = self.orgs[oi].org_id.clone();
            let joined = rand_between(&mut rng, lo, now);
            let created = joined - rand_ms(&mut rng, 0, 60_000);
            let p = new_profile(&mut rng, self, &org_uuid, created);
            let role = weighted_role(&mut rng);
            let wire = user_wire(&p, role);
            self.orgs[oi].members.push(MemberRecord {
                user_id: p.id.clone(),
                role: role.into(),
                joined_at: joined,
                wire,
            });
            let fill = self.fill.clone();
            new_acts.push(activities::scim_user_created(&mut rng, &fill, joined, (&org_id, &org_uuid), &p.id));
            s.new_users.push((org_uuid, p.id.clone()));
            self.users.insert(p.id.clone(), p);
        }

        // ---- removed users (never the primary owner, never a user added just now)
        for _ in 0..m.removed_users {
            let candidates: Vec<(usize, String)> = self
                .orgs
                .iter()
                .enumerate()
                .flat_map(|(oi, o)| {
                    o.members
                        .iter()
                        .filter(|mem| mem.role != "primary_owner" && mem.role != "owner")
                        .filter(|mem| !s.new_users.iter().any(|(_, u)| u == &mem.user_id))
                        .map(move |mem| (oi, mem.user_id.clone()))
                })
                .collect();
            let Some((oi, uid)) = candidates.choose(&mut rng).cloned() else {
                break;
            };
            let at = rand_between(&mut rng, lo, now);
            let org_uuid = self.orgs[oi].uuid.clone();
            let org_id = self.orgs[oi].org_id.clone();
            self.orgs[oi].members.retain(|mem| mem.user_id != uid);
            let admin =
                self.orgs[oi].members.first().and_then(|mem| self.users.get(&mem.user_id)).map(activities::user_actor);
            if let (Some(actor), Some(gone)) = (admin, self.users.get(&uid)) {
                new_acts.push(activities::build(
                    ids::tagged_id(&mut rng, "activity_"),
                    at,
                    "org_user_deleted",
                    Some((&org_id, &org_uuid)),
                    actor,
                    vec![("deleted_user_email", json!(gone.email)), ("deleted_user_id", json!(uid))],
                ));
            }
            s.removed_users.push((org_uuid, uid));
        }

        // ---- new chats
        for _ in 0..m.new_chats {
            let users = &self.users;
            let members: Vec<(usize, String)> = self
                .orgs
                .iter()
                .enumerate()
                .flat_map(|(oi, o)| {
                    o.members
                        .iter()
                        .filter(move |mem| users.get(&mem.user_id).is_some_and(|u| u.home_org_uuid == o.uuid))
                        .map(move |mem| (oi, mem.user_id.clone()))
                })
                .collect();
            let Some((oi, uid)) = members.choose(&mut rng).cloned() else {
                break;
            };
            let pairs = super::generate::pair_count(&mut rng, self.config.messages_per_chat).max(1);
            let mut times: Vec<DateTime<Utc>> = (0..pairs * 2 + 1).map(|_| rand_between(&mut rng, lo, now)).collect();
            times.sort();
            let ci = self.new_chat(&mut rng, oi, &uid, times[0], 30);
            new_acts.push(self.chat_created_activity(&mut rng, ci));
            for p in 0..pairs {
                let out = self.gen_message_pair(&mut rng, ci, times[2 * p + 1], times[2 * p + 2]);
                s.new_message_ids.push(out.user_msg_id);
                s.new_message_ids.push(out.assistant_msg_id);
                for fid in out.uploaded_file_ids {
                    new_acts.push(self.file_uploaded_activity(&mut rng, ci, &fid));
                }
            }
            self.refresh_chat_updated(ci);
            s.new_chat_ids.push(self.chats[ci].id.clone());
        }

        // ---- messages appended to existing chats
        let existing: Vec<usize> = (0..self.chats.len())
            .filter(|ci| self.chats[*ci].deleted_at.is_none())
            .filter(|ci| !s.new_chat_ids.contains(&self.chats[*ci].id))
            .collect();
        let picked: Vec<usize> = existing.choose_multiple(&mut rng, m.appended_chats).copied().collect();
        for ci in picked {
            let mut ts = [rand_between(&mut rng, lo, now), rand_between(&mut rng, lo, now)];
            ts.sort();
            let out = self.gen_message_pair(&mut rng, ci, ts[0], ts[1]);
            s.new_message_ids.push(out.user_msg_id);
            s.new_message_ids.push(out.assistant_msg_id);
            for fid in out.uploaded_file_ids {
                new_acts.push(self.file_uploaded_activity(&mut rng, ci, &fid));
            }
            self.refresh_chat_updated(ci);
            s.appended_chat_ids.push(self.chats[ci].id.clone());
        }

        // ---- soft-deleted chats
        let deletable: Vec<usize> = (0..self.chats.len())
            .filter(|ci| self.chats[*ci].deleted_at.is_none())
            .filter(|ci| !s.new_chat_ids.contains(&self.chats[*ci].id))
            .filter(|ci| !s.appended_chat_ids.contains(&self.chats[*ci].id))
            .collect();
        let picked: Vec<usize> = deletable.choose_multiple(&mut rng, m.soft_deleted_chats).copied().collect();
        for ci in picked {
            let at = rand_between(&mut rng, lo, now);
            self.soft_delete_chat(ci, at);
            new_acts.push(self.chat_deleted_activity(&mut rng, ci, at));
            s.soft_deleted_chat_ids.push(self.chats[ci].id.clone());
        }

        // ---- new projects
        for _ in 0..m.new_projects {
            let members: Vec<(usize, String)> = self
                .orgs
                .iter()
                .enumerate()
                .flat_map(|(oi, o)| o.members.iter().map(move |mem| (oi, mem.user_id.clone())))
                .collect();
            let Some((oi, uid)) = members.choose(&mut rng).cloned() else {
                break;
            };
            // keep every derived timestamp inside (prev, now]
            let span = (now - lo) / 4;
            let created = rand_between(&mut rng, lo, lo + span);
            let mut derived = Vec::new();
            let pi = create_project(self, &mut rng, oi, &uid, created, now, false, &mut derived);
            for a in &mut derived {
                clamp_activity(a, now);
            }
            new_acts.extend(derived);
            s.new_project_ids.push(self.projects[pi].id.clone());
        }

        // ---- updated projects
        let updatable: Vec<usize> =
            (0..self.projects.len()).filter(|pi| !s.new_project_ids.contains(&self.projects[*pi].id)).collect();
        let picked: Vec<usize> = updatable.choose_multiple(&mut rng, m.updated_projects).copied().collect();
        for pi in picked {
            let at = rand_between(&mut rng, lo, now);
            let name = self.projects[pi].name();
            let id = self.projects[pi].id.clone();
            let (desc, _) = self.gen_project_prose(&mut rng, &id, &name, false);
            self.projects[pi].description = format!("{desc} (revised)");
            self.set_project_updated(pi, at);
            s.updated_project_ids.push(id);
        }

        // ---- new documents on existing projects
        for _ in 0..m.new_documents {
            if self.projects.is_empty() {
                break;
            }
            let pi = rng.gen_range(0..self.projects.len());
            let at = rand_between(&mut rng, lo, now);
            let did = self.gen_document(&mut rng, pi, at, false);
            let filename = self.documents.get(&did).map(|d| d.filename.clone());
            let mut a = self.project_activity(
                &mut rng,
                pi,
                "claude_project_document_uploaded",
                at,
                vec![("claude_project_document_id", json!(did)), ("filename", json!(filename))],
            );
            clamp_activity(&mut a, now);
            new_acts.push(a);
            if self.projects[pi].updated_at < at {
                self.set_project_updated(pi, at);
            }
            let pid = self.projects[pi].id.clone();
            if !s.updated_project_ids.contains(&pid) && !s.new_project_ids.contains(&pid) {
                s.updated_project_ids.push(pid);
            }
            s.new_document_ids.push(did);
        }

        // ---- background activities in the new window, and late-indexed rows behind the
        // previously newest visible activity
        let mut late = Vec::new();
        {
            let idx = activities::FillIndex::build(self);
            let mut attempts = 0;
            let mut made = 0;
            while made < m.new_activities && attempts < m.new_activities * 4 + 16 {
                attempts += 1;
                let at = rand_between(&mut rng, lo, now);
                if let Some(a) = activities::random_activity(&mut rng, self, &self.fill, &idx, at) {
                    new_acts.push(a);
                    made += 1;
                }
            }
            if let Some(newest) = s.newest_visible_before {
                for _ in 0..m.late_activities {
                    let at = newest - rand_ms(&mut rng, 1_000, 8 * 60_000);
                    if let Some(a) = activities::random_activity(&mut rng, self, &self.fill, &idx, at) {
                        late.push(a);
                    }
                }
            }
        }
        for mut a in new_acts {
            clamp_activity(&mut a, now);
            s.new_activity_ids.push(a.id.clone());
            self.insert_activity(a);
        }
        for a in late {
            s.late_activity_ids.push(a.id.clone());
            self.insert_activity(a);
        }
        s.sessions = self.mutate_sessions(prev, now, m.session_removals);
        s.directory = self.mutate_directory(prev, now);
        s.content = self.mutate_content(prev, now);
        // the content pair is a chat appended to like any other
        s.new_message_ids.extend(s.content.new_message_ids.iter().cloned());
        if let Some(cid) = s.content.chat_id.clone() {
            if !s.appended_chat_ids.contains(&cid) && !s.new_chat_ids.contains(&cid) {
                s.appended_chat_ids.push(cid);
            }
        }
        self.now = now;
        // ---- new hidden rows for the next round
        s.hidden_activity_ids = self.add_hidden_activities(&mut rng, m.hidden_activities);
        s
    }
}

fn clamp_activity(a: &mut super::ActivityRecord, now: DateTime<Utc>) {
    if a.created_at > now {
        a.created_at = now;
        if let Some(o) = a.wire.as_object_mut() {
            o.insert("created_at".into(), json!(ids::ts_z(now)));
        }
    }
}

impl super::ProjectRecord {
    /// Project name from the wire record.
    pub fn name(&self) -> String {
        self.wire.get("name").and_then(|v| v.as_str()).unwrap_or_default().to_string()
    }
}
