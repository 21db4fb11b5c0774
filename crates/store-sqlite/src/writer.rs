//! The single SQLite writer: one thread owns the write connection and runs each write
//! operation whole, so an operation is one hand-over between threads however many statements
//! it has. Operations that queued meanwhile commit together (group commit): each runs in a
//! savepoint of one transaction, so a failing operation leaves the others untouched, and every
//! caller hears back only after the commit that made its change durable.

use plansmith_store::{Result, StoreError};
use rusqlite::{Connection, ErrorCode};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most operations one transaction takes, so one commit never holds a caller for long.
const MAX_BATCH: usize = 256;

pub(crate) fn sql_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Duplicate
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Database(e.to_string()),
    }
}

/// One queued write operation, type-erased for the channel.
trait Job: Send {
    fn queued_at(&self) -> Instant;
    /// Runs the operation; false when it failed (its changes are then rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Hands the outcome to the caller once the batch's commit is known.
    fn deliver(self: Box<Self>, committed: std::result::Result<(), &StoreError>);
    /// Answers without running: the operation waited too long or the batch could not start.
    fn refuse(self: Box<Self>, error: StoreError);
}

struct Pending<T, F> {
    work: Option<F>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
    queued_at: Instant,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T> + Send,
{
    fn queued_at(&self) -> Instant {
        self.queued_at
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|_| {
            tracing::error!("a database write panicked; it was rolled back");
            Err(StoreError::Database(
                "the write failed unexpectedly and was rolled back".into(),
            ))
        });
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn deliver(self: Box<Self>, committed: std::result::Result<(), &StoreError>) {
        let outcome = match (self.outcome, committed) {
            (Some(Ok(_)), Err(e)) => Err(StoreError::Database(format!("the change could not be committed: {e}"))),
            (Some(outcome), _) => outcome,
            (None, _) => Err(StoreError::Database("the write did not run".into())),
        };
        // The caller may have gone away (its request was cancelled); the outcome is then unread.
        let _ = self.reply.send(outcome);
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        // As in `deliver`: a caller that went away does not read the refusal.
        let _ = self.reply.send(Err(error));
    }
}

enum Command {
    Job(Box<dyn Job>),
    Close(oneshot::Sender<()>),
}

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    commands: mpsc::Sender<Command>,
    queued: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread on `conn`. An operation still queued after `max_wait` is
    /// refused as `Unavailable` (the caller gets a retryable error instead of a long wait).
    pub(crate) fn start(conn: Connection, max_wait: Duration) -> std::io::Result<Self> {
        let (commands, receiver) = mpsc::channel();
        let queued = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&queued);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve(&conn, &receiver, &counter, max_wait))?;
        Ok(Self { commands, queued })
    }

    /// Runs `work` on the write connection inside a transaction; returns after the commit.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Pending {
            work: Some(work),
            outcome: None,
            reply,
            queued_at: Instant::now(),
        };
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.commands.send(Command::Job(Box::new(job))).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Unavailable("the database is closed".into()));
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the database closed before the write finished".into()))?
    }

    /// Operations waiting for or being run by the writer now.
    pub(crate) fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Finishes the queued operations, then closes the connection.
    pub(crate) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.commands.send(Command::Close(done)).is_ok() {
            // An error means the thread is gone already, which is what closing wants.
            let _ = closed.await;
        }
    }
}

fn serve(conn: &Connection, receiver: &mpsc::Receiver<Command>, queued: &AtomicU64, max_wait: Duration) {
    let mut closing = None;
    while closing.is_none() {
        let Ok(first) = receiver.recv() else { return };
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Job(job) => batch.push(job),
                Command::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = receiver.try_recv().ok();
            }
        }
        let taken = batch.len() as u64;
        let (live, late): (Vec<_>, Vec<_>) = batch.into_iter().partition(|job| job.queued_at().elapsed() <= max_wait);
        for job in late {
            job.refuse(StoreError::Unavailable(format!(
                "the database had more writes queued than it could take within {} ms",
                max_wait.as_millis()
            )));
        }
        run_batch(conn, live);
        queued.fetch_sub(taken, Ordering::Relaxed);
    }
    if let Some(done) = closing {
        // Whoever asked to close may have stopped waiting; the thread ends either way.
        let _ = done.send(());
    }
}

fn run_batch(conn: &Connection, mut batch: Vec<Box<dyn Job>>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let error = sql_err(e);
        tracing::warn!(error = %error, "could not start a write transaction");
        for job in batch {
            job.refuse(match &error {
                StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
                other => StoreError::Database(other.to_string()),
            });
        }
        return;
    }
    let single = batch.len() == 1;
    let mut any_ok = false;
    for job in &mut batch {
        if single {
            any_ok = job.run(conn);
            continue;
        }
        let ok = conn.execute_batch("SAVEPOINT op").is_ok() && job.run(conn);
        let closed = if ok {
            conn.execute_batch("RELEASE op")
        } else {
            conn.execute_batch("ROLLBACK TO op; RELEASE op")
        };
        if let Err(e) = closed {
            tracing::error!(error = %e, "could not close a write's savepoint");
        }
        any_ok |= ok;
    }
    let committed = if any_ok {
        conn.execute_batch("COMMIT").map_err(sql_err)
    } else {
        conn.execute_batch("ROLLBACK").map_err(sql_err)
    };
    if let Err(e) = &committed {
        tracing::error!(error = %e, "a write transaction did not commit; its writes are rolled back");
        if !conn.is_autocommit()
            && let Err(e) = conn.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %e, "could not roll back the failed write transaction");
        }
    }
    for job in batch {
        job.deliver(committed.as_ref().map(|_| ()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).expect("open");
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS t (x INTEGER UNIQUE);")
            .expect("schema");
        conn
    }

    fn values(path: &std::path::Path) -> Vec<i64> {
        let conn = Connection::open(path).expect("open");
        let mut s = conn.prepare("SELECT x FROM t ORDER BY x").expect("prepare");
        s.query_map([], |r| r.get(0))
            .expect("query")
            .map(|v| v.expect("row"))
            .collect()
    }

    fn insert(conn: &Connection, x: i64) -> Result<()> {
        conn.execute("INSERT INTO t (x) VALUES (?)", [x]).map_err(sql_err)?;
        Ok(())
    }

    /// Holds the writer busy so that the writes sent meanwhile queue up and run as one batch.
    async fn hold(writer: &Writer, for_ms: u64) -> tokio::task::JoinHandle<Result<()>> {
        let writer = writer.clone();
        let held = tokio::spawn(async move {
            writer
                .run(move |_| {
                    std::thread::sleep(Duration::from_millis(for_ms));
                    Ok(())
                })
                .await
        });
        // Lets the spawned task send its write first.
        tokio::time::sleep(Duration::from_millis(20)).await;
        held
    }

    /// Waits until `n` operations are queued or running: the writes of a test are then queued
    /// in the order it sent them, however busy the machine is.
    async fn queued_up(writer: &Writer, n: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while writer.queued() < n {
            assert!(std::time::Instant::now() < deadline, "the writes were not queued");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn a_failing_write_in_a_batch_is_rolled_back_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("w.db");
        let writer = Writer::start(open(&path), Duration::from_secs(5)).expect("writer");
        let held = hold(&writer, 600).await;
        let first = tokio::spawn({
            let w = writer.clone();
            async move { w.run(|c| insert(c, 1)).await }
        });
        queued_up(&writer, 2).await;
        // Writes 3, then fails on the duplicate 1: its 3 must not be kept.
        let failing = tokio::spawn({
            let w = writer.clone();
            async move { w.run(|c| insert(c, 3).and_then(|()| insert(c, 1))).await }
        });
        queued_up(&writer, 3).await;
        let panicking = tokio::spawn({
            let w = writer.clone();
            async move {
                w.run(|c| -> Result<()> {
                    insert(c, 4)?;
                    panic!("a bug in a write")
                })
                .await
            }
        });
        queued_up(&writer, 4).await;
        let last = tokio::spawn({
            let w = writer.clone();
            async move { w.run(|c| insert(c, 2)).await }
        });
        queued_up(&writer, 5).await;
        held.await.expect("join").expect("hold");
        first.await.expect("join").expect("first write");
        assert!(matches!(failing.await.expect("join"), Err(StoreError::Duplicate)));
        assert!(matches!(panicking.await.expect("join"), Err(StoreError::Database(_))));
        last.await.expect("join").expect("last write");
        assert_eq!(values(&path), vec![1, 2]);
        // The writer keeps serving after a failure and a panic.
        writer.run(|c| insert(c, 5)).await.expect("later write");
        assert_eq!(values(&path), vec![1, 2, 5]);
        // The count drops just after the batch's answers are sent.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while writer.queued() != 0 {
            assert!(std::time::Instant::now() < deadline, "nothing stays queued");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        writer.close().await;
        assert!(matches!(
            writer.run(|c| insert(c, 6)).await,
            Err(StoreError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn writes_queued_past_the_limit_are_refused_without_running() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("w.db");
        let writer = Writer::start(open(&path), Duration::from_millis(50)).expect("writer");
        let held = hold(&writer, 300).await;
        let late = writer.run(|c| insert(c, 1)).await;
        held.await.expect("join").expect("hold");
        match late {
            Err(StoreError::Unavailable(message)) => assert!(message.contains("50 ms"), "{message}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(values(&path).is_empty());
        writer.run(|c| insert(c, 2)).await.expect("write in time");
        assert_eq!(values(&path), vec![2]);
    }
}
