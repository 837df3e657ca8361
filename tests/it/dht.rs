//! The DHT mode on loopback (libp2p Kademlia over TCP): a card stored at one node is found from
//! another, and a hostile peer can neither forge a card nor roll one back at honest nodes.

use crate::common;

use std::time::{Duration, Instant};

use agentmesh::card::Card;
use agentmesh::dht::{Dht, DhtConfig, card_key};
use agentmesh::identity::Identity;

fn config(bootstrap: Vec<libp2p::Multiaddr>) -> DhtConfig {
    DhtConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr")],
        bootstrap,
        replication: 3,
        max_records: 1_000,
    }
}

fn card(agent: &Identity, issued_at: i64, name: &str) -> Card {
    Card::from_value(common::envelope(agent, issued_at, |m| {
        m["name"] = serde_json::json!(name);
    }))
    .expect("a valid card")
}

/// Polls `check` until it holds, for at most ten seconds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_are_found_across_nodes_and_hostile_records_are_refused() {
    let first = Dht::start(&Identity::generate(), config(vec![]))
        .await
        .expect("first node");
    let seed = first.multiaddrs();
    assert!(seed[0].to_string().contains("/p2p/12D3KooW"), "{seed:?}");
    let mut nodes = vec![first];
    for _ in 0..4 {
        nodes.push(
            Dht::start(&Identity::generate(), config(seed.clone()))
                .await
                .expect("node"),
        );
    }
    // Every node knows every other before anything is stored, so a record lands at the nodes
    // closest to its key (a node that knows no peer keeps its records to itself until it does).
    for (i, node) in nodes.iter().enumerate() {
        let node = node.clone();
        eventually(&format!("node {i} knows the other four"), || {
            let node = node.clone();
            async move { node.routing_peers().await.unwrap_or(0) >= 4 }
        })
        .await;
    }
    let agent = Identity::generate();
    let now = agentmesh::encoding::now_unix();
    let (v1, v2) = (card(&agent, now - 20, "v1"), card(&agent, now - 10, "v2"));
    nodes[0].put_card(v2.clone()).await.expect("put");
    let fifth = nodes[4].clone();
    let id = agent.id().to_string();
    eventually("the fifth node finds the card stored at the first", || {
        let (fifth, id) = (fifth.clone(), id.clone());
        async move {
            fifth
                .get_card(&id)
                .await
                .ok()
                .flatten()
                .is_some_and(|c| c.name == "v2")
        }
    })
    .await;

    // A hostile peer pushes a forged card and an older, validly signed one.
    let hostile = Dht::start(&Identity::generate(), config(seed.clone()))
        .await
        .expect("hostile node");
    let h = hostile.clone();
    eventually("the hostile node knows the others", || {
        let h = h.clone();
        async move { h.routing_peers().await.unwrap_or(0) >= 5 }
    })
    .await;
    let mut forged = serde_json::to_value(v2.envelope()).expect("json");
    forged["manifest"]["name"] = serde_json::json!("forged");
    let raw = |value: Vec<u8>| libp2p::kad::Record::new(card_key(agent.id()), value);
    hostile
        .put_raw_for_tests(raw(serde_json::to_vec(&forged).expect("json")))
        .await
        .expect("push forged");
    hostile
        .put_raw_for_tests(raw(serde_json::to_vec(v1.envelope()).expect("json")))
        .await
        .expect("push old");
    // Every honest node still finds v2: its lookup checks what each peer answers (the hostile
    // one answers with what it pushed) and keeps the newest valid version; and no honest node
    // stored either push.
    for (i, node) in nodes.iter().enumerate() {
        let got = node.get_card(&id).await.expect("lookup");
        assert_eq!(got.map(|c| c.name), Some("v2".to_string()), "node {i}");
        if let Some(held) = node.local_card(&id).await.expect("local") {
            assert_eq!(
                held.name, "v2",
                "node {i} stored what the hostile peer pushed"
            );
        }
    }
    let held_by_hostile = hostile.local_card(&id).await.expect("local");
    assert_eq!(
        held_by_hostile.map(|c| c.name),
        Some("v1".to_string()),
        "the hostile node serves its old version (the honest nodes refused it)"
    );
    // A newer version replaces v2 everywhere.
    let v3 = card(&agent, now - 5, "v3");
    nodes[1].put_card(v3).await.expect("put v3");
    for (i, node) in nodes.iter().enumerate() {
        let (node, id) = (node.clone(), id.clone());
        eventually(&format!("node {i} finds v3"), || {
            let (node, id) = (node.clone(), id.clone());
            async move {
                node.get_card(&id)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|c| c.name == "v3")
            }
        })
        .await;
    }
    // v1 pushed again, by an honest node that does not hold the record: the nodes that do
    // refuse it, and lookups still end on v3.
    let _ = nodes[2].put_card(v1).await;
    for (i, node) in nodes.iter().enumerate() {
        let got = node.get_card(&id).await.expect("lookup");
        assert_eq!(got.map(|c| c.name), Some("v3".to_string()), "node {i}");
    }
}

/// `serve --dht` end to end: three nodes joined by the DHT alone (no federation between them);
/// a card registered at the first is served by the third, found through the DHT.
#[test]
fn a_card_registered_at_one_node_is_served_by_another_through_the_dht() {
    use assert_cmd::assert::OutputAssertExt as _;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let info = |url: &str| -> serde_json::Value {
        rt.block_on(async {
            let client =
                agentmesh::client::Client::new(url, Duration::from_secs(5)).expect("client");
            client.get("/v1/node").await.expect("node info")
        })
    };
    let homes: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("tmp")).collect();
    let local = ["--dht", "--dht-listen", "/ip4/127.0.0.1/tcp/0"];
    let first = common::ServeProcess::start(homes[0].path(), &local);
    let first_info = info(&first.url);
    let peer_id = first_info["dht"]["peer_id"]
        .as_str()
        .expect("a peer id")
        .to_string();
    assert!(peer_id.starts_with("12D3KooW"), "{first_info}");
    let boot = first_info["dht"]["multiaddrs"][0]
        .as_str()
        .expect("a multiaddr")
        .to_string();
    assert!(boot.ends_with(&format!("/p2p/{peer_id}")), "{boot}");
    let mut args: Vec<&str> = local.to_vec();
    args.extend(["--dht-bootstrap", &boot]);
    let others: Vec<common::ServeProcess> = homes[1..]
        .iter()
        .map(|h| common::ServeProcess::start(h.path(), &args))
        .collect();
    let third = &others[1];
    let deadline = Instant::now() + Duration::from_secs(20);
    while info(&third.url)["dht"]["routing_peers"]
        .as_u64()
        .unwrap_or(0)
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the third node never learned the others"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    cmd_register(homes[0].path(), &first.url);
    let id = common::key_id(homes[0].path());
    // The third node holds no copy (no federation): it answers from the DHT.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = rt.block_on(async {
            let client =
                agentmesh::client::Client::new(&third.url, Duration::from_secs(5)).expect("client");
            client.get_agent(&id).await
        });
        match got {
            Ok(env) => {
                assert_eq!(env.manifest["name"], "dht-agent");
                break;
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "never found through the DHT: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        info(&third.url)["agents"],
        0,
        "served from the DHT, not stored"
    );
    common::cmd(homes[0].path())
        .args(["--node", &third.url, "show", &id])
        .assert()
        .success();
}

fn cmd_register(home: &std::path::Path, node: &str) {
    use assert_cmd::assert::OutputAssertExt as _;
    common::cmd(home).arg("keygen").assert().success();
    common::cmd(home)
        .args(["--node", node, "register", "--name", "dht-agent"])
        .args(["--endpoint", "http://127.0.0.1:8080"])
        .assert()
        .success();
}
