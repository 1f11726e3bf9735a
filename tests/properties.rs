//! Property: for any split of the source into pages (every family), any segment size, and a crash
//! at any commit of any stream followed by a re-run, the store equals the source, each record once.

mod common;

use common::*;
use proptest::prelude::*;
use shared::streams::failpoints::Action;
use shared::streams::{FailPoints, SyncConfig};
use shared::synthetic::MutationConfig;

const STREAMS: [&str; 5] = ["organizations", "users", "activities", "chats", "projects"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn any_paging_any_crash_point_exactly_once(
        seed in 100u64..10_000,
        activity_page in 1u32..80,
        chat_page in 1u32..12,
        message_page in 1u32..6,
        user_page in 1u32..5,
        project_page in 1u32..4,
        segment in 5usize..150,
        crash_stream in 0usize..6,
        crash_nth in 1u32..4,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let mut tc = small_tenant(seed);
            tc.activities = 120;
            let f = fake(tc, open_cfg()).await;
            let dir = tempfile::tempdir().unwrap();
            let cfg = SyncConfig {
                activity_page_size: activity_page,
                chat_page_size: chat_page,
                message_page_size: message_page,
                user_page_size: user_page,
                project_page_size: project_page,
                max_records_per_segment: segment,
                ..sync_cfg(&f)
            };
            let fp = FailPoints::none();
            if let Some(s) = STREAMS.get(crash_stream) {
                fp.set(&format!("after_write:{s}"), Action::Error, crash_nth);
            }
            let _ = run_sync(client(&f), dir.path(), cfg.clone(), fp).await;
            f.with_tenant(|t| t.mutate(&MutationConfig::default()));
            let r = run_sync(client(&f), dir.path(), cfg.clone(), FailPoints::none()).await;
            assert!(r.ok(), "{:?}", r.failures());
            assert_exactly_once(dir.path(), &f.expected()).await;
            f.shutdown().await;
        });
    }
}
