//! PostgreSQL: `pg_dump --format=custom` in a snapshot exported by a repeatable-read
//! transaction, which also reads the manifest's figures, so both describe the same moment;
//! `pg_restore` into the target (or a scratch database, for verification).

use crate::{BackupError, Result, TableFigures};
use sqlx::{Connection, PgConnection, Row};
use std::collections::BTreeMap;
use tokio::process::Command;

type Figures = (i64, BTreeMap<String, TableFigures>);

fn db(what: &str) -> impl Fn(sqlx::Error) -> BackupError + '_ {
    move |e| BackupError::Failed(format!("{what}: {e}"))
}

/// The URL with its password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

async fn run(mut command: Command, what: &str) -> Result<Vec<u8>> {
    let output = command.output().await.map_err(|e| {
        BackupError::Failed(format!(
            "cannot run {what}: {e} (install the PostgreSQL client tools, e.g. apt-get install postgresql-client)"
        ))
    })?;
    if !output.status.success() {
        return Err(BackupError::Failed(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(output.stdout)
}

pub(crate) async fn dump(url: &str) -> Result<(i64, BTreeMap<String, TableFigures>, Vec<u8>)> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(db("cannot connect to the database"))?;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut conn)
        .await
        .map_err(db("cannot start the snapshot"))?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut conn)
        .await
        .map_err(db("cannot export the snapshot"))?;
    let mut pg_dump = Command::new("pg_dump");
    pg_dump
        .args(["--format=custom", "--no-owner", "--no-privileges", "--snapshot"])
        .arg(&snapshot)
        .arg("--dbname")
        .arg(url);
    let bytes = run(pg_dump, "pg_dump").await?;
    let (version, tables) = figures(&mut conn).await?;
    sqlx::query("COMMIT")
        .execute(&mut conn)
        .await
        .map_err(db("cannot end the snapshot"))?;
    Ok((version, tables, bytes))
}

async fn figures(conn: &mut PgConnection) -> Result<Figures> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT tablename::TEXT FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            .fetch_all(&mut *conn)
            .await
            .map_err(db("cannot list the tables"))?;
    let mut tables = BTreeMap::new();
    for name in names {
        let quoted = name.replace('"', "\"\"");
        // The name comes from pg_tables and is quoted.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*)::BIGINT AS rows, md5(COALESCE(string_agg(x::TEXT, E'\\n' ORDER BY x::TEXT), '')) AS digest \
             FROM \"{quoted}\" AS x"
        )))
        .fetch_one(&mut *conn)
        .await
        .map_err(db("cannot read a table"))?;
        tables.insert(
            name,
            TableFigures {
                rows: row.try_get("rows").map_err(db("cannot read a count"))?,
                digest: row.try_get("digest").map_err(db("cannot read a digest"))?,
            },
        );
    }
    let version = if tables.contains_key("_sqlx_migrations") {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0)::BIGINT FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await
            .map_err(db("cannot read the schema version"))?
    } else {
        0
    };
    Ok((version, tables))
}

async fn load(bytes: &[u8], url: &str) -> Result<()> {
    let file = tempfile::NamedTempFile::new().map_err(|e| BackupError::Failed(e.to_string()))?;
    std::fs::write(file.path(), bytes).map_err(|e| BackupError::Failed(e.to_string()))?;
    let mut pg_restore = Command::new("pg_restore");
    pg_restore
        .args([
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
        ])
        .arg(url)
        .arg(file.path());
    run(pg_restore, "pg_restore").await.map(drop)
}

pub(crate) async fn restore(bytes: &[u8], url: &str, force: bool) -> Result<Figures> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(db("cannot connect to the target database"))?;
    let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'")
        .fetch_one(&mut conn)
        .await
        .map_err(db("cannot read the target"))?;
    if tables > 0 {
        if !force {
            return Err(BackupError::Usage(format!(
                "{} already holds {tables} tables; restore into an empty database, or add --force to replace its contents",
                redact(url)
            )));
        }
        sqlx::query("DROP SCHEMA public CASCADE")
            .execute(&mut conn)
            .await
            .map_err(db("cannot empty the target"))?;
        sqlx::query("CREATE SCHEMA public")
            .execute(&mut conn)
            .await
            .map_err(db("cannot empty the target"))?;
    }
    load(bytes, url).await?;
    figures(&mut conn).await
}

/// Restores into a new database on the server of `admin_url`, reads its figures and drops it.
pub(crate) async fn verify_in_scratch(bytes: &[u8], admin_url: &str) -> Result<Figures> {
    let name = format!("plansmith_verify_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(admin_url)
        .await
        .map_err(db("cannot connect to the server for the scratch database"))?;
    // A name made here, of letters, digits and underscores.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .map_err(db("cannot create the scratch database"))?;
    let scratch = with_database(admin_url, &name);
    let result = async {
        load(bytes, &scratch).await?;
        let mut conn = PgConnection::connect(&scratch)
            .await
            .map_err(db("cannot open the scratch database"))?;
        let found = figures(&mut conn).await;
        let _ = conn.close().await;
        found
    }
    .await;
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    {
        tracing::warn!(database = %name, error = %e, "the scratch database was not dropped; drop it by hand");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=require", "scratch"),
            "postgres://u:p@h:5432/scratch?sslmode=require"
        );
        assert_eq!(with_database("postgres://h", "s"), "postgres://h/s");
        assert_eq!(redact("postgres://u:p@h/db"), "postgres://u:***@h/db");
    }
}
