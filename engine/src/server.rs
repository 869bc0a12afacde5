//! Server start-up and shutdown: open storage, bind one SO_REUSEPORT listener per shard,
//! start the shard pool with the engine on every shard, turn SIGTERM / SIGINT into a
//! graceful drain, and wait for every shard to finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;

use shards::pool::{self, PoolConfig};
use shards::{Heartbeat, Settings};

use crate::api::ServicesSeed;
use crate::app::Engine;
use crate::config::Config;
use crate::global::Global;
use crate::memory::MemoryWatch;
use crate::{log, ws};

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
    log::init(
        config.observability.log_format,
        config.observability.log_level,
    );
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

    let make = {
        let (config, global, seed) = (config.clone(), global.clone(), seed.clone());
        move |id: usize| Engine::new(id, config.clone(), global.clone(), seed.on_shard(id))
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
