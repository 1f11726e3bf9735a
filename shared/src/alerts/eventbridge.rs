//! EventBridge adapter of the alerts port: `PutEvents` in batches of 10 (the API's limit), entries
//! rejected in a batch retried once, then reported.

use super::{AlertError, AlertEvent, AlertPublisher, SOURCE};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

pub struct EventBridgeAlerts {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeAlerts {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: &str) -> Self {
        EventBridgeAlerts { client, bus: bus.to_string() }
    }

    async fn put(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> Result<Vec<(PutEventsRequestEntry, String)>, AlertError> {
        let out = self.client.put_events().set_entries(Some(entries.clone())).send().await.map_err(|e| {
            use aws_sdk_eventbridge::error::ProvideErrorMetadata;
            let svc = e.as_service_error();
            let code = svc.and_then(|s| s.code()).unwrap_or("").to_string();
            AlertError::Publish {
                target: self.describe(),
                reason: format!("{}{}", if code.is_empty() { String::new() } else { format!("{code}: ") }, e),
                retryable: svc.is_none() || code.contains("Throttl") || code.contains("Internal"),
            }
        })?;
        if out.failed_entry_count() == 0 {
            return Ok(vec![]);
        }
        Ok(entries
            .into_iter()
            .zip(out.entries())
            .filter(|(_, r)| r.error_code().is_some())
            .map(|(e, r)| (e, format!("{}: {}", r.error_code().unwrap_or(""), r.error_message().unwrap_or(""))))
            .collect())
    }
}

#[async_trait]
impl AlertPublisher for EventBridgeAlerts {
    async fn publish(&self, events: &[AlertEvent]) -> Result<(), AlertError> {
        let (mut failed, mut first) = (0usize, String::new());
        for chunk in events.chunks(10) {
            let entries: Vec<PutEventsRequestEntry> = chunk
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(SOURCE)
                        .detail_type(e.detail_type)
                        .detail(e.detail.to_string())
                        .build()
                })
                .collect();
            let rejected = self.put(entries).await?;
            if rejected.is_empty() {
                continue;
            }
            let again = self.put(rejected.into_iter().map(|(e, _)| e).collect()).await?;
            if let Some((_, why)) = again.first() {
                if first.is_empty() {
                    first = why.clone();
                }
            }
            failed += again.len();
        }
        if failed > 0 {
            return Err(AlertError::Rejected { target: self.describe(), failed, total: events.len(), first });
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("EventBridge bus {:?}", self.bus)
    }
}
