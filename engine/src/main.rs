//! The `roomcore` binary: parse configuration, run the server, map the result
//! to an exit code.

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
    if let Err(e) = engine::server::run(config) {
        eprintln!("roomcore: {e}");
        std::process::exit(1);
    }
}
