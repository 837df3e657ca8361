//! `top`'s inputs: key presses and resizes from the terminal, and poll results from the node,
//! merged into one channel the main loop waits on.

use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyEvent, KeyEventKind};
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use crate::client::Client;
use crate::trust::TrustView;
use crate::wire::NodeInfo;

/// Something the main loop reacts to.
#[derive(Debug)]
pub enum Event {
    /// A key was pressed.
    Key(KeyEvent),
    /// The terminal changed size (the next draw adapts).
    Resize,
    /// The terminal's input ended or failed.
    InputClosed(String),
    /// A poll of `/v1/node` finished.
    Node {
        /// The answer or why there is none.
        result: Result<Box<NodeInfo>, String>,
        /// When the request was sent.
        sent: Instant,
    },
    /// The selected agent's trust breakdown arrived.
    Trust(Result<Box<TrustView>, String>),
}

/// Forwards terminal input to `tx` until the receiver is gone.
pub async fn forward_input(tx: mpsc::Sender<Event>) {
    let mut stream = EventStream::new();
    while let Some(ev) = stream.next().await {
        let ev = match ev {
            Ok(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => Event::Key(k),
            Ok(TermEvent::Resize(..)) => Event::Resize,
            Ok(_) => continue,
            Err(e) => Event::InputClosed(e.to_string()),
        };
        if tx.send(ev).await.is_err() {
            return;
        }
    }
    let _ = tx.send(Event::InputClosed("end of input".into())).await;
}

/// Polls `/v1/node` once (only events newer than `events_since`) and reports to `tx`.
pub async fn poll(client: Client, agents: usize, events_since: u64, tx: mpsc::Sender<Event>) {
    let sent = Instant::now();
    let path = format!("/v1/node?agents={agents}&events_since={events_since}");
    let result = client
        .get::<crate::wire::NodeInfo>(&path)
        .await
        .map(Box::new)
        .map_err(|e| short_error(&e));
    let _ = tx.send(Event::Node { result, sent }).await;
}

/// Fetches the trust breakdown of `agent_id` and reports to `tx`.
pub async fn trust(client: Client, agent_id: String, tx: mpsc::Sender<Event>) {
    let r = client
        .trust(&agent_id)
        .await
        .map(Box::new)
        .map_err(|e| short_error(&e));
    let _ = tx.send(Event::Trust(r)).await;
}

fn short_error(e: &crate::client::ClientError) -> String {
    match e {
        crate::client::ClientError::Unreachable { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// The client `top` polls with: a timeout of the interval, at least 2 s and at most 10 s, so a
/// stuck node shows as unreachable within one or two refreshes.
pub fn client(node: &str, interval: Duration) -> Result<Client, crate::client::ClientError> {
    Client::new(
        node,
        interval.clamp(Duration::from_secs(2), Duration::from_secs(10)),
    )
}
