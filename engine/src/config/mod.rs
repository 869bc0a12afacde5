//! The one configuration tree, parsed once at start-up with clap (derive + `env`).
//!
//! Owns every knob of the server: its flag, its environment variable, its default and its
//! validation. Layers: built-in default, then the environment variable, then the flag (the
//! flag wins; a repeated flag: the last one wins). The tree is split into typed parts
//! ([`ServerArgs`], [`HttpArgs`], [`WsArgs`], [`LimitsArgs`], [`ObservabilityArgs`],
//! [`TelemetryArgs`], [`StorageArgs`], [`AuthArgs`], [`ApiArgs`], [`GamesArgs`]); after
//! [`Config::validate`] it is shared read-only (`Arc<Config>`) by every shard and service.
//!
//! Nothing outside this module reads the environment. The one variable that is not a flag,
//! `ROOMCORE_TOKEN_SECRET`, is read here too: a secret on a command line is visible to every
//! local user. Every row is in the README's configuration table; keep the two in step.

mod cluster;
mod games;
mod limits;
mod observability;
pub mod parse;
mod server;
mod storage;
mod telemetry;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser};

pub use cluster::ClusterArgs;
pub use games::GamesArgs;
pub use limits::LimitsArgs;
pub use observability::{Level, LogFormat, ObservabilityArgs};
pub use server::{HttpArgs, ServerArgs, WsArgs};
pub use storage::{ApiArgs, AuthArgs, DatabaseUrl, DbCommand, StorageArgs};
pub use telemetry::{key_values, SamplerKind, TelemetryArgs};

/// The environment variable of the token secret (never a flag).
pub const TOKEN_SECRET_ENV: &str = "ROOMCORE_TOKEN_SECRET";

/// Validated server configuration.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "roomcore",
    version,
    about = "roomcore: a sharded thread-per-core real-time multiplayer room server.",
    long_about = None,
    args_override_self = true,
    after_help = "Every flag also reads the environment variable shown with it (the flag wins).\n\
                  ROOMCORE_TOKEN_SECRET (the token HMAC key, at least 32 bytes) is read from the \
                  environment only: a secret on a command line is visible to every local user."
)]
pub struct Config {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub ws: WsArgs,
    #[command(flatten)]
    pub limits: LimitsArgs,
    #[command(flatten)]
    pub observability: ObservabilityArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub games: GamesArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// A database subcommand to run instead of serving (`roomcore migrate|export|import`).
    #[command(subcommand)]
    pub command: Option<DbCommand>,
}

/// Flags a subcommand reads too, so they may also follow it (`roomcore export --data-dir d`).
const SUBCOMMAND_FLAGS: &[&str] = &["data_dir"];

impl Default for Config {
    /// Every default, as if started with no flag and an empty environment.
    fn default() -> Self {
        let m = command()
            .no_env_lookups()
            .try_get_matches_from(["roomcore"])
            .expect("the defaults parse");
        let mut c = Config::from_arg_matches(&m).expect("the defaults parse");
        c.validate().expect("the defaults are valid");
        c
    }
}

/// The clap command, with every value named after its environment variable so that help
/// and errors name both the flag and the variable (`--score-max <SCORE_MAX>`). The storage
/// flags and the data directory are global: they may follow a subcommand too.
fn command() -> clap::Command {
    let storage_ids: Vec<String> =
        <StorageArgs as clap::Args>::augment_args(clap::Command::new("x"))
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
    Config::command().mut_args(|a| {
        let a = if SUBCOMMAND_FLAGS.contains(&a.get_id().as_str())
            || storage_ids.iter().any(|id| id == a.get_id().as_str())
        {
            a.global(true)
        } else {
            a
        };
        match a.get_env().and_then(|e| e.to_str()) {
            Some(env) => {
                let env = env.to_string();
                a.value_name(env)
            }
            None => a,
        }
    })
}

/// Extension used by [`Config::default`]: parse without reading the environment.
trait NoEnv {
    fn no_env_lookups(self) -> Self;
}

impl NoEnv for clap::Command {
    fn no_env_lookups(self) -> Self {
        self.mut_args(|a| a.env(None::<&str>))
    }
}

impl Config {
    /// Parse the process arguments and environment. `Err` is a message for stderr (exit 2),
    /// or the help/version text (exit 0) when asked for.
    pub fn load() -> Result<Config, Exit> {
        Config::parse_from(std::env::args_os(), std::env::var(TOKEN_SECRET_ENV).ok())
    }

    /// Parse `args` (program name first) and the environment clap reads for each flag;
    /// `token_secret` is the value of `ROOMCORE_TOKEN_SECRET`.
    pub fn parse_from<I, T>(args: I, token_secret: Option<String>) -> Result<Config, Exit>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let m = command().try_get_matches_from(args).map_err(explain)?;
        let mut c = Config::from_arg_matches(&m).map_err(explain)?;
        c.auth.token_secret = token_secret.filter(|s| !s.is_empty());
        c.validate().map_err(Exit::Invalid)?;
        Ok(c)
    }

    /// Check what clap cannot: ranges and relations between knobs. Fills in the derived
    /// defaults (the shard count, the database path). Messages name the flag or variable.
    pub fn validate(&mut self) -> Result<(), String> {
        self.server.validate()?;
        self.http.validate()?;
        self.ws.validate()?;
        self.storage.validate(&self.server.data_dir)?;
        self.auth.validate()?;
        self.api.validate()?;
        self.games.validate()?;
        self.cluster.validate(self.auth.token_secret.is_some())?;
        self.telemetry.validate()?;
        Ok(())
    }

    /// Number of shards (resolved by [`Config::validate`]).
    pub fn shards(&self) -> usize {
        self.server.shards.unwrap_or(1)
    }
}

/// Why [`Config::load`] did not return a configuration.
#[derive(Debug)]
pub enum Exit {
    /// `--help` or `--version`: print this on stdout and exit 0.
    Info(String),
    /// A bad flag or value: print this on stderr and exit 2.
    Invalid(String),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Info(s) | Exit::Invalid(s) => f.write_str(s),
        }
    }
}

/// Turn a clap error into our message: a first line that says what is wrong in the
/// project's words (`unknown flag`, `needs a value`, the flag and its variable), then
/// clap's own explanation.
fn explain(e: clap::Error) -> Exit {
    let rendered = e.render().to_string();
    let arg = || match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let head = match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => return Exit::Info(rendered),
        ErrorKind::UnknownArgument => format!("unknown flag {}", arg()),
        ErrorKind::InvalidValue if matches!(e.get(ContextKind::InvalidValue), Some(ContextValue::String(v)) if v.is_empty()) =>
        {
            format!("{} needs a value", arg())
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            format!("bad value for {}", arg())
        }
        _ => return Exit::Invalid(rendered),
    };
    Exit::Invalid(format!("{head}\n{rendered}"))
}

#[cfg(test)]
mod tests;
