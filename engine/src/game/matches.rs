//! A formed match becomes a room: the room is created on its owner (shard, and in a cluster
//! this node, claimed in Redis), every ticket is marked matched, and every queued socket is
//! pushed `match_found`, on whichever shard (or node) it lives. Runs on the shard that
//! serves the queue; the matching itself is `matchmaking`'s.

use std::collections::HashMap;
use std::rc::Rc;

use shards::shard_for;

use super::events::{MatchFound, MatchPlayer, ServerEvent};
use super::matchmaking::{Formed, ModeSpec, Notify};
use super::rooms::User;
use super::{now_ms, room_id, service, GameMsg, MatchRoom};
use crate::app::Shard;
use crate::cluster;
use crate::log;
use crate::msg::ShardMsg;
use crate::telemetry::{spans, SpanLink};
use tracing::Instrument;

/// Create the room of `f` and tell every ticket. `nodes` names the node of each ticket whose
/// socket is on another node (cluster only). `false`: the room could not be made (the caller
/// puts the tickets back). Traced as `matchmaking.match`, linked to every ticket's enqueue
/// span (tickets queued on this node; a cluster queue's tickets from other nodes carry none).
pub async fn announce(
    shard: &Rc<Shard>,
    spec: ModeSpec,
    f: &Formed,
    nodes: &HashMap<String, String>,
) -> bool {
    let cl = shard.app.cluster.as_ref();
    let id = match cl {
        Some(c) => cluster::games::node_room_id(c, "m"),
        None => room_id("m", shard, false),
    };
    let span = spans::mm_match(
        shard.id,
        spec.name,
        &id,
        f.spread,
        f.teams.iter().flatten().map(|t| &t.trace),
    );
    announce_in(shard, spec, f, nodes, id)
        .instrument(span)
        .await
}

async fn announce_in(
    shard: &Rc<Shard>,
    spec: ModeSpec,
    f: &Formed,
    nodes: &HashMap<String, String>,
    id: String,
) -> bool {
    let cl = shard.app.cluster.as_ref();
    let epoch = match cl {
        Some(c) => cluster::games::claim_new(c, &id).await,
        None => 0,
    };
    let owner = shard_for(&id, shard.shards());
    // Seats: chess white/black = team 0/1; party: team by team.
    let mut seats = Vec::new();
    let mut seat_of: Vec<(String, usize, usize)> = Vec::new();
    for (team, tickets) in f.teams.iter().enumerate() {
        for t in tickets {
            for m in &t.members {
                seat_of.push((t.id.clone(), team, seats.len()));
                seats.push(User {
                    id: m.user_id,
                    name: m.name.clone(),
                });
            }
        }
    }
    let players: Vec<MatchPlayer> = seats
        .iter()
        .enumerate()
        .map(|(i, u)| MatchPlayer {
            seat: i,
            user_id: u.id,
            name: u.name.clone(),
        })
        .collect();
    let room = Box::new(MatchRoom {
        id: id.clone(),
        mode: spec,
        seats,
        epoch,
        trace: SpanLink::current(),
    });
    let created = service::ask(shard, owner, |reply| GameMsg::CreateMatchRoom {
        room,
        reply,
    })
    .await
    .unwrap_or(false);
    if !created {
        log!(Warn, "match room could not be created; requeued", room = id);
        if let Some(c) = cl {
            c.cluster.release_room(&id);
        }
        return false;
    }
    let now = now_ms();
    let stats = &shard.app.stats;
    shards::stats::inc(&stats.matches_created_total);
    for t in f.teams.iter().flatten() {
        stats
            .time_to_match
            .observe(now.saturating_sub(t.enqueued_ms) as f64 / 1000.0);
        let mine = seat_of.iter().filter(|(tid, _, _)| *tid == t.id);
        let found = MatchFound {
            ticket: t.id.clone(),
            room: id.clone(),
            mode: spec.name,
            kind: spec.room_kind,
            team: mine.clone().next().map_or(0, |x| x.1),
            seats: mine.map(|(_, _, s)| *s).collect(),
            players: players.clone(),
            rating_spread: f.spread,
            owner_url: cl.map(|c| c.cluster.public_url().to_string()),
        };
        match cl {
            Some(c) => {
                let ttl = shard.app.games.cfg.mm_ticket_ttl_secs;
                cluster::matchmaker::matched(c, &t.id, &found, ttl);
            }
            None => shard.app.games.tickets.matched(&t.id, found.clone(), now),
        }
        let Notify::Ws { shard: to, conn } = t.notify else {
            continue;
        };
        let text = ServerEvent::MatchFound(found).to_json();
        match (cl, nodes.get(&t.id)) {
            (Some(c), Some(node)) if node != c.cluster.node_id() => {
                let frame = crate::ws::text_frame(text.as_bytes());
                c.cluster.publish(
                    cluster::wire::node_channel(node),
                    cluster::wire::frames_payload(conn, &[&frame[..]]),
                );
            }
            _ => {
                let _ = shard
                    .send(to, ShardMsg::Game(GameMsg::Deliver { conn, text }))
                    .await;
            }
        }
    }
    true
}
