//! The `trasealla` command: `serve` (the default), `migrate`, platform
//! admins, and licensing (`license keygen`, `request`, `activate`).

use clap::{Parser, Subcommand};
use trasealla::Config;

#[derive(Parser)]
#[command(
    name = "trasealla",
    version,
    about = "Trasealla CRM: a multi-tenant CRM server"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and pages (what runs with no command).
    Serve(Box<Config>),
    /// Apply pending database migrations, then exit.
    Migrate {
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "sqlite://./data/trasealla.db"
        )]
        database_url: String,
    },
    /// Manage platform administrators (the vendor's staff).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The background job queue.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Licensing: the vendor's signing keys, and offline activation.
    License {
        #[command(subcommand)]
        command: LicenseCommand,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Measures the queue on the configured database with no-op jobs:
    /// throughput (queued at once, then run by TRASEALLA_JOB_WORKERS
    /// workers) and the delay from enqueue to the end of the run on an idle
    /// queue. Use a database of its own: it leaves its jobs behind.
    Bench {
        /// No-op jobs for the throughput run.
        #[arg(long, default_value_t = 10_000)]
        jobs: usize,
        /// Jobs, one at a time, for the latency run.
        #[arg(long, default_value_t = 200)]
        samples: usize,
        #[command(flatten)]
        config: Box<Config>,
    },
}

#[derive(Subcommand)]
enum LicenseCommand {
    /// Write a new Ed25519 key pair: DIR/license.key (private, mode 0600)
    /// and DIR/license.pub.
    Keygen {
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Print this installation's fingerprint (on standard output, alone),
    /// for the vendor to issue a licence certificate for it: the offline
    /// way to activate. Use the database the server runs with.
    Request {
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "sqlite://./data/trasealla.db"
        )]
        database_url: String,
    },
    /// Activate this self-hosted installation from a licence certificate,
    /// with no route to the vendor. Creates the tenant and its owner; the
    /// owner's password is asked for, or read with --password-stdin.
    Activate {
        /// A file holding the certificate (TRASLIC1.…).
        #[arg(long)]
        certificate: std::path::PathBuf,
        #[arg(long)]
        company_name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        full_name: Option<String>,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        config: Box<Config>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a platform admin. The password is asked for (twice, not
    /// echoed), or read from standard input with --password-stdin.
    Create {
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "sqlite://./data/trasealla.db"
        )]
        database_url: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None => run_serve(cli.serve).await,
            Some(Command::Serve(config)) => run_serve(*config).await,
            Some(Command::Migrate { database_url }) => {
                trasealla::web::init_logging("text");
                let store = trasealla::store::Store::connect(&database_url).await?;
                let applied = store.migrate().await?;
                if applied.is_empty() {
                    println!("the database is up to date");
                } else {
                    println!("applied: {}", applied.join(", "));
                }
                Ok(())
            }
            Some(Command::Admin {
                command:
                    AdminCommand::Create {
                        username,
                        password_stdin,
                        database_url,
                    },
            }) => create_admin(&username, password_stdin, &database_url).await,
            Some(Command::Jobs {
                command:
                    JobsCommand::Bench {
                        jobs,
                        samples,
                        config,
                    },
            }) => bench_jobs(*config, jobs, samples).await,
            Some(Command::License {
                command: LicenseCommand::Keygen { out },
            }) => {
                let (private, public) = trasealla::licensing::cert::write_keypair(&out)?;
                println!(
                    "wrote {} (private: keep it secret) and {}",
                    private.display(),
                    public.display()
                );
                Ok(())
            }
            Some(Command::License {
                command: LicenseCommand::Request { database_url },
            }) => {
                use trasealla::clock::{Clock, SystemClock};
                let store = trasealla::store::Store::connect(&database_url).await?;
                store.migrate().await?;
                let instance = trasealla::platform::instance_id(&store, SystemClock.now()).await?;
                let fingerprint = trasealla::licensing::Fingerprint::of_instance(&instance);
                println!("{fingerprint}");
                eprintln!(
                    "This installation's fingerprint is {fingerprint}. Send it to your vendor: they issue a licence certificate for this installation, which you activate with `trasealla license activate --certificate FILE …`, or with POST /api/tenants/licenses/activate."
                );
                Ok(())
            }
            Some(Command::License {
                command:
                    LicenseCommand::Activate {
                        certificate,
                        company_name,
                        email,
                        full_name,
                        password_stdin,
                        config,
                    },
            }) => {
                let certificate = std::fs::read_to_string(&certificate)?;
                let password = read_password(&email, password_stdin)?;
                activate_offline(
                    *config,
                    certificate,
                    company_name,
                    email,
                    full_name,
                    password,
                )
                .await
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn create_admin(
    username: &str,
    password_stdin: bool,
    database_url: &str,
) -> anyhow::Result<()> {
    use trasealla::clock::{Clock, SystemClock};
    let username = trasealla::platform::parse_admin_username(username)?;
    let password = read_password(&username, password_stdin)?;
    let store = trasealla::store::Store::connect(database_url).await?;
    store.migrate().await?;
    match trasealla::platform::create_admin(&store, &username, &password, SystemClock.now()).await?
    {
        trasealla::platform::Created::New(id) => {
            println!("created platform admin {username} ({id})");
            Ok(())
        }
        trasealla::platform::Created::AlreadyExists => {
            anyhow::bail!(
                "a platform admin named {username} already exists; its password was not changed"
            )
        }
    }
}

/// A new password: the first line of standard input, or asked for twice
/// without echo.
fn read_password(who: &str, from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password(format!("Password for {who}: "))?;
    let again = rpassword::prompt_password("Again: ")?;
    anyhow::ensure!(first == again, "the passwords differ");
    Ok(first)
}

async fn activate_offline(
    config: Config,
    certificate: String,
    company_name: String,
    email: String,
    full_name: Option<String>,
    password: String,
) -> anyhow::Result<()> {
    use std::sync::Arc;
    use trasealla::clock::{Clock, SystemClock};
    anyhow::ensure!(
        config.mode == trasealla::licensing::Mode::SelfHosted,
        "offline activation is for self-hosted servers: set TRASEALLA_MODE=self_hosted"
    );
    let state = trasealla::App::start(config, Arc::new(SystemClock)).await?;
    let request: trasealla::licensing::vendor::ActivateRequest =
        serde_json::from_value(serde_json::json!({
            "certificate": certificate,
            "company_name": company_name,
            "email": email,
            "full_name": full_name,
            "password": password,
        }))?;
    let r = trasealla::licensing::installation::activate(
        &state.store,
        &state.licensing,
        request,
        SystemClock.now(),
    )
    .await
    .map_err(|e| {
        let detail = e.details.map(|d| format!(" ({d})")).unwrap_or_default();
        anyhow::anyhow!("{}{detail}", e.message)
    })?;
    println!(
        "activated: tenant {} ({}), plan {}, owner {}",
        r.tenant.name, r.tenant.slug, r.subscription.plan, r.user.email
    );
    Ok(())
}

async fn bench_jobs(config: Config, jobs: usize, samples: usize) -> anyhow::Result<()> {
    use std::sync::Arc;
    use trasealla::clock::SystemClock;
    let backend = config
        .database_url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let app = trasealla::App::start(config, Arc::new(SystemClock)).await?;
    let r = trasealla::jobs::bench::run(&app, jobs, samples).await?;
    println!(
        "{backend}: {} no-op jobs, {} workers: queued {:.0}/s, run {:.0}/s; enqueue-to-done on an idle queue over {} jobs: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        r.jobs,
        r.workers,
        r.enqueue_per_sec,
        r.run_per_sec,
        r.latency_samples,
        r.latency_p50_ms,
        r.latency_p99_ms,
        r.latency_max_ms
    );
    Ok(())
}

async fn run_serve(config: Config) -> anyhow::Result<()> {
    trasealla::web::init_logging(&config.log_format);
    trasealla::web::serve(config).await
}
