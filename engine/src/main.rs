//! The `roomcore` binary: parse configuration, run the server, map the result
//! to an exit code.

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        print!("{}", engine::config::usage());
        return;
    }
    let config = match engine::config::Config::from_env_and_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("roomcore: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = engine::server::run(config) {
        eprintln!("roomcore: {e}");
        std::process::exit(1);
    }
}
