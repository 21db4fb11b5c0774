//! Throwaway PostgreSQL databases for tests: one per test, dropped afterwards (also when the
//! test panics). The server is `TEST_DATABASE_URL` (default: trust auth on 127.0.0.1:5432).

use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `postgres://…/NAME` on the test server.
pub fn url_for(name: &str) -> String {
    let admin = admin_url();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base)
        .to_owned();
    format!("{base}/{name}")
}

pub async fn admin() -> PgConnection {
    PgConnection::connect(&admin_url()).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {} ({e}); start it (scripts/test does) or set TEST_DATABASE_URL",
            admin_url()
        )
    })
}

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let name = format!("plansmith_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = admin().await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        Self {
            url: url_for(&name),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Dropping needs async I/O; do it on a runtime of its own so it also runs while a
        // failed test unwinds.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin_url())
                    .await
                    .map_err(std::io::Error::other)?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map_err(std::io::Error::other)?;
                Ok::<(), std::io::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: test database {} was not dropped: {dropped:?}", self.name);
        }
    }
}

/// Whether the API tests should run against PostgreSQL (`PLANSMITH_TEST_BACKEND=postgres`).
pub fn api_on_postgres() -> bool {
    std::env::var("PLANSMITH_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}
