//! Scheduled backups inside `serve` (`backup.schedule`): one instance per period takes the
//! backup (a shared counter decides which), writes it to `backup.dir` and deletes the oldest
//! beyond `backup.keep`. `plansmith_backups_total{outcome}` and
//! `plansmith_backup_last_success_timestamp_seconds` let an alert notice when they stop.

use crate::state::AppState;
use plansmith_backup::{BackupKey, Database};
use std::path::PathBuf;
use std::time::Duration;

/// Starts the schedule when one is configured; stops when `stop` turns true.
pub fn spawn_scheduled(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let settings = &state.settings.backup;
    let (Ok(Some(period)), Some(key)) = (settings.period(), crate::config::given(&settings.key)) else {
        return;
    };
    // Checked with the settings at start.
    let Ok(key) = BackupKey::from_base64(key) else { return };
    let Ok(database) = Database::from_url(&state.settings.database.url) else {
        return;
    };
    let dir = PathBuf::from(&settings.dir);
    let keep = settings.keep;
    tracing::info!(every_seconds = period.as_secs(), dir = %dir.display(), keep, "scheduled backups");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            // One instance per period: the first to count it takes the backup.
            match state
                .limiter
                .take("backup:scheduled", 1, period.saturating_sub(Duration::from_secs(1)))
                .await
            {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "the shared limiter is unreachable; taking the backup here"),
            }
            take_one(&database, &key, &dir, keep).await;
        }
    });
}

async fn take_one(database: &Database, key: &BackupKey, dir: &std::path::Path, keep: usize) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::error!(dir = %dir.display(), error = %e, "scheduled backup failed: cannot create the folder");
        metrics::counter!("plansmith_backups_total", "outcome" => "failed").increment(1);
        return;
    }
    let now = chrono::Utc::now();
    let out = dir.join(plansmith_backup::scheduled_name(now));
    match plansmith_backup::create(database, key, &out).await {
        Ok(manifest) => {
            metrics::counter!("plansmith_backups_total", "outcome" => "ok").increment(1);
            metrics::gauge!("plansmith_backup_last_success_timestamp_seconds").set(now.timestamp() as f64);
            tracing::info!(file = %out.display(), rows = manifest.rows(), schema_version = manifest.schema_version, "scheduled backup taken");
            let all = plansmith_backup::scheduled_backups(dir);
            for old in all.iter().take(all.len().saturating_sub(keep)) {
                if let Err(e) = std::fs::remove_file(old) {
                    tracing::warn!(file = %old.display(), error = %e, "an old backup could not be deleted");
                }
            }
        }
        Err(e) => {
            metrics::counter!("plansmith_backups_total", "outcome" => "failed").increment(1);
            tracing::error!(error = %e, "scheduled backup failed");
        }
    }
}
