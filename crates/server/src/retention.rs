//! Retention: records are kept only as long as `retention.*` says. A job inside `serve` applies
//! the periods every `retention.interval_hours` (and `plansmith retention run` once): model call
//! details are folded into anonymous monthly totals and deleted, old security events deleted,
//! idle sessions marked abandoned and abandoned ones deleted (when configured), and the audit
//! trail pruned up to a signed checkpoint. Each run is itself an audit entry. Every instance
//! runs it; a second run finds nothing left to do.

use crate::config::RetentionSettings;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use plansmith_store::audit::AuditSigner;
use plansmith_store::{Retention, RetentionReport, Store, StoreError};
use std::sync::Arc;

/// The cut-offs of these settings at `now`.
pub fn cutoffs(settings: &RetentionSettings, now: DateTime<Utc>) -> (Retention, Option<DateTime<Utc>>) {
    let before = |days: u32| (days > 0).then(|| now - Duration::days(i64::from(days)));
    (
        Retention {
            llm_calls_before: before(settings.llm_call_days),
            security_events_before: before(settings.security_event_days),
            abandon_idle_before: before(settings.abandoned_session_days),
            delete_abandoned_before: before(settings.delete_abandoned_after_days),
        },
        before(settings.audit_days),
    )
}

/// Applies the retention periods once.
pub async fn run_once(
    store: &dyn Store,
    signer: Arc<dyn AuditSigner>,
    settings: &RetentionSettings,
) -> Result<RetentionReport, StoreError> {
    let (retention, audit_before) = cutoffs(settings, Utc::now());
    let mut report = store.apply_retention(&retention).await?;
    if let Some(before) = audit_before {
        report.audit_entries = store.prune_audit(before).await?;
    }
    let summary = serde_json::to_string(&report).unwrap_or_default();
    crate::audit::record_system(store, signer, "retention.run", Some(summary)).await?;
    tracing::info!(?report, "retention applied");
    Ok(report)
}

/// Runs the job every `retention.interval_hours` until `stop` turns true; the first run comes
/// a few minutes after the start, so a restart does not run it again at once.
pub fn spawn(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let period = std::time::Duration::from_secs(u64::from(state.settings.retention.interval_hours.max(1)) * 3600);
    tokio::spawn(async move {
        let first = std::time::Duration::from_secs(60 + rand::random::<u64>() % 240);
        let mut next = tokio::time::Instant::now() + first;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if let Err(e) = run_once(state.store.as_ref(), state.keys.clone(), &state.settings.retention).await {
                tracing::error!(error = %e, "the retention job failed; it runs again at the next interval");
            }
            next += period;
        }
    });
}
