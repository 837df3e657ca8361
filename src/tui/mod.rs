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

/// Runs the TUI until the user quits (q, Esc, Ctrl-C) or the process gets SIGTERM / SIGHUP.
pub async fn run(cfg: TopConfig) -> std::io::Result<()> {
    let client = event::client(&cfg.node, cfg.interval)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    // Before init: should init fail half-way (raw mode on, no alternate screen), this still
    // undoes it. Restoring twice is harmless.
    let _restore = Restore;
    let mut terminal = ratatui::try_init()?;
    let mut app = App::new(client.base(), cfg.color);
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(event::forward_input(tx.clone()));
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = stop_signals()?;
    let mut polling = false;
    // The agent whose breakdown was last asked for: asked again only after the next poll, so
    // a failing fetch is not retried in a tight loop.
    let mut trust_asked: Option<String> = None;
    let mut last_poll: Option<Instant> = None;
    let result = loop {
        if let Err(e) = terminal.draw(|f| ui::draw(f, &app)) {
            break Err(e);
        }
        tokio::select! {
            _ = tick.tick(), if !polling => {
                polling = true;
                tasks.spawn(event::poll(client.clone(), cfg.agents, app.events_seq(), tx.clone()));
            }
            _ = stop.recv() => break Ok(()),
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
                            trust_asked = None;
                        }
                        Err(why) => app.failed(why, unix_now()),
                    }
                }
                Event::Trust(r) => {
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
            && trust_asked.as_deref() != Some(a.agent_id.as_str())
        {
            trust_asked = Some(a.agent_id.clone());
            tasks.spawn(event::trust(client.clone(), a.agent_id.clone(), tx.clone()));
        }
    };
    tasks.abort_all();
    result
}

/// SIGTERM and SIGHUP (a closed terminal) end `top` like `q` does, restoring the terminal.
fn stop_signals() -> std::io::Result<mpsc::Receiver<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = mpsc::channel(1);
    for kind in [SignalKind::terminate(), SignalKind::hangup()] {
        let mut s = signal(kind)?;
        let tx = tx.clone();
        tokio::spawn(async move {
            if s.recv().await.is_some() {
                let _ = tx.send(()).await;
            }
        });
    }
    Ok(rx)
}

/// Polls the node once (and the trust of the first agent listed): the state one frame shows,
/// and the node's raw answer.
pub async fn snapshot(
    client: &crate::client::Client,
    agents: usize,
) -> Result<(App, serde_json::Value), crate::client::ClientError> {
    let raw: serde_json::Value = client.get(&format!("/v1/node?agents={agents}")).await?;
    let info: crate::wire::NodeInfo =
        serde_json::from_value(raw.clone()).map_err(|e| crate::client::ClientError::Decode {
            url: format!("{}/v1/node", client.base()),
            reason: e.to_string(),
        })?;
    let mut app = App::new(client.base(), false);
    app.interactive = false;
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
