//! No acknowledged registration is ever lost: SIGKILL a node in the middle of a burst of
//! registrations, restart it on the same data, and find every card that got a 2xx.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agentmesh::client::Client;
use agentmesh::identity::Identity;
use common::{ServeProcess, fresh};
use tokio::sync::Mutex;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_burst_loses_no_acknowledged_card() {
    let home = tempfile::tempdir().expect("tmp");
    let mut node = ServeProcess::start(home.path(), &[]);
    let client = Client::new(&node.url, Duration::from_secs(10)).expect("client");

    let cards: Vec<(String, Vec<u8>)> = (0..4000)
        .map(|_| {
            let id = Identity::generate();
            (
                id.id().to_string(),
                serde_json::to_vec(&fresh(&id)).expect("ser"),
            )
        })
        .collect();
    let cards = Arc::new(Mutex::new(cards));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let acked_count = Arc::new(AtomicUsize::new(0));

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (client, cards, acked, acked_count) = (
            client.clone(),
            cards.clone(),
            acked.clone(),
            acked_count.clone(),
        );
        workers.spawn(async move {
            loop {
                let Some((id, body)) = cards.lock().await.pop() else {
                    return;
                };
                match client.register_raw(body).await {
                    Ok(res) => {
                        assert_eq!(res.agent_id, id);
                        acked.lock().await.push(id);
                        acked_count.fetch_add(1, Ordering::Relaxed);
                    }
                    // The node died under us: this card was never acknowledged.
                    Err(_) => return,
                }
            }
        });
    }

    // Kill once a good part of the burst is acknowledged, while requests are in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked_count.load(Ordering::Relaxed) < 500 {
        assert!(Instant::now() < deadline, "registrations did not progress");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    node.kill();
    while workers.join_next().await.is_some() {}
    let acked = acked.lock().await.clone();
    let left = cards.lock().await.len();
    assert!(
        left > 0,
        "the kill must land mid-burst (all cards went through first)"
    );

    let node = ServeProcess::start(home.path(), &[]);
    let client = Client::new(&node.url, Duration::from_secs(10)).expect("client");
    let mut missing = Vec::new();
    for id in &acked {
        if client.get_agent(id).await.is_err() {
            missing.push(id.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged cards lost after SIGKILL: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(3)]
    );
    let info = client.node_info().await.expect("node info");
    assert!(info.agents >= acked.len() as u64);
}
