//! The `plansmith` binary: the command line for every operational task (serve, migrate,
//! config check, users). Errors end here as readable messages and a non-zero exit.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use plansmith_domain::{Email, Role};
use plansmith_server::config::given;
use plansmith_server::{Application, Settings, TlsCerts, open_store, redact_url};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: password hashing allocates 19 MiB aligned blocks,
/// which glibc did not reuse (every sign-up kept another 19 MiB resident).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `plansmith --version`: the release and the commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("PLANSMITH_COMMIT"), ")");

#[derive(Parser)]
#[command(
    name = "plansmith",
    version = VERSION,
    about = "Plansmith: plan software projects with an AI planning agent."
)]
struct Cli {
    /// Configuration file (TOML). Default: $PLANSMITH_CONFIG, else ./plansmith.toml when present.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server and API (creates the database and applies migrations by default).
    Serve,
    /// Apply pending database migrations, then exit (`--list`: show them instead).
    Migrate {
        /// List every migration with its version and whether it is applied; change nothing.
        #[arg(long)]
        list: bool,
        #[command(subcommand)]
        command: Option<MigrateCommand>,
    },
    /// Back up the database, verify a backup, or restore one. Exit codes: 0 success, 1 the
    /// backup does not verify (or the operation failed), 2 a usage error.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// The audit trail: `verify` walks its hash chain and signed checkpoints. Exit codes: 0
    /// intact, 1 broken (the first bad entry is named), 2 a usage error.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The data protection keys (`crypto.keys`): `rotate` moves everything signed or wrapped
    /// with an older key to `crypto.current_key`, online and resumable; keep the old key
    /// configured until it has finished.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Apply the retention periods (`retention.*`) once, as the daily job inside `serve` does,
    /// and print what was removed.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Compliance: `evidence --out DIR` collects the machine-verifiable evidence (redacted
    /// configuration, audit chain and backup verification, dependency scan, test summary) into
    /// a dated folder. Exit 1 when a check fails (written down in the folder).
    Compliance {
        #[command(subcommand)]
        command: ComplianceCommand,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run a mock model provider speaking the OpenAI and Anthropic streaming protocols, for
    /// tests and load tests. Its replies use the model output protocol (chat text plus a
    /// `<section id=…>` draft of the first empty section named in the prompt) and report usage.
    /// Point a provider's `base_url` at http://ADDR/v1. With no options it behaves like a healthy
    /// provider with realistic timing.
    MockLlm(MockArgs),
    /// Load-test a running Plansmith: virtual users sign up (before the timed phase), start a
    /// session, send messages with think time, read each reply's stream to the end, read the
    /// documents and complete the step. Writes report.json and report.md (p50/p95/p99 per
    /// endpoint, time to first token, errors, server CPU and memory). Exits non-zero when
    /// requests failed or a threshold is crossed.
    Loadtest(Box<LoadArgs>),
    /// Fill the database with a realistic, reproducible history for the analytics: accounts
    /// signing up over the months (growing 8 % a month), some subscribing through Stripe-shaped
    /// events applied as the webhook applies them — upgrades, downgrades, seat changes, failed
    /// payments, churn and returns — so the dashboard has something to show on a fresh install.
    DemoData {
        /// Accounts to create.
        #[arg(long, default_value_t = 1000)]
        users: u32,
        /// Months of history, ending now.
        #[arg(long, default_value_t = 24)]
        months: u32,
        /// The same seed makes the same history; another seed adds another set of accounts.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Manage user accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(clap::Args)]
struct MockArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: String,
    /// Delay before the first token, in milliseconds.
    #[arg(long, default_value_t = 400)]
    ttft_ms: u64,
    /// Streaming speed after the first token.
    #[arg(long, default_value_t = 40.0)]
    tokens_per_second: f64,
    /// Length of each reply in tokens.
    #[arg(long, default_value_t = 300)]
    reply_tokens: usize,
    /// Fault to inject: 429 (with Retry-After), 401, 500, 503, hang (no headers), stall (after
    /// --fault-after tokens), cut (close after --fault-after tokens without the end marker),
    /// malformed (a broken chunk), overloaded (Anthropic overloaded_error mid-stream).
    #[arg(long)]
    fault: Option<plansmith_mock_llm::Fault>,
    /// Share of requests that get the fault, 0.0–1.0 (spread evenly).
    #[arg(long, default_value_t = 1.0)]
    fault_rate: f64,
    /// Tokens sent before a mid-stream fault.
    #[arg(long, default_value_t = 5)]
    fault_after: usize,
    /// Seconds announced in Retry-After with the 429 fault.
    #[arg(long, default_value_t = 1)]
    retry_after: u64,
}

#[derive(clap::Args)]
struct LoadArgs {
    /// Base URL of the server under test.
    #[arg(long)]
    url: String,
    /// Concurrent planning sessions (one virtual user each).
    #[arg(long, default_value_t = 50)]
    sessions: usize,
    /// Time over which the sessions start, e.g. 10s.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    ramp_up: std::time::Duration,
    /// Hard stop of the timed phase, e.g. 20s or 2m (sessions cut off by it are not errors).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: std::time::Duration,
    /// Think time between messages: a fixed time (2s) or a uniform range (1s..3s).
    #[arg(long, default_value = "1s..3s")]
    think_time: String,
    /// Messages per session (the last one asks to draft the rest).
    #[arg(long, default_value_t = 3)]
    messages: usize,
    /// Seed for think times.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Workflow of the sessions.
    #[arg(long, default_value = "quick-brief")]
    workflow: String,
    /// Folder for report.json and report.md.
    #[arg(long, default_value = "./loadtest-report/")]
    out: PathBuf,
    /// Fail when an API call's p95 exceeds this (ms).
    #[arg(long)]
    p95_ms: Option<f64>,
    /// Fail when an API call's p99 exceeds this (ms).
    #[arg(long)]
    p99_ms: Option<f64>,
    /// Fail when more than this share of requests failed (0.0–1.0).
    #[arg(long)]
    max_error_rate: Option<f64>,
    /// Thresholds from a TOML file (keys p95_ms, p99_ms, max_error_rate); options win.
    #[arg(long)]
    thresholds: Option<PathBuf>,
    /// The server's metrics, for its CPU and memory in the report: its `metrics.listen`
    /// address (e.g. http://127.0.0.1:9464/metrics). Default: /metrics on --url.
    #[arg(long)]
    metrics_url: Option<String>,
    /// Bearer token for /metrics on the main listener (the server's `metrics.token`).
    #[arg(long)]
    metrics_token: Option<String>,
    /// The provider's configured time to first token (ms), for the report.
    #[arg(long)]
    provider_ttft_ms: Option<u64>,
    /// The provider's configured tokens per second, for the report.
    #[arg(long)]
    provider_tokens_per_second: Option<f64>,
}

/// `500ms`, `20s`, `2m`, `1h`.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 500ms, 20s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("'{text}': unknown unit '{unit}'; use ms, s, m or h")),
    };
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration (file and environment) without starting anything; every
    /// problem is reported. `--connect` also checks that the database and Redis answer.
    Check {
        #[arg(long)]
        connect: bool,
    },
    /// List the settings two configurations give differently (secrets redacted). A and B are
    /// TOML files (`*.toml`) or files of `PLANSMITH_*=value` lines; `--base` files are layered
    /// under both, in order. Exit 0 when they agree, 1 when they differ, 2 on an error.
    Diff {
        /// Layered under both sides, in order (e.g. deploy/k8s/base/config.env).
        #[arg(long, value_name = "FILE")]
        base: Vec<PathBuf>,
        a: PathBuf,
        b: PathBuf,
    },
}

#[derive(Subcommand)]
enum MigrateCommand {
    /// Revert migrations above VERSION with their down scripts, newest first; VERSION stays
    /// applied (0: an empty database). Versions are those `migrate --list` prints. Back up
    /// first: what a reverted migration added is dropped.
    Down {
        #[arg(long, value_name = "VERSION")]
        to: i64,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Back up the configured database (`database.url`) to PATH: encrypted with `backup.key`
    /// (AES-256-GCM), checksummed, with a manifest of row counts and content digests. Safe
    /// while the server runs.
    Create {
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Check a backup whole: checksum, decryption, a restore into a scratch database and every
    /// table against the manifest. A PostgreSQL backup is restored into a temporary database on
    /// the server of `--scratch-url` (default `database.url`), dropped afterwards.
    Verify {
        path: PathBuf,
        #[arg(long, value_name = "URL")]
        scratch_url: Option<String>,
    },
    /// Restore a backup into the database at `--database-url` (of the backup's kind). Refuses
    /// a target that holds data unless `--force` (which replaces it). Stop the servers that use
    /// the target first.
    Restore {
        path: PathBuf,
        #[arg(long, value_name = "URL")]
        database_url: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the audit chain of the configured database from its oldest kept checkpoint: every
    /// entry's hash, its link to the one before, and every checkpoint's signature.
    Verify,
}

#[derive(Subcommand)]
enum ComplianceCommand {
    /// Collect the evidence into DIR/plansmith-evidence-<UTC time>/ (docs/compliance/soc2.md).
    Evidence {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Run the retention job now.
    Run,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Seal what was stored before content was encrypted (titles, ideas, messages, reply
    /// events, document revisions) with each account's data key, in batches, while the server
    /// runs; safe to run again (it finds only what is left).
    Backfill,
    /// Re-wrap every data key with the current key and re-sign the audit checkpoints with it,
    /// reporting progress; online, and safe to run again after an interruption.
    Rotate,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Give a user a role (`member` or `admin`); takes effect on their next request.
    SetRole {
        /// The user's email address.
        email: String,
        /// `member` or `admin`.
        role: String,
    },
}

/// The migration that adds the data keys (`0014_data_keys`).
const DATA_KEYS_MIGRATION: i64 = 14;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(QuietExit(code)) = e.downcast_ref::<QuietExit>() {
                return ExitCode::from(*code);
            }
            eprintln!("error: {e:#}");
            if let Some(UsageError(_)) = e.downcast_ref::<UsageError>() {
                return ExitCode::from(2);
            }
            match e.downcast_ref::<BackupFailure>() {
                Some(failure) => ExitCode::from(failure.0.exit_code()),
                None => ExitCode::FAILURE,
            }
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let cli = match cli.command {
        Command::MockLlm(args) => return mock_llm(args).await,
        Command::Loadtest(args) => return loadtest(*args).await,
        Command::Backup { command } => return backup(cli.config.as_deref(), command).await,
        Command::Config {
            command: ConfigCommand::Diff { base, a, b },
        } => return config_diff(&base, &a, &b),
        _ => cli,
    };
    let settings = Settings::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check { connect },
        } => {
            let mut problems = plansmith_server::app::check_dependencies(&settings, connect).await;
            let keys = plansmith_server::crypto::Keyring::describe(&settings).unwrap_or_else(|e| {
                problems.push(e.to_string());
                String::new()
            });
            if !problems.is_empty() {
                bail!("invalid configuration:\n  {}", problems.join("\n  "));
            }
            println!(
                "configuration is valid{}",
                if connect { "; the database and Redis answer" } else { "" }
            );
            println!("  listen       = {}", settings.listen);
            println!("  database.url = {}", redact_url(&settings.database.url));
            println!("  shared state = {}", settings.cache_mode());
            println!("  keys         = {keys}");
            let metrics = match (given(&settings.metrics.listen), &settings.metrics.token) {
                (Some(addr), _) => format!("on http://{addr}/metrics"),
                (None, Some(_)) => "on /metrics of the main listener, with metrics.token".into(),
                (None, None) => "not served (set metrics.listen or metrics.token)".into(),
            };
            println!("  metrics      = {metrics}");
            match settings.tls_files() {
                Some((cert, key)) => {
                    TlsCerts::load(cert, key)?;
                    println!("  tls          = on, certificate {cert}");
                }
                None => println!("  tls          = off (plain HTTP)"),
            }
            let route: Vec<String> = settings
                .llm
                .route
                .iter()
                .map(|name| match settings.llm.providers.iter().find(|p| &p.name == name) {
                    Some(p) => format!(
                        "{name} ({:?}, {}, {})",
                        p.kind,
                        p.model.as_deref().unwrap_or("default model"),
                        p.base_url.as_deref().unwrap_or("the provider's API")
                    ),
                    None => format!(
                        "{name} (built-in planner, {} tokens/s)",
                        settings.llm.offline.tokens_per_second
                    ),
                })
                .collect();
            println!("  llm route    = {}", route.join(" → "));
            Ok(())
        }
        Command::Migrate {
            command: Some(MigrateCommand::Down { to }),
            ..
        } => {
            let store = open_store(&settings, false).await?;
            let known = store.migrations().await?;
            if to != 0 && !known.iter().any(|m| m.version == to) {
                let versions: Vec<String> = known.iter().map(|m| m.version.to_string()).collect();
                bail!(
                    "{to} is not a migration version; use 0 or one of {}",
                    versions.join(", ")
                );
            }
            // Migration 14 holds the data keys: without them sealed content cannot be opened
            // again, by any release.
            if to < DATA_KEYS_MIGRATION && !store.data_key_samples().await?.is_empty() {
                bail!(
                    "going below migration {DATA_KEYS_MIGRATION} would drop the data keys that open the accounts' sealed content, which nothing could open again; restore the backup taken before the upgrade instead (docs/migrations.md)"
                );
            }
            let reverted = store.migrate_down(to).await.context("migration down failed")?;
            println!("{reverted} migration(s) reverted; the database is at version {to}");
            Ok(())
        }
        Command::Migrate { list: true, .. } => {
            let store = open_store(&settings, false).await?;
            for m in store.migrations().await? {
                let state = if m.applied { "applied" } else { "pending" };
                println!("{:>4}  {state:<8} {}", m.version, m.description);
            }
            Ok(())
        }
        Command::Migrate { list: false, .. } => {
            let _logging = plansmith_server::traces::init(&settings);
            let store = open_store(&settings, false).await?;
            let applied = store.migrate().await.context("migration failed")?;
            println!("{applied} migration(s) applied; the database is up to date");
            Ok(())
        }
        Command::Users {
            command: UsersCommand::SetRole { email, role },
        } => {
            let email = Email::parse(&email).map_err(anyhow::Error::msg)?;
            let Some(role) = Role::parse(&role) else {
                bail!("role must be member or admin, not '{role}'")
            };
            let store = open_store(&settings, true).await?;
            if !store.set_user_role(&email, role).await? {
                bail!("there is no user with the email {email}");
            }
            println!("{email} is now {}", role.as_str());
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let keys = std::sync::Arc::new(
                plansmith_server::crypto::Keyring::load_existing(&settings).map_err(|e| UsageError(e.to_string()))?,
            );
            let store = open_store(&settings, false).await?;
            match plansmith_server::audit::verify_chain(store.as_ref(), keys.as_ref()).await? {
                Ok(report) => {
                    println!(
                        "audit chain intact: {} entries{}, {} signed checkpoints",
                        report.entries,
                        match (report.first_seq, report.last_seq) {
                            (Some(first), Some(last)) => format!(" ({first}–{last})"),
                            _ => String::new(),
                        },
                        report.checkpoints
                    );
                    Ok(())
                }
                Err(broken) => {
                    eprintln!("audit chain broken: {broken}");
                    Err(QuietExit(1).into())
                }
            }
        }
        Command::Keys {
            command: KeysCommand::Backfill,
        } => {
            let keys = std::sync::Arc::new(
                plansmith_server::crypto::Keyring::load_existing(&settings).map_err(|e| UsageError(e.to_string()))?,
            );
            let store = open_store(&settings, false).await?;
            let total = plansmith_server::sealed::backfill(store.clone(), keys.clone(), |column, n| {
                println!("{}: {n} sealed so far", column.name());
            })
            .await
            .map_err(|e| anyhow::anyhow!("backfill stopped (run it again to resume): {e}"))?;
            println!("backfill finished: {total} values sealed");
            plansmith_server::audit::record_system(store.as_ref(), keys, "keys.backfill", Some(total.to_string()))
                .await?;
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let keys = std::sync::Arc::new(
                plansmith_server::crypto::Keyring::load_existing(&settings).map_err(|e| UsageError(e.to_string()))?,
            );
            let store = open_store(&settings, false).await?;
            let current = keys.current_id().to_owned();
            let done = plansmith_server::crypto::rotate(store.as_ref(), keys.clone(), |n| {
                println!("re-wrapped {n} data keys so far");
            })
            .await
            .map_err(|e| anyhow::anyhow!("rotation stopped (run it again to resume): {e}"))?;
            println!(
                "re-wrapped {} data keys and re-signed {} audit checkpoints with key {current}",
                done.data_keys, done.checkpoints
            );
            println!(
                "an older key may be removed once every instance runs with crypto.current_key = {current} and a run of this command re-wraps 0"
            );
            plansmith_server::audit::record_system(store.as_ref(), keys, "keys.rotate", Some(current.clone())).await?;
            println!("rotation to key {current} finished");
            Ok(())
        }
        Command::Compliance {
            command: ComplianceCommand::Evidence { out },
        } => {
            let evidence = plansmith_server::evidence::collect(&settings, &out)
                .await
                .map_err(|e| anyhow::anyhow!("evidence: {e}"))?;
            println!(
                "evidence written to {}: {}",
                evidence.folder.display(),
                evidence.files.join(", ")
            );
            if evidence.failures.is_empty() {
                return Ok(());
            }
            eprintln!("checks failed: {}", evidence.failures.join("; "));
            Err(QuietExit(1).into())
        }
        Command::Retention {
            command: RetentionCommand::Run,
        } => {
            let keys = std::sync::Arc::new(
                plansmith_server::crypto::Keyring::load_existing(&settings).map_err(|e| UsageError(e.to_string()))?,
            );
            let store = open_store(&settings, false).await?;
            let report = plansmith_server::retention::run_once(store.as_ref(), keys, &settings.retention).await?;
            println!(
                "retention applied: {} model calls folded into monthly totals, {} security events, {} sessions marked abandoned, {} abandoned sessions deleted, {} audit entries pruned",
                report.llm_calls,
                report.security_events,
                report.sessions_abandoned,
                report.sessions_deleted,
                report.audit_entries
            );
            Ok(())
        }
        Command::DemoData { users, months, seed } => {
            if users == 0 || months == 0 || months > 120 {
                return Err(
                    UsageError("demo-data needs --users of at least 1 and --months from 1 to 120".into()).into(),
                );
            }
            let keys = std::sync::Arc::new(
                plansmith_server::crypto::Keyring::load(&settings).map_err(|e| UsageError(e.to_string()))?,
            );
            // The sessions' words are sealed as the server seals people's content.
            let store: std::sync::Arc<dyn plansmith_store::Store> =
                std::sync::Arc::new(plansmith_server::sealed::SealedStore::new(
                    open_store(&settings, true).await?,
                    keys,
                    settings.crypto.seal_writes,
                ));
            let options = plansmith_server::demo::DemoOptions { users, months, seed };
            let started = std::time::Instant::now();
            let report = plansmith_server::demo::fill(store.as_ref(), options).await?;
            let mrr: Vec<String> = report
                .mrr
                .iter()
                .map(|(currency, cents)| format!("{currency} {}.{:02}", cents / 100, cents % 100))
                .collect();
            println!(
                "demo data (seed {seed}): {} accounts, {} planning sessions ({} ratings, {} surveys), {} product events, {} customers, {} billing events over {months} months in {:.1}s; MRR now {}",
                report.users,
                report.sessions,
                report.ratings,
                report.surveys,
                report.product_events,
                report.customers,
                report.events,
                started.elapsed().as_secs_f64(),
                if mrr.is_empty() {
                    "none".to_owned()
                } else {
                    mrr.join(", ")
                }
            );
            Ok(())
        }
        Command::Serve => serve(settings).await,
        Command::MockLlm(_)
        | Command::Loadtest(_)
        | Command::Backup { .. }
        | Command::Config {
            command: ConfigCommand::Diff { .. },
        } => {
            unreachable!("handled before the settings are loaded")
        }
    }
}

async fn loadtest(args: LoadArgs) -> Result<()> {
    let (think_min, think_max) = match args.think_time.split_once("..") {
        Some((a, b)) => (
            parse_duration(a).map_err(anyhow::Error::msg)?,
            parse_duration(b).map_err(anyhow::Error::msg)?,
        ),
        None => {
            let d = parse_duration(&args.think_time).map_err(anyhow::Error::msg)?;
            (d, d)
        }
    };
    if think_max < think_min {
        bail!("--think-time: the range must go from the shorter to the longer time");
    }
    if args.sessions == 0 {
        bail!("--sessions must be at least 1");
    }
    let mut thresholds = plansmith_loadtest::Thresholds::default();
    if let Some(file) = &args.thresholds {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let table: toml::Table =
            toml::from_str(&text).with_context(|| format!("{} is not valid TOML", file.display()))?;
        let get = |key: &str| {
            table
                .get(key)
                .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
        };
        thresholds = plansmith_loadtest::Thresholds {
            p95_ms: get("p95_ms"),
            p99_ms: get("p99_ms"),
            max_error_rate: get("max_error_rate"),
        };
    }
    thresholds.p95_ms = args.p95_ms.or(thresholds.p95_ms);
    thresholds.p99_ms = args.p99_ms.or(thresholds.p99_ms);
    thresholds.max_error_rate = args.max_error_rate.or(thresholds.max_error_rate);
    let options = plansmith_loadtest::Options {
        url: args.url,
        sessions: args.sessions,
        ramp_up: args.ramp_up,
        duration: args.duration,
        think_min,
        think_max,
        messages: args.messages,
        seed: args.seed,
        workflow: args.workflow,
        provider_ttft: args.provider_ttft_ms.map(std::time::Duration::from_millis),
        provider_tokens_per_second: args.provider_tokens_per_second,
        metrics_url: args.metrics_url,
        metrics_token: args.metrics_token,
    };
    let report = plansmith_loadtest::run(options).await?;
    report
        .write(&args.out)
        .with_context(|| format!("cannot write the report to {}", args.out.display()))?;
    print!("{}", report.markdown());
    println!(
        "
Report: {}",
        args.out.join("report.md").display()
    );
    let violations = report.violations(&thresholds);
    let no_thresholds =
        thresholds.p95_ms.is_none() && thresholds.p99_ms.is_none() && thresholds.max_error_rate.is_none();
    if no_thresholds && !report.errors.is_empty() {
        bail!("{} requests failed", report.errors.values().sum::<u64>());
    }
    if !violations.is_empty() {
        bail!("thresholds crossed:\n  {}", violations.join("\n  "));
    }
    Ok(())
}

async fn mock_llm(args: MockArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&args.fault_rate) {
        bail!("--fault-rate must be between 0 and 1");
    }
    if args.tokens_per_second <= 0.0 {
        bail!("--tokens-per-second must be above 0");
    }
    let options = plansmith_mock_llm::MockOptions {
        time_to_first_token: std::time::Duration::from_millis(args.ttft_ms),
        tokens_per_second: args.tokens_per_second,
        reply_tokens: args.reply_tokens.max(1),
        fault: args.fault,
        fault_rate: args.fault_rate,
        fault_after_tokens: args.fault_after,
        retry_after_seconds: args.retry_after,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let (router, _stats) = plansmith_mock_llm::router(options);
    println!("Mock LLM provider at http://{addr}/v1 (OpenAI: /v1/chat/completions, Anthropic: /v1/messages)");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// A backup command's failure, with the exit code it deserves (1 does not verify or failed,
/// 2 usage).
#[derive(Debug)]
struct BackupFailure(plansmith_backup::BackupError);

impl std::fmt::Display for BackupFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BackupFailure {}

/// Ends the command with this exit status after it printed what it had to say (e.g. `config
/// diff` found differences: 1).
#[derive(Debug)]
struct QuietExit(u8);

impl std::fmt::Display for QuietExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for QuietExit {}

/// A command used wrongly (a missing or unreadable file, an invalid setting): exit status 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `plansmith config diff [--base FILE]… A B`.
fn config_diff(base: &[PathBuf], a: &std::path::Path, b: &std::path::Path) -> Result<()> {
    let load = |side: &std::path::Path| {
        let files: Vec<&std::path::Path> = base.iter().map(PathBuf::as_path).chain([side]).collect();
        Settings::load_files(&files).map_err(|e| UsageError(format!("{}: {e}", side.display())))
    };
    let (left, right) = (load(a)?, load(b)?);
    let differences = plansmith_server::config::diff::diff(&left, &right);
    if differences.is_empty() {
        println!("{} and {} give the same settings", a.display(), b.display());
        return Ok(());
    }
    println!(
        "{} setting{} differ between {} and {}:",
        differences.len(),
        if differences.len() == 1 { "" } else { "s" },
        a.display(),
        b.display()
    );
    for d in &differences {
        println!("  {d}");
    }
    Err(QuietExit(1).into())
}

async fn backup(config: Option<&std::path::Path>, command: BackupCommand) -> Result<()> {
    use plansmith_backup::{BackupError, BackupKey, Database};
    let usage = |e: String| anyhow::Error::new(BackupFailure(BackupError::Usage(e)));
    let settings = Settings::load(config, std::env::vars()).map_err(|e| usage(e.to_string()))?;
    let key = given(&settings.backup.key).ok_or_else(|| {
        usage("backup.key is not set (PLANSMITH_BACKUP__KEY: 32 bytes in base64, e.g. openssl rand -base64 32)".into())
    })?;
    let key = BackupKey::from_base64(key).map_err(BackupFailure)?;
    match command {
        BackupCommand::Create { out } => {
            let source = Database::from_url(&settings.database.url).map_err(BackupFailure)?;
            let started = std::time::Instant::now();
            let manifest = plansmith_backup::create(&source, &key, &out)
                .await
                .map_err(BackupFailure)?;
            println!(
                "backup of {} written to {} in {:.1} s: schema version {}, {} tables, {} rows",
                manifest.source,
                out.display(),
                started.elapsed().as_secs_f64(),
                manifest.schema_version,
                manifest.tables.len(),
                manifest.rows()
            );
        }
        BackupCommand::Verify { path, scratch_url } => {
            let scratch = scratch_url.or_else(|| {
                let url = &settings.database.url;
                url.starts_with("postgres").then(|| url.clone())
            });
            let verified = plansmith_backup::verify(&path, &key, scratch.as_deref())
                .await
                .map_err(BackupFailure)?;
            let m = &verified.manifest;
            println!(
                "{} verifies: {} backup of {} taken {}, schema version {}, {} tables and {} rows restored and matched",
                path.display(),
                m.kind,
                m.source,
                m.created_at.to_rfc3339(),
                m.schema_version,
                verified.tables_checked,
                m.rows()
            );
        }
        BackupCommand::Restore {
            path,
            database_url,
            force,
        } => {
            let target = Database::from_url(&database_url).map_err(BackupFailure)?;
            // The erasure log is read first: a log that cannot be read stops the restore before
            // it touches anything.
            let log = std::path::Path::new(&settings.backup.erasure_log);
            let erasures =
                plansmith_server::erasures::read(log).map_err(|e| usage(format!("backup.erasure_log: {e}")))?;
            if !log.exists() {
                eprintln!(
                    "warning: there is no erasure log at {} (backup.erasure_log): accounts erased after this backup was taken come back with it; point backup.erasure_log at the log the servers wrote",
                    log.display()
                );
            }
            let started = std::time::Instant::now();
            let m = plansmith_backup::restore(&path, &key, &target, force)
                .await
                .map_err(BackupFailure)?;
            println!(
                "restored {} (taken {}, schema version {}) into {} in {:.1} s: {} tables, {} rows, all matching the manifest",
                path.display(),
                m.created_at.to_rfc3339(),
                m.schema_version,
                target.describe(),
                started.elapsed().as_secs_f64(),
                m.tables.len(),
                m.rows()
            );
            // Whoever was erased after the backup is erased again.
            let mut restored = settings.clone();
            restored.database.url = database_url.clone();
            let store = open_store(&restored, true).await?;
            let again = plansmith_server::erasures::reapply(store.as_ref(), &erasures).await?;
            println!(
                "re-applied {} of the {} erasures in {} (accounts erased after the backup was taken)",
                again.len(),
                erasures.len(),
                log.display()
            );
        }
    }
    Ok(())
}

async fn serve(settings: Settings) -> Result<()> {
    // Held to the end: dropping it flushes the traces still queued.
    let _logging = plansmith_server::traces::init(&settings);
    let app = Application::build(settings).await?;
    // Before the start is announced, so a SIGHUP right after it reloads instead of ending us.
    reload_on_hangup(app.tls())?;
    let addr = app.local_addr();
    tracing::info!(%addr, tls = app.tls().is_some(), "plansmith is listening");
    println!("Plansmith is running at {}", app.base_url());
    app.run_until_stopped(shutdown_signal()).await.context("server error")?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP reads the listener's certificate and key again (a renewed certificate is served to
/// new connections); a failed reload is logged and the certificate in use stays.
#[cfg(unix)]
fn reload_on_hangup(tls: Option<std::sync::Arc<TlsCerts>>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let Some(tls) = &tls else {
                tracing::info!("SIGHUP: nothing to reload (no http.tls_cert)");
                continue;
            };
            match tls.reload() {
                Ok(()) => tracing::info!(cert = %tls.cert_path().display(), "SIGHUP: TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: TLS certificate not reloaded; still serving the previous one")
                }
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn reload_on_hangup(_: Option<std::sync::Arc<TlsCerts>>) -> Result<()> {
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
