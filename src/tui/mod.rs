//! `agentmesh top`: a live view of one node, in the app / event / ui split of ratatui's
//! event-driven template — [`app`] holds state and key handling, [`event`] turns terminal input
//! and node polls into events, [`ui`] draws a frame from the state.
//!
//! The terminal is restored on every exit path: normal return, error (a guard), and panic
//! (ratatui's hook, installed by `try_init`).

pub mod app;
pub mod event;
pub mod ui;

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use app::App;
use event::Event;

/// How `top` runs.
#[derive(Debug, Clone)]
pub struct TopConfig {
    /// The node's base URL.
    pub node: String,
    /// Time between polls.
    pub interval: Duration,
    /// Most agents asked for per poll.
    pub agents: usize,
    /// Colours allowed (`NO_COLOR` unset).
    pub color: bool,
}

/// Restores the terminal when dropped (errors and early returns included).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

fn unix_now() -> i64 {
    crate::encoding::now_unix()
}

/// Runs the TUI until the user quits.
pub async fn run(cfg: TopConfig) -> std::io::Result<()> {
    let client = event::client(&cfg.node, cfg.interval)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut terminal = ratatui::try_init()?;
    let _restore = Restore;
    let mut app = App::new(client.base(), cfg.color);
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let input = event::spawn_input(tx.clone());
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut polling = false;
    let mut fetching_trust = false;
    let mut last_poll: Option<Instant> = None;
    let result = loop {
        if let Err(e) = terminal.draw(|f| ui::draw(f, &app)) {
            break Err(e);
        }
        tokio::select! {
            _ = tick.tick(), if !polling => {
                polling = true;
                event::spawn_poll(client.clone(), cfg.agents, app.events_seq(), tx.clone());
            }
            Some(ev) = rx.recv() => match ev {
                Event::Key(k) => app.on_key(k),
                Event::Resize => {}
                Event::InputClosed(why) => break Err(std::io::Error::other(why)),
                Event::Node { result, sent } => {
                    polling = false;
                    match result {
                        Ok(info) => {
                            let elapsed = last_poll.map_or(Duration::ZERO, |p| sent - p);
                            last_poll = Some(sent);
                            app.apply(*info, elapsed, unix_now());
                            // Refresh the breakdown along with the rest.
                            if let Some(a) = app.selected_agent() && !fetching_trust {
                                fetching_trust = true;
                                event::spawn_trust(client.clone(), a.agent_id.clone(), tx.clone());
                            }
                        }
                        Err(why) => app.failed(why, unix_now()),
                    }
                }
                Event::Trust(r) => {
                    fetching_trust = false;
                    if let Ok(v) = r {
                        app.trust = Some(*v);
                    }
                }
            },
        }
        if app.quit {
            break Ok(());
        }
        // A new selection gets its breakdown at once rather than at the next poll.
        if let Some(a) = app.selected_agent()
            && app.trust.as_ref().is_none_or(|t| t.agent_id != a.agent_id)
            && !fetching_trust
        {
            fetching_trust = true;
            event::spawn_trust(client.clone(), a.agent_id.clone(), tx.clone());
        }
    };
    input.abort();
    result
}

/// Polls the node once (and the trust of the first agent listed): the state one frame shows,
/// and the node's raw answer.
pub async fn snapshot(
    client: &crate::client::Client,
    agents: usize,
) -> Result<(App, serde_json::Value), crate::client::ClientError> {
    let raw = client
        .get_json(&format!("/v1/node?agents={agents}"))
        .await?;
    let info: crate::node::info::NodeInfo =
        serde_json::from_value(raw.clone()).map_err(|e| crate::client::ClientError::Decode {
            url: format!("{}/v1/node", client.base()),
            reason: e.to_string(),
        })?;
    let mut app = App::new(client.base(), false);
    app.apply(info, Duration::ZERO, unix_now());
    if let Some(a) = app.selected_agent() {
        let id = a.agent_id.clone();
        app.trust = client.trust(&id).await.ok();
    }
    Ok((app, raw))
}

/// One frame of `app` as plain text, `width`×`height` cells, trailing spaces trimmed.
pub fn render_text(app: &App, width: u16, height: u16) -> String {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height))
        .expect("an in-memory backend cannot fail");
    terminal
        .draw(|f| ui::draw(f, app))
        .expect("an in-memory backend cannot fail");
    buffer_text(terminal.backend().buffer())
}

/// The symbols of `buf`, one line per row, trailing spaces trimmed.
pub fn buffer_text(buf: &ratatui::buffer::Buffer) -> String {
    let w = usize::from(buf.area.width);
    let mut out = String::new();
    for row in buf.content.chunks(w.max(1)) {
        let mut line = String::new();
        let mut skip = 0;
        for cell in row {
            // A wide symbol covers the next cell, which holds a blank placeholder.
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = cell.symbol();
            skip = unicode_width(sym).saturating_sub(1);
            line.push_str(sym);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn unicode_width(s: &str) -> usize {
    ratatui::text::Span::raw(s).width()
}
