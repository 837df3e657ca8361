//! `top`'s rendering: a pure function of [`App`], drawn into any ratatui backend (the terminal,
//! or `TestBackend` in the snapshot tests).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Sparkline, Table, TableState, Wrap};

use super::app::{App, Mode, Pane};
use crate::encoding::parse_rfc3339;
use crate::identity::short_id;

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    let banner = u16::from(app.error.is_some());
    let [header, banner_area, body, footer] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(banner),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, app, header);
    if app.error.is_some() {
        draw_banner(f, app, banner_area);
    }
    let split = if area.width >= 120 { 60 } else { 58 };
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(split), Constraint::Min(0)]).areas(body);
    let [agents, peers] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Min(0)]).areas(left);
    let [trust, events] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Min(0)]).areas(right);
    for (pane, rect) in [
        (Pane::Agents, agents),
        (Pane::Peers, peers),
        (Pane::Trust, trust),
        (Pane::Events, events),
    ] {
        draw_pane(f, app, pane, rect);
    }
    draw_footer(f, app, footer);
    match app.mode {
        Mode::Help => draw_help(f, app, area),
        Mode::Detail => draw_detail(f, app, area),
        Mode::Normal | Mode::Filter => {}
    }
}

/// Draws one pane into `area`.
pub fn draw_pane(f: &mut Frame, app: &App, pane: Pane, area: Rect) {
    match pane {
        Pane::Agents => draw_agents(f, app, area),
        Pane::Peers => draw_peers(f, app, area),
        Pane::Trust => draw_trust(f, app, area),
        Pane::Events => draw_events(f, app, area),
    }
}

/// Styles, with colours only when allowed (`NO_COLOR`).
struct Theme {
    color: bool,
}

impl Theme {
    fn of(app: &App) -> Self {
        Self { color: app.color }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    fn good(&self) -> Style {
        self.fg(Color::Green)
    }

    fn bad(&self) -> Style {
        self.fg(Color::Red)
    }

    fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    fn trust(&self, score: f64) -> Style {
        match score {
            s if s >= 0.7 => self.good(),
            s if s < 0.4 => self.bad(),
            _ => self.fg(Color::Yellow),
        }
    }
}

/// Panes get a bold border when focused.
fn pane_block(app: &App, pane: Pane, title: String) -> Block<'static> {
    let t = Theme::of(app);
    let focused = app.focus == pane;
    let block = Block::bordered().title(Span::styled(
        format!(" {title} "),
        if focused {
            t.title()
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        },
    ));
    if focused {
        block.border_style(t.fg(Color::Cyan))
    } else {
        block.border_style(t.dim())
    }
}

/// The rows of a `len`-row table that fit `area` (borders and a header of `header` lines
/// taken off) with row `selected` in view, as a range, and the selected row's index within it.
/// Only these rows are built: a busy node lists hundreds.
fn window(len: usize, selected: usize, area: Rect, header: u16) -> (std::ops::Range<usize>, usize) {
    let h = usize::from(area.height.saturating_sub(2 + header)).max(1);
    let start = selected.saturating_sub(h - 1).min(len.saturating_sub(h));
    let end = (start + h).min(len);
    (start..end, selected.saturating_sub(start))
}

/// The last 8 characters of an ID after `…` (narrow columns).
fn tail_id(id: &str) -> String {
    let n = id.chars().count();
    if n <= 9 {
        return id.to_string();
    }
    format!("…{}", id.chars().skip(n - 8).collect::<String>())
}

/// `1h02m`, `3d04h`, `45s`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn ago(now: i64, then: Option<i64>) -> String {
    match then {
        Some(t) => format!("{} ago", duration(now.saturating_sub(t).max(0) as u64)),
        None => "never".to_string(),
    }
}

/// A bar of `width` cells filled to `score` (0–1).
fn bar(score: f64, width: usize) -> String {
    let filled = ((score.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

fn draw_header(f: &mut Frame, app: &App, area: Rect) {
    let t = Theme::of(app);
    // The text's width: room for the re-rank progress too when the node shows one.
    let text_w = match &app.info {
        Some(i) if i.rerank.is_some() || i.graph_pending > 0 => 64,
        _ => 44,
    };
    let spark_w = area.width.saturating_sub(text_w).min(62);
    let [text, spark] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(spark_w)]).areas(area);
    let mut lines = vec![Line::from(vec![
        Span::styled("agentmesh top", t.title()),
        Span::raw(format!("  {}", app.node_url)),
    ])];
    match &app.info {
        Some(i) => {
            // The last whole second (the current one is still counting).
            let rate = i
                .rates
                .invocations
                .iter()
                .rev()
                .nth(1)
                .copied()
                .unwrap_or(0);
            lines.push(Line::from(vec![
                Span::raw(format!("node {}", short_id(&i.node_id))),
                Span::styled(format!("  v{}", i.version), t.dim()),
                Span::raw(format!("  up {}", duration(i.uptime_s))),
            ]));
            let mut counts = vec![Span::raw(format!(
                "agents {}  peers {}  tunnels {}  req/s {rate}",
                i.agents, i.peers, i.tunnels
            ))];
            // The re-ranker's background embedding (`serve --embedder minilm`).
            if let Some(r) = &i.rerank {
                let done = r.ready >= i.indexed && r.queued == 0 && !r.scanning;
                counts.push(Span::styled(
                    format!("  re-rank {}/{}", r.ready, i.indexed),
                    if done { t.dim() } else { t.good() },
                ));
            }
            // Cards the vector graph has yet to take in (a registration burst).
            if i.graph_pending > 0 {
                counts.push(Span::styled(
                    format!("  graph +{}", i.graph_pending),
                    t.good(),
                ));
            }
            lines.push(Line::from(counts));
        }
        None if app.error.is_none() => lines.push(Line::styled("connecting…", t.dim())),
        None => {}
    }
    f.render_widget(Paragraph::new(lines), text);
    if let Some(i) = &app.info
        && spark.width > 8
    {
        let data: Vec<u64> = i.rates.invocations.iter().map(|&v| u64::from(v)).collect();
        let shown = &data[data.len().saturating_sub(usize::from(spark.width))..];
        let peak = shown.iter().copied().max().unwrap_or(0);
        f.render_widget(
            Sparkline::default()
                .block(Block::new().title(Line::styled(
                    format!("req/s, last {}s (peak {peak})", shown.len()),
                    t.dim(),
                )))
                .data(shown)
                .style(t.fg(Color::Cyan)),
            spark,
        );
    }
}

fn draw_banner(f: &mut Frame, app: &App, area: Rect) {
    let t = Theme::of(app);
    let since = match app.updated_at {
        Some(at) => format!(
            "; showing data from {} ago",
            duration((app.now - at).max(0) as u64)
        ),
        None => String::new(),
    };
    let text = format!(
        " node unreachable: {} — retrying{since}",
        app.error.as_deref().unwrap_or("")
    );
    let style = if app.color {
        Style::new().fg(Color::White).bg(Color::Red)
    } else {
        t.selected()
    };
    f.render_widget(Paragraph::new(text).style(style), area);
}

fn draw_agents(f: &mut Frame, app: &App, area: Rect) {
    let t = Theme::of(app);
    let agents = app.agents();
    let wide = area.width >= 70;
    let header = if wide {
        vec!["NAME", "ID", "TRUST", "PROTO", "RELAY", "REQ/S"]
    } else {
        vec!["NAME", "ID", "TRUST", "RELAY", "REQ/S"]
    };
    let (shown, sel) = window(agents.len(), app.selected(Pane::Agents), area, 1);
    let rows = agents[shown].iter().map(|a| {
        let delta = match a.trust_delta {
            d if d >= 0.005 => Span::styled("▲", t.good()),
            d if d <= -0.005 => Span::styled("▼", t.bad()),
            _ => Span::raw(" "),
        };
        let trust = Line::from(vec![
            Span::styled(bar(a.trust, if wide { 6 } else { 4 }), t.trust(a.trust)),
            Span::raw(format!(" {:.2}", a.trust)),
            delta,
        ]);
        let relay = match (a.online, a.relayed) {
            (true, _) => Span::styled("on", t.good()),
            (false, true) => Span::styled("off", t.bad()),
            (false, false) => Span::styled("-", t.dim()),
        };
        let rate = app
            .rate_of(&a.agent_id)
            .map_or_else(|| "–".to_string(), |r| format!("{r:.1}"));
        let id = if wide {
            short_id(&a.agent_id)
        } else {
            tail_id(&a.agent_id)
        };
        let mut cells = vec![
            Cell::from(a.name.clone().unwrap_or_else(|| "?".into())),
            Cell::from(id),
            Cell::from(trust),
        ];
        if wide {
            cells.push(Cell::from(a.protocols.join(",")));
        }
        cells.push(Cell::from(relay));
        cells.push(Cell::from(rate));
        Row::new(cells)
    });
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Fill(2),
            Constraint::Length(13),
            Constraint::Length(12),
            Constraint::Fill(1),
            Constraint::Length(5),
            Constraint::Length(6),
        ]
    } else {
        vec![
            Constraint::Fill(1),
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Length(5),
            Constraint::Length(6),
        ]
    };
    let total = app.info.as_ref().map_or(0, |i| i.agents);
    let title = format!(
        "Agents {}/{total} · by {}",
        agents.len(),
        app.agent_sort.label()
    );
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.dim().add_modifier(Modifier::BOLD)))
        .block(pane_block(app, Pane::Agents, title))
        .row_highlight_style(t.selected());
    let mut state = TableState::default().with_selected((!agents.is_empty()).then_some(sel));
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_peers(f: &mut Frame, app: &App, area: Rect) {
    let t = Theme::of(app);
    let peers = app.peers();
    let wide = area.width >= 70;
    let (shown, sel) = window(peers.len(), app.selected(Pane::Peers), area, 1);
    let rows = peers[shown].iter().map(|p| {
        let last = p.last_sync.as_deref().and_then(parse_rfc3339);
        let state = if p.state == "active" {
            Span::styled(p.state.clone(), t.good())
        } else {
            Span::styled(p.state.clone(), t.bad())
        };
        let mut cells = vec![Cell::from(
            p.url
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .to_string(),
        )];
        if wide {
            cells.push(Cell::from(short_id(&p.node_id)));
        }
        cells.extend([
            Cell::from(ago(app.now, last)),
            Cell::from(p.lag.to_string()),
            Cell::from(state),
        ]);
        Row::new(cells)
    });
    let mut widths = vec![Constraint::Fill(1)];
    let mut header = vec!["URL"];
    if wide {
        widths.push(Constraint::Length(13));
        header.push("NODE");
    }
    widths.extend([
        Constraint::Length(10),
        Constraint::Length(5),
        Constraint::Length(7),
    ]);
    header.extend(["LAST SYNC", "LAG", "STATE"]);
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.dim().add_modifier(Modifier::BOLD)))
        .block(pane_block(
            app,
            Pane::Peers,
            format!("Peers {} · by {}", peers.len(), app.peer_sort.label()),
        ))
        .row_highlight_style(t.selected());
    let mut state = TableState::default().with_selected((!peers.is_empty()).then_some(sel));
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_trust(f: &mut Frame, app: &App, area: Rect) {
    let t = Theme::of(app);
    let agent = app.selected_agent();
    let title = match agent {
        Some(a) => format!("Trust · {}", a.name.as_deref().unwrap_or("?")),
        None => "Trust".to_string(),
    };
    let block = pane_block(app, Pane::Trust, title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let view = app
        .trust
        .as_ref()
        .filter(|v| agent.is_some_and(|a| a.agent_id == v.agent_id));
    let Some(v) = view else {
        let text = if agent.is_some() {
            "loading…"
        } else {
            "no agent selected"
        };
        f.render_widget(Paragraph::new(Line::styled(text, t.dim())), inner);
        return;
    };
    let bar_w = usize::from(inner.width.saturating_sub(8)).min(24);
    let c = &v.counts;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(bar(v.score, bar_w), t.trust(v.score)),
            Span::raw(format!(" {:.3}", v.score)),
        ]),
        Line::from(format!(
            "α {:.1}  β {:.1}  half-life {}",
            v.alpha,
            v.beta,
            duration(v.half_life_s)
        )),
        Line::from(vec![
            Span::styled(format!("ok {}", c.success), t.good()),
            Span::raw(format!("  fail {}  timeout {}", c.failure, c.timeout)),
        ]),
        Line::from(format!(
            "bad sig {}  rate-limited {}",
            c.bad_signature, c.rate_limit
        )),
    ];
    let last = v.last_event_at.as_deref().and_then(parse_rfc3339);
    lines.push(Line::styled(
        format!(
            "last {} {}",
            v.last_event.map_or("event", |k| k.as_str()),
            ago(app.now, last)
        ),
        t.dim(),
    ));
    if let Some(r) = &v.last_report {
        lines.push(Line::styled(
            format!("report: {} by {}", r.kind.as_str(), short_id(&r.by)),
            t.dim(),
        ));
    }
    let text_h = lines.len() as u16;
    let [text, spark] =
        Layout::vertical([Constraint::Length(text_h), Constraint::Min(0)]).areas(inner);
    f.render_widget(Paragraph::new(lines), text);
    if spark.height >= 2 && !v.history.is_empty() {
        let data: Vec<u64> = v
            .history
            .iter()
            .map(|h| (h.score * 100.0).round() as u64)
            .collect();
        let shown = &data[data.len().saturating_sub(usize::from(spark.width))..];
        f.render_widget(
            Sparkline::default()
                .block(Block::new().title(Line::styled(
                    format!("score, last {}h", shown.len()),
                    t.dim(),
                )))
                .data(shown)
                .max(100)
                .style(t.trust(v.score)),
            spark,
        );
    }
}

fn clock(at_ms: i64) -> String {
    let s = at_ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

fn draw_events(f: &mut Frame, app: &App, area: Rect) {
    let t = Theme::of(app);
    let events = app.visible_events();
    let wide = area.width >= 60;
    let (shown, sel) = window(events.len(), app.selected(Pane::Events), area, 0);
    let rows = events[shown].iter().map(|e| {
        let style = if e.ok { Style::new() } else { t.bad() };
        let time = Cell::from(Span::styled(clock(e.at_ms), t.dim()));
        if wide {
            Row::new(vec![
                time,
                Cell::from(e.kind.clone()),
                Cell::from(e.agent_id.as_deref().map(short_id).unwrap_or_default()),
                Cell::from(Span::styled(e.text.clone(), style)),
            ])
        } else {
            let who = e.agent_id.as_deref().map(tail_id).unwrap_or_default();
            Row::new(vec![
                time,
                Cell::from(Line::from(vec![
                    Span::raw(format!("{} {who} ", e.kind)),
                    Span::styled(e.text.clone(), style),
                ])),
            ])
        }
    });
    let widths = if wide {
        vec![
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(13),
            Constraint::Fill(1),
        ]
    } else {
        vec![Constraint::Length(8), Constraint::Fill(1)]
    };
    let table = Table::new(rows, widths)
        .block(pane_block(
            app,
            Pane::Events,
            format!("Events {}", events.len()),
        ))
        .row_highlight_style(t.selected());
    let mut state = TableState::default()
        .with_selected((app.focus == Pane::Events && !events.is_empty()).then_some(sel));
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_footer(f: &mut Frame, app: &App, area: Rect) {
    let t = Theme::of(app);
    let line = if !app.interactive {
        // A snapshot (`top --once`) takes no keys.
        Line::from(Span::styled(
            format!(
                " snapshot of {} · `agentmesh top` for the live view",
                app.node_url
            ),
            t.dim(),
        ))
    } else if app.mode == Mode::Filter {
        Line::from(vec![
            Span::styled(" filter: ", t.title()),
            Span::raw(format!("{}▏", app.filter)),
            Span::styled("  Enter apply · Esc clear", t.dim()),
        ])
    } else {
        let mut spans = vec![Span::styled(
            " Tab pane · ↑↓ select · / filter · s sort · Enter detail · ? help · q quit",
            t.dim(),
        )];
        if !app.filter.is_empty() {
            spans.push(Span::styled(
                format!("  [filter: {}]", app.filter),
                t.title(),
            ));
        }
        Line::from(spans)
    };
    f.render_widget(Paragraph::new(line), area);
}

/// An endpoint on one line of the detail view: a relay's agent ID in its short form.
fn endpoint_shown(endpoint: Option<&str>) -> String {
    match endpoint {
        None => "?".into(),
        Some(e) => match e.strip_prefix("relay://") {
            Some(id) => format!("relay://{}", crate::identity::short_id(id)),
            None => clip(e, 60),
        },
    }
}

/// `s` cut to `n` characters, with `…` when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// A centred rectangle of at most `w`×`h` inside `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn popup(f: &mut Frame, app: &App, area: Rect, title: &str, lines: Vec<Line<'static>>) {
    let t = Theme::of(app);
    let h = (lines.len() as u16).saturating_add(2);
    let rect = centered(area, 72, h);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(Span::styled(format!(" {title} "), t.title()))
                .border_style(t.fg(Color::Cyan)),
        ),
        rect,
    );
}

fn draw_help(f: &mut Frame, app: &App, area: Rect) {
    let keys = [
        ("Tab / Shift-Tab", "next / previous pane"),
        ("↑ ↓  j k", "select a row (PgUp/PgDn, g/G: jump)"),
        ("/", "filter agents, peers and events (Esc clears)"),
        ("s", "change the order of the focused pane"),
        ("Enter", "details of the selected row"),
        ("?", "this help"),
        ("q  Esc  Ctrl-C", "quit"),
    ];
    let lines = keys
        .iter()
        .map(|(k, v)| Line::from(format!("{k:<16} {v}")))
        .collect();
    popup(f, app, area, "Keys", lines);
}

fn draw_detail(f: &mut Frame, app: &App, area: Rect) {
    let (title, lines): (&str, Vec<String>) = match app.focus {
        Pane::Agents | Pane::Trust => match app.selected_agent() {
            Some(a) => (
                "Agent",
                vec![
                    format!("name      {}", a.name.as_deref().unwrap_or("?")),
                    format!("id        {}", a.agent_id),
                    format!("endpoint  {}", endpoint_shown(a.endpoint.as_deref())),
                    format!(
                        "about     {}",
                        clip(a.description.as_deref().unwrap_or(""), 60)
                    ),
                    format!("protocols {}", a.protocols.join(", ")),
                    format!(
                        "trust     {:.3} ({:+.3} this hour, {} events)",
                        a.trust, a.trust_delta, a.trust_events
                    ),
                    format!("calls     {} ({} errors)", a.calls, a.errors),
                    format!(
                        "relay     {}",
                        match (a.online, a.relayed) {
                            (true, _) => "tunnel open to this node",
                            (false, true) => "relayed, no tunnel to this node",
                            (false, false) => "direct endpoint",
                        }
                    ),
                ],
            ),
            None => ("Agent", vec!["no agent selected".into()]),
        },
        Pane::Peers => match app.peers().get(app.selected(Pane::Peers)) {
            Some(p) => (
                "Peer",
                vec![
                    format!("url       {}", p.url),
                    format!("node      {}", p.node_id),
                    format!("state     {}", p.state),
                    format!("last seen {}", p.last_seen.as_deref().unwrap_or("never")),
                    format!("last sync {}", p.last_sync.as_deref().unwrap_or("never")),
                    format!("last pull {} new records", p.lag),
                ],
            ),
            None => ("Peer", vec!["no peer selected".into()]),
        },
        Pane::Events => match app.visible_events().get(app.selected(Pane::Events)) {
            Some(e) => (
                "Event",
                vec![
                    format!("#{} at {} UTC, {}", e.seq, clock(e.at_ms), e.kind),
                    format!("agent {}", e.agent_id.as_deref().unwrap_or("-")),
                    e.text.clone(),
                ],
            ),
            None => ("Event", vec!["no event selected".into()]),
        },
    };
    popup(
        f,
        app,
        area,
        title,
        lines.into_iter().map(Line::from).collect(),
    );
}
