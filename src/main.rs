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

async fn run_serve(config: Config) -> anyhow::Result<()> {
    trasealla::web::init_logging(&config.log_format);
    trasealla::web::serve(config).await
}
