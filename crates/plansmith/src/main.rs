//! The `plansmith` binary: the command line for every operational task (serve, migrate,
//! config check, users). Errors end here as readable messages and a non-zero exit.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use plansmith_domain::{Email, Role};
use plansmith_server::{Application, Settings, open_store};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "plansmith",
    version,
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
    /// Apply pending database migrations, then exit.
    Migrate,
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

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration (file and environment) without starting anything.
    Check,
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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    if let Command::MockLlm(args) = cli.command {
        return mock_llm(args).await;
    }
    let settings = Settings::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            println!("configuration is valid");
            println!("  listen       = {}", settings.listen);
            println!("  database.url = {}", settings.database.url);
            println!(
                "  llm          = offline planner at {} tokens/s",
                settings.llm.offline.tokens_per_second
            );
            Ok(())
        }
        Command::Migrate => {
            init_logging(&settings);
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
        Command::Serve => serve(settings).await,
        Command::MockLlm(_) => unreachable!("handled before the settings are loaded"),
    }
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

async fn serve(settings: Settings) -> Result<()> {
    init_logging(&settings);
    let app = Application::build(settings).await?;
    let addr = app.local_addr();
    tracing::info!(%addr, "plansmith is listening");
    println!("Plansmith is running at http://{addr}");
    app.run_until_stopped(shutdown_signal()).await.context("server error")?;
    tracing::info!("stopped");
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

fn init_logging(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PLANSMITH_LOG")
        .or_else(|_| EnvFilter::try_new(&settings.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if settings.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(e) = result {
        eprintln!("warning: logging not initialised: {e}");
    }
}
