//! Generation tasks: one per reply, independent of any HTTP connection. A task builds the
//! planning context, streams the provider's output through the output-protocol parser into
//! the reply's stream log, and commits the reply with its document changes in one
//! transaction before it writes `done`. On shutdown, tasks get a grace period; the rest are
//! saved as `interrupted` with their partial text.

use crate::config::Settings;
use futures::StreamExt;
use plansmith_cache::{StreamEvent, StreamLog};
use plansmith_domain::output::{OutputParser, OutputPiece};
use plansmith_domain::planner::{PlanningContext, Turn};
use plansmith_domain::prompt::build_messages;
use plansmith_domain::{DocumentContent, MessageId, MessageStatus, SessionId, Workflows};
use plansmith_llm::{Caller, CompletionRequest, Gateway, GatewayEvent, LlmError, Usage};
use plansmith_store::{
    DocumentUpdate, EndedReply, FinishedReply, LlmCall, Message, PlanningSession, Store, StoreError,
};
use serde_json::json;
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

pub struct Generator {
    store: Arc<dyn Store>,
    log: Arc<dyn StreamLog>,
    gateway: Arc<Gateway>,
    workflows: Arc<Workflows>,
    settings: Arc<Settings>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    /// Latest partial text of streaming replies, saved together once per interval.
    checkpoints: Arc<Mutex<HashMap<MessageId, String>>>,
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
    Failed { code: &'static str, message: String },
    Interrupted,
}

impl Generator {
    pub fn new(
        store: Arc<dyn Store>,
        log: Arc<dyn StreamLog>,
        gateway: Arc<Gateway>,
        workflows: Arc<Workflows>,
        settings: Arc<Settings>,
    ) -> Self {
        let checkpoints: Arc<Mutex<HashMap<MessageId, String>>> = Arc::default();
        let cancel = CancellationToken::new();
        let interval = Duration::from_millis(settings.generation.checkpoint_interval_ms.max(1));
        // One writer saves every streaming reply's partial text per interval, in one
        // transaction: a write per reply per interval swamped the database at thousands of replies.
        let (saver_store, pending, stop) = (Arc::clone(&store), Arc::clone(&checkpoints), cancel.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = stop.cancelled() => return,
                }
                let batch: Vec<(MessageId, String)> = pending.lock().expect("checkpoints lock").drain().collect();
                if let Err(e) = saver_store.checkpoint_replies(&batch).await {
                    tracing::warn!(replies = batch.len(), error = %e, "could not save partial replies");
                }
            }
        });
        Self {
            store,
            log,
            gateway,
            workflows,
            settings,
            tracker: TaskTracker::new(),
            cancel,
            checkpoints,
        }
    }

    /// Starts generating `reply` in the background. The stream log must already be open.
    /// `paid`: the user's plan is a paid one (its replies go first when providers are busy).
    pub fn spawn(self: &Arc<Self>, session: PlanningSession, reply: Message, paid: bool) {
        let this = Arc::clone(self);
        self.tracker.spawn(async move {
            let reply_id = reply.id;
            if let Err(e) = this.run(session, reply, paid).await {
                tracing::error!(reply = %reply_id, error = %e, "generation could not be recorded");
            }
        });
    }

    /// The gateway replies are generated through.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Number of replies being generated now.
    pub fn in_flight(&self) -> usize {
        self.tracker.len()
    }

    /// Lets running generations finish within `grace`, then interrupts the rest and waits
    /// until they have saved their partial text.
    pub async fn shutdown(&self, grace: Duration) {
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            tracing::warn!(
                remaining = self.tracker.len(),
                "grace period over; interrupting replies"
            );
            self.cancel.cancel();
            self.tracker.wait().await;
        }
        // Every reply has ended and saved its text: the partial-text saver can stop too.
        self.cancel.cancel();
    }

    async fn run(&self, session: PlanningSession, reply: Message, paid: bool) -> Result<(), StoreError> {
        let context = match self.context(&session, &reply).await {
            Ok(context) => context,
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
        let outcome = self.stream(&reply, request, caller, &mut draft, &mut stats).await;
        metrics::histogram!("plansmith_reply_duration_seconds").record(stats.started.elapsed().as_secs_f64());
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
            self.append(reply.id, "token", json!({ "text": text })).await;
            draft.content.push_str(&text);
        }
        self.commit(&session, &reply, draft, &stats).await
    }

    /// Streams the gateway's output: chat text becomes `token` events, valid section blocks
    /// are collected for the commit, invalid ones become notes in the reply. A restart (the
    /// gateway retrying elsewhere after text was sent) drops everything collected so far.
    /// Returns who produced the reply.
    async fn stream(
        &self,
        reply: &Message,
        request: CompletionRequest,
        caller: Caller,
        draft: &mut Draft,
        stats: &mut CallStats,
    ) -> Result<(), Stop> {
        let step = request.context.step().clone();
        let mut stream = self.gateway.stream(request, caller);
        let mut reply_started = false;
        let mut parser = OutputParser::new();
        let interval = Duration::from_millis(self.settings.generation.checkpoint_interval_ms);
        let started = Instant::now();
        let mut last_checkpoint = started;
        // Length of the text last queued for saving (it only grows until a restart).
        let mut checkpointed = 0;
        let mut first = true;
        loop {
            let event = tokio::select! {
                _ = self.cancel.cancelled() => return Err(Stop::Interrupted),
                event = stream.next() => event,
            };
            let pieces = match event {
                Some(GatewayEvent::Admitted { provider, model }) => {
                    // The reply stays `queued` (with its queue position) until a provider takes it.
                    if reply_started {
                        continue;
                    }
                    reply_started = true;
                    match self.store.start_reply(reply.id, &provider, &model).await {
                        Ok(()) => continue,
                        // Interrupted or reset meanwhile; its state is recorded elsewhere.
                        Err(StoreError::Reply(_)) => return Err(Stop::Interrupted),
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
                    }
                    parser.push(&text)
                }
                Some(GatewayEvent::Restart { reason }) => {
                    parser = OutputParser::new();
                    *draft = Draft::default();
                    checkpointed = usize::MAX;
                    self.log
                        .append(reply.id.0, "restart", json!({ "reason": reason }))
                        .await
                        .map_err(|e| Stop::Failed {
                            code: "stream_unavailable",
                            message: format!("The reply could not be streamed ({e}). Retry it in a moment."),
                        })?;
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
                    return self.apply_pieces(reply, &step, rest, draft).await;
                }
                Some(GatewayEvent::Failed { error, attempts }) => {
                    stats.attempts = attempts.into();
                    return Err(failed(error));
                }
                None => {
                    return Err(Stop::Failed {
                        code: "provider_unavailable",
                        message: "The planning agent stopped answering. Retry the reply.".into(),
                    });
                }
            };
            self.apply_pieces(reply, &step, pieces, draft).await?;
            // Only changed text is saved: a reply drafting a section adds nothing to its chat
            // text for seconds, and thousands of such replies made thousands of idle updates.
            if last_checkpoint.elapsed() >= interval && draft.content.len() != checkpointed {
                last_checkpoint = Instant::now();
                checkpointed = draft.content.len();
                self.checkpoints
                    .lock()
                    .expect("checkpoints lock")
                    .insert(reply.id, draft.content.clone());
            }
        }
    }

    async fn apply_pieces(
        &self,
        reply: &Message,
        step: &plansmith_domain::StepDef,
        pieces: Vec<OutputPiece>,
        draft: &mut Draft,
    ) -> Result<(), Stop> {
        let max = self.settings.limits.max_section_chars;
        for piece in pieces {
            match piece {
                OutputPiece::Text(text) => {
                    self.log
                        .append(reply.id.0, "token", json!({ "text": text }))
                        .await
                        .map_err(|e| Stop::Failed {
                            code: "stream_unavailable",
                            message: format!("The reply could not be streamed ({e}). Retry it in a moment."),
                        })?;
                    draft.content.push_str(&text);
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
        Ok(())
    }

    /// Commits the reply and its document revision, then writes `section` events and `done`.
    async fn commit(
        &self,
        session: &PlanningSession,
        reply: &Message,
        draft: Draft,
        stats: &CallStats,
    ) -> Result<(), StoreError> {
        let Draft { content, updates, .. } = draft;
        let mut document_updates = Vec::new();
        if !updates.is_empty() {
            let documents = self.store.list_documents(session.id).await?;
            if let Some(doc) = documents.iter().find(|d| d.step_id == reply.step_id) {
                document_updates.push(DocumentUpdate {
                    document_id: doc.id,
                    sections: updates.clone(),
                });
            }
        }
        let events = self.events_json(reply.id).await;
        let finished = FinishedReply {
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
            // The reply was interrupted meanwhile (shutdown); its state is already recorded.
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
        for revision in &applied {
            for (section_id, _) in &updates {
                let data = json!({ "document_id": revision.document_id, "section_id": section_id, "revision": revision.revision });
                self.append(reply.id, "section", data).await;
            }
        }
        self.append(reply.id, "done", json!({ "reply_id": reply.id, "status": "complete" }))
            .await;
        self.finish_log(reply.id).await;
        Ok(())
    }

    /// Records a reply that ends without success, then closes its stream with `error`.
    async fn end(&self, reply: &Message, content: String, stop: Stop, call: Option<LlmCall>) -> Result<(), StoreError> {
        let (status, code, message) = match stop {
            Stop::Failed { code, message } => (MessageStatus::Failed, code, message),
            Stop::Interrupted => (MessageStatus::Interrupted, INTERRUPTED.0, INTERRUPTED.1.to_owned()),
        };
        let events = self.events_json(reply.id).await;
        let ended = EndedReply {
            reply_id: reply.id,
            status,
            content,
            events,
            error_code: code.to_owned(),
            error_message: message.clone(),
            call,
        };
        let saved = match self.store.end_reply(ended).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::debug!(reply = %reply.id, "the reply had already ended; its first ending stands");
                Ok(())
            }
            Err(e) => Err(e),
        };
        metrics::counter!("plansmith_replies_total", "outcome" => status.as_str()).increment(1);
        self.append(reply.id, "error", json!({ "code": code, "message": message }))
            .await;
        self.finish_log(reply.id).await;
        saved
    }

    /// Appends an event after the reply's state is saved. A failure is logged: the reply itself
    /// is committed, and a client that misses the event gets it from the saved log on reconnect.
    async fn append(&self, reply: MessageId, event: &str, data: serde_json::Value) {
        if let Err(e) = self.log.append(reply.0, event, data).await {
            tracing::warn!(reply = %reply, event, error = %e, "could not append to the reply's stream log");
        }
    }

    /// Saves the complete event log with the reply and lets the in-memory copy expire.
    async fn finish_log(&self, reply: MessageId) {
        self.checkpoints.lock().expect("checkpoints lock").remove(&reply);
        let events = self.events_json(reply).await;
        if let Err(e) = self.store.save_reply_events(reply, &events).await {
            tracing::warn!(reply = %reply, error = %e, "could not save the reply's stream events");
        }
        let ttl = Duration::from_secs(self.settings.generation.stream_retention_seconds);
        if let Err(e) = self.log.expire(reply.0, ttl).await {
            tracing::warn!(reply = %reply, error = %e, "could not schedule the stream log's expiry");
        }
    }

    async fn events_json(&self, reply: MessageId) -> String {
        let events = self.log.events(reply.0).await.ok().flatten().unwrap_or_default();
        serde_json::to_string(&events).unwrap_or_else(|_| "[]".into())
    }

    async fn context(&self, session: &PlanningSession, reply: &Message) -> Result<PlanningContext, StoreError> {
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
        let documents = self.documents(session.id).await?;
        Ok(PlanningContext {
            title: session.title.clone(),
            idea: session.idea.clone(),
            workflow,
            step_id: reply.step_id.clone(),
            documents,
            history,
        })
    }

    async fn documents(&self, session: SessionId) -> Result<BTreeMap<String, DocumentContent>, StoreError> {
        let documents = self.store.current_documents(session).await?;
        Ok(documents.into_iter().map(|doc| (doc.step_id, doc.content)).collect())
    }
}

fn failed(e: LlmError) -> Stop {
    Stop::Failed {
        code: e.code(),
        message: format!("The planning agent could not finish this reply: {e}. Retry the reply in a moment."),
    }
}

/// The events of a finished reply for replay, from its saved log; the closing event is
/// rebuilt from the reply's status when the log was not saved (e.g. after a crash).
pub fn replay_events(reply: &Message, saved: Option<&str>) -> Vec<StreamEvent> {
    let mut events: Vec<StreamEvent> = saved.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    if events.is_empty() && !reply.content.is_empty() {
        events.push(StreamEvent {
            id: 1,
            event: "token".into(),
            data: json!({ "text": reply.content }),
        });
    }
    if events.last().is_some_and(StreamEvent::is_terminal) {
        return events;
    }
    let id = events.last().map_or(1, |e| e.id + 1);
    let closing = match reply.status {
        MessageStatus::Complete => StreamEvent {
            id,
            event: "done".into(),
            data: json!({ "reply_id": reply.id, "status": "complete" }),
        },
        _ => StreamEvent {
            id,
            event: "error".into(),
            data: json!({
                "code": reply.error_code.as_deref().unwrap_or("failed"),
                "message": reply.error_message.as_deref().unwrap_or("The reply did not finish. Retry it."),
            }),
        },
    };
    events.push(closing);
    events
}
