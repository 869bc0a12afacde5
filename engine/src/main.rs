//! The `roomcore` binary: parse configuration, then either run the server or one database
//! subcommand (`migrate`, `export`, `import`), and map the result to an exit code (2: bad
//! configuration, 1: start-up or subcommand failure).

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

use engine::config::{Config, Exit};

fn main() {
    let config = match Config::load() {
        Ok(c) => c,
        Err(Exit::Info(text)) => {
            print!("{text}");
            return;
        }
        Err(Exit::Invalid(e)) => {
            eprintln!("roomcore: {e}");
            std::process::exit(2);
        }
    };
    warn_password_on_command_line(&config);
    if let Some(cmd) = config.command.clone() {
        match engine::server::run_command(&config, &cmd) {
            Ok(done) => eprintln!("roomcore {}: {done}", cmd.name()),
            Err(e) => {
                eprintln!("roomcore {}: {e}", cmd.name());
                std::process::exit(1);
            }
        }
        return;
    }
    if let Err(e) = engine::server::run(config) {
        eprintln!("roomcore: {e}");
        std::process::exit(1);
    }
}

/// A password in `--database-url` is visible to every local user (`ps`, /proc): say so.
fn warn_password_on_command_line(config: &Config) {
    let on_command_line = std::env::args().any(|a| a.starts_with("--database-url"));
    if on_command_line
        && config
            .storage
            .database_url
            .as_ref()
            .is_some_and(|u| u.has_password())
    {
        eprintln!(
            "roomcore: warning: --database-url carries a password that every local user can \
             read in the process list; set DATABASE_URL in the environment instead"
        );
    }
}
