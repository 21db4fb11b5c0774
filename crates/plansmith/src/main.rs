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
    /// Manage user accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
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
    }
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
