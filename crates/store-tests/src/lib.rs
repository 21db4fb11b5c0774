//! The Store API's conformance suite, shared by the backends: `cargo test -p
//! plansmith-store-sqlite` and `-p plansmith-store-postgres` each run every test of
//! [`suite`] on a database of their own (see [`conformance_tests!`]). Also the throwaway
//! PostgreSQL databases the API tests use ([`testdb`]).

pub mod mfa_email;
pub mod suite;
pub mod testdb;

use plansmith_store::Store;
use plansmith_store_postgres::{PgOptions, PgStore};
use plansmith_store_sqlite::{SqliteOptions, SqliteStore};
use std::sync::Arc;
use testdb::TestDb;

/// A store under test plus raw SQL access to its database.
pub struct Backend {
    pub store: Arc<dyn Store>,
    raw: Raw,
    _guards: (Option<tempfile::TempDir>, Option<TestDb>),
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Backend {
    /// A migrated SQLite database in a temporary folder.
    pub async fn sqlite() -> Self {
        let dir = tempfile::TempDir::new().expect("a temporary folder");
        let url = format!("sqlite://{}/store.db", dir.path().display());
        let store = SqliteStore::connect(&url, &SqliteOptions::default())
            .await
            .expect("SQLite opens");
        store.migrate().await.expect("migrations apply");
        let raw = sqlx::SqlitePool::connect(&url).await.expect("raw SQLite connection");
        Self {
            store: Arc::new(store),
            raw: Raw::Sqlite(raw),
            _guards: (Some(dir), None),
        }
    }

    /// A migrated PostgreSQL database of its own, dropped with the backend.
    pub async fn postgres() -> Self {
        let db = TestDb::create().await;
        let store = PgStore::connect(&db.url, &PgOptions::default())
            .await
            .expect("PostgreSQL connects");
        store.migrate().await.expect("migrations apply");
        let raw = store.pool().clone();
        Self {
            store: Arc::new(store),
            raw: Raw::Postgres(raw),
            _guards: (None, Some(db)),
        }
    }

    /// Runs literal SQL (no parameters) against the database, bypassing the store.
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            Raw::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        }
        .expect("raw SQL runs");
    }

    /// The one integer a literal query answers (e.g. a `COUNT(*)`), bypassing the store.
    pub async fn scalar(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .expect("raw SQL answers")
    }
}

/// One `#[tokio::test]` per conformance test, each on a fresh backend from `$backend`
/// (an async constructor such as `Backend::sqlite`). The caller needs `tokio` as a
/// dev-dependency.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:path) => {
        $crate::conformance_tests!(@each $backend;
            users_tokens_and_roles,
            sign_ins_slide_with_use_and_expire_when_idle,
            sign_ins_are_listed_and_revoked_per_user,
            a_password_change_keeps_only_the_current_sign_in,
            admins_change_roles_plans_and_disable_accounts,
            expired_and_idle_tokens_are_purged,
            security_events_are_filtered_and_paged_newest_first,
            sessions_are_listed_newest_first_per_user,
            steps_advance_and_sessions_close,
            closed_sessions_take_no_messages_steps_or_edits,
            message_sequence_stays_gap_free_under_concurrency,
            a_resent_message_returns_the_first_answer,
            stale_concurrent_edits_conflict_and_none_is_lost,
            replies_commit_with_their_revision,
            an_expired_lease_is_claimed_once_and_only_its_holder_writes,
            corrupted_revisions_are_detected_on_read,
            restore_makes_one_new_revision,
            a_sessions_documents_are_read_at_their_current_revision,
            active_sessions_are_capped_per_user,
            activity_is_counted_for_the_business_gauges,
            errors_are_grouped_and_exactly_one_recorder_sees_a_new_group,
            migrations_go_down_and_up_again_with_data,
            flags_are_stored_replaced_listed_and_deleted,
            the_audit_chain_holds_under_concurrent_appends_and_prunes_to_a_checkpoint,
            incident_notices_reach_their_recipients_and_record_read_receipts,
            past_sessions_are_written_whole_with_their_feedback,
        );
        $crate::conformance_tests!(@mfa_email $backend;
            totp_is_pending_until_enabled_and_each_step_is_used_once,
            a_totp_step_is_accepted_once_under_concurrency,
            one_time_tokens_work_once_before_they_expire,
            a_password_reset_sets_the_new_hash,
            emails_are_claimed_once_retried_and_listed_newest_first,
            an_email_is_claimed_by_one_sender_at_a_time,
        );
    };
    (@mfa_email $backend:path; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $crate::mfa_email::$name($backend().await).await;
        }
    )*};
    (@each $backend:path; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $crate::suite::$name($backend().await).await;
        }
    )*};
}
