//! The rules of the write use cases, decided here once. A backend reads the state these
//! functions take, asks them what to do and runs the SQL for it; its status changes are
//! guarded in SQL by the state the rule decided on (`… WHERE status = 'active'`), so a
//! concurrent change makes the write miss instead of applying twice.

use crate::{Message, PostedMessage, Result, StoreError};
use plansmith_domain::{DocumentContent, MessageStatus, RestartReason, Revision, SessionStatus};

/// Why a planning session refused a change; the server words each one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRefusal {
    /// The session is completed or abandoned.
    Closed(SessionStatus),
    /// The step is not the session's current step (`current` is `None` once every step is
    /// complete).
    StepNotCurrent { step: String, current: Option<String> },
    /// A session is completed only once every step is; it is still on `current`.
    StepsRemain { current: String },
}

/// A reply's status change that its current status does not allow (another writer ended,
/// finished or reset it first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyRefusal(pub ReplyTransition);

/// The status changes of an assistant reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTransition {
    /// `queued` → `streaming`: a provider took it.
    Start,
    /// `streaming` → `complete`, with its document revisions.
    Finish,
    /// `queued`/`streaming` → `failed`/`interrupted`.
    End,
    /// `failed`/`interrupted` → `queued`, to be generated again.
    Retry,
    /// `queued`/`streaming` whose lease expired → `queued` under the claimant's lease.
    TakeOver,
}

impl ReplyTransition {
    /// The statuses a reply may be in for this change.
    pub fn from(self) -> &'static [MessageStatus] {
        match self {
            Self::Start => &[MessageStatus::Queued],
            Self::Finish => &[MessageStatus::Streaming],
            Self::End => &[MessageStatus::Queued, MessageStatus::Streaming],
            Self::Retry => &[MessageStatus::Failed, MessageStatus::Interrupted],
            Self::TakeOver => &[MessageStatus::Queued, MessageStatus::Streaming],
        }
    }

    pub fn allows(self, status: MessageStatus) -> bool {
        self.from().contains(&status)
    }

    /// The allowed statuses as two SQL parameters, for `… AND status IN (?, ?)` (a single
    /// status is given twice).
    pub fn guard(self) -> [&'static str; 2] {
        let from = self.from();
        [from[0].as_str(), from[from.len() - 1].as_str()]
    }
}

/// Why a claimed reply is generated again: its own instance restarted (same owner name), or
/// another instance took over from one that went away.
pub fn orphan_reason(previous_owner: Option<&str>, claimant: &str) -> RestartReason {
    if previous_owner == Some(claimant) {
        RestartReason::ServerRestarted
    } else {
        RestartReason::InstanceLost
    }
}

impl From<SessionRefusal> for StoreError {
    fn from(refusal: SessionRefusal) -> Self {
        StoreError::Session(refusal)
    }
}

impl From<ReplyRefusal> for StoreError {
    fn from(refusal: ReplyRefusal) -> Self {
        StoreError::Reply(refusal)
    }
}

/// How a session is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionClose {
    Complete,
    Abandon,
}

impl SessionClose {
    pub fn status(self) -> SessionStatus {
        match self {
            Self::Complete => SessionStatus::Completed,
            Self::Abandon => SessionStatus::Abandoned,
        }
    }
}

/// What closing a session does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseOutcome {
    /// Change the status (guarded by `status = 'active'`).
    Close,
    /// The session is already closed that way: nothing to do.
    AlreadyClosed,
}

/// The part of a session its write rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    pub status: SessionStatus,
    pub current_step: Option<String>,
}

impl SessionState {
    fn active(&self) -> Result<(), SessionRefusal> {
        match self.status {
            SessionStatus::Active => Ok(()),
            other => Err(SessionRefusal::Closed(other)),
        }
    }

    /// A message goes to the current step of an active session.
    pub fn step_for_message(&self) -> Result<&str, SessionRefusal> {
        self.active()?;
        self.current_step
            .as_deref()
            .ok_or(SessionRefusal::Closed(SessionStatus::Completed))
    }

    /// A step can be completed only while the session is active and on that step.
    pub fn check_step_completion(&self, step: &str) -> Result<(), SessionRefusal> {
        self.active()?;
        if self.current_step.as_deref() != Some(step) {
            return Err(SessionRefusal::StepNotCurrent {
                step: step.to_owned(),
                current: self.current_step.clone(),
            });
        }
        Ok(())
    }

    /// Completing needs every step complete and is idempotent; abandoning is idempotent; a
    /// closed session cannot be closed the other way.
    pub fn close(&self, close: SessionClose) -> Result<CloseOutcome, SessionRefusal> {
        if self.status == close.status() {
            return Ok(CloseOutcome::AlreadyClosed);
        }
        self.active()?;
        if let (SessionClose::Complete, Some(current)) = (close, &self.current_step) {
            return Err(SessionRefusal::StepsRemain {
                current: current.clone(),
            });
        }
        Ok(CloseOutcome::Close)
    }

    /// The documents of an abandoned session are read-only; a completed session's can still
    /// be polished.
    pub fn check_document_change(&self) -> Result<(), SessionRefusal> {
        match self.status {
            SessionStatus::Abandoned => Err(SessionRefusal::Closed(SessionStatus::Abandoned)),
            _ => Ok(()),
        }
    }
}

/// The revision a user's edit makes: the next one, when the edit is based on the current one.
pub fn edit_revision(current: Revision, base: Revision) -> Result<Revision> {
    if current != base {
        return Err(StoreError::RevisionConflict { current });
    }
    Ok(current.next())
}

/// A document has every revision from the empty document (0) to the current one: what a read
/// or a restore may name.
pub fn check_revision(current: Revision, wanted: Revision) -> Result<()> {
    if wanted < Revision::EMPTY || wanted > current {
        return Err(StoreError::RevisionNotFound(wanted));
    }
    Ok(())
}

/// Applies a reply's section updates to a document's content.
pub fn apply_sections(content: &mut DocumentContent, sections: &[(String, String)]) {
    for (section, markdown) in sections {
        content.set(section, markdown);
    }
}

/// A resent message (same client key) gets the first answer again: `found` holds the stored
/// message and the one after it (its reply), or nothing when the key is new.
pub fn replayed(found: Vec<Message>) -> Result<Option<PostedMessage>> {
    match <[Message; 2]>::try_from(found) {
        Ok([message, reply]) => Ok(Some(PostedMessage {
            message,
            reply,
            replayed: true,
        })),
        Err(found) if found.is_empty() => Ok(None),
        Err(found) => Err(StoreError::Integrity(format!(
            "message {} of session {} has no reply",
            found[0].seq, found[0].session_id
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: SessionStatus, step: Option<&str>) -> SessionState {
        SessionState {
            status,
            current_step: step.map(str::to_owned),
        }
    }

    #[test]
    fn only_the_current_step_of_an_active_session_completes() {
        let on_brief = state(SessionStatus::Active, Some("brief"));
        assert_eq!(on_brief.check_step_completion("brief"), Ok(()));
        assert_eq!(
            on_brief.check_step_completion("prd"),
            Err(SessionRefusal::StepNotCurrent {
                step: "prd".into(),
                current: Some("brief".into())
            })
        );
        let abandoned = state(SessionStatus::Abandoned, Some("brief"));
        assert_eq!(
            abandoned.check_step_completion("brief"),
            Err(SessionRefusal::Closed(SessionStatus::Abandoned))
        );
    }

    #[test]
    fn closing_is_idempotent_and_one_way() {
        let done = state(SessionStatus::Active, None);
        assert_eq!(done.close(SessionClose::Complete), Ok(CloseOutcome::Close));
        let midway = state(SessionStatus::Active, Some("prd"));
        assert_eq!(
            midway.close(SessionClose::Complete),
            Err(SessionRefusal::StepsRemain { current: "prd".into() })
        );
        assert_eq!(midway.close(SessionClose::Abandon), Ok(CloseOutcome::Close));
        let completed = state(SessionStatus::Completed, None);
        assert_eq!(completed.close(SessionClose::Complete), Ok(CloseOutcome::AlreadyClosed));
        assert_eq!(
            completed.close(SessionClose::Abandon),
            Err(SessionRefusal::Closed(SessionStatus::Completed))
        );
        let abandoned = state(SessionStatus::Abandoned, Some("prd"));
        assert_eq!(abandoned.close(SessionClose::Abandon), Ok(CloseOutcome::AlreadyClosed));
        assert_eq!(
            abandoned.close(SessionClose::Complete),
            Err(SessionRefusal::Closed(SessionStatus::Abandoned))
        );
    }

    #[test]
    fn messages_need_an_active_session_on_a_step() {
        assert_eq!(
            state(SessionStatus::Active, Some("brief")).step_for_message(),
            Ok("brief")
        );
        assert_eq!(
            state(SessionStatus::Active, None).step_for_message(),
            Err(SessionRefusal::Closed(SessionStatus::Completed))
        );
        assert_eq!(
            state(SessionStatus::Completed, None).step_for_message(),
            Err(SessionRefusal::Closed(SessionStatus::Completed))
        );
    }

    #[test]
    fn abandoned_documents_are_read_only() {
        assert!(state(SessionStatus::Completed, None).check_document_change().is_ok());
        assert_eq!(
            state(SessionStatus::Abandoned, None).check_document_change(),
            Err(SessionRefusal::Closed(SessionStatus::Abandoned))
        );
    }

    #[test]
    fn edits_must_be_based_on_the_current_revision() {
        assert_eq!(edit_revision(Revision(3), Revision(3)).unwrap(), Revision(4));
        assert!(matches!(
            edit_revision(Revision(3), Revision(2)),
            Err(StoreError::RevisionConflict { current: Revision(3) })
        ));
    }

    #[test]
    fn revisions_run_from_empty_to_current() {
        assert!(check_revision(Revision(2), Revision(0)).is_ok());
        assert!(check_revision(Revision(2), Revision(2)).is_ok());
        for wanted in [-1, 3] {
            assert!(matches!(
                check_revision(Revision(2), Revision(wanted)),
                Err(StoreError::RevisionNotFound(Revision(w))) if w == wanted
            ));
        }
    }

    #[test]
    fn reply_transitions_guard_on_their_source_statuses() {
        use MessageStatus::*;
        assert_eq!(ReplyTransition::Start.guard(), ["queued", "queued"]);
        assert_eq!(ReplyTransition::End.guard(), ["queued", "streaming"]);
        assert_eq!(ReplyTransition::Retry.guard(), ["failed", "interrupted"]);
        assert!(ReplyTransition::Retry.allows(Interrupted));
        assert!(!ReplyTransition::Retry.allows(Complete));
        assert!(!ReplyTransition::Finish.allows(Queued));
        assert_eq!(ReplyTransition::TakeOver.guard(), ["queued", "streaming"]);
    }

    #[test]
    fn an_orphan_of_the_same_owner_restarted_and_of_another_was_lost() {
        assert_eq!(
            orphan_reason(Some("web-1:8080"), "web-1:8080"),
            RestartReason::ServerRestarted
        );
        assert_eq!(
            orphan_reason(Some("web-2:8080"), "web-1:8080"),
            RestartReason::InstanceLost
        );
        assert_eq!(orphan_reason(None, "web-1:8080"), RestartReason::InstanceLost);
    }
}
