//! The product event log's writer: handlers record typed events without waiting; a task stores
//! them in batches (one transaction each). While the database refuses them they are kept and
//! tried again, up to a bound; events past the bound are counted and logged as dropped, never
//! silently lost.

use chrono::Utc;
use plansmith_domain::UserId;
use plansmith_store::Store;
use plansmith_store::events::{EventKind, ProductEvent};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most events stored in one transaction.
const MAX_BATCH: usize = 500;
/// Most events kept while the database refuses them.
const MAX_PENDING: usize = 50_000;
/// How long a writer waits for more events to fill a batch.
const GATHER: Duration = Duration::from_millis(200);
/// The longest a flush waits.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

enum Command {
    Record(ProductEvent),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct ProductEvents {
    tx: mpsc::UnboundedSender<Command>,
}

impl ProductEvents {
    /// Starts the writer; it ends once every handle is dropped and the last events are stored.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(store, rx));
        Self { tx }
    }

    /// Records an event of `user` now.
    pub fn record(&self, user: UserId, kind: EventKind, name: Option<&str>, workflow: Option<&str>) {
        let event = ProductEvent {
            user,
            kind,
            name: name.map(|n| n.chars().take(100).collect()),
            workflow: workflow.map(str::to_owned),
            at: Utc::now(),
        };
        if self.tx.send(Command::Record(event)).is_err() {
            metrics::counter!("plansmith_product_events_dropped_total").increment(1);
            tracing::error!(
                kind = kind.as_str(),
                "the product event writer has stopped; an event was not recorded"
            );
        }
    }

    /// Waits until everything recorded so far is stored (before analytics read it), or for a
    /// few seconds while the database does not take them.
    pub async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).is_ok() && tokio::time::timeout(FLUSH_WAIT, stored).await.is_err() {
            tracing::warn!("product events are still waiting for the database");
        }
    }
}

async fn write_batches(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<Command>) {
    let mut pending: Vec<ProductEvent> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut failures = 0u32;
    loop {
        if pending.is_empty() && waiting.is_empty() {
            match rx.recv().await {
                Some(command) => take(command, &mut pending, &mut waiting),
                None => return,
            }
            // A moment for more to arrive, unless someone waits.
            if waiting.is_empty() {
                tokio::time::sleep(GATHER).await;
            }
        }
        while let Ok(command) = rx.try_recv() {
            take(command, &mut pending, &mut waiting);
        }
        if pending.len() > MAX_PENDING {
            let dropped = pending.len() - MAX_PENDING;
            pending.drain(..dropped);
            metrics::counter!("plansmith_product_events_dropped_total").increment(dropped as u64);
            tracing::error!(
                dropped,
                "the database has refused product events for too long; the oldest were dropped"
            );
        }
        while !pending.is_empty() {
            let size = pending.len().min(MAX_BATCH);
            let batch: Vec<ProductEvent> = pending[..size].to_vec();
            match store.record_product_events(batch).await {
                Ok(()) => {
                    pending.drain(..size);
                    failures = 0;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, pending = pending.len(), "product events not stored yet; trying again");
                    tokio::time::sleep(Duration::from_millis(200) * failures.min(25)).await;
                    break;
                }
            }
        }
        if pending.is_empty() {
            waiting.drain(..).for_each(|w| {
                let _ = w.send(());
            });
        }
    }
}

fn take(command: Command, pending: &mut Vec<ProductEvent>, waiting: &mut Vec<oneshot::Sender<()>>) {
    match command {
        Command::Record(event) => pending.push(event),
        Command::Flush(done) => waiting.push(done),
    }
}
