//! Server start-up and shutdown: open storage, bind one SO_REUSEPORT listener per shard,
//! start the shard pool with the engine on every shard, turn SIGTERM / SIGINT into a
//! graceful drain, and wait for every shard to finish. Also the database subcommands
//! (`roomcore migrate|export|import`, [`run_command`]), which open no listener.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::thread;

use storage::{StorageConfig, StorageError, TransferCounts};

use shards::pool::{self, PoolConfig};
use shards::{Heartbeat, Settings};

use crate::api::ServicesSeed;
use crate::app::Engine;
use crate::cluster::{self, NodeConfig};
use crate::config::{Config, DbCommand};
use crate::global::Global;
use crate::memory::MemoryWatch;
use crate::ws;

/// The runtime's knobs, from the configuration.
fn settings(c: &Config) -> Settings {
    let tick = [
        std::time::Duration::from_millis(250),
        c.ws.ping_interval / 2,
        c.ws.ping_timeout / 2,
        c.http.head_timeout / 4,
        c.ws.close_timeout / 2,
    ]
    .into_iter()
    .min()
    .unwrap_or(std::time::Duration::from_millis(250))
    .max(std::time::Duration::from_millis(10));
    Settings {
        tick,
        heartbeat: Heartbeat {
            interval: c.ws.ping_interval,
            timeout: c.ws.ping_timeout,
            ping: ws::ping_frame().to_vec(),
        },
        drain: c.server.shutdown_drain,
    }
}

/// Run the server until a signal drains it. Returns the address it listened on.
pub fn run(config: Config) -> Result<SocketAddr, String> {
    let telemetry = crate::telemetry::init(&config)?;
    std::fs::create_dir_all(&config.server.data_dir).map_err(|e| {
        format!(
            "cannot create data dir {}: {e}",
            config.server.data_dir.display()
        )
    })?;
    let pool_cfg = PoolConfig {
        listen: config.server.listen,
        shards: config.shards(),
        pin_cores: config.server.pin_cores,
        backlog: config.server.backlog,
        io_ring_depth: config.server.io_ring_depth,
    };
    let (addr, listeners) = pool::listen(&pool_cfg)?;

    let memory = MemoryWatch::start(config.observability.memory_limit_bytes)
        .map_err(|e| format!("cannot start the memory thread: {e}"))?;
    let global = Arc::new(Global::new(config.shards(), memory));
    let config = Arc::new(config);
    let seed = ServicesSeed::open(&config)?;
    global.set_storage_open();
    install_signals(global.clone())?;

    let cluster = match NodeConfig::from_args(&config.cluster, addr) {
        Some(node) => {
            log!(
                Info,
                "cluster member",
                node = node.node_id,
                public_url = node.public_url
            );
            Some(cluster::start(node, config.shards())?)
        }
        None => None,
    };
    let make = {
        let (config, global, seed) = (config.clone(), global.clone(), seed.clone());
        move |id: usize| {
            Engine::new(
                id,
                config.clone(),
                global.clone(),
                seed.on_shard(id),
                cluster.as_ref(),
            )
        }
    };
    let pool = pool::start(
        &pool_cfg,
        addr,
        listeners,
        global.lifecycle.clone(),
        settings(&config),
        make,
    )?;
    log!(Info, "listening", addr = addr, shards = config.shards());
    println!("roomcore listening on {addr}");

    let failed = pool.join();
    seed.close();
    // Spans and reports still queued: at most 1 s each, so a dead collector delays exit little.
    telemetry.shutdown(std::time::Duration::from_secs(1));
    if failed > 0 {
        return Err(format!("{failed} shard(s) failed"));
    }
    log!(Info, "stopped");
    Ok(addr)
}

fn install_signals(global: Arc<Global>) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if global.lifecycle.begin_drain() {
                    log!(Info, "signal received, draining", signal = sig);
                } else {
                    log!(Warn, "second signal: exiting now", signal = sig);
                    std::process::exit(1);
                }
            }
        })
        .map_err(|e| format!("cannot start signal thread: {e}"))?;
    Ok(())
}

/// Run one database subcommand against the database the configuration names (DATABASE_URL,
/// else the SQLite file). Returns what was done, for stderr; stdout carries only an export.
pub fn run_command(config: &Config, cmd: &DbCommand) -> Result<String, String> {
    let cfg = config.storage.storage_config(&config.api, 1);
    let place = cfg.describe();
    let sqlite = cfg.engine().map_err(|e| e.to_string())? == storage::Engine::Sqlite;
    match cmd {
        DbCommand::Migrate => {
            let before = storage::inspect::schema_version_in(&cfg).unwrap_or(0);
            let v = storage::migrate(&cfg).map_err(|e| explain_storage_error(&cfg, &e))?;
            Ok(if before == v {
                format!("{place} is at schema version {v}; nothing to do")
            } else {
                format!("{place} migrated from schema version {before} to {v}")
            })
        }
        DbCommand::Export { output } => {
            if sqlite && !cfg.path.is_file() {
                return Err(format!(
                    "no SQLite database at {place} (set --data-dir or --storage-db-path, or \
                     DATABASE_URL for PostgreSQL)"
                ));
            }
            let counts = if output.as_os_str() == "-" {
                storage::export(&cfg, std::io::stdout().lock())
                    .map_err(|e| explain_storage_error(&cfg, &e))?
            } else {
                export_to_file(&cfg, output)?
            };
            let to = if output.as_os_str() == "-" {
                "stdout".to_string()
            } else {
                output.display().to_string()
            };
            Ok(format!(
                "exported {} from {place} to {to}",
                summary(&counts)
            ))
        }
        DbCommand::Import { input } => {
            let counts = if input.as_os_str() == "-" {
                storage::import(&cfg, std::io::stdin().lock())
            } else {
                let f = std::fs::File::open(input)
                    .map_err(|e| format!("cannot read {}: {e}", input.display()))?;
                storage::import(&cfg, f)
            }
            .map_err(|e| explain_storage_error(&cfg, &e))?;
            Ok(format!("imported {} into {place}", summary(&counts)))
        }
    }
}

/// Export into a new file (mode 0600: it holds password hashes), synced; a failed export
/// leaves no file behind.
fn export_to_file(cfg: &StorageConfig, path: &Path) -> Result<TransferCounts, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                format!("{} exists; refusing to overwrite it", path.display())
            }
            _ => format!("cannot create {}: {e}", path.display()),
        })?;
    let res = storage::export(cfg, &file)
        .map_err(|e| explain_storage_error(cfg, &e))
        .and_then(|c| {
            (&file)
                .flush()
                .and_then(|_| file.sync_all())
                .map(|_| c)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        });
    if res.is_err() {
        let _ = std::fs::remove_file(path);
    }
    res
}

fn summary(c: &TransferCounts) -> String {
    format!(
        "{} accounts, {} scores, {} all-time bests, {} daily bests, {} ratings, {} finished \
         games, {} room snapshots",
        c.accounts, c.scores, c.best_alltime, c.best_daily, c.ratings, c.games, c.rooms
    )
}

/// A storage error at start-up or in a subcommand, with what to do about it. Never holds
/// the database password (errors carry the redacted URL).
pub fn explain_storage_error(cfg: &StorageConfig, e: &StorageError) -> String {
    match e {
        StorageError::TooNew { .. } => format!(
            "{e}: {} was migrated by a newer roomcore; run that release (or a newer one), \
             never an older one, against it",
            cfg.describe()
        ),
        StorageError::TooOld { .. } => format!(
            "{e}: {} needs `roomcore migrate` (STORAGE_AUTO_MIGRATE is off)",
            cfg.describe()
        ),
        StorageError::Connect { source, .. } => {
            // The driver's message ("error connecting to server") hides its cause.
            let mut msg = e.to_string();
            let mut cause = std::error::Error::source(source);
            while let Some(c) = cause {
                msg.push_str(&format!(": {c}"));
                cause = c.source();
            }
            format!("{msg} (is PostgreSQL up, and is DATABASE_URL right?)")
        }
        StorageError::Open { .. } | StorageError::NoAnswer { .. } => e.to_string(),
        _ => format!("storage {}: {e}", cfg.describe()),
    }
}
