//! Server start-up and shutdown: bind one SO_REUSEPORT listener per shard,
//! build the mesh, start one pinned glommio executor per shard, turn SIGTERM /
//! SIGINT into a graceful drain, and wait for every shard to finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;

use glommio::{LocalExecutorBuilder, Placement};
use shards::mesh::MeshBuilder;
use socket2::{Domain, Protocol, Socket, Type};

use crate::api::ServicesSeed;
use crate::config::Config;
use crate::global::Global;
use crate::{log, shard};

/// Capacity of each inter-shard channel, in messages.
const MESH_CAPACITY: usize = 1024;

fn bind(addr: SocketAddr, backlog: i32) -> std::io::Result<Socket> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_tcp_nodelay(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(backlog)?;
    Ok(s)
}

/// CPUs this process may run on, in order.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|c| libc::CPU_ISSET(*c, &set))
            .collect()
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

    // Shard 0 binds first so that port 0 resolves to one port for all shards.
    let first = bind(config.server.listen, config.server.backlog)
        .map_err(|e| format!("cannot listen on {}: {e}", config.server.listen))?;
    let addr = first
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or("cannot read the bound address")?;
    let mut listeners = vec![first];
    for _ in 1..config.shards() {
        listeners.push(
            bind(addr, config.server.backlog)
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?,
        );
    }

    let global = Arc::new(Global::new(config.shards()));
    let config = Arc::new(config);
    let seed = ServicesSeed::open(&config)?;
    global.set_storage_open();
    install_signals(global.clone())?;

    let cpus = allowed_cpus();
    let mut handles = Vec::new();
    for (id, (listener, ends)) in listeners
        .into_iter()
        .zip(MeshBuilder::new(config.shards(), MESH_CAPACITY))
        .enumerate()
    {
        let placement = match (config.server.pin_cores, cpus.is_empty()) {
            (true, false) => Placement::Fixed(cpus[id % cpus.len()]),
            _ => Placement::Unbound,
        };
        let (config, global, seed) = (config.clone(), global.clone(), seed.clone());
        let h = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{id}"))
            .io_memory(256 * 1024)
            .ring_depth(config.server.io_ring_depth)
            .spawn(move || shard::run(id, config, global, listener, ends, seed))
            .map_err(|e| format!("cannot start shard {id}: {e}"))?;
        handles.push(h);
    }
    log!(Info, "listening", addr = addr, shards = config.shards());
    println!("roomcore listening on {addr}");

    let mut failed = 0;
    for h in handles {
        if h.join().is_err() {
            failed += 1;
        }
    }
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
                if global.begin_drain() {
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
