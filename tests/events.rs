//! The sample events in `events/` parse as the function inputs they are for.

use shared::serverless::JobMessage;

#[test]
fn sample_worker_events_carry_valid_job_messages() {
    for f in ["events/worker-sqs-activities.json", "events/worker-sqs-batch.json"] {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let recs = v["Records"].as_array().unwrap();
        assert!(!recs.is_empty());
        for r in recs {
            let m: JobMessage =
                serde_json::from_str(r["body"].as_str().unwrap()).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(m.run_id.starts_with("sched-"));
            assert!(r["attributes"]["ApproximateReceiveCount"].as_str().is_some());
        }
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("events/scheduler-eventbridge.json").unwrap()).unwrap();
    assert!(shared::time::Timestamp::parse(s["time"].as_str().unwrap()).is_ok());
    // the remote-sessions rule's event (what its input transformer builds): a time and a stream subset
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("events/scheduler-remote-sessions.json").unwrap()).unwrap();
    assert!(shared::time::Timestamp::parse(r["time"].as_str().unwrap()).is_ok());
    let only: Vec<String> =
        r["detail"]["streams"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let deployed = shared::sync::StreamSelection::default();
    let sel = shared::serverless::scheduler::event_streams(&deployed, Some(&only)).unwrap();
    assert_eq!(sel.0, vec!["remote_sessions".to_string()]);
}
