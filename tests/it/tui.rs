//! `top`'s screens against insta snapshots: each pane, whole screens at 80×24 and 200×50, the
//! unreachable banner, overlays and the filter line — all from fixed data. Update with
//! `INSTA_UPDATE=always cargo test --test it tui::` and review the diff.

use std::time::Duration;

use agentmesh::encoding::format_rfc3339;
use agentmesh::federation::PeerView;
use agentmesh::relay::server::TunnelInfo;
use agentmesh::trust::{EventCounts, HourView, TrustView};
use agentmesh::tui::app::{App, Pane};
use agentmesh::tui::{buffer_text, render_text, ui};
use agentmesh::wire::{AgentRow, NodeEvent, NodeInfo, Rates};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::style::Color;

const NOW: i64 = 1_795_000_000;
const A: &str = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
const B: &str = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
const C: &str = "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG";

fn agent(id: &str, name: &str, trust: f64, delta: f64, calls: u64, online: bool) -> AgentRow {
    AgentRow {
        agent_id: id.into(),
        name: Some(name.into()),
        protocols: vec!["http".into(), "mcp".into()],
        trust,
        trust_delta: delta,
        trust_events: calls,
        calls,
        errors: calls / 10,
        last_call_at: Some(NOW - 2),
        online,
        relayed: online || name == "ledger",
        endpoint: Some(if online || name == "ledger" {
            format!("relay://{id}")
        } else {
            format!("http://127.0.0.1:80{}", name.len())
        }),
        description: Some(format!("The {name} agent")),
    }
}

fn info(calls_a: u64) -> NodeInfo {
    NodeInfo {
        node_id: "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2".into(),
        version: "0.1.0".into(),
        uptime_s: 3 * 3600 + 125,
        agents: 1204,
        peers: 2,
        tunnels: 1,
        rates: Rates {
            window_s: 60,
            invocations: (0..60).map(|i| (i * 7 % 23) as u32).collect(),
            errors: vec![0; 60],
            registrations: vec![0; 60],
            discoveries: vec![0; 60],
        },
        peer_list: vec![
            PeerView {
                node_id: "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH".into(),
                url: "http://10.0.0.5:7070".into(),
                last_seen: Some(format_rfc3339(NOW - 3)),
                state: "active".into(),
                last_sync: Some(format_rfc3339(NOW - 31)),
                lag: 12,
                knows: Vec::new(),
            },
            PeerView {
                node_id: "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf".into(),
                url: "http://10.0.0.9:7070".into(),
                last_seen: None,
                state: "backoff".into(),
                last_sync: None,
                lag: 0,
                knows: Vec::new(),
            },
        ],
        tunnel_list: vec![TunnelInfo {
            agent_id: B.into(),
            age_s: 600,
            in_flight: 1,
            served: 40,
        }],
        top_agents: vec![
            agent(A, "weather", 0.91, 0.03, calls_a, false),
            agent(B, "translator", 0.64, 0.0, 40, true),
            agent(C, "ledger", 0.22, -0.12, 7, false),
        ],
        events: vec![
            event(1, "register", Some(A), true, "created"),
            event(2, "invoke", Some(A), true, "200 in 1.4 ms"),
            event(3, "invoke", Some(C), false, "502 upstream_failed in 3.0 ms"),
            event(4, "trust", Some(C), false, "0.34 → 0.22"),
            event(
                5,
                "sync",
                None,
                true,
                "pull from http://10.0.0.5:7070: ok, 12 new",
            ),
        ],
        events_seq: 5,
        dht: None,
        ..NodeInfo::default()
    }
}

fn event(seq: u64, kind: &str, agent: Option<&str>, ok: bool, text: &str) -> NodeEvent {
    NodeEvent {
        seq,
        at_ms: (NOW - 60 + seq as i64) * 1000,
        kind: kind.into(),
        agent_id: agent.map(str::to_string),
        ok,
        text: text.into(),
    }
}

fn trust_view() -> TrustView {
    let counts = |s, f| EventCounts {
        success: s,
        failure: f,
        ..EventCounts::default()
    };
    TrustView {
        agent_id: A.into(),
        score: 0.912,
        alpha: 120.4,
        beta: 10.6,
        counts: counts(130, 11),
        last_event_at: Some(format_rfc3339(NOW - 2)),
        last_event: Some(agentmesh::events::OutcomeKind::Success),
        history: (0..30)
            .map(|h| HourView {
                at: format!("2026-11-17T{:02}:00:00Z", h % 24),
                score: 0.5 + f64::from(h) / 70.0,
                counts: counts(4, 0),
            })
            .collect(),
        known: true,
        reports: 0,
        last_report: None,
        last_decay_at: format_rfc3339(NOW - 40),
        half_life_s: 7 * 86_400,
    }
}

/// Two polls a second apart (so req/s per agent is known), trust fetched.
fn app() -> App {
    let mut app = App::new("http://127.0.0.1:7070", true);
    app.apply(info(100), Duration::ZERO, NOW - 1);
    app.apply(info(150), Duration::from_secs(1), NOW);
    app.trust = Some(trust_view());
    app
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn pane_text(app: &App, pane: Pane, w: u16, h: u16) -> String {
    let mut t = ratatui::Terminal::new(TestBackend::new(w, h)).expect("backend");
    t.draw(|f| ui::draw_pane(f, app, pane, f.area()))
        .expect("draw");
    buffer_text(t.backend().buffer())
}

#[test]
fn agents_pane() {
    insta::assert_snapshot!(pane_text(&app(), Pane::Agents, 90, 8));
}

#[test]
fn agents_pane_narrow_drops_protocols() {
    insta::assert_snapshot!(pane_text(&app(), Pane::Agents, 50, 8));
}

#[test]
fn peers_pane() {
    insta::assert_snapshot!(pane_text(&app(), Pane::Peers, 70, 6));
}

#[test]
fn trust_pane() {
    insta::assert_snapshot!(pane_text(&app(), Pane::Trust, 44, 12));
}

#[test]
fn events_pane() {
    insta::assert_snapshot!(pane_text(&app(), Pane::Events, 80, 8));
}

#[test]
fn screen_80x24() {
    insta::assert_snapshot!(render_text(&app(), 80, 24));
}

#[test]
fn screen_200x50() {
    insta::assert_snapshot!(render_text(&app(), 200, 50));
}

#[test]
fn unreachable_banner_keeps_the_last_data() {
    let mut a = app();
    a.failed("connection refused or unreachable".into(), NOW + 7);
    let text = render_text(&a, 100, 24);
    assert!(text.contains("weather"), "last data stays");
    insta::assert_snapshot!(text);
}

#[test]
fn help_overlay() {
    let mut a = app();
    a.on_key(key(KeyCode::Char('?')));
    insta::assert_snapshot!(render_text(&a, 80, 24));
}

#[test]
fn detail_overlay_of_the_selected_agent() {
    let mut a = app();
    a.on_key(key(KeyCode::Down));
    a.on_key(key(KeyCode::Enter));
    insta::assert_snapshot!(render_text(&a, 100, 30));
}

#[test]
fn filter_line_and_filtered_panes() {
    let mut a = app();
    for c in "/led".chars() {
        a.on_key(key(KeyCode::Char(c)));
    }
    insta::assert_snapshot!(render_text(&a, 100, 30));
}

#[test]
fn first_poll_and_no_data_screens_render() {
    let fresh = App::new("http://127.0.0.1:7070", true);
    assert!(render_text(&fresh, 80, 24).contains("connecting…"));
    let mut down = App::new("http://127.0.0.1:7070", true);
    down.failed("timed out".into(), NOW);
    let text = render_text(&down, 80, 24);
    assert!(
        text.contains("node unreachable: timed out — retrying"),
        "{text}"
    );
    // Tiny terminals must not panic.
    for (w, h) in [(1, 1), (20, 5), (40, 10)] {
        let _ = render_text(&app(), w, h);
    }
}

#[test]
fn no_color_means_no_colours() {
    let colours = |color: bool| {
        let mut a = app();
        a.color = color;
        let mut t = ratatui::Terminal::new(TestBackend::new(120, 30)).expect("backend");
        t.draw(|f| ui::draw(f, &a)).expect("draw");
        t.backend()
            .buffer()
            .content
            .iter()
            .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
            .count()
    };
    assert!(colours(true) > 0);
    assert_eq!(colours(false), 0, "NO_COLOR: styles only, no colours");
}

#[test]
fn long_lists_scroll_to_keep_the_selection_in_view_and_highlighted() {
    let mut a = App::new("http://127.0.0.1:7070", true);
    let mut many = info(1);
    many.top_agents = (0..40)
        .map(|i| {
            let mut r = agent(A, &format!("agent-{i:02}"), 0.5, 0.0, 40 - i, false);
            r.agent_id = format!("did:key:z6Mk{i:040}");
            r
        })
        .collect();
    a.apply(many, Duration::ZERO, NOW);
    a.agent_sort = agentmesh::tui::app::AgentSort::Name;
    for _ in 0..30 {
        a.on_key(key(KeyCode::Down));
    }
    let mut t = ratatui::Terminal::new(TestBackend::new(80, 24)).expect("backend");
    t.draw(|f| ui::draw(f, &a)).expect("draw");
    let buf = t.backend().buffer();
    let text = buffer_text(buf);
    assert!(
        text.contains("agent-30"),
        "the selected row is on screen:\n{text}"
    );
    assert!(!text.contains("agent-00"), "rows above scrolled away");
    let row = text
        .lines()
        .position(|l| l.starts_with("│agent-30"))
        .expect("row");
    let reversed: Vec<usize> = (0..24u16)
        .filter(|y| {
            buf[(3, *y)]
                .modifier
                .contains(ratatui::style::Modifier::REVERSED)
        })
        .map(usize::from)
        .collect();
    assert!(
        reversed.contains(&row),
        "the selected row {row} is highlighted (reversed: {reversed:?})\n{text}"
    );
}

/// A node re-ranking by a transformer shows how far its background embedding has come; a node
/// without one shows nothing of it.
#[test]
fn rerank_progress_in_the_header() {
    assert!(!render_text(&app(), 100, 24).contains("re-rank"));
    let mut a = App::new("http://127.0.0.1:7070", true);
    let mut i = info(100);
    i.indexed = 2000;
    i.rerank = Some(agentmesh::wire::RerankInfo {
        model: "all-MiniLM-L6-v2@0123456789abcdef".into(),
        ready: 1234,
        queued: 766,
        embedded: 1234,
        scanning: false,
    });
    a.apply(i, Duration::ZERO, NOW);
    let text = render_text(&a, 100, 24);
    assert!(text.contains("re-rank 1234/2000"), "{text}");
}

/// Cards waiting for the vector graph show in the header until the graph has caught up.
#[test]
fn graph_backlog_in_the_header() {
    assert!(!render_text(&app(), 100, 24).contains("graph +"));
    let mut a = App::new("http://127.0.0.1:7070", true);
    let mut i = info(100);
    i.graph_pending = 4321;
    a.apply(i, Duration::ZERO, NOW);
    let text = render_text(&a, 100, 24);
    assert!(text.contains("graph +4321"), "{text}");
}
