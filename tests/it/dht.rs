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
        ..DhtConfig::default()
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
    nodes[0].put_card(v2.clone(), vec![]).await.expect("put");
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
    nodes[1].put_card(v3, vec![]).await.expect("put v3");
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
    let _ = nodes[2].put_card(v1, vec![]).await;
    for (i, node) in nodes.iter().enumerate() {
        let got = node.get_card(&id).await.expect("lookup");
        assert_eq!(got.map(|c| c.name), Some("v3".to_string()), "node {i}");
    }
}

/// A node that stores a card before it knows any peer, and leaves once others have joined:
/// the card was pushed again as the network grew (republishing), so it outlives its publisher
/// and is found from a node that joined last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_outlives_the_node_that_published_it() {
    let publisher = Dht::start(&Identity::generate(), config(vec![]))
        .await
        .expect("publisher");
    let agent = Identity::generate();
    let now = agentmesh::encoding::now_unix();
    // Stored before any peer is known: only the publisher holds it now.
    publisher
        .put_card(card(&agent, now - 5, "lonely"), vec![])
        .await
        .expect("put");
    let seed = publisher.multiaddrs();
    let mut others = Vec::new();
    for _ in 0..4 {
        others.push(
            Dht::start(&Identity::generate(), config(seed.clone()))
                .await
                .expect("node"),
        );
    }
    let id = agent.id().to_string();
    // Republishing reaches the newcomers (k = 3: three of the four hold it in the end).
    eventually("the newcomers hold the card", || {
        let (others, id) = (others.clone(), id.clone());
        async move {
            let mut holders = 0;
            for n in &others {
                if n.local_card(&id).await.ok().flatten().is_some() {
                    holders += 1;
                }
            }
            holders >= 2
        }
    })
    .await;
    drop(publisher);
    let last = Dht::start(
        &Identity::generate(),
        config(vec![others[0].multiaddrs()[0].clone()]),
    )
    .await
    .expect("late node");
    let l = last.clone();
    eventually("the late node knows the others", || {
        let l = l.clone();
        async move { l.routing_peers().await.unwrap_or(0) >= 3 }
    })
    .await;
    eventually("the late node finds the card without its publisher", || {
        let (l, id) = (last.clone(), id.clone());
        async move {
            l.get_card(&id)
                .await
                .ok()
                .flatten()
                .is_some_and(|c| c.name == "lonely")
        }
    })
    .await;
}

/// `serve --dht` end to end: five nodes joined by the DHT alone (no federation between them).
/// A card registered at the first is found by `discover --tag` at the fifth (through provider
/// records and the first node's discovery API), shown and invoked through the fifth's gateway,
/// and its trust shown there — while the fifth stores no copy.
#[test]
fn five_dht_nodes_discover_and_invoke_an_agent_held_by_one() {
    use assert_cmd::assert::OutputAssertExt as _;
    // Multi-threaded: the hostile DHT node below runs in the background between requests.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
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
    let homes: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().expect("tmp")).collect();
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
    let fifth = &others[3];
    let deadline = Instant::now() + Duration::from_secs(30);
    while info(&fifth.url)["dht"]["routing_peers"]
        .as_u64()
        .unwrap_or(0)
        < 4
    {
        assert!(
            Instant::now() < deadline,
            "the fifth node never learned the others"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let agent = common::serve_app_on_thread(
        axum::Router::new().fallback(|| async { "hello through the DHT" }),
    );
    let home = homes[0].path();
    common::cmd(home).arg("keygen").assert().success();
    common::cmd(home)
        .args(["--node", &first.url, "register", "--name", "dht-agent"])
        .args([
            "--endpoint",
            &agent,
            "--tag",
            "dht-demo",
            "--skill",
            "greet",
        ])
        .assert()
        .success();
    let id = common::key_id(home);
    // A hostile node provides the same tag, and its "discovery API" answers with the agent's
    // card forged (renamed) and with a valid card that lacks the tag: the fifth node must drop
    // both.
    let real = rt.block_on(async {
        let client =
            agentmesh::client::Client::new(&first.url, Duration::from_secs(5)).expect("client");
        client.get_agent(&id).await.expect("the card")
    });
    let mut forged = serde_json::to_value(&real).expect("json");
    forged["manifest"]["name"] = serde_json::json!("forged");
    let tagless = common::fresh(&Identity::generate());
    let lies = serde_json::json!({"took_ms": 1.0, "model": first_info["model"], "results": [
        {"agent_id": id, "score": 9.0, "similarity": 1.0, "lexical": 1.0, "trust": 1.0, "card": forged},
        {"agent_id": tagless["manifest"]["agent_id"], "score": 8.0, "similarity": 1.0, "lexical": 1.0,
         "trust": 1.0, "card": tagless},
    ]});
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let asked_in_app = asked.clone();
    let liar = common::serve_app_on_thread(axum::Router::new().fallback(move || {
        let (lies, asked) = (lies.clone(), asked_in_app.clone());
        async move {
            asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            axum::Json(lies)
        }
    }));
    let hostile_key = Identity::generate();
    let hostile = rt.block_on(async {
        let hostile = Dht::start(&hostile_key, config(vec![boot.parse().expect("multiaddr")]))
            .await
            .expect("hostile node");
        let own = Identity::generate();
        let own_card = card(&own, agentmesh::encoding::now_unix(), "decoy");
        hostile
            .put_card(own_card, vec![agentmesh::dht::tag_key("dht-demo")])
            .await
            .expect("provide");
        let announcement = agentmesh::wire::Announcement::sign(&hostile_key, &liar);
        hostile.announce(&announcement).await.expect("announce");
        hostile
    });
    // Found by tag at the fifth node, which asks the providers of the tag.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = common::cmd(home)
            .args([
                "--node", &fifth.url, "discover", "--tag", "dht-demo", "--json",
            ])
            .output()
            .expect("discover");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let results = v["results"].as_array().cloned().unwrap_or_default();
        for r in &results {
            assert_eq!(r["agent_id"], id.as_str(), "a lie got through: {v}");
            assert_ne!(r["card"]["manifest"]["name"], "forged", "{v}");
        }
        if let Some(r) = results.first()
            && asked.load(std::sync::atomic::Ordering::SeqCst) > 0
        {
            assert_eq!(results.len(), 1, "{v}");
            assert_eq!(r["via"], first.url.as_str(), "{v}");
            assert_eq!(r["trust"], 0.5, "this node's trust, not the first's");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never discovered by tag: {v} {out:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The first node provides the tag, the skill and the card's 8 semantic buckets.
    let dht = &info(&first.url)["dht"];
    assert!(dht["provided"].as_u64().unwrap_or(0) >= 10, "{dht}");
    assert!(
        dht["records"].as_u64().unwrap_or(0) >= 2,
        "its card and node record: {dht}"
    );
    // A tag no node provides finds nothing (and does not hang).
    let out = common::cmd(home)
        .args([
            "--node",
            &fifth.url,
            "discover",
            "--tag",
            "nobody-has-this",
            "--json",
        ])
        .output()
        .expect("discover");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["results"], serde_json::json!([]), "{v}");
    // `scope=local` stays local: the fifth node holds nothing.
    let local_only = rt.block_on(async {
        let client =
            agentmesh::client::Client::new(&fifth.url, Duration::from_secs(5)).expect("client");
        client
            .get::<serde_json::Value>("/v1/agents?tags=dht-demo&scope=local")
            .await
            .expect("local discovery")
    });
    assert_eq!(local_only["results"], serde_json::json!([]), "{local_only}");
    common::cmd(home)
        .args(["--node", &fifth.url, "show", &id])
        .assert()
        .success();
    common::cmd(home)
        .args(["--node", &fifth.url, "invoke", &id, "--data", "{}"])
        .assert()
        .success()
        .stdout("hello through the DHT");
    let out = common::cmd(home)
        .args(["--node", &fifth.url, "trust", "show", &id, "--json"])
        .output()
        .expect("trust show");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["counts"]["success"], 1, "{v}");
    assert_eq!(
        info(&fifth.url)["agents"],
        0,
        "found, shown and invoked through the DHT, not stored"
    );
    drop(hostile);
}
