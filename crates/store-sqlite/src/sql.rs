//! Every statement the writer runs, declared once here. `ALL` lists them for the test that
//! prepares each against the migrated schema, so a typo or a renamed column fails `cargo test`,
//! and for the recording of a release's statements (the N-1 compatibility test).

macro_rules! statements {
    ($($(#[doc = $doc:literal])* $name:ident = $sql:expr;)*) => {
        $($(#[doc = $doc])* pub(crate) const $name: &str = $sql;)*
        /// Every statement above, by name.
        pub(crate) const ALL: &[(&str, &str)] = &[$((stringify!($name), $name)),*];
    };
}

/// A message's columns, in the order `write::message_row` reads them.
macro_rules! message_columns {
    () => {
        "id, session_id, seq, role, step_id, content, status, error_code, error_message, provider, model, \
         created_at, updated_at"
    };
}

/// The database's clock in milliseconds since the Unix epoch: lease times are compared by
/// one clock, whichever instance writes them.
macro_rules! now_ms {
    () => {
        "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
    };
}

/// The message being written is leased to the owner bound at this `?`.
macro_rules! held_by {
    () => {
        "EXISTS (SELECT 1 FROM reply_leases l WHERE l.message_id = messages.id AND l.owner = ?)"
    };
}

/// The statuses of a reply that is still being generated (a lease matters only then).
macro_rules! unfinished {
    () => {
        "status IN ('queued', 'streaming')"
    };
}

statements! {
    PUT_FLAG = "
        INSERT INTO feature_flags (key, definition, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
        ON CONFLICT (key) DO UPDATE SET definition = excluded.definition,
            updated_at = excluded.updated_at, updated_by = excluded.updated_by";
    DELETE_FLAG = "DELETE FROM feature_flags WHERE key = ?1";
    GIVE_CONSENT = "
        INSERT INTO consents (id, user_id, kind, version, given_at, withdrawn_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    WITHDRAW_CONSENT = "
        UPDATE consents SET withdrawn_at = ?3 WHERE user_id = ?1 AND kind = ?2 AND withdrawn_at IS NULL";
    CREATE_CLIENT_KEY = "
        INSERT INTO flag_client_keys (id, name, key_hash, created_at, created_by, revoked_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    /// The audit chain's last position and hash: its last entry, or the checkpoint it was
    /// pruned up to (none before the first entry).
    AUDIT_HEAD = "
        SELECT seq, hash FROM (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1)
        UNION ALL SELECT seq, hash FROM (SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1)
        ORDER BY seq DESC LIMIT 1";
    /// ?1 seq … ?12 hash.
    APPEND_AUDIT = "
        INSERT INTO audit_log (seq, at, actor, actor_id, action, user_id, session_id, object, network, request_id,
                               prev_hash, hash)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
    AUDIT_CHECKPOINT = "INSERT INTO audit_checkpoints (seq, hash, key_id, mac, at) VALUES (?1, ?2, ?3, ?4, ?5)";
    /// The newest checkpoint taken before ?1: the chain's prefix up to it may go.
    AUDIT_PRUNE_POINT = "SELECT MAX(seq) FROM audit_checkpoints WHERE at < ?1";
    AUDIT_PRUNE_ENTRIES = "DELETE FROM audit_log WHERE seq <= ?1";
    AUDIT_PRUNE_CHECKPOINTS = "DELETE FROM audit_checkpoints WHERE seq < ?1";
    AUDIT_CHECKPOINT_LIST = "SELECT seq, hash FROM audit_checkpoints ORDER BY seq";
    AUDIT_RESIGN = "UPDATE audit_checkpoints SET key_id = ?2, mac = ?3 WHERE seq = ?1";
    INCIDENT_CREATE = "
        INSERT INTO incidents (id, severity, title, body, audience, created_by, created_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    INCIDENT_TO_EVERYONE = "INSERT INTO incident_recipients (incident_id, user_id) SELECT ?1, id FROM users";
    INCIDENT_TO_USER = "INSERT OR IGNORE INTO incident_recipients (incident_id, user_id) SELECT ?1, id FROM users WHERE id = ?2";
    INCIDENT_RECIPIENTS = "
        SELECT r.user_id, u.email FROM incident_recipients r JOIN users u ON u.id = r.user_id
        WHERE r.incident_id = ?1 ORDER BY u.email";
    INCIDENT_NOTIFIED = "UPDATE incident_recipients SET notified_at = ?3 WHERE incident_id = ?1 AND user_id = ?2";
    INCIDENT_READ = "
        UPDATE incident_recipients SET read_at = COALESCE(read_at, ?3) WHERE incident_id = ?1 AND user_id = ?2";
    /// Model calls before ?1 as anonymous monthly totals (`created_at` is RFC 3339), kept with
    /// the erased accounts' usage.
    RETAIN_FOLD_CALLS = "
        INSERT INTO erased_usage (month, provider, model, calls, input_tokens, output_tokens, cost_micros)
        SELECT substr(created_at, 1, 7), provider, model, COUNT(*), SUM(input_tokens), SUM(output_tokens),
            SUM(cost_micros)
        FROM llm_calls WHERE created_at < ?1 GROUP BY 1, 2, 3
        ON CONFLICT (month, provider, model) DO UPDATE SET
            calls = calls + excluded.calls,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens,
            cost_micros = cost_micros + excluded.cost_micros";
    RETAIN_CALLS = "DELETE FROM llm_calls WHERE created_at < ?1";
    RETAIN_SECURITY_EVENTS = "DELETE FROM security_events WHERE at < ?1";
    /// Abandoning is a change: `updated_at` becomes ?2, so deletion counts from it.
    RETAIN_ABANDON = "
        UPDATE planning_sessions SET status = 'abandoned', updated_at = ?2 WHERE status = 'active' AND updated_at < ?1";
    RETAIN_DELETE_ABANDONED = "DELETE FROM planning_sessions WHERE status = 'abandoned' AND updated_at < ?1";
    DATA_KEY_CREATE = "
        INSERT INTO data_keys (id, user_id, kek_id, wrapped, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
        ON CONFLICT (user_id) DO NOTHING";
    DATA_KEY_REWRAP = "UPDATE data_keys SET kek_id = ?3, wrapped = ?4 WHERE id = ?1 AND kek_id = ?2";
    BACKFILL_SESSION_TITLE = "UPDATE planning_sessions SET title = ?3 WHERE id = ?1 AND title = ?2";
    BACKFILL_SESSION_IDEA = "UPDATE planning_sessions SET idea = ?3 WHERE id = ?1 AND idea = ?2";
    BACKFILL_MESSAGE_CONTENT = "UPDATE messages SET content = ?3 WHERE id = ?1 AND content = ?2";
    BACKFILL_MESSAGE_EVENTS = "UPDATE messages SET events = ?3 WHERE id = ?1 AND events = ?2";
    /// A revision's content and its hash, if the content is still ?3.
    BACKFILL_REVISION = "
        UPDATE document_revisions SET content = ?4, content_hash = ?5
        WHERE document_id = ?1 AND revision = ?2 AND content = ?3";
    REVOKE_CLIENT_KEY = "UPDATE flag_client_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL";
    /// ?1 fingerprint … ?8 release; answers the group's count after this occurrence.
    RECORD_ERROR = "
        INSERT INTO error_groups (fingerprint, kind, title, detail, count, first_seen, last_seen,
            sample_request_id, sample_user_id, release)
        VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5, ?6, ?7, ?8)
        ON CONFLICT (fingerprint) DO UPDATE SET
            count = count + 1,
            detail = excluded.detail,
            last_seen = max(last_seen, excluded.last_seen),
            sample_request_id = excluded.sample_request_id,
            sample_user_id = excluded.sample_user_id,
            release = excluded.release
        RETURNING count";
    INSERT_USER = "
        INSERT INTO users (id, email, name, password_hash, role, plan, created_at)
        VALUES (?, ?, ?, ?, 'member', 'free', ?)";
    SET_USER_ROLE = "UPDATE users SET role = ? WHERE email = ?";
    /// An admin's change: ?1 role, ?2 whether to set the plan override to ?3, ?4 disabled;
    /// each left as it is when null (?2 false).
    UPDATE_USER = "
        UPDATE users
        SET role = COALESCE(?1, role),
            plan_override = CASE WHEN ?2 THEN ?3 ELSE plan_override END,
            disabled = COALESCE(?4, disabled)
        WHERE id = ?5
        RETURNING id, email, name, password_hash, role, plan, plan_override, disabled, created_at";
    SET_PASSWORD = "UPDATE users SET password_hash = ? WHERE id = ?";
    INSERT_AUTH_TOKEN = "
        INSERT INTO auth_tokens
            (token_hash, id, user_id, created_at, expires_at, last_used_at, address, user_agent)
        VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6, ?7)";
    DELETE_AUTH_TOKEN = "DELETE FROM auth_tokens WHERE token_hash = ?";
    /// Notes a token's use at ?1 unless it was noted since ?3 (so concurrent requests write once).
    TOUCH_AUTH_TOKEN = "UPDATE auth_tokens SET last_used_at = ?1 WHERE token_hash = ?2 AND last_used_at < ?3";
    /// Every token of user ?1 but sign-in ?2 (none when null).
    DELETE_USER_TOKENS = "DELETE FROM auth_tokens WHERE user_id = ?1 AND (?2 IS NULL OR id <> ?2)";
    DELETE_SIGN_IN = "DELETE FROM auth_tokens WHERE user_id = ? AND id = ?";
    /// Tokens expired at ?1 or last used before ?2.
    PURGE_AUTH_TOKENS = "DELETE FROM auth_tokens WHERE expires_at <= ?1 OR last_used_at <= ?2";
    INSERT_SECURITY_EVENT = "
        INSERT INTO security_events (id, at, kind, user_id, address, request_id, outcome, detail)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

    /// A session with its filled-section count.
    SESSION = "
        SELECT s.id, s.user_id, s.workflow_id, s.title, s.idea, s.status, s.current_step,
               s.completed_steps, s.created_at, s.updated_at, s.first_message_at, s.completed_at,
               (SELECT COALESCE(SUM(d.filled), 0) FROM documents d WHERE d.session_id = s.id)
        FROM planning_sessions s
        WHERE s.id = ?";
    /// What the session rules look at.
    SESSION_STATE = "SELECT status, current_step FROM planning_sessions WHERE id = ?";
    /// The user's active sessions (by `planning_sessions_user_recent`).
    COUNT_ACTIVE_SESSIONS = "SELECT COUNT(*) FROM planning_sessions WHERE user_id = ? AND status = 'active'";
    INSERT_SESSION = "
        INSERT INTO planning_sessions
            (id, user_id, workflow_id, title, idea, status, current_step, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?)";
    INSERT_DOCUMENT = "
        INSERT INTO documents (id, session_id, position, step_id, title, updated_at)
        VALUES (?, ?, ?, ?, ?, ?)";
    /// Moves an active session from `current_step` (?4) to the next step (?1).
    ADVANCE_STEP = "
        UPDATE planning_sessions
        SET current_step = ?1, completed_steps = completed_steps + 1, updated_at = ?2
        WHERE id = ?3 AND status = 'active' AND current_step = ?4";
    /// Completes the last step (?3) of an active session, and with it the session.
    FINISH_LAST_STEP = "
        UPDATE planning_sessions
        SET current_step = NULL, completed_steps = completed_steps + 1, status = 'completed',
            completed_at = ?1, updated_at = ?1
        WHERE id = ?2 AND status = 'active' AND current_step = ?3";
    CLOSE_SESSION = "
        UPDATE planning_sessions
        SET status = ?1, completed_at = CASE WHEN ?1 = 'completed' THEN ?2 ELSE completed_at END,
            updated_at = ?2
        WHERE id = ?3 AND status = 'active'";
    /// Notes a new message on an active session.
    TOUCH_FOR_MESSAGE = "
        UPDATE planning_sessions
        SET updated_at = ?1, first_message_at = COALESCE(first_message_at, ?1)
        WHERE id = ?2 AND status = 'active'";
    TOUCH_SESSION = "UPDATE planning_sessions SET updated_at = ? WHERE id = ?";
    /// An erased account's model usage as anonymous monthly totals (`created_at` is RFC 3339).
    ERASE_KEEP_USAGE = "
        INSERT INTO erased_usage (month, provider, model, calls, input_tokens, output_tokens, cost_micros)
        SELECT substr(created_at, 1, 7), provider, model, COUNT(*), SUM(input_tokens), SUM(output_tokens),
            SUM(cost_micros)
        FROM llm_calls WHERE user_id = ?1 GROUP BY 1, 2, 3
        ON CONFLICT (month, provider, model) DO UPDATE SET
            calls = calls + excluded.calls,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens,
            cost_micros = cost_micros + excluded.cost_micros";
    ERASE_SECURITY_DETAILS = "UPDATE security_events SET address = NULL, detail = NULL WHERE user_id = ?1";
    ERASE_EMAILS = "DELETE FROM email_outbox WHERE lower(\"to\") = lower(?1)";
    ERASE_REFERENCES_ERRORS = "UPDATE error_groups SET sample_user_id = NULL WHERE sample_user_id = ?1";
    ERASE_REFERENCES_FLAGS = "UPDATE feature_flags SET updated_by = NULL WHERE updated_by = ?1";
    ERASE_REFERENCES_KEYS = "UPDATE flag_client_keys SET created_by = NULL WHERE created_by = ?1";
    /// Sessions (with messages, documents, revisions), sign-ins, one-time tokens and model
    /// calls go with the account (foreign keys cascade).
    ERASE_USER = "DELETE FROM users WHERE id = ?1";
    RENAME_SESSION = "UPDATE planning_sessions SET title = ?1, updated_at = ?2 WHERE id = ?3 AND user_id = ?4";
    /// Messages, documents and revisions go with it (foreign keys cascade); cost records stay.
    DELETE_SESSION = "DELETE FROM planning_sessions WHERE id = ?1 AND user_id = ?2";

    /// Appends a message at the next position of its session.
    INSERT_MESSAGE = concat!("
        INSERT INTO messages
            (id, session_id, seq, role, step_id, content, status, client_key, created_at, updated_at)
        VALUES (
            ?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE session_id = ?2),
            ?3, ?4, ?5, ?6, ?7, ?8, ?8
        )
        RETURNING ", message_columns!());
    /// Leases reply ?1 to ?2 for ?3 ms (whoever held it before).
    TAKE_LEASE = concat!("
        INSERT INTO reply_leases (message_id, owner, until_ms)
        VALUES (?1, ?2, ", now_ms!(), " + ?3)
        ON CONFLICT (message_id) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms");
    /// A reply that ended needs no lease.
    DROP_LEASE = "DELETE FROM reply_leases WHERE message_id = ?";
    MESSAGE = concat!("SELECT ", message_columns!(), " FROM messages WHERE id = ?");
    /// The message a client key names and the one after it (its reply).
    REPLAYED_MESSAGES = concat!("
        SELECT ", message_columns!(), "
        FROM messages
        WHERE session_id = ?1
          AND seq IN (
              SELECT seq FROM messages WHERE session_id = ?1 AND client_key = ?2
              UNION ALL
              SELECT seq + 1 FROM messages WHERE session_id = ?1 AND client_key = ?2
          )
        ORDER BY seq");

    START_REPLY = concat!("
        UPDATE messages
        SET status = 'streaming', provider = ?, model = ?, updated_at = ?
        WHERE id = ? AND ", held_by!(), " AND status IN (?, ?)");
    /// The progress of replies held by ?2 (only replies being generated have a lease), from a
    /// JSON array of `{id, content, last_event_id}`; event numbers only grow. The batch drives
    /// the join: each message is found by its key (see the plan test below).
    CHECKPOINT_REPLIES = "
        UPDATE messages
        SET content = c.content, last_event_id = max(messages.last_event_id, c.last_event_id),
            updated_at = ?1
        FROM (
            SELECT unhex(value ->> '$.id') AS id, value ->> '$.content' AS content,
                   value ->> '$.last_event_id' AS last_event_id
            FROM json_each(?3)
        ) AS c
        JOIN reply_leases l ON l.message_id = c.id AND l.owner = ?2
        WHERE messages.id = c.id";
    FINISH_REPLY = concat!("
        UPDATE messages
        SET status = 'complete', content = ?, events = ?, provider = ?, model = ?,
            error_code = NULL, error_message = NULL, updated_at = ?
        WHERE id = ? AND ", held_by!(), " AND status IN (?, ?)");
    END_REPLY = concat!("
        UPDATE messages
        SET status = ?, content = ?, events = ?, error_code = ?, error_message = ?, updated_at = ?
        WHERE id = ? AND ", held_by!(), " AND status IN (?, ?)");
    SAVE_REPLY_EVENTS = "UPDATE messages SET events = ? WHERE id = ?";
    RESET_REPLY = "
        UPDATE messages
        SET status = 'queued', content = '', events = NULL, error_code = NULL, error_message = NULL,
            updated_at = ?
        WHERE id = ? AND role = 'assistant' AND status IN (?, ?)";
    /// Extends the leases held by ?2 by ?1 ms; returns the replies renewed.
    RENEW_LEASES = concat!("
        UPDATE reply_leases SET until_ms = ", now_ms!(), " + ?1
        WHERE owner = ?2
        RETURNING message_id");
    /// Gives up the lease of reply ?1 held by ?2: nobody holds it, so it is claimable at once
    /// and no later renewal of ?2 can take it back.
    RELEASE_LEASE = "DELETE FROM reply_leases WHERE message_id = ?1 AND owner = ?2";
    /// Unfinished replies whose lease expired (or that none holds), or (?2) that owner ?1 held
    /// before, oldest first, with the previous owner, checkpoint and the session's user and plan.
    ORPHANS = concat!("
        SELECT m.id, l.owner, m.last_event_id, m.content, s.user_id, COALESCE(u.plan_override, u.plan)
        FROM messages m
        LEFT JOIN reply_leases l ON l.message_id = m.id
        JOIN planning_sessions s ON s.id = m.session_id
        JOIN users u ON u.id = s.user_id
        WHERE m.", unfinished!(), "
          AND (l.until_ms IS NULL OR l.until_ms < ", now_ms!(), " OR (?2 AND l.owner = ?1))
        ORDER BY m.created_at
        LIMIT ?3");
    /// Claims orphan ?3 (its lease is taken apart); ?1: to be generated again (empty content).
    CLAIM_ORPHAN = "
        UPDATE messages
        SET status = 'queued', content = CASE WHEN ?1 THEN '' ELSE content END, updated_at = ?2
        WHERE id = ?3 AND status IN (?4, ?5)";
    INSERT_LLM_CALL = "
        INSERT INTO llm_calls
            (id, user_id, session_id, reply_id, provider, model, input_tokens, output_tokens,
             cost_micros, latency_ms, ttft_ms, attempts, outcome, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

    /// A document's current revision, that revision (none for 0 or when missing) and the
    /// status of its session.
    CURRENT_CONTENT = "
        SELECT d.revision, s.status, s.current_step,
               r.revision, r.author, r.content, r.content_hash, r.message_id, r.created_at
        FROM documents d
        JOIN planning_sessions s ON s.id = d.session_id
        LEFT JOIN document_revisions r ON r.document_id = d.id AND r.revision = d.revision
        WHERE d.id = ?";
    REVISION = "
        SELECT revision, author, content, content_hash, message_id, created_at
        FROM document_revisions
        WHERE document_id = ? AND revision = ?";
    /// Moves a document from revision ?5 to ?1; returns its session.
    SET_DOCUMENT_REVISION = "
        UPDATE documents SET revision = ?1, filled = ?2, updated_at = ?3
        WHERE id = ?4 AND revision = ?5
        RETURNING session_id";
    DOCUMENT_REVISION = "SELECT revision FROM documents WHERE id = ?";
    INSERT_REVISION = "
        INSERT INTO document_revisions
            (document_id, revision, author, content, content_hash, message_id, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)";
}

#[cfg(test)]
mod tests {
    /// Every statement prepares against the schema the migrations make.
    #[test]
    fn every_writer_statement_prepares_against_the_migrated_schema() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for migration in crate::MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()) {
            conn.execute_batch(migration.sql.as_str())
                .unwrap_or_else(|e| panic!("migration {} failed: {e}", migration.description));
        }
        assert!(
            super::ALL.iter().any(|(name, _)| *name == "INSERT_REVISION"),
            "the list is generated from the declarations"
        );
        for (name, sql) in super::ALL {
            if let Err(e) = conn.prepare(sql) {
                panic!("{name} does not prepare: {e}\n{sql}");
            }
        }
    }

    /// A checkpoint of a thousand replies looks each up by its key: a plan that scanned the
    /// unfinished messages for each reply of the batch made it quadratic and held up every
    /// write behind it (the post-message p99 went from 9 to 30 ms at 1,000 sessions).
    #[test]
    fn checkpoints_find_each_message_by_its_key() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for migration in crate::MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()) {
            conn.execute_batch(migration.sql.as_str()).unwrap();
        }
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", super::CHECKPOINT_REPLIES))
            .unwrap()
            .query_map(rusqlite::params!["now", "owner", "[]"], |row| row.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH messages USING") && step.contains("(id=?)")),
            "{plan:#?}"
        );
        assert!(!plan.iter().any(|step| step.starts_with("SCAN messages")), "{plan:#?}");
    }

    /// The writer spells no SQL of its own: a statement outside this file would escape the test
    /// above.
    #[test]
    fn the_writer_has_no_sql_outside_this_module() {
        let source = include_str!("write.rs");
        for (at, _) in source.match_indices('"') {
            let literal = source[at + 1..].trim_start();
            for keyword in ["SELECT ", "INSERT ", "UPDATE ", "DELETE ", "WITH "] {
                assert!(
                    !literal.starts_with(keyword),
                    "write.rs spells a {keyword}statement at byte {at}; declare it in sql.rs"
                );
            }
        }
    }
}
