//! The chess rules, clocks, PGN and snapshots of [`super::ChessGame`].

use super::*;

const TC: TimeControl = TimeControl {
    initial_ms: 60_000,
    increment_ms: 2_000,
};

fn started() -> ChessGame {
    let mut g = ChessGame::new(TC);
    g.start(1_000);
    g
}

#[test]
fn fools_mate_is_checkmate_for_black() {
    let mut g = started();
    g.play(Side::White, "f2f3", 2_000).unwrap();
    g.play(Side::Black, "e7e5", 3_000).unwrap();
    g.play(Side::White, "g2g4", 4_000).unwrap();
    let p = g.play(Side::Black, "Qh4#", 5_000).unwrap();
    assert_eq!(p.mv.uci, "d8h4");
    assert_eq!(p.mv.san, "Qh4#");
    let f = p.finish.unwrap();
    assert_eq!(f.winner, Some(Side::Black));
    assert_eq!(f.reason, Reason::Checkmate);
    let pgn = g.pgn("a", "b", "r1", "2026.01.01");
    assert!(pgn.contains("1. f3 e5 2. g4 Qh4# 0-1"), "{pgn}");
    assert_eq!(
        g.play(Side::White, "e2e4", 6_000),
        Err(ChessError::GameOver)
    );
}

#[test]
fn illegal_and_out_of_turn_moves_change_nothing() {
    let mut g = started();
    let fen = g.fen();
    assert_eq!(g.play(Side::White, "e2e5", 2_000), Err(ChessError::Illegal));
    assert_eq!(
        g.play(Side::Black, "e7e5", 2_000),
        Err(ChessError::NotYourTurn)
    );
    assert_eq!(
        g.play(Side::White, "zz", 2_000),
        Err(ChessError::BadNotation)
    );
    assert_eq!(
        g.play(Side::White, "<script>", 2_000),
        Err(ChessError::BadNotation)
    );
    assert_eq!(g.fen(), fen);
    assert!(g.moves().is_empty());
    let mut fresh = ChessGame::new(TC);
    assert_eq!(
        fresh.play(Side::White, "e2e4", 0),
        Err(ChessError::NotStarted)
    );
}

#[test]
fn clocks_run_and_increment() {
    let mut g = started();
    let p = g.play(Side::White, "e2e4", 11_000).unwrap();
    assert_eq!(p.clocks, [52_000, 60_000]);
    assert_eq!(g.clocks_at(16_000), [52_000, 55_000]);
    let p = g.play(Side::Black, "e7e5", 21_000).unwrap();
    assert_eq!(p.clocks, [52_000, 52_000]);
}

#[test]
fn flag_falls_on_tick() {
    let mut g = started();
    assert_eq!(g.tick(60_000), None);
    let f = g.tick(61_000).unwrap();
    assert_eq!(f.reason, Reason::Timeout);
    assert_eq!(f.winner, Some(Side::Black));
    assert_eq!(g.clocks_at(99_000)[0], 0);
}

#[test]
fn threefold_repetition_draws() {
    let mut g = started();
    let mut t = 1_000;
    for m in [
        "g1f3", "g8f6", "f3g1", "f6g8", "g1f3", "g8f6", "f3g1", "f6g8",
    ] {
        t += 10;
        let side = g.turn();
        let p = g.play(side, m, t).unwrap();
        if let Some(f) = p.finish {
            assert_eq!(f.reason, Reason::Repetition);
            assert_eq!(f.winner, None);
            return;
        }
    }
    panic!("no repetition detected");
}

#[test]
fn fastest_stalemate_is_a_draw() {
    // Sam Loyd's ten-move stalemate.
    let mut g = started();
    let line = [
        "e3", "a5", "Qh5", "Ra6", "Qxa5", "h5", "h4", "Rah6", "Qxc7", "f6", "Qxd7+", "Kf7", "Qxb7",
        "Qd3", "Qxb8", "Qh7", "Qxc8", "Kg6", "Qe6",
    ];
    let mut last = None;
    for (i, m) in line.iter().enumerate() {
        let side = g.turn();
        last = g.play(side, m, 2_000 + i as u64).unwrap().finish;
    }
    let f = last.expect("stalemate ends the game");
    assert_eq!((f.winner, f.reason), (None, Reason::Stalemate));
    assert_eq!(f.result(), "1/2-1/2");
}

#[test]
fn draw_offer_and_resignation() {
    let mut g = started();
    assert_eq!(
        g.accept_draw(Side::Black, 2_000),
        Err(ChessError::NoDrawOffer)
    );
    g.offer_draw(Side::White).unwrap();
    assert_eq!(
        g.accept_draw(Side::White, 2_000),
        Err(ChessError::OwnDrawOffer)
    );
    g.decline_draw(Side::Black).unwrap();
    g.offer_draw(Side::Black).unwrap();
    let f = g.accept_draw(Side::White, 3_000).unwrap();
    assert_eq!((f.winner, f.reason), (None, Reason::Agreement));
    let mut g = started();
    let f = g.resign(Side::White, 2_000).unwrap();
    assert_eq!(f.winner, Some(Side::Black));
    assert_eq!(f.result(), "0-1");
}

#[test]
fn snapshot_restores_position_and_clocks() {
    let mut g = started();
    g.play(Side::White, "e2e4", 5_000).unwrap();
    g.play(Side::Black, "c7c5", 9_000).unwrap();
    let snap = g.snapshot(12_000);
    let json = serde_json::to_string(&snap).unwrap();
    let back: ChessSnap = serde_json::from_str(&json).unwrap();
    let r = ChessGame::restore(&back, 500_000).unwrap();
    assert_eq!(r.fen(), g.fen());
    assert_eq!(r.clocks_at(500_000), g.clocks_at(12_000));
    assert_eq!(r.turn(), Side::White);
    assert_eq!(r.moves(), g.moves());
}
