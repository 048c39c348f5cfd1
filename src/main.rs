//! The `trasealla` command: `serve` (the default) and `migrate`.

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
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password(format!("Password for {username}: "))?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == again, "the passwords differ");
        first
    };
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

async fn run_serve(config: Config) -> anyhow::Result<()> {
    trasealla::web::init_logging(&config.log_format);
    trasealla::web::serve(config).await
}
