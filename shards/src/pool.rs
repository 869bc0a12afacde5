//! Starting the shards: one SO_REUSEPORT listener per shard, the mesh, and one pinned
//! glommio executor per shard running [`shard::run`](crate::shard::run).
//!
//! Shard 0 binds first so that port 0 resolves to one port for every shard. Each shard
//! builds its application state on its own thread (the state is not `Send`); only the
//! closure that makes it crosses threads.

use std::net::SocketAddr;
use std::sync::Arc;

use glommio::{LocalExecutorBuilder, Placement};
use socket2::{Domain, Protocol, Socket, Type};

use crate::app::App;
use crate::lifecycle::Lifecycle;
use crate::mesh::MeshBuilder;
use crate::shard::{self, Settings};

/// Capacity of each inter-shard channel, in messages.
pub const MESH_CAPACITY: usize = 1024;

/// How to start the shards.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Address every shard listens on.
    pub listen: SocketAddr,
    pub shards: usize,
    /// Pin shard i to the i-th CPU the process may use.
    pub pin_cores: bool,
    /// Listen backlog of each shard's socket.
    pub backlog: i32,
    /// Submission-queue entries of each shard's io_uring rings.
    pub io_ring_depth: usize,
}

/// The running shards.
pub struct Pool {
    /// The address every shard listens on (port 0 resolved).
    pub addr: SocketAddr,
    handles: Vec<glommio::ExecutorJoinHandle<()>>,
}

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

/// Bind the listeners (before anything else, so a taken port fails fast).
pub fn listen(cfg: &PoolConfig) -> Result<(SocketAddr, Vec<Socket>), String> {
    let first = bind(cfg.listen, cfg.backlog)
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = first
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or("cannot read the bound address")?;
    let mut listeners = vec![first];
    for _ in 1..cfg.shards {
        listeners
            .push(bind(addr, cfg.backlog).map_err(|e| format!("cannot listen on {addr}: {e}"))?);
    }
    Ok((addr, listeners))
}

/// Start one executor per listener; each builds its application state with `make(id)`.
pub fn start<A, F>(
    cfg: &PoolConfig,
    addr: SocketAddr,
    listeners: Vec<Socket>,
    lifecycle: Arc<Lifecycle>,
    settings: Settings,
    make: F,
) -> Result<Pool, String>
where
    A: App,
    F: Fn(usize) -> A + Send + Clone + 'static,
{
    let cpus = allowed_cpus();
    let mut handles = Vec::new();
    for (id, (listener, ends)) in listeners
        .into_iter()
        .zip(MeshBuilder::new::<A::Msg>(cfg.shards, MESH_CAPACITY))
        .enumerate()
    {
        let placement = match (cfg.pin_cores, cpus.is_empty()) {
            (true, false) => Placement::Fixed(cpus[id % cpus.len()]),
            _ => Placement::Unbound,
        };
        let (lifecycle, settings, make) = (lifecycle.clone(), settings.clone(), make.clone());
        let h = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{id}"))
            .io_memory(256 * 1024)
            .ring_depth(cfg.io_ring_depth)
            .spawn(move || shard::run(id, listener, ends, lifecycle, settings, make))
            .map_err(|e| format!("cannot start shard {id}: {e}"))?;
        handles.push(h);
    }
    Ok(Pool { addr, handles })
}

impl Pool {
    /// Wait for every shard to finish; returns how many failed.
    pub fn join(self) -> usize {
        self.handles
            .into_iter()
            .map(|h| h.join())
            .filter(Result::is_err)
            .count()
    }
}
