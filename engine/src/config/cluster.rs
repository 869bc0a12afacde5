//! Several nodes as one: the Redis URL that makes this node a cluster member, its name, the
//! address clients reach it at, and the lease timing.

use std::time::Duration;

use clap::Args;

use super::parse;

/// Cluster membership (all optional: without `REDIS_URL` the node is a single node).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Cluster")]
pub struct ClusterArgs {
    /// Redis (`redis://host:port[/db]`) that makes this node a cluster member; unset = a
    /// single node. Every node of a cluster must share ROOMCORE_TOKEN_SECRET and DATABASE_URL.
    #[arg(long = "redis-url", env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// This node's name in the cluster [default: <hostname>-<random>].
    #[arg(long = "node-id", env = "NODE_ID")]
    pub node_id: Option<String>,
    /// The base URL clients reach this node at (`http://host:port`), sent in `joined`,
    /// `match_found` and `server_shutdown` [default: http://<listen address>].
    #[arg(long = "public-url", env = "PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How often the node renews its lease, in ms (at most lease / 2).
    #[arg(long = "cluster-heartbeat-ms", env = "CLUSTER_HEARTBEAT_MS", default_value = "1000",
          value_parser = parse::millis)]
    pub cluster_heartbeat: Duration,
    /// A node that did not renew its lease for this many ms is out of the cluster; its game
    /// rooms and matchmaking queues move to other nodes.
    #[arg(long = "cluster-lease-ms", env = "CLUSTER_LEASE_MS", default_value = "5000",
          value_parser = parse::millis)]
    pub cluster_lease: Duration,
    /// Longest wait between two attempts to reach Redis, in ms (doubling from 100 ms).
    #[arg(long = "redis-backoff-max-ms", env = "REDIS_BACKOFF_MAX_MS", default_value = "2000",
          value_parser = parse::millis)]
    pub redis_backoff_max: Duration,
    /// Cross-node messages that may wait for the Redis thread; past it they are dropped and
    /// counted (`roomcore_cluster_dropped_total`).
    #[arg(
        long = "cluster-queue-capacity",
        env = "CLUSTER_QUEUE_CAPACITY",
        default_value_t = 65_536
    )]
    pub cluster_queue_capacity: usize,
}

impl ClusterArgs {
    /// Whether this node is a cluster member.
    pub fn enabled(&self) -> bool {
        self.redis_url.as_deref().is_some_and(|u| !u.is_empty())
    }

    pub(super) fn validate(&mut self, token_secret: bool) -> Result<(), String> {
        if self.redis_url.as_deref() == Some("") {
            self.redis_url = None;
        }
        let Some(url) = &self.redis_url else {
            return Ok(());
        };
        if !url.starts_with("redis://") {
            return Err("REDIS_URL must be a redis:// URL (TLS is not supported)".into());
        }
        if !token_secret {
            return Err(
                "REDIS_URL needs ROOMCORE_TOKEN_SECRET: every node of a cluster must \
                        share the token secret, so tokens and reconnect tokens are valid on every \
                        node"
                    .into(),
            );
        }
        if self.cluster_heartbeat.is_zero() || self.cluster_heartbeat * 2 > self.cluster_lease {
            return Err(
                "CLUSTER_HEARTBEAT_MS must be positive and at most half of CLUSTER_LEASE_MS".into(),
            );
        }
        if let Some(id) = &self.node_id {
            if id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err("NODE_ID must be 1 to 64 of [A-Za-z0-9._-]".into());
            }
        }
        if self.cluster_queue_capacity == 0 {
            return Err("CLUSTER_QUEUE_CAPACITY must be positive".into());
        }
        Ok(())
    }
}
