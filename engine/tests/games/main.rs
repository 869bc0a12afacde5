//! Game rooms through the real binary (2 shards) and real sockets: chess
//! across shards to checkmate with a spectator and the leaderboard, party-game
//! authorization, reconnect within and after the grace period, a restart
//! mid-game, and 200 players matched by the matchmaker.

#[path = "../common/mod.rs"]
mod common;

mod chess;
mod matchmaking;
mod party;
