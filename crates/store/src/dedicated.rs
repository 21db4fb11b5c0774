//! A store whose operations run on a thread of their own. A SQLite transaction holds the one
//! writer across several statements, and between statements its task must be scheduled again:
//! on the request runtime, behind thousands of busy streaming tasks, that took milliseconds per
//! statement and the writer queue grew to seconds. On a runtime that does nothing but database
//! work the next statement follows at once.

use crate::{
    AppliedRevision, DocumentSnapshot, DocumentSummary, EndedReply, FinishedReply, LlmCall, Message, NewSession,
    NewUser, PlanningSession, PoolStats, PostedMessage, Result, RevisionInfo, StepAdvance, Store, StoreError,
    UsageTotals, User,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use plansmith_domain::{DocumentId, Email, MessageId, Role, SessionId, SessionStatus, UserId};
use std::future::Future;
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Runs every operation of `S` on a single-threaded runtime in a thread of its own. The store
/// is opened on that runtime too, so its connection pool's background tasks live there.
pub struct DedicatedStore<S> {
    inner: Arc<S>,
    handle: Handle,
    /// Ends the thread when the store is dropped.
    _stop: oneshot::Sender<()>,
}

impl<S: Store> DedicatedStore<S> {
    /// Starts the thread `name` and opens the store on it with `open`.
    pub async fn start<F, Fut>(name: &str, open: F) -> Result<Self>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot start the database runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // Either a stop signal or the sender dropped ends the thread.
                let _ = runtime.block_on(stopped);
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the database thread: {e}")))?;
        let inner = handle.spawn(open()).await.map_err(joined)??;
        Ok(Self {
            inner: Arc::new(inner),
            handle,
            _stop: stop,
        })
    }

    async fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(Arc<S>) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn(f(Arc::clone(&self.inner))).await.map_err(joined)?
    }
}

fn joined(e: tokio::task::JoinError) -> StoreError {
    if e.is_panic() {
        StoreError::Database(format!("a database operation failed unexpectedly: {e}"))
    } else {
        StoreError::Unavailable("the database thread has stopped".into())
    }
}

#[async_trait]
impl<S: Store> Store for DedicatedStore<S> {
    fn pool_stats(&self) -> PoolStats {
        self.inner.pool_stats()
    }

    async fn ping(&self) -> Result<()> {
        self.run(|s| async move { s.ping().await }).await
    }

    async fn migrate(&self) -> Result<usize> {
        self.run(|s| async move { s.migrate().await }).await
    }

    async fn create_user(&self, new: NewUser) -> Result<User> {
        self.run(|s| async move { s.create_user(new).await }).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>> {
        let email = email.clone();
        self.run(|s| async move { s.user_by_email(&email).await }).await
    }

    async fn set_user_role(&self, email: &Email, role: Role) -> Result<bool> {
        let email = email.clone();
        self.run(|s| async move { s.set_user_role(&email, role).await }).await
    }

    async fn create_auth_token(&self, token_hash: &[u8], user: UserId, expires_at: DateTime<Utc>) -> Result<()> {
        let token_hash = token_hash.to_vec();
        self.run(|s| async move { s.create_auth_token(&token_hash, user, expires_at).await })
            .await
    }

    async fn user_by_token(&self, token_hash: &[u8], now: DateTime<Utc>) -> Result<Option<User>> {
        let token_hash = token_hash.to_vec();
        self.run(|s| async move { s.user_by_token(&token_hash, now).await })
            .await
    }

    async fn delete_auth_token(&self, token_hash: &[u8]) -> Result<()> {
        let token_hash = token_hash.to_vec();
        self.run(|s| async move { s.delete_auth_token(&token_hash).await })
            .await
    }

    async fn create_session(&self, new: NewSession) -> Result<PlanningSession> {
        self.run(|s| async move { s.create_session(new).await }).await
    }

    async fn list_sessions(&self, user: UserId, before: Option<SessionId>, limit: u32) -> Result<Vec<PlanningSession>> {
        self.run(|s| async move { s.list_sessions(user, before, limit).await })
            .await
    }

    async fn get_session(&self, user: UserId, id: SessionId) -> Result<Option<PlanningSession>> {
        self.run(|s| async move { s.get_session(user, id).await }).await
    }

    async fn complete_step(&self, id: SessionId, step_id: &str, advance: StepAdvance) -> Result<PlanningSession> {
        let step_id = step_id.to_owned();
        self.run(|s| async move { s.complete_step(id, &step_id, advance).await })
            .await
    }

    async fn set_session_status(&self, id: SessionId, status: SessionStatus) -> Result<PlanningSession> {
        self.run(|s| async move { s.set_session_status(id, status).await })
            .await
    }

    async fn post_message(
        &self,
        session: SessionId,
        step_id: &str,
        content: &str,
        client_key: Option<&str>,
    ) -> Result<PostedMessage> {
        let (step_id, content, client_key) = (step_id.to_owned(), content.to_owned(), client_key.map(str::to_owned));
        self.run(|s| async move { s.post_message(session, &step_id, &content, client_key.as_deref()).await })
            .await
    }

    async fn list_messages(&self, session: SessionId) -> Result<Vec<Message>> {
        self.run(|s| async move { s.list_messages(session).await }).await
    }

    async fn get_message(&self, session: SessionId, id: MessageId) -> Result<Option<Message>> {
        self.run(|s| async move { s.get_message(session, id).await }).await
    }

    async fn reply_events(&self, reply: MessageId) -> Result<Option<String>> {
        self.run(|s| async move { s.reply_events(reply).await }).await
    }

    async fn start_reply(&self, reply: MessageId, provider: &str, model: &str) -> Result<()> {
        let (provider, model) = (provider.to_owned(), model.to_owned());
        self.run(|s| async move { s.start_reply(reply, &provider, &model).await })
            .await
    }

    async fn checkpoint_replies(&self, partial: &[(MessageId, String)]) -> Result<()> {
        let partial = partial.to_vec();
        self.run(|s| async move { s.checkpoint_replies(&partial).await }).await
    }

    async fn finish_reply(&self, finished: FinishedReply) -> Result<Vec<AppliedRevision>> {
        self.run(|s| async move { s.finish_reply(finished).await }).await
    }

    async fn end_reply(&self, ended: EndedReply) -> Result<()> {
        self.run(|s| async move { s.end_reply(ended).await }).await
    }

    async fn save_reply_events(&self, reply: MessageId, events: &str) -> Result<()> {
        let events = events.to_owned();
        self.run(|s| async move { s.save_reply_events(reply, &events).await })
            .await
    }

    async fn reset_reply(&self, reply: MessageId) -> Result<Message> {
        self.run(|s| async move { s.reset_reply(reply).await }).await
    }

    async fn usage_since(&self, user: UserId, since: DateTime<Utc>) -> Result<UsageTotals> {
        self.run(|s| async move { s.usage_since(user, since).await }).await
    }

    async fn llm_calls_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<LlmCall>> {
        self.run(|s| async move { s.llm_calls_between(from, to).await }).await
    }

    async fn interrupt_unfinished(&self) -> Result<u64> {
        self.run(|s| async move { s.interrupt_unfinished().await }).await
    }

    async fn list_documents(&self, session: SessionId) -> Result<Vec<DocumentSummary>> {
        self.run(|s| async move { s.list_documents(session).await }).await
    }

    async fn get_document(
        &self,
        session: SessionId,
        id: DocumentId,
        revision: Option<i64>,
    ) -> Result<Option<DocumentSnapshot>> {
        self.run(|s| async move { s.get_document(session, id, revision).await })
            .await
    }

    async fn edit_section(&self, id: DocumentId, section_id: &str, content: &str, base_revision: i64) -> Result<i64> {
        let (section_id, content) = (section_id.to_owned(), content.to_owned());
        self.run(|s| async move { s.edit_section(id, &section_id, &content, base_revision).await })
            .await
    }

    async fn list_revisions(&self, id: DocumentId) -> Result<Vec<RevisionInfo>> {
        self.run(|s| async move { s.list_revisions(id).await }).await
    }

    async fn restore_revision(&self, id: DocumentId, revision: i64) -> Result<i64> {
        self.run(|s| async move { s.restore_revision(id, revision).await })
            .await
    }
}
