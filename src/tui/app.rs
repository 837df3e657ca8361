//! `top`'s state and key handling — no terminal here, so every transition is unit-tested.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::federation::PeerView;
use crate::trust::TrustView;
use crate::wire::{AgentRow, NodeEvent, NodeInfo};

/// Events kept on screen (the node sends only newer ones each poll).
pub const MAX_EVENTS: usize = 500;

/// The panes, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// Agents active on the node.
    Agents,
    /// The selected agent's trust breakdown.
    Trust,
    /// Federation peers.
    Peers,
    /// Recent events.
    Events,
}

impl Pane {
    const ORDER: [Self; 4] = [Self::Agents, Self::Trust, Self::Peers, Self::Events];

    fn index(self) -> usize {
        Self::ORDER.iter().position(|p| *p == self).unwrap_or(0)
    }

    fn next(self) -> Self {
        Self::ORDER[(self.index() + 1) % 4]
    }

    fn prev(self) -> Self {
        Self::ORDER[(self.index() + 3) % 4]
    }
}

/// How the agents pane is ordered (`s` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentSort {
    /// Busiest first.
    Rate,
    /// Highest trust first.
    Trust,
    /// Lowest trust first.
    LowTrust,
    /// By name.
    Name,
}

impl AgentSort {
    /// The label shown in the pane title.
    pub fn label(self) -> &'static str {
        match self {
            Self::Rate => "req/s",
            Self::Trust => "trust",
            Self::LowTrust => "low trust",
            Self::Name => "name",
        }
    }

    fn next(self) -> Self {
        match self {
            Self::Rate => Self::Trust,
            Self::Trust => Self::LowTrust,
            Self::LowTrust => Self::Name,
            Self::Name => Self::Rate,
        }
    }
}

/// How the peers pane is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerSort {
    /// By URL.
    Url,
    /// Largest last pull first.
    Lag,
    /// Troubled peers first.
    State,
}

impl PeerSort {
    /// The label shown in the pane title.
    pub fn label(self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::Lag => "lag",
            Self::State => "state",
        }
    }

    fn next(self) -> Self {
        match self {
            Self::Url => Self::Lag,
            Self::Lag => Self::State,
            Self::State => Self::Url,
        }
    }
}

/// What the keyboard is driving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Moving around.
    Normal,
    /// Typing a filter after `/`.
    Filter,
    /// The help overlay.
    Help,
    /// The detail overlay of the selected row.
    Detail,
}

/// Everything `top` shows.
#[derive(Debug)]
pub struct App {
    /// The node's base URL.
    pub node_url: String,
    /// A live view taking keys (false for `top --once`, a snapshot: no key hints).
    pub interactive: bool,
    /// The latest answer of the node.
    pub info: Option<NodeInfo>,
    /// Why the latest poll failed, while it keeps failing.
    pub error: Option<String>,
    /// Unix seconds of the latest successful poll.
    pub updated_at: Option<i64>,
    /// Unix seconds "now" for relative times (set on every poll; fixed in tests).
    pub now: i64,
    /// The focused pane.
    pub focus: Pane,
    /// Keyboard mode.
    pub mode: Mode,
    /// Case-insensitive filter applied to agents, peers and events.
    pub filter: String,
    /// Agents order.
    pub agent_sort: AgentSort,
    /// Peers order.
    pub peer_sort: PeerSort,
    /// Selected row per pane ([`Pane`] order).
    selected: [usize; 4],
    /// What the selected row shows (agent ID, peer node ID, event seq), so the selection
    /// follows it when the rows reorder between polls.
    selected_key: [Option<String>; 4],
    /// Requests per second per agent, from call counts between polls.
    pub agent_rates: HashMap<String, f64>,
    prev_calls: HashMap<String, u64>,
    /// Events seen, oldest first.
    pub events: VecDeque<NodeEvent>,
    /// Trust breakdown of the selected agent, when fetched.
    pub trust: Option<TrustView>,
    /// Use colours (false under `NO_COLOR`).
    pub color: bool,
    /// Set when the user asked to quit.
    pub quit: bool,
}

impl App {
    /// Nothing polled yet.
    pub fn new(node_url: impl Into<String>, color: bool) -> Self {
        Self {
            node_url: node_url.into(),
            interactive: true,
            info: None,
            error: None,
            updated_at: None,
            now: 0,
            focus: Pane::Agents,
            mode: Mode::Normal,
            filter: String::new(),
            agent_sort: AgentSort::Rate,
            peer_sort: PeerSort::Url,
            selected: [0; 4],
            selected_key: Default::default(),
            agent_rates: HashMap::new(),
            prev_calls: HashMap::new(),
            events: VecDeque::new(),
            trust: None,
            color,
            quit: false,
        }
    }

    /// Takes a fresh answer polled `elapsed` after the previous one, at unix second `now`.
    pub fn apply(&mut self, mut info: NodeInfo, elapsed: Duration, now: i64) {
        let secs = elapsed.as_secs_f64();
        let mut rates = HashMap::new();
        let mut calls = HashMap::new();
        for a in &info.top_agents {
            if let Some(prev) = self.prev_calls.get(&a.agent_id)
                && secs > 0.0
            {
                rates.insert(
                    a.agent_id.clone(),
                    a.calls.saturating_sub(*prev) as f64 / secs,
                );
            }
            calls.insert(a.agent_id.clone(), a.calls);
        }
        let restarted = self
            .info
            .as_ref()
            .is_some_and(|prev| info.uptime_s < prev.uptime_s)
            || info.events_seq < self.events_seq();
        if restarted {
            // Its event sequence and call counters began again.
            self.events.clear();
            rates.clear();
        }
        self.agent_rates = rates;
        self.prev_calls = calls;
        let newest = self.events.back().map_or(0, |e| e.seq);
        for e in std::mem::take(&mut info.events) {
            if e.seq > newest {
                self.events.push_back(e);
            }
        }
        while self.events.len() > MAX_EVENTS {
            self.events.pop_front();
        }
        self.info = Some(info);
        self.error = None;
        self.updated_at = Some(now);
        self.now = now;
        self.reselect();
    }

    /// Notes a failed poll (the last data stays on screen under a banner).
    pub fn failed(&mut self, why: String, now: i64) {
        self.error = Some(why);
        self.now = now;
    }

    /// The newest event seq seen (what to ask the node for next).
    pub fn events_seq(&self) -> u64 {
        self.events.back().map_or(0, |e| e.seq)
    }

    fn matches(&self, fields: &[&str]) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let f = self.filter.to_lowercase();
        fields.iter().any(|s| s.to_lowercase().contains(&f))
    }

    /// Requests per second of `agent_id` between the last two polls.
    pub fn rate_of(&self, agent_id: &str) -> Option<f64> {
        self.agent_rates.get(agent_id).copied()
    }

    /// Agents after filter and sort.
    pub fn agents(&self) -> Vec<&AgentRow> {
        let Some(info) = &self.info else {
            return Vec::new();
        };
        let mut v: Vec<&AgentRow> = info
            .top_agents
            .iter()
            .filter(|a| {
                let protocols = a.protocols.join(" ");
                self.matches(&[&a.agent_id, a.name.as_deref().unwrap_or(""), &protocols])
            })
            .collect();
        let rate = |a: &AgentRow| self.rate_of(&a.agent_id).unwrap_or(0.0);
        match self.agent_sort {
            AgentSort::Rate => v.sort_by(|a, b| {
                rate(b)
                    .total_cmp(&rate(a))
                    .then(b.calls.cmp(&a.calls))
                    .then(a.agent_id.cmp(&b.agent_id))
            }),
            AgentSort::Trust => v.sort_by(|a, b| {
                b.trust
                    .total_cmp(&a.trust)
                    .then(a.agent_id.cmp(&b.agent_id))
            }),
            AgentSort::LowTrust => v.sort_by(|a, b| {
                a.trust
                    .total_cmp(&b.trust)
                    .then(a.agent_id.cmp(&b.agent_id))
            }),
            AgentSort::Name => v.sort_by(|a, b| {
                a.name
                    .as_deref()
                    .unwrap_or("~")
                    .cmp(b.name.as_deref().unwrap_or("~"))
                    .then(a.agent_id.cmp(&b.agent_id))
            }),
        }
        v
    }

    /// Peers after filter and sort.
    pub fn peers(&self) -> Vec<&PeerView> {
        let Some(info) = &self.info else {
            return Vec::new();
        };
        let mut v: Vec<&PeerView> = info
            .peer_list
            .iter()
            .filter(|p| self.matches(&[&p.url, &p.node_id, &p.state]))
            .collect();
        match self.peer_sort {
            PeerSort::Url => v.sort_by(|a, b| a.url.cmp(&b.url)),
            PeerSort::Lag => v.sort_by(|a, b| b.lag.cmp(&a.lag).then(a.url.cmp(&b.url))),
            PeerSort::State => v.sort_by(|a, b| {
                (a.state == "active")
                    .cmp(&(b.state == "active"))
                    .then(a.url.cmp(&b.url))
            }),
        }
        v
    }

    /// Events after filter, newest first.
    pub fn visible_events(&self) -> Vec<&NodeEvent> {
        self.events
            .iter()
            .rev()
            .filter(|e| self.matches(&[&e.kind, e.agent_id.as_deref().unwrap_or(""), &e.text]))
            .collect()
    }

    /// The selected row of `pane`.
    pub fn selected(&self, pane: Pane) -> usize {
        self.selected[pane.index()]
    }

    /// The keys of `pane`'s rows, in display order.
    fn keys_of(&self, pane: Pane) -> Vec<String> {
        match pane {
            Pane::Agents => self.agents().iter().map(|a| a.agent_id.clone()).collect(),
            Pane::Peers => self.peers().iter().map(|p| p.node_id.clone()).collect(),
            Pane::Events => self
                .visible_events()
                .iter()
                .map(|e| e.seq.to_string())
                .collect(),
            Pane::Trust => Vec::new(),
        }
    }

    /// After rows changed (a poll, a sort, a filter): keeps each pane on the row it showed,
    /// or on the same position (within bounds) when that row is gone.
    fn reselect(&mut self) {
        for p in [Pane::Agents, Pane::Peers, Pane::Events] {
            let keys = self.keys_of(p);
            let i = p.index();
            let found = self.selected_key[i]
                .as_ref()
                .and_then(|k| keys.iter().position(|x| x == k));
            self.selected[i] = found.unwrap_or(self.selected[i].min(keys.len().saturating_sub(1)));
            self.selected_key[i] = keys.get(self.selected[i]).cloned();
        }
    }

    /// The agent whose trust the Trust pane shows.
    pub fn selected_agent(&self) -> Option<&AgentRow> {
        self.agents().get(self.selected(Pane::Agents)).copied()
    }

    fn select(&mut self, delta: isize) {
        let pane = if self.focus == Pane::Trust {
            Pane::Agents
        } else {
            self.focus
        };
        let keys = self.keys_of(pane);
        let i = pane.index();
        self.selected[i] = self.selected[i]
            .saturating_add_signed(delta)
            .min(keys.len().saturating_sub(1));
        self.selected_key[i] = keys.get(self.selected[i]).cloned();
    }

    /// Handles one key press.
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        match self.mode {
            Mode::Filter => self.on_filter_key(key),
            Mode::Help | Mode::Detail => {
                if matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | '?')
                ) {
                    self.mode = Mode::Normal;
                }
            }
            Mode::Normal => self.on_normal_key(key),
        }
    }

    fn on_filter_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Esc => {
                self.filter.clear();
                self.mode = Mode::Normal;
            }
            KeyCode::Enter => self.mode = Mode::Normal,
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) => self.filter.push(c),
            _ => {}
        }
        self.reselect();
    }

    fn on_normal_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                self.reselect();
            }
            KeyCode::Esc => self.quit = true,
            KeyCode::Tab => self.focus = self.focus.next(),
            KeyCode::BackTab => self.focus = self.focus.prev(),
            KeyCode::Down | KeyCode::Char('j') => self.select(1),
            KeyCode::Up | KeyCode::Char('k') => self.select(-1),
            KeyCode::PageDown => self.select(10),
            KeyCode::PageUp => self.select(-10),
            KeyCode::Home | KeyCode::Char('g') => self.select(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.select(isize::MAX / 2),
            KeyCode::Char('/') => self.mode = Mode::Filter,
            KeyCode::Char('s') => {
                match self.focus {
                    Pane::Peers => self.peer_sort = self.peer_sort.next(),
                    _ => self.agent_sort = self.agent_sort.next(),
                }
                self.reselect();
            }
            KeyCode::Enter => self.mode = Mode::Detail,
            KeyCode::Char('?') => self.mode = Mode::Help,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::AgentRow;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn row(id: &str, name: &str, trust: f64, calls: u64) -> AgentRow {
        AgentRow {
            agent_id: id.into(),
            name: Some(name.into()),
            trust,
            calls,
            ..AgentRow::default()
        }
    }

    fn info(calls: [u64; 3], events: &[u64]) -> NodeInfo {
        NodeInfo {
            top_agents: vec![
                row("did:key:a", "alpha", 0.9, calls[0]),
                row("did:key:b", "bravo", 0.2, calls[1]),
                row("did:key:c", "charlie", 0.6, calls[2]),
            ],
            peer_list: vec![
                PeerView {
                    node_id: "n1".into(),
                    url: "http://b".into(),
                    last_seen: None,
                    state: "active".into(),
                    last_sync: None,
                    lag: 1,
                    knows: Vec::new(),
                },
                PeerView {
                    node_id: "n2".into(),
                    url: "http://a".into(),
                    last_seen: None,
                    state: "backoff".into(),
                    last_sync: None,
                    lag: 9,
                    knows: Vec::new(),
                },
            ],
            events: events
                .iter()
                .map(|&seq| NodeEvent {
                    seq,
                    at_ms: 0,
                    kind: "invoke".into(),
                    agent_id: None,
                    ok: true,
                    text: format!("event {seq}"),
                })
                .collect(),
            events_seq: events.last().copied().unwrap_or(0),
            dht: None,
            ..NodeInfo::default()
        }
    }

    fn names(app: &App) -> Vec<&str> {
        app.agents()
            .iter()
            .map(|a| a.name.as_deref().unwrap_or(""))
            .collect()
    }

    #[test]
    fn rates_come_from_call_deltas_and_order_the_agents() {
        let mut app = App::new("n", false);
        app.apply(info([10, 10, 10], &[]), Duration::ZERO, 0);
        assert_eq!(
            app.rate_of("did:key:a"),
            None,
            "no rate before a second poll"
        );
        app.apply(info([12, 30, 10], &[]), Duration::from_secs(2), 2);
        assert_eq!(app.rate_of("did:key:b"), Some(10.0));
        assert_eq!(names(&app), ["bravo", "alpha", "charlie"]);
        app.on_key(key(KeyCode::Char('s')));
        assert_eq!(app.agent_sort, AgentSort::Trust);
        assert_eq!(names(&app), ["alpha", "charlie", "bravo"]);
        app.on_key(key(KeyCode::Char('s')));
        assert_eq!(names(&app), ["bravo", "charlie", "alpha"]);
        app.on_key(key(KeyCode::Char('s')));
        assert_eq!(names(&app), ["alpha", "bravo", "charlie"]);
        app.on_key(key(KeyCode::Char('s')));
        assert_eq!(app.agent_sort, AgentSort::Rate);
    }

    #[test]
    fn the_selection_follows_its_agent_when_rows_reorder() {
        let mut app = App::new("n", false);
        app.apply(info([10, 10, 10], &[]), Duration::ZERO, 0);
        app.apply(info([11, 12, 13], &[]), Duration::from_secs(1), 1);
        assert_eq!(names(&app), ["charlie", "bravo", "alpha"]);
        // alpha was the first row of the first poll: it stays selected as it moves down.
        assert_eq!(app.selected(Pane::Agents), 2);
        app.on_key(key(KeyCode::Up));
        assert_eq!(
            app.selected_agent().map(|a| a.agent_id.as_str()),
            Some("did:key:b")
        );
        // bravo becomes the busiest: it moves to the top and stays selected.
        app.apply(info([12, 30, 14], &[]), Duration::from_secs(1), 2);
        assert_eq!(names(&app), ["bravo", "charlie", "alpha"]);
        assert_eq!(app.selected(Pane::Agents), 0);
        assert_eq!(
            app.selected_agent().map(|a| a.agent_id.as_str()),
            Some("did:key:b")
        );
        app.on_key(key(KeyCode::Char('s')));
        assert_eq!(
            app.selected_agent().map(|a| a.agent_id.as_str()),
            Some("did:key:b")
        );
        // A restarted node (uptime went down) starts rates and events afresh.
        let mut fresh = info([1, 1, 1], &[1]);
        fresh.uptime_s = 0;
        let mut before = info([12, 30, 14], &[5, 6]);
        before.uptime_s = 100;
        app.apply(before, Duration::from_secs(1), 3);
        app.apply(fresh, Duration::from_secs(1), 4);
        assert!(app.agent_rates.is_empty());
        assert_eq!(app.events.len(), 1);
    }

    #[test]
    fn focus_cycles_and_selection_moves_within_bounds() {
        let mut app = App::new("n", false);
        app.apply(info([1, 2, 3], &[1, 2, 3]), Duration::ZERO, 0);
        assert_eq!(app.focus, Pane::Agents);
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.focus, Pane::Trust);
        app.on_key(key(KeyCode::Tab));
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.focus, Pane::Events);
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.focus, Pane::Agents);
        app.on_key(key(KeyCode::BackTab));
        assert_eq!(app.focus, Pane::Events);
        app.on_key(key(KeyCode::Tab));
        for _ in 0..5 {
            app.on_key(key(KeyCode::Char('j')));
        }
        assert_eq!(app.selected(Pane::Agents), 2, "stops at the last row");
        app.on_key(key(KeyCode::Up));
        assert_eq!(app.selected(Pane::Agents), 1);
        app.on_key(key(KeyCode::Char('g')));
        assert_eq!(app.selected(Pane::Agents), 0);
        app.on_key(key(KeyCode::Char('G')));
        assert_eq!(app.selected(Pane::Agents), 2);
        // In the Trust pane, ↑↓ pick the agent whose trust is shown.
        app.on_key(key(KeyCode::Tab));
        app.on_key(key(KeyCode::Char('k')));
        assert_eq!(app.selected(Pane::Agents), 1);
        // Peers sort on their own.
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.peers()[0].url, "http://a");
        app.on_key(key(KeyCode::Char('s')));
        assert_eq!(app.peer_sort, PeerSort::Lag);
        assert_eq!(app.peers()[0].lag, 9);
        app.on_key(key(KeyCode::Char('s')));
        assert_eq!(app.peers()[0].state, "backoff", "troubled peers first");
    }

    #[test]
    fn filter_typing_applies_and_escape_clears() {
        let mut app = App::new("n", false);
        app.apply(info([1, 2, 3], &[1, 2]), Duration::ZERO, 0);
        app.on_key(key(KeyCode::Char('j')));
        app.on_key(key(KeyCode::Char('/')));
        assert_eq!(app.mode, Mode::Filter);
        for c in "CHAR".chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
        assert_eq!(names(&app), ["charlie"], "case-insensitive");
        assert_eq!(
            app.selected(Pane::Agents),
            0,
            "selection resets with the filter"
        );
        app.on_key(key(KeyCode::Backspace));
        assert_eq!(app.filter, "CHA");
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(app.filter, "CHA", "Enter keeps the filter");
        assert!(!app.quit);
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.filter, "", "Esc clears a filter before it quits");
        assert!(!app.quit);
        app.on_key(key(KeyCode::Esc));
        assert!(app.quit);
    }

    #[test]
    fn overlays_open_and_close_and_quit_keys_work() {
        let mut app = App::new("n", false);
        app.on_key(key(KeyCode::Char('?')));
        assert_eq!(app.mode, Mode::Help);
        app.on_key(key(KeyCode::Char('q')));
        assert_eq!(app.mode, Mode::Normal, "q closes the overlay first");
        assert!(!app.quit);
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.mode, Mode::Detail);
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Normal);
        app.on_key(key(KeyCode::Char('q')));
        assert!(app.quit);
        let mut app = App::new("n", false);
        app.on_key(key(KeyCode::Char('/')));
        app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert!(app.quit, "Ctrl-C quits from any mode");
    }

    #[test]
    fn events_accumulate_without_duplicates_and_reset_on_a_node_restart() {
        let mut app = App::new("n", false);
        app.apply(info([0; 3], &[1, 2, 3]), Duration::ZERO, 0);
        app.apply(info([0; 3], &[3, 4]), Duration::from_secs(1), 1);
        let seqs: Vec<u64> = app.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        assert_eq!(app.events_seq(), 4);
        assert_eq!(app.visible_events()[0].seq, 4, "newest first");
        app.apply(info([0; 3], &[1]), Duration::from_secs(1), 2);
        assert_eq!(app.events.len(), 1, "a lower seq means the node restarted");
        for i in 0..(MAX_EVENTS as u64 + 20) {
            app.apply(info([0; 3], &[i + 2]), Duration::from_secs(1), 3);
        }
        assert_eq!(app.events.len(), MAX_EVENTS);
    }

    #[test]
    fn a_failed_poll_keeps_the_data_and_a_success_clears_the_banner() {
        let mut app = App::new("n", false);
        app.apply(info([1, 2, 3], &[]), Duration::ZERO, 10);
        app.failed("refused".into(), 15);
        assert!(app.info.is_some());
        assert_eq!(app.error.as_deref(), Some("refused"));
        assert_eq!(app.updated_at, Some(10));
        app.apply(info([1, 2, 3], &[]), Duration::from_secs(5), 16);
        assert!(app.error.is_none());
    }
}
