//! Starting a cluster: a Redis server, optionally a PostgreSQL cluster, and N nodes sharing
//! the token secret, with short leases so failures show within seconds.

use std::time::{Duration, Instant};

use crate::common::pg::TestPg;
use crate::common::redis::TestRedis;
use crate::common::{temp_dir, Server};

pub const SECRET: &str = "cluster-tests-secret-0123456789abcdef0123";

/// Lease settings of the test nodes (ms): heartbeat, lease.
pub const HEARTBEAT_MS: &str = "200";
pub const LEASE_MS: &str = "1500";

/// A Redis server, an optional PostgreSQL, and the nodes.
pub struct Cluster {
    pub redis: TestRedis,
    pub pg: Option<TestPg>,
    pub nodes: Vec<Server>,
}

impl Cluster {
    /// `n` nodes on one Redis (and one PostgreSQL when `postgres`), all seeing each other.
    pub fn start(n: usize, postgres: bool) -> Cluster {
        Cluster::start_with(n, postgres, &[])
    }

    /// [`Cluster::start`] with extra environment for every node.
    pub fn start_with(n: usize, postgres: bool, env: &[(&str, &str)]) -> Cluster {
        let mut c = Cluster {
            redis: TestRedis::start(),
            pg: postgres.then(TestPg::start),
            nodes: Vec::new(),
        };
        for i in 0..n {
            let s = c.node(&format!("n{i}"), env);
            c.nodes.push(s);
        }
        c.wait_members(n);
        c
    }

    /// Start one more node named `id` (not added to `nodes`).
    pub fn node(&self, id: &str, env: &[(&str, &str)]) -> Server {
        let url = self.redis.url();
        let pg = self.pg.as_ref().map(TestPg::url);
        let mut all: Vec<(&str, &str)> = vec![
            ("REDIS_URL", &url),
            ("NODE_ID", id),
            ("ROOMCORE_TOKEN_SECRET", SECRET),
            ("CLUSTER_HEARTBEAT_MS", HEARTBEAT_MS),
            ("CLUSTER_LEASE_MS", LEASE_MS),
            ("REDIS_BACKOFF_MAX_MS", "300"),
            ("PASSWORD_HASH_MEMORY_KIB", "1024"),
            ("PASSWORD_HASH_ITERATIONS", "1"),
        ];
        if let Some(u) = &pg {
            all.push(("DATABASE_URL", u));
            all.push(("DATABASE_HEARTBEAT_MS", "200"));
            all.push(("DATABASE_BACKOFF_MAX_MS", "800"));
        }
        all.extend_from_slice(env);
        Server::start_in(&temp_dir(&format!("cluster-{id}")), &[], &all)
    }

    /// Wait until every node sees `n` live nodes.
    pub fn wait_members(&self, n: usize) {
        for s in &self.nodes {
            wait_for(Duration::from_secs(10), || {
                let h = s.health();
                (h["cluster"]["nodes"].as_array().map(Vec::len) == Some(n)).then_some(())
            })
            .unwrap_or_else(|| panic!("{} never saw {n} nodes: {}", s.addr, s.health()));
        }
    }
}

/// Poll `f` every 20 ms until it answers or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
