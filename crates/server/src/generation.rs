//! Generation tasks: one per reply, independent of any HTTP connection. A task builds the
//! planning context, streams the provider's output through the output-protocol parser into
//! the reply's stream log, and commits the reply with its document changes in one
//! transaction before it writes `done`.
//!
//! Ownership: the instance generating a reply holds a lease on it in the database, renewed
//! every third of `generation.lease_seconds`; only the holder may start, save, finish or end
//! it. Every instance sweeps for replies whose lease ran out (their instance died), claims
//! each (one winner), appends `restart` and generates it again; at start-up it also claims its
//! own previous run's. A task whose lease was taken, or could not be renewed for a whole
//! lease, stops without writing anything more.
//!
//! On shutdown, tasks get a grace period; with shared state (Redis) the rest are handed over
//! (their leases released for another instance to take at once), otherwise they are saved as
//! `interrupted` with their partial text.

use crate::config::Settings;
use crate::holds::Hold;
use crate::outbox::{Outbox, SendError};
use futures::StreamExt;
use plansmith_cache::{StreamEvent, StreamLog};
use plansmith_domain::Plan;
use plansmith_domain::output::{OutputParser, OutputPiece};
use plansmith_domain::planner::{PlanningContext, Turn};
use plansmith_domain::prompt::build_messages;
use plansmith_domain::{DocumentContent, DocumentId, MessageId, MessageStatus, ReplyEvent, StepDef, Workflows};
use plansmith_llm::{Caller, CompletionRequest, Gateway, GatewayEvent, LlmError, Usage};
use plansmith_store::{
    Checkpoint, DocumentUpdate, EndedReply, FinishedReply, Lease, LlmCall, Message, Orphan, OrphanClaim,
    PlanningSession, Store, StoreError, orphan_reason,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The error code and message of a reply cut short by a restart or shutdown.
pub const INTERRUPTED: (&str, &str) = (
    "interrupted",
    "The server restarted while this reply was being written. Retry it to get a complete answer.",
);

/// How far past its last checkpointed event a reply's numbering jumps when its stream log was
/// lost with its instance (an in-process log): beyond any event the lost log can have sent
/// between two checkpoints, so a client resuming from one of those still gets every new event.
pub const LOST_LOG_GAP: u64 = 1_000_000;

/// Orphans claimed per sweep query.
const CLAIM_BATCH: u32 = 50;

pub struct Generator {
    store: Arc<dyn Store>,
    /// The platform's changes of a session's data (replies written) are audited.
    audit: crate::audit::AuditTrail,
    log: Arc<dyn StreamLog>,
    gateway: Arc<Gateway>,
    workflows: Arc<Workflows>,
    settings: Arc<Settings>,
    tracker: TaskTracker,
    /// Ends the background tasks, and at the end of the grace period interrupts the replies
    /// still running (when they are not handed over).
    cancel: CancellationToken,
    /// Stops the sweep for orphans (at the start of a shutdown).
    sweeping: CancellationToken,
    /// This instance's lease on the replies it generates.
    lease: Lease,
    /// Hand replies still running at the end of a shutdown to other instances (shared state).
    hand_over: bool,
    /// Replies generated here, each with the token that stops it without another write (its
    /// lease was lost, or it is handed over).
    running: Arc<Mutex<HashMap<MessageId, CancellationToken>>>,
    /// Latest progress of streaming replies, saved together once per interval.
    checkpoints: Arc<Mutex<HashMap<MessageId, Checkpoint>>>,
    /// The way events reach the stream log, holding them while it is unreachable.
    outbox: Arc<Outbox>,
}

/// What a reply has collected so far: its chat text, valid section updates, and notes about
/// updates that could not be applied.
#[derive(Default)]
struct Draft {
    content: String,
    updates: Vec<(String, String)>,
    notes: Vec<String>,
}

/// What the model call of one reply took, for its `llm_calls` record.
struct CallStats {
    started: Instant,
    ttft: Option<Duration>,
    attempts: i64,
    provider: String,
    model: String,
    usage: Usage,
}

impl CallStats {
    fn new((provider, model): (&str, &str)) -> Self {
        Self {
            started: Instant::now(),
            ttft: None,
            attempts: 0,
            provider: provider.to_owned(),
            model: model.to_owned(),
            usage: Usage::default(),
        }
    }

    fn record(&self, gateway: &Gateway, session: &PlanningSession, reply: &Message, outcome: &str) -> Option<LlmCall> {
        // Nothing to record when no model was called (e.g. interrupted while queued).
        if self.attempts == 0 && self.ttft.is_none() {
            return None;
        }
        Some(LlmCall {
            user_id: session.user_id,
            session_id: session.id,
            reply_id: reply.id,
            provider: self.provider.clone(),
            model: self.model.clone(),
            input_tokens: self.usage.input_tokens as i64,
            output_tokens: self.usage.output_tokens as i64,
            cost_micros: gateway.cost_micros(&self.model, self.usage),
            latency_ms: self.started.elapsed().as_millis() as i64,
            ttft_ms: self.ttft.map(|t| t.as_millis() as i64),
            attempts: self.attempts.max(1),
            outcome: outcome.to_owned(),
            created_at: chrono::Utc::now(),
        })
    }
}

/// Why a generation ended without a complete reply.
enum Stop {
    Failed {
        code: &'static str,
        message: String,
    },
    Interrupted,
    /// Another instance holds the reply now (lease lost or handed over): nothing more is
    /// written for it here.
    Released,
    /// The stream log vanished after event `last_id` (evicted, or Redis restarted empty): it is
    /// opened again and the reply so far is sent whole (see [`Generator::restore_log`]).
    LogLost {
        last_id: u64,
    },
}

impl Generator {
    /// `instance`: this instance's name on its leases; `hand_over`: replies still running at the
    /// end of a shutdown are released to other instances instead of interrupted.
    pub fn new(
        (store, audit): (Arc<dyn Store>, crate::audit::AuditTrail),
        log: Arc<dyn StreamLog>,
        gateway: Arc<Gateway>,
        workflows: Arc<Workflows>,
        settings: Arc<Settings>,
        instance: String,
        hand_over: bool,
    ) -> Self {
        let lease = Lease {
            owner: instance,
            duration: Duration::from_secs(settings.generation.lease_seconds),
        };
        Self {
            outbox: Arc::new(Outbox::new(Arc::clone(&log))),
            store,
            audit,
            log,
            gateway,
            workflows,
            settings,
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            sweeping: CancellationToken::new(),
            lease,
            hand_over,
            running: Arc::default(),
            checkpoints: Arc::default(),
        }
    }

    /// The lease this instance takes on the replies it is to generate.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Takes over this instance's own replies left by its previous run (and any other orphan),
    /// then starts the background work: saving progress, renewing leases, sweeping for orphans.
    pub async fn start(self: &Arc<Self>) -> Result<(), StoreError> {
        let resumed = self.claim_orphans(true).await?;
        if resumed > 0 {
            tracing::warn!(replies = resumed, "took over replies left unfinished by an earlier run");
        }
        self.spawn_saver();
        self.spawn_keeper();
        self.spawn_sweeper();
        Ok(())
    }

    /// One writer saves every streaming reply's progress per interval, in one transaction: a
    /// write per reply per interval swamped the database at thousands of replies.
    fn spawn_saver(self: &Arc<Self>) {
        let interval = Duration::from_millis(self.settings.generation.checkpoint_interval_ms.max(1));
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = this.cancel.cancelled() => return,
                }
                this.save_checkpoints().await;
            }
        });
    }

    async fn save_checkpoints(&self) {
        let batch: Vec<Checkpoint> = self
            .checkpoints
            .lock()
            .expect("checkpoints lock")
            .drain()
            .map(|(_, c)| c)
            .collect();
        if let Err(e) = self.store.checkpoint_replies(&self.lease.owner, &batch).await {
            tracing::warn!(replies = batch.len(), error = %e, "could not save partial replies");
        }
    }

    /// Renews this instance's leases every third of a lease. A reply missing from the renewal
    /// belongs to another instance now and stops here; when renewals fail for a whole lease,
    /// every reply stops (another instance may have taken them over meanwhile).
    fn spawn_keeper(self: &Arc<Self>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(this.lease.duration / 3);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut renewed_at = Instant::now();
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = this.cancel.cancelled() => return,
                }
                let before: Vec<MessageId> = this.running.lock().expect("running lock").keys().copied().collect();
                match this.store.renew_leases(&this.lease).await {
                    Ok(held) => {
                        renewed_at = Instant::now();
                        for reply in before.iter().filter(|r| !held.contains(r)) {
                            this.stop_here(*reply, "its lease is held by another instance now");
                        }
                    }
                    Err(e) if renewed_at.elapsed() >= this.lease.duration => {
                        tracing::error!(error = %e, "reply leases could not be renewed for a whole lease; stopping this instance's replies");
                        for reply in before {
                            this.stop_here(reply, "its lease could not be renewed");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not renew reply leases"),
                }
            }
        });
    }

    fn stop_here(&self, reply: MessageId, why: &str) {
        if let Some(token) = self.running.lock().expect("running lock").get(&reply) {
            tracing::warn!(reply = %reply, "stopping the generation here: {why}");
            token.cancel();
        }
    }

    /// Sweeps for orphaned replies every third of a lease (with jitter, so instances started
    /// together do not sweep in step).
    fn spawn_sweeper(self: &Arc<Self>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let period = this.lease.duration / 3;
            loop {
                let jitter = period.mul_f64(rand::random::<f64>() * 0.4 + 0.8);
                tokio::select! {
                    () = tokio::time::sleep(jitter) => {}
                    () = this.sweeping.cancelled() => return,
                }
                if let Err(e) = this.claim_orphans(false).await {
                    tracing::warn!(error = %e, "could not sweep for orphaned replies");
                }
            }
        });
    }

    /// Claims orphaned replies (with `own_previous`, also this instance's previous run's) and
    /// takes each over; returns how many.
    async fn claim_orphans(self: &Arc<Self>, own_previous: bool) -> Result<usize, StoreError> {
        let claim = OrphanClaim {
            lease: self.lease.clone(),
            own_previous,
            regenerate: self.settings.generation.resume_orphans,
            limit: CLAIM_BATCH,
        };
        let mut total = 0;
        loop {
            let orphans = self.store.claim_orphans(&claim).await?;
            let count = orphans.len();
            for orphan in orphans {
                self.take_over(orphan).await;
            }
            total += count;
            if count < CLAIM_BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// Continues a claimed reply's stream after every event a client may have seen, then
    /// generates it again from the start (`restart` with the reason) or, with
    /// `generation.resume_orphans = false`, ends it `interrupted` with its checkpointed text.
    async fn take_over(self: &Arc<Self>, orphan: Orphan) {
        let reason = orphan_reason(orphan.previous_owner.as_deref(), &self.lease.owner);
        let reply = orphan.reply;
        let existing = match self.log.events(reply.id.0).await {
            Ok(events) => events,
            Err(e) => return self.give_back(reply.id, &e.to_string()).await,
        };
        let last_id = match &existing {
            Some(events) => events.last().map_or(0, |e| e.id).max(orphan.last_event_id),
            None => orphan.last_event_id + LOST_LOG_GAP,
        };
        if let Err(e) = self.log.open(reply.id.0, last_id).await {
            return self.give_back(reply.id, &e.to_string()).await;
        }
        tracing::warn!(reply = %reply.id, previous = ?orphan.previous_owner, reason = %reason, "took over a reply");
        metrics::counter!("plansmith_replies_taken_over_total", "reason" => reason.to_string()).increment(1);
        if !self.settings.generation.resume_orphans {
            let content = match existing {
                // What its followers saw is what is kept.
                Some(events) => text_since_restart(&events),
                // The lost log's text is sent again whole, after a restart that clears it.
                None => {
                    let kept = orphan.checkpointed;
                    self.append(reply.id, ReplyEvent::Restart { reason }, &kept).await;
                    if !kept.is_empty() {
                        let text = kept.clone();
                        self.append(reply.id, ReplyEvent::Token { text }, &kept).await;
                    }
                    kept
                }
            };
            if let Err(e) = self.end(&reply, content, Stop::Interrupted, None).await {
                tracing::error!(reply = %reply.id, error = %e, "could not mark an orphaned reply interrupted");
            }
            return;
        }
        let restart = match self.log.append(reply.id.0, ReplyEvent::Restart { reason }).await {
            Ok(id) => id,
            Err(e) => return self.give_back(reply.id, &e.to_string()).await,
        };
        // Saved at once: a second takeover must number past this restart too.
        let checkpoint = Checkpoint {
            reply_id: reply.id,
            content: String::new(),
            last_event_id: restart,
        };
        if let Err(e) = self.store.checkpoint_replies(&self.lease.owner, &[checkpoint]).await {
            tracing::warn!(reply = %reply.id, error = %e, "could not save the restart of a reply taken over");
        }
        match self.store.get_session(orphan.user_id, reply.session_id).await {
            Ok(Some(session)) => self.spawn(session, reply, orphan.plan != Plan::Free, Vec::new()),
            Ok(None) => tracing::error!(reply = %reply.id, "the session of a reply taken over is gone"),
            Err(e) => self.give_back(reply.id, &e.to_string()).await,
        }
    }

    /// Releases a claimed reply that cannot be continued now (its stream log or the database
    /// is unavailable), for a later sweep to try again.
    async fn give_back(&self, reply: MessageId, error: &str) {
        tracing::warn!(reply = %reply, error, "could not take over a reply now; releasing it for a later sweep");
        if let Err(e) = self.store.release_leases(&self.lease.owner, &[reply]).await {
            tracing::warn!(reply = %reply, error = %e, "could not release the reply; its lease runs out by itself");
        }
    }

    /// Starts generating `reply` in the background. The stream log must already be open.
    /// `paid`: the user's plan is a paid one (its replies go first when providers are busy).
    /// Generates `reply` in the background; `held` (its user's caps and budget reservation) is
    /// given back when the generation ends.
    pub fn spawn(self: &Arc<Self>, session: PlanningSession, reply: Message, paid: bool, held: Vec<Hold>) {
        let this = Arc::clone(self);
        let released = CancellationToken::new();
        self.running
            .lock()
            .expect("running lock")
            .insert(reply.id, released.clone());
        // The reply's spans belong to the request that asked for it (when traced).
        self.tracker.spawn(tracing::Instrument::in_current_span(async move {
            let reply_id = reply.id;
            if let Err(e) = this.run(session, reply, paid, released).await {
                tracing::error!(reply = %reply_id, error = %e, "generation could not be recorded");
            }
            this.running.lock().expect("running lock").remove(&reply_id);
            this.checkpoints.lock().expect("checkpoints lock").remove(&reply_id);
            this.outbox.done(reply_id);
            drop(held);
        }));
    }

    /// Whether replies still running when this instance stops are handed over to other
    /// instances (scaled-out mode) rather than interrupted.
    pub fn hands_over(&self) -> bool {
        self.hand_over
    }

    /// The gateway replies are generated through.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Number of replies being generated now.
    pub fn in_flight(&self) -> usize {
        self.tracker.len()
    }

    /// Lets running generations finish within `grace`. Then, with shared state, stops the
    /// rest and releases their leases so other instances take them over at once; otherwise
    /// interrupts them and waits until they have saved their partial text.
    pub async fn shutdown(&self, grace: Duration) {
        self.tracker.close();
        self.sweeping.cancel();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            if self.hand_over {
                let replies: Vec<MessageId> = {
                    let running = self.running.lock().expect("running lock");
                    running.values().for_each(CancellationToken::cancel);
                    running.keys().copied().collect()
                };
                tracing::warn!(
                    replies = replies.len(),
                    "grace period over; handing replies over to other instances"
                );
                self.tracker.wait().await;
                self.save_checkpoints().await;
                match self.store.release_leases(&self.lease.owner, &replies).await {
                    Ok(released) => tracing::info!(released, "reply leases released"),
                    Err(e) => tracing::error!(error = %e, "could not release reply leases; they run out by themselves"),
                }
            } else {
                tracing::warn!(
                    remaining = self.tracker.len(),
                    "grace period over; interrupting replies"
                );
                self.cancel.cancel();
                self.tracker.wait().await;
            }
        }
        // Every reply has ended or been handed over: the background tasks can stop too.
        self.cancel.cancel();
    }

    async fn run(
        &self,
        session: PlanningSession,
        reply: Message,
        paid: bool,
        released: CancellationToken,
    ) -> Result<(), StoreError> {
        let (context, document) = match self.context(&session, &reply).await {
            Ok(found) => found,
            Err(e) => {
                let stop = Stop::Failed {
                    code: "storage_error",
                    message: "The conversation could not be loaded. Retry the reply in a moment.".into(),
                };
                self.end(&reply, String::new(), stop, None).await?;
                return Err(e);
            }
        };
        let request = CompletionRequest {
            messages: build_messages(&context),
            max_tokens: self.settings.llm.max_tokens,
            context: Arc::new(context),
        };
        let mut draft = Draft::default();
        let mut stats = CallStats::new(self.gateway.first());
        let caller = Caller {
            user: session.user_id.to_string(),
            paid,
            ticket: reply.id.to_string(),
        };
        let outcome = self
            .stream(&reply, document, request, caller, &mut draft, &mut stats, &released)
            .await;
        metrics::histogram!("plansmith_reply_duration_seconds").record(stats.started.elapsed().as_secs_f64());
        if let Err(Stop::Released) = outcome {
            self.outbox.forget(reply.id);
            return Ok(());
        }
        if let Err(stop) = outcome {
            let outcome = if matches!(stop, Stop::Interrupted) {
                "interrupted"
            } else {
                "failed"
            };
            let call = stats.record(&self.gateway, &session, &reply, outcome);
            return self.end(&reply, draft.content, stop, call).await;
        }
        for note in std::mem::take(&mut draft.notes) {
            let text = format!("\n\n_{note}_");
            draft.content.push_str(&text);
            self.append(reply.id, ReplyEvent::Token { text }, &draft.content).await;
        }
        self.commit(&session, &reply, document, draft, &stats).await
    }

    /// Streams the gateway's output: chat text becomes `token` events, section blocks being
    /// written become `section_draft` events of `document` (the step's), valid blocks are
    /// collected for the commit, invalid ones become notes in the reply. A restart (the
    /// gateway retrying elsewhere after text was sent) drops everything collected so far.
    #[allow(clippy::too_many_arguments)]
    async fn stream(
        &self,
        reply: &Message,
        document: Option<DocumentId>,
        request: CompletionRequest,
        caller: Caller,
        draft: &mut Draft,
        stats: &mut CallStats,
        released: &CancellationToken,
    ) -> Result<(), Stop> {
        let step = request.context.step().clone();
        let mut stream = self.gateway.stream(request, caller);
        let mut reply_started = false;
        let mut parser = OutputParser::new();
        let mut drafted = Drafted::default();
        let interval = Duration::from_millis(self.settings.generation.checkpoint_interval_ms);
        let started = Instant::now();
        let mut last_checkpoint = started;
        // Length of the text last queued for saving (it only grows until a restart).
        let mut checkpointed = 0;
        let mut last_id = 0;
        let mut first = true;
        // When the provider that answers took the request: what came before is our overhead.
        let mut admitted_at = started;
        loop {
            let event = tokio::select! {
                () = released.cancelled() => return Err(Stop::Released),
                () = self.cancel.cancelled() => return Err(Stop::Interrupted),
                event = stream.next() => event,
            };
            let pieces = match event {
                Some(GatewayEvent::Admitted { provider, model }) => {
                    admitted_at = Instant::now();
                    // The reply stays `queued` (with its queue position) until a provider takes it.
                    if reply_started {
                        continue;
                    }
                    reply_started = true;
                    match self
                        .store
                        .start_reply(reply.id, &self.lease.owner, &provider, &model)
                        .await
                    {
                        Ok(()) => continue,
                        // Taken over, interrupted or reset meanwhile: its state is another's now.
                        Err(StoreError::Reply(_)) => return Err(Stop::Released),
                        Err(e) => {
                            tracing::error!(reply = %reply.id, error = %e, "could not start the reply");
                            return Err(Stop::Failed {
                                code: "storage_error",
                                message: "The reply could not be started because storage is unavailable. Retry it in a moment.".into(),
                            });
                        }
                    }
                }
                Some(GatewayEvent::Text(text)) => {
                    if std::mem::take(&mut first) {
                        stats.ttft = Some(started.elapsed());
                        metrics::histogram!("plansmith_reply_first_token_seconds")
                            .record(started.elapsed().as_secs_f64());
                        // End to end minus the provider's own time to first token: waiting for
                        // admission, failed attempts and our own work.
                        metrics::histogram!("plansmith_reply_first_token_overhead_seconds")
                            .record(admitted_at.duration_since(started).as_secs_f64());
                    }
                    parser.push(&text)
                }
                Some(GatewayEvent::Restart { reason }) => {
                    parser = OutputParser::new();
                    *draft = Draft::default();
                    drafted = Drafted::default();
                    checkpointed = usize::MAX;
                    let sent = self.emit(reply.id, ReplyEvent::Restart { reason }).await;
                    last_id = self.recover(reply.id, sent, "").await?;
                    continue;
                }
                Some(GatewayEvent::Finished {
                    provider,
                    model,
                    usage,
                    attempts,
                }) => {
                    (stats.provider, stats.model, stats.usage, stats.attempts) =
                        (provider, model, usage, attempts.into());
                    let rest = std::mem::take(&mut parser).finish();
                    let applied = self.apply_pieces(reply, &step, rest, draft).await;
                    return self.recover(reply.id, applied, &draft.content).await.map(drop);
                }
                Some(GatewayEvent::Failed { error, attempts }) => {
                    stats.attempts = attempts.into();
                    return Err(failed(reply.id, error));
                }
                None => {
                    return Err(Stop::Failed {
                        code: "provider_unavailable",
                        message: "The planning agent stopped answering. Retry the reply.".into(),
                    });
                }
            };
            let committed_before = draft.updates.len();
            let applied = self.apply_pieces(reply, &step, pieces, draft).await;
            if matches!(applied, Err(Stop::LogLost { .. })) {
                drafted = Drafted::default();
            }
            last_id = self.recover(reply.id, applied, &draft.content).await?.max(last_id);
            if let Some(document_id) = document {
                let closed = &draft.updates[committed_before..];
                let drafts = drafted.changed(
                    &step,
                    closed,
                    parser.open_section(),
                    self.settings.limits.max_section_chars,
                    Instant::now(),
                );
                for (section_id, text) in drafts {
                    let event = ReplyEvent::SectionDraft {
                        document_id,
                        section_id,
                        text,
                    };
                    let sent = self.emit(reply.id, event).await;
                    if matches!(sent, Err(Stop::LogLost { .. })) {
                        drafted = Drafted::default();
                        last_id = self.recover(reply.id, sent, &draft.content).await?;
                        break;
                    }
                    last_id = sent?;
                }
            }
            // Only changed text is saved: a reply drafting a section adds nothing to its chat
            // text for seconds (only drafts), and thousands of such replies made thousands of
            // idle updates. The event number saved with it may lag behind the drafts sent since;
            // a takeover after a lost log jumps far past it anyway (`LOST_LOG_GAP`).
            if last_checkpoint.elapsed() >= interval && draft.content.len() != checkpointed {
                last_checkpoint = Instant::now();
                checkpointed = draft.content.len();
                let checkpoint = Checkpoint {
                    reply_id: reply.id,
                    content: draft.content.clone(),
                    last_event_id: last_id,
                };
                self.checkpoints
                    .lock()
                    .expect("checkpoints lock")
                    .insert(reply.id, checkpoint);
            }
        }
    }

    /// Applies output pieces to the draft; returns the number of the last event it appended
    /// (0 when none). When the log is lost midway every piece is still applied (the draft is
    /// then sent whole) and the answer is [`Stop::LogLost`].
    async fn apply_pieces(
        &self,
        reply: &Message,
        step: &StepDef,
        pieces: Vec<OutputPiece>,
        draft: &mut Draft,
    ) -> Result<u64, Stop> {
        let max = self.settings.limits.max_section_chars;
        let mut last_id = 0;
        let mut lost = None;
        for piece in pieces {
            match piece {
                OutputPiece::Text(text) => {
                    draft.content.push_str(&text);
                    if lost.is_none() {
                        match self.emit(reply.id, ReplyEvent::Token { text }).await {
                            Ok(id) => last_id = id,
                            Err(Stop::LogLost { last_id }) => lost = Some(last_id),
                            Err(stop) => return Err(stop),
                        }
                    }
                }
                OutputPiece::Section { id, content: markdown } => match step.section(&id) {
                    None => draft.notes.push(format!(
                        "The agent tried to update an unknown section '{id}' of the {}; that update was not applied.",
                        step.document_title
                    )),
                    Some(section) if markdown.trim().is_empty() => draft.notes.push(format!(
                        "The agent's draft of {} was empty and was not applied.",
                        section.title
                    )),
                    Some(section) if markdown.chars().count() > max => draft.notes.push(format!(
                        "The agent's draft of {} was longer than {max} characters and was not applied.",
                        section.title
                    )),
                    Some(_) => draft.updates.push((id, markdown)),
                },
                OutputPiece::Rejected { id, reason } => draft.notes.push(format!(
                    "A section update{} could not be applied: {reason}. The document was left unchanged.",
                    id.map(|i| format!(" for '{i}'")).unwrap_or_default()
                )),
            }
        }
        match lost {
            Some(last_id) => Err(Stop::LogLost { last_id }),
            None => Ok(last_id),
        }
    }

    /// Commits the reply and its document revision, then writes `section` events and `done`.
    async fn commit(
        &self,
        session: &PlanningSession,
        reply: &Message,
        document: Option<DocumentId>,
        draft: Draft,
        stats: &CallStats,
    ) -> Result<(), StoreError> {
        let Draft { content, updates, .. } = draft;
        let document_updates = match document {
            Some(document_id) if !updates.is_empty() => vec![DocumentUpdate {
                document_id,
                sections: updates.clone(),
            }],
            _ => Vec::new(),
        };
        let events = self.events_json(reply.id).await;
        let finished = FinishedReply {
            owner: self.lease.owner.clone(),
            provider: stats.provider.clone(),
            model: stats.model.clone(),
            reply_id: reply.id,
            content: content.clone(),
            events,
            updates: document_updates,
            call: stats.record(&self.gateway, session, reply, "complete"),
        };
        let applied = match self.store.finish_reply(finished).await {
            Ok(applied) => applied,
            // Another instance holds the reply now; its state is recorded there.
            Err(StoreError::Reply(_)) => return Ok(()),
            Err(e) => {
                let stop = Stop::Failed {
                    code: "storage_error",
                    message: "The reply could not be saved. Retry it in a moment.".into(),
                };
                self.end(reply, content, stop, None).await?;
                return Err(e);
            }
        };
        metrics::counter!("plansmith_replies_total", "outcome" => MessageStatus::Complete.as_str()).increment(1);
        self.audit_reply(session, reply, "sessions.replies.write");
        for revision in &applied {
            for (section_id, _) in &updates {
                let event = ReplyEvent::Section {
                    document_id: revision.document_id,
                    section_id: section_id.clone(),
                    revision: revision.revision,
                };
                self.append(reply.id, event, &content).await;
            }
        }
        let done = ReplyEvent::Done {
            reply_id: reply.id,
            status: MessageStatus::Complete,
        };
        self.append(reply.id, done, &content).await;
        self.finish_log(reply.id).await;
        Ok(())
    }

    /// Records the platform's change of a session's data.
    fn audit_reply(&self, session: &PlanningSession, reply: &Message, action: &str) {
        let mut entry = plansmith_store::audit::NewAuditEntry::new(plansmith_store::audit::AuditActor::System, action);
        entry.user_id = Some(session.user_id);
        entry.session_id = Some(session.id);
        entry.object = Some(reply.id.to_string());
        self.audit.record(entry);
    }

    /// Records a reply that ends without success, then closes its stream with `error`.
    async fn end(&self, reply: &Message, content: String, stop: Stop, call: Option<LlmCall>) -> Result<(), StoreError> {
        let (status, code, message) = match stop {
            Stop::Failed { code, message } => (MessageStatus::Failed, code, message),
            Stop::Interrupted => (MessageStatus::Interrupted, INTERRUPTED.0, INTERRUPTED.1.to_owned()),
            Stop::Released => return Ok(()),
            // Not reached: a lost log is restored where it is found.
            Stop::LogLost { .. } => (
                MessageStatus::Failed,
                "stream_unavailable",
                "The reply's stream was lost. Retry it in a moment.".to_owned(),
            ),
        };
        let events = self.events_json(reply.id).await;
        let ended = EndedReply {
            reply_id: reply.id,
            owner: self.lease.owner.clone(),
            status,
            content: content.clone(),
            events,
            error_code: code.to_owned(),
            error_message: message.clone(),
            call,
        };
        let saved = match self.store.end_reply(ended).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                // Another instance holds it now (or it ended already): its stream is theirs.
                tracing::debug!(reply = %reply.id, "the reply is no longer this instance's; its ending stands elsewhere");
                return Ok(());
            }
            Err(e) => Err(e),
        };
        metrics::counter!("plansmith_replies_total", "outcome" => status.as_str()).increment(1);
        let error = ReplyEvent::Error {
            code: code.to_owned(),
            message,
        };
        self.append(reply.id, error, &content).await;
        self.finish_log(reply.id).await;
        saved
    }

    /// Appends an event while the reply is generated and returns the number of the last event
    /// appended: events wait while the log is unreachable, and a reply whose log stays away
    /// for too long fails.
    async fn emit(&self, reply: MessageId, event: ReplyEvent) -> Result<u64, Stop> {
        self.outbox.send(reply, event).await.map_err(|e| match e {
            SendError::Lost { last_id } => Stop::LogLost { last_id },
            SendError::Overflow { .. } => {
                tracing::warn!(reply = %reply, error = %e, "the reply could not be streamed");
                Stop::Failed {
                    code: "stream_unavailable",
                    message: "The reply could not be streamed. Retry it in a moment.".into(),
                }
            }
        })
    }

    /// Passes on what `emit` answered, except a lost log, which is opened again and given the
    /// reply so far (`content`) whole.
    async fn recover(&self, reply: MessageId, sent: Result<u64, Stop>, content: &str) -> Result<u64, Stop> {
        match sent {
            Err(Stop::LogLost { last_id }) => self.restore_log(reply, last_id, content).await,
            other => other,
        }
    }

    /// Opens a lost log again after the last event appended to it and sends the reply so far
    /// whole, after a `restart` that tells followers to drop what they showed (they may have
    /// missed events the log lost).
    async fn restore_log(&self, reply: MessageId, last_id: u64, content: &str) -> Result<u64, Stop> {
        tracing::warn!(reply = %reply, last_id, "the reply's stream log was lost; opening it again with the reply so far");
        metrics::counter!("plansmith_stream_logs_restored_total").increment(1);
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::warn!(reply = %reply, error = %e, "the reply's stream log could not be opened again");
            Stop::Failed {
                code: "stream_unavailable",
                message: "The reply could not be streamed. Retry it in a moment.".into(),
            }
        };
        self.log.open(reply.0, last_id).await.map_err(|e| unavailable(&e))?;
        let restart = ReplyEvent::Restart {
            reason: plansmith_domain::RestartReason::StreamLost,
        };
        let mut id = self.outbox.send(reply, restart).await.map_err(|e| unavailable(&e))?;
        if !content.is_empty() {
            let token = ReplyEvent::Token {
                text: content.to_owned(),
            };
            id = self.outbox.send(reply, token).await.map_err(|e| unavailable(&e))?;
        }
        Ok(id)
    }

    /// Appends an event outside the generation's stream (notes, the commit's events, the
    /// ending), `content` being the reply's text so far. A failure is logged: the reply itself
    /// is saved, and a client that misses the event gets it from the saved log on reconnect.
    async fn append(&self, reply: MessageId, event: ReplyEvent, content: &str) {
        let name = event.name();
        let sent = match self.outbox.send(reply, event.clone()).await {
            Err(SendError::Lost { last_id }) => match self.restore_log(reply, last_id, content).await {
                Ok(_) => self.outbox.send(reply, event).await,
                Err(_) => Err(SendError::Lost { last_id }),
            },
            other => other,
        };
        if let Err(e) = sent {
            tracing::warn!(reply = %reply, event = name, error = %e, "could not append to the reply's stream log");
        }
    }

    /// Saves the complete event log with the reply and lets the live copy expire; when events
    /// still wait for the log, that happens once they are appended.
    async fn finish_log(&self, reply: MessageId) {
        self.checkpoints.lock().expect("checkpoints lock").remove(&reply);
        let (outbox, log, store) = (Arc::clone(&self.outbox), Arc::clone(&self.log), Arc::clone(&self.store));
        let ttl = Duration::from_secs(self.settings.generation.stream_retention_seconds);
        let close = async move {
            if outbox.holds(reply) && !outbox.drain(reply, ttl).await {
                return;
            }
            match log.events(reply.0).await {
                Ok(Some(events)) => {
                    let events = serde_json::to_string(&events).unwrap_or_else(|_| "[]".into());
                    if let Err(e) = store.save_reply_events(reply, &events).await {
                        tracing::warn!(reply = %reply, error = %e, "could not save the reply's stream events");
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(reply = %reply, error = %e, "could not read the reply's stream log to save it")
                }
            }
            if let Err(e) = log.expire(reply.0, ttl).await {
                tracing::warn!(reply = %reply, error = %e, "could not schedule the stream log's expiry");
            }
        };
        if self.outbox.holds(reply) {
            tokio::spawn(close);
        } else {
            close.await;
        }
    }

    async fn events_json(&self, reply: MessageId) -> String {
        let events = self.log.events(reply.0).await.ok().flatten().unwrap_or_default();
        serde_json::to_string(&events).unwrap_or_else(|_| "[]".into())
    }

    /// The planning context of a reply and the id of its step's document.
    async fn context(
        &self,
        session: &PlanningSession,
        reply: &Message,
    ) -> Result<(PlanningContext, Option<DocumentId>), StoreError> {
        let workflow = self
            .workflows
            .get(&session.workflow_id)
            .cloned()
            .ok_or_else(|| StoreError::Integrity(format!("unknown workflow '{}'", session.workflow_id)))?;
        let history = self
            .store
            .list_messages(session.id)
            .await?
            .into_iter()
            .filter(|m| {
                m.seq < reply.seq
                    && (m.status == MessageStatus::Complete || m.role == plansmith_domain::MessageRole::User)
            })
            .map(|m| Turn {
                role: m.role,
                step_id: m.step_id,
                content: m.content,
            })
            .collect();
        let snapshots = self.store.current_documents(session.id).await?;
        let document = snapshots.iter().find(|d| d.step_id == reply.step_id).map(|d| d.id);
        let documents: BTreeMap<String, DocumentContent> =
            snapshots.into_iter().map(|doc| (doc.step_id, doc.content)).collect();
        let context = PlanningContext {
            title: session.title.clone(),
            idea: session.idea.clone(),
            workflow,
            step_id: reply.step_id.clone(),
            documents,
            history,
        };
        Ok((context, document))
    }
}

/// A reply the model could not finish. The message is chosen by the kind of error: the
/// provider's own text (which can hold the tail of an API key or internal addresses) is
/// logged, never shown.
fn failed(reply: MessageId, e: LlmError) -> Stop {
    tracing::warn!(reply = %reply, code = e.code(), error = %e, "reply failed: the model call failed");
    Stop::Failed {
        code: e.code(),
        message: format!(
            "The planning agent could not finish this reply: {}. Retry the reply in a moment.",
            e.public_reason()
        ),
    }
}

/// The chat text of a reply's events since its last restart (what a client shows).
fn text_since_restart(events: &[StreamEvent]) -> String {
    let start = events
        .iter()
        .rposition(|e| matches!(e.event, ReplyEvent::Restart { .. }))
        .map_or(0, |i| i + 1);
    events[start..]
        .iter()
        .filter_map(|e| match &e.event {
            ReplyEvent::Token { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// The events of a finished reply for replay, from its saved log; the closing event is
/// rebuilt from the reply's status when the log was not saved (e.g. after a crash).
pub fn replay_events(reply: &Message, saved: Option<&str>) -> Vec<StreamEvent> {
    let mut events: Vec<StreamEvent> = saved.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    if events.is_empty() && !reply.content.is_empty() {
        events.push(StreamEvent {
            id: 1,
            event: ReplyEvent::Token {
                text: reply.content.clone(),
            },
        });
    }
    if events.last().is_some_and(StreamEvent::is_terminal) {
        return events;
    }
    let id = events.last().map_or(1, |e| e.id + 1);
    let event = match reply.status {
        MessageStatus::Complete => ReplyEvent::Done {
            reply_id: reply.id,
            status: MessageStatus::Complete,
        },
        _ => ReplyEvent::Error {
            code: reply.error_code.clone().unwrap_or_else(|| "failed".into()),
            message: reply
                .error_message
                .clone()
                .unwrap_or_else(|| "The reply did not finish. Retry it.".into()),
        },
    };
    events.push(StreamEvent { id, event });
    events
}

/// The section drafts sent for a reply (since its last restart), so a draft is only sent when
/// the section's text changed.
#[derive(Default)]
struct Drafted {
    sent: HashMap<String, String>,
    /// When the text of a block still open may be sent again.
    next_open: Option<Instant>,
}

/// How often the text of a section still being written is sent: each draft carries the whole
/// text so far (a client that resumes needs nothing older), so drafts on every piece of output
/// would grow a reply's log with the square of the section's length.
const OPEN_DRAFT_INTERVAL: Duration = Duration::from_millis(500);

impl Drafted {
    /// The drafts to send after one piece of output: the final text of blocks that closed in it
    /// (their committed `section` events come only with the reply's commit) and, at most once per
    /// `OPEN_DRAFT_INTERVAL`, the text so far of the block still open; at most one per section,
    /// for sections of the step that are within the size limit.
    fn changed(
        &mut self,
        step: &StepDef,
        closed: &[(String, String)],
        open: Option<(&str, &str)>,
        max_chars: usize,
        now: Instant,
    ) -> Vec<(String, String)> {
        let open_due = self.next_open.is_none_or(|due| now >= due);
        let open = open.filter(|(id, text)| {
            open_due && step.section(id).is_some() && (text.len() <= max_chars || text.chars().count() <= max_chars)
        });
        let candidates: Vec<(&str, &str)> = closed
            .iter()
            .map(|(id, text)| (id.as_str(), text.as_str()))
            .chain(open)
            .collect();
        let mut drafts = Vec::new();
        for (i, &(id, text)) in candidates.iter().enumerate() {
            let superseded = candidates[i + 1..].iter().any(|(later, _)| *later == id);
            if superseded || text.trim().is_empty() || self.sent.get(id).is_some_and(|sent| sent == text) {
                continue;
            }
            self.sent.insert(id.to_owned(), text.to_owned());
            drafts.push((id.to_owned(), text.to_owned()));
            if open.is_some() && i == candidates.len() - 1 {
                self.next_open = Some(now + OPEN_DRAFT_INTERVAL);
            }
        }
        drafts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plansmith_domain::SectionDef;

    fn step() -> StepDef {
        let section = |id: &str| SectionDef {
            id: id.into(),
            title: id.into(),
            purpose: String::new(),
            questions: Vec::new(),
            template: String::new(),
        };
        StepDef {
            id: "vision".into(),
            title: "Vision".into(),
            role: String::new(),
            document_title: "Vision".into(),
            intro: String::new(),
            sections: vec![section("summary"), section("goals")],
        }
    }

    /// A moment past the draft interval of every earlier call: these tests are about which
    /// drafts, not when.
    fn later() -> Instant {
        static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Instant::now() + OPEN_DRAFT_INTERVAL * 2 * n
    }

    fn pair(id: &str, text: &str) -> (String, String) {
        (id.to_owned(), text.to_owned())
    }

    #[test]
    fn drafts_are_sent_once_per_section_per_piece_and_only_when_changed() {
        let (step, mut drafted) = (step(), Drafted::default());
        assert_eq!(
            drafted.changed(&step, &[], Some(("summary", "Pla")), 100, later()),
            [pair("summary", "Pla")]
        );
        assert_eq!(drafted.changed(&step, &[], Some(("summary", "Pla")), 100, later()), []);
        // The block closed and a second block for the same section opened in the same piece.
        let closed = [pair("summary", "Plans.")];
        assert_eq!(
            drafted.changed(&step, &closed, Some(("summary", "New")), 100, later()),
            [pair("summary", "New")]
        );
        let closed = [pair("summary", "New text."), pair("goals", "Grow.")];
        assert_eq!(
            drafted.changed(&step, &closed, None, 100, later()),
            [pair("summary", "New text."), pair("goals", "Grow.")]
        );
    }

    #[test]
    fn the_text_of_an_open_section_is_sent_at_most_once_per_interval() {
        let (step, mut drafted) = (step(), Drafted::default());
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(
            drafted.changed(&step, &[], Some(("summary", "Pl")), 100, at(0)),
            [pair("summary", "Pl")]
        );
        assert_eq!(drafted.changed(&step, &[], Some(("summary", "Pla")), 100, at(100)), []);
        assert_eq!(
            drafted.changed(&step, &[], Some(("summary", "Plan")), 100, at(500)),
            [pair("summary", "Plan")]
        );
        // A block that closes sends its final text at once.
        let closed = [pair("summary", "Plans.")];
        assert_eq!(
            drafted.changed(&step, &closed, None, 100, at(600)),
            [pair("summary", "Plans.")]
        );
    }

    #[test]
    fn no_drafts_for_unknown_empty_or_oversized_sections() {
        let (step, mut drafted) = (step(), Drafted::default());
        assert_eq!(drafted.changed(&step, &[], Some(("pricing", "Free")), 100, later()), []);
        assert_eq!(drafted.changed(&step, &[], Some(("goals", "\n")), 100, later()), []);
        assert_eq!(drafted.changed(&step, &[], Some(("goals", "ééé")), 2, later()), []);
        assert_eq!(
            drafted.changed(&step, &[], Some(("goals", "ééé")), 3, later()),
            [pair("goals", "ééé")]
        );
    }
}
