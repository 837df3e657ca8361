//! Federation end to end: real nodes on 127.0.0.1 with short sync and push intervals.

use crate::common;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentmesh::card::{Manifest, sign_manifest};
use agentmesh::encoding::now_unix;
use agentmesh::federation::{Announcement, NetFilter};
use agentmesh::handshake::sign_request;
use agentmesh::identity::Identity;
use agentmesh::node::NodeConfig;
use common::{TestNode, envelope};
use serde_json::{Value, json};

async fn fed_node(
    seeds: Vec<String>,
    edit: impl FnOnce(&mut NodeConfig) + Send + 'static,
) -> TestNode {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    fed_node_on(l, seeds, edit).await
}

async fn fed_node_on(
    l: tokio::net::TcpListener,
    seeds: Vec<String>,
    edit: impl FnOnce(&mut NodeConfig) + Send + 'static,
) -> TestNode {
    let url = format!("http://{}", l.local_addr().expect("addr"));
    TestNode::start_on(
        l,
        move |c| {
            c.public_url = Some(url);
            c.federation.seeds = seeds;
            c.federation.sync_interval = Duration::from_millis(300);
            c.federation.push_interval = Duration::from_millis(20);
            edit(c);
        },
        None,
    )
    .await
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn get(url: &str) -> (u16, Value) {
    let res = reqwest::get(url).await.expect("get");
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

async fn post(node: &TestNode, body: &Value) -> (u16, Value) {
    node.post_card(body).await
}

/// The manifest signature each node holds for `agent` (None: not there; "revoked" marks a
/// tombstone).
async fn versions(nodes: &[&TestNode], agent: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for n in nodes {
        let (s, b) = get(&format!("{}/v1/agents/{agent}", n.url)).await;
        out.push(match s {
            200 => b["manifest_signature"].as_str().map(str::to_string),
            410 => Some("revoked".into()),
            _ => None,
        });
    }
    out
}

async fn all_have(nodes: &[&TestNode], agent: &str, sig: &str) -> bool {
    versions(nodes, agent)
        .await
        .iter()
        .all(|v| v.as_deref() == Some(sig))
}

#[tokio::test]
async fn five_nodes_in_a_chain_converge_after_one_registration() {
    let mut nodes: Vec<TestNode> = Vec::new();
    for i in 0..5 {
        let seeds = if i == 0 {
            vec![]
        } else {
            vec![nodes[i - 1].url.clone()]
        };
        nodes.push(fed_node(seeds, |_| {}).await);
    }
    let refs: Vec<&TestNode> = nodes.iter().collect();
    let agent = Identity::generate();
    let card = envelope(&agent, now_unix(), |_| {});
    assert_eq!(post(&nodes[4], &card).await.0, 201);
    let sig = card["manifest_signature"]
        .as_str()
        .expect("sig")
        .to_string();
    eventually("all five nodes hold the card", || {
        all_have(&refs, agent.id(), &sig)
    })
    .await;
    // It is discoverable everywhere, and peers were exchanged beyond the chain.
    let (_, b) = get(&format!("{}/v1/agents?q=weather", nodes[0].url)).await;
    assert_eq!(b["results"][0]["agent_id"], agent.id());
    let (_, peers) = get(&format!("{}/v1/peers", nodes[2].url)).await;
    assert!(
        peers["peers"].as_array().map_or(0, Vec::len) >= 2,
        "{peers}"
    );
    // The peers a peer listed when asked are kept (the dashboard draws them): never the
    // asking node itself, nor the peer.
    let first = nodes[0].url.clone();
    let me = nodes[0].node_id.clone();
    eventually("node 0 knows whom one of its peers knows", || {
        let (first, me) = (first.clone(), me.clone());
        async move {
            let (_, v) = get(&format!("{first}/v1/peers")).await;
            v["peers"].as_array().into_iter().flatten().any(|p| {
                let knows: Vec<&str> = p["knows"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                !knows.is_empty()
                    && !knows.contains(&me.as_str())
                    && !knows.contains(&p["node_id"].as_str().unwrap_or(""))
            })
        }
    })
    .await;
}

#[tokio::test]
async fn tombstones_propagate_and_older_versions_are_refused_everywhere() {
    let a = fed_node(vec![], |_| {}).await;
    let b = fed_node(vec![a.url.clone()], |_| {}).await;
    let c = fed_node(vec![b.url.clone()], |_| {}).await;
    let refs = [&a, &b, &c];
    let agent = Identity::generate();
    let t = now_unix() - 10;
    let old = envelope(&agent, t, |_| {});
    let sig = old["manifest_signature"].as_str().expect("sig").to_string();
    assert_eq!(post(&a, &old).await.0, 201);
    eventually("v1 everywhere", || all_have(&refs, agent.id(), &sig)).await;
    let mut tomb = Manifest::new(agent.id(), "weather", t + 5);
    tomb.revoked = true;
    let tomb = sign_manifest(tomb.to_value(), &agent).expect("sign");
    assert_eq!(post(&c, &tomb).await.0, 200);
    eventually("tombstone everywhere", || {
        all_have(&refs, agent.id(), "revoked")
    })
    .await;
    // The older version again, to every node and by a peer's push: refused.
    for n in refs {
        assert_eq!(post(n, &old).await.0, 409, "{}", n.url);
    }
    let pusher = Identity::generate();
    let (s, b2) = push(&b, &pusher, vec![old.clone()]).await;
    assert_eq!((s, b2["stale"].as_u64()), (200, Some(1)), "{b2}");
    assert_eq!(
        versions(&refs, agent.id()).await,
        vec![Some("revoked".into()); 3]
    );
}

/// `POST /v1/peers` with an announcement; the status.
async fn announce(node: &TestNode, ann: &Announcement) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/v1/peers", node.url))
        .json(ann)
        .send()
        .await
        .expect("announce")
        .status()
        .as_u16()
}

async fn push(node: &TestNode, from: &Identity, records: Vec<Value>) -> (u16, Value) {
    let body = serde_json::to_vec(&json!({"from": from.id(), "records": records})).expect("ser");
    let signed = sign_request(
        from,
        &node.node_id,
        "POST",
        "/v1/sync/push",
        &body,
        now_unix(),
    );
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/sync/push", node.url))
        .body(body);
    for (k, v) in signed.headers() {
        req = req.header(k, v);
    }
    let res = req.send().await.expect("push");
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_peer_pushing_forged_records_is_refused_and_penalized() {
    let node = fed_node(vec![], |_| {}).await;
    // A "peer" that answers /v1/node with its ID and signs the challenge with its key, so its
    // announcement is accepted.
    let peer = Identity::generate();
    let signer = peer.clone();
    let app = axum::Router::new().route(
        "/v1/node",
        axum::routing::get(
            move |q: axum::extract::Query<std::collections::HashMap<String, String>>| {
                let id = signer.clone();
                async move {
                    let c = q.get("challenge").cloned().unwrap_or_default();
                    let sig = id.sign_b64(
                        agentmesh::federation::node_challenge_string(id.id(), &c).as_bytes(),
                    );
                    axum::Json(json!({"node_id": id.id(), "challenge_signature": sig}))
                }
            },
        ),
    );
    let peer_url = common::serve_app(app).await;
    let ann = Announcement::sign(&peer, &peer_url);
    assert_eq!(announce(&node, &ann).await, 200);
    // An announcement for a URL that answers as someone else is refused.
    let liar = Announcement::sign(&Identity::generate(), &peer_url);
    assert_eq!(announce(&node, &liar).await, 400);

    let victim = Identity::generate();
    let mut forged = envelope(&victim, now_unix(), |_| {});
    forged["manifest"]["endpoint"] = json!("http://evil.example");
    let (s, b) = push(&node, &peer, vec![forged]).await;
    assert_eq!(
        (s, b["rejected"].as_u64(), b["accepted"].as_u64()),
        (200, Some(1), Some(0)),
        "{b}"
    );
    assert_eq!(
        get(&format!("{}/v1/agents/{}", node.url, victim.id()))
            .await
            .0,
        404
    );
    let (_, trust) = get(&format!("{}/v1/trust/{}", node.url, peer.id())).await;
    assert_eq!(trust["counts"]["bad_signature"], 1, "{trust}");
    assert!(trust["score"].as_f64().expect("score") < 0.5);
    let (_, peers) = get(&format!("{}/v1/peers", node.url)).await;
    let state = peers["peers"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["node_id"] == peer.id()))
        .map(|p| p["state"].clone());
    assert_eq!(state, Some(json!("backoff")), "{peers}");
    // Records in an unsigned push are refused outright; an unsigned offer of digests is
    // answered with what the node lacks.
    let valid = envelope(&Identity::generate(), now_unix(), |_| {});
    let res = reqwest::Client::new()
        .post(format!("{}/v1/sync/push", node.url))
        .json(&json!({"from": peer.id(), "records": [valid]}))
        .send()
        .await
        .expect("push");
    assert_eq!(res.status().as_u16(), 401);
    let known = Identity::generate();
    let card = envelope(&known, now_unix(), |_| {});
    assert_eq!(post(&node, &card).await.0, 201);
    let sig = card["manifest_signature"].as_str().expect("sig");
    let at = card["manifest"]["issued_at"]
        .as_str()
        .and_then(agentmesh::encoding::parse_rfc3339);
    let offer = json!({"from": peer.id(), "offer": [
        [known.id(), at, &sig[..16]],
        [Identity::generate().id(), now_unix(), "AAAAAAAAAAAAAAAA"],
    ]});
    let res = reqwest::Client::new()
        .post(format!("{}/v1/sync/push", node.url))
        .json(&offer)
        .send()
        .await
        .expect("offer");
    assert_eq!(res.status().as_u16(), 200);
    let b: Value = res.json().await.expect("json");
    assert_eq!(b["want"], json!([1]), "{b}");
}

#[tokio::test]
async fn a_restart_resumes_from_the_persisted_cursor() {
    let a = fed_node(vec![], |_| {}).await;
    for _ in 0..20 {
        assert_eq!(
            post(&a, &envelope(&Identity::generate(), now_unix(), |_| {}))
                .await
                .0,
            201
        );
    }
    let b = fed_node(vec![a.url.clone()], |_| {}).await;
    eventually("b pulled 20 records", || async {
        get(&format!("{}/v1/node", b.url)).await.1["agents"] == 20
    })
    .await;
    let dir = b.stop().await;
    let extra = Identity::generate();
    assert_eq!(post(&a, &envelope(&extra, now_unix(), |_| {})).await.0, 201);
    let data = dir.path().join("data");
    let seeds = vec![a.url.clone()];
    let b = fed_node(seeds, move |c| c.data_dir = data).await;
    eventually("b has the new card", || async {
        get(&format!("{}/v1/agents/{}", b.url, extra.id())).await.0 == 200
    })
    .await;
    let (_, info) = get(&format!("{}/v1/node", b.url)).await;
    assert_eq!(info["agents"], 21);
    let pulled = info["sync"]["pull_records"].as_u64().expect("counter");
    assert!(
        pulled <= 2,
        "resumed from the cursor, not a full re-pull: {pulled} records pulled"
    );
    drop(dir);
}

/// Splits nodes into two sides by URL while `on` is set.
struct Partition {
    on: AtomicBool,
    side_b: Mutex<HashSet<String>>,
}

struct SideFilter {
    p: Arc<Partition>,
    in_b: bool,
}

impl NetFilter for SideFilter {
    fn allow(&self, url: &str) -> bool {
        if !self.p.on.load(Ordering::SeqCst) {
            return true;
        }
        let b = self.p.side_b.lock().expect("lock");
        let target_in_b = b.iter().any(|u| url.starts_with(u.as_str()));
        target_in_b == self.in_b
    }
}

#[tokio::test]
async fn a_partition_heals_and_both_sides_converge() {
    let p = Arc::new(Partition {
        on: AtomicBool::new(false),
        side_b: Mutex::new(HashSet::new()),
    });
    let mut nodes = Vec::new();
    for i in 0..4 {
        let seeds = if i == 0 {
            vec![]
        } else {
            vec![nodes_url(&nodes, 0)]
        };
        let filter: Arc<dyn NetFilter> = Arc::new(SideFilter {
            p: p.clone(),
            in_b: i >= 2,
        });
        let n = fed_node(seeds, move |c| c.federation.net = Some(filter)).await;
        if i >= 2 {
            p.side_b.lock().expect("lock").insert(n.url.clone());
        }
        nodes.push(n);
    }
    let refs: Vec<&TestNode> = nodes.iter().collect();
    eventually("everyone knows a peer", || async {
        for n in &refs {
            if get(&format!("{}/v1/peers", n.url)).await.1["peers"]
                .as_array()
                .map_or(0, Vec::len)
                < 2
            {
                return false;
            }
        }
        true
    })
    .await;
    p.on.store(true, Ordering::SeqCst);
    let (x, y) = (Identity::generate(), Identity::generate());
    let cx = envelope(&x, now_unix(), |_| {});
    let cy = envelope(&y, now_unix(), |_| {});
    assert_eq!(post(&nodes[0], &cx).await.0, 201);
    assert_eq!(post(&nodes[3], &cy).await.0, 201);
    let (sx, sy) = (
        cx["manifest_signature"].as_str().expect("s").to_string(),
        cy["manifest_signature"].as_str().expect("s").to_string(),
    );
    eventually("each side has its own card", || async {
        all_have(&refs[..2], x.id(), &sx).await && all_have(&refs[2..], y.id(), &sy).await
    })
    .await;
    assert_eq!(
        versions(&refs[2..], x.id()).await,
        vec![None, None],
        "the partition holds"
    );
    p.on.store(false, Ordering::SeqCst);
    eventually("both cards everywhere after the heal", || async {
        all_have(&refs, x.id(), &sx).await && all_have(&refs, y.id(), &sy).await
    })
    .await;
}

fn nodes_url(nodes: &[TestNode], i: usize) -> String {
    nodes[i].url.clone()
}

#[tokio::test]
async fn concurrent_versions_settle_on_the_same_winner_everywhere() {
    let a = fed_node(vec![], |_| {}).await;
    let b = fed_node(vec![a.url.clone()], |_| {}).await;
    let c = fed_node(vec![a.url.clone()], |_| {}).await;
    let refs = [&a, &b, &c];
    eventually("b and c are peers of a", || async {
        get(&format!("{}/v1/peers", a.url)).await.1["peers"]
            .as_array()
            .map_or(0, Vec::len)
            >= 2
    })
    .await;
    let agent = Identity::generate();
    let t = now_unix();
    // Same issued_at, different content: the larger signature wins (docs/protocol.md §3 tie-break).
    let v1 = envelope(&agent, t, |m| m["description"] = json!("version one"));
    let v2 = envelope(&agent, t, |m| m["description"] = json!("version two"));
    let (r1, r2) = tokio::join!(post(&b, &v1), post(&c, &v2));
    assert_eq!((r1.0, r2.0), (201, 201));
    let s1 = v1["manifest_signature"].as_str().expect("s").to_string();
    let s2 = v2["manifest_signature"].as_str().expect("s").to_string();
    let winner = std::cmp::max(s1, s2);
    eventually("one version everywhere", || {
        all_have(&refs, agent.id(), &winner)
    })
    .await;
}

#[tokio::test]
async fn a_server_cannot_pose_as_a_node_it_holds_no_key_for() {
    let node = fed_node(vec![], |_| {}).await;
    let other = fed_node(vec![], |_| {}).await;
    // The real node proves its ID by signing a challenge.
    let (s, b) = get(&format!(
        "{}/v1/node?challenge=AAAAAAAAAAAAAAAAAAAAAA",
        other.url
    ))
    .await;
    assert_eq!(s, 200);
    assert!(b["challenge_signature"].is_string(), "{b}");
    assert_eq!(
        get(&format!("{}/v1/node?challenge=short", other.url))
            .await
            .0,
        400
    );
    // A server that claims `victim`'s ID but cannot sign for it is not taken as that node.
    let victim = Identity::generate();
    let victim_id = victim.id().to_string();
    let app = axum::Router::new().route(
        "/v1/node",
        axum::routing::get(move || {
            let id = victim_id.clone();
            async move { axum::Json(json!({"node_id": id, "challenge_signature": "AAAA"})) }
        }),
    );
    let fake_url = common::serve_app(app).await;
    // Even a valid announcement signed by the victim's key (replayed from elsewhere) names a
    // URL that cannot prove the key: refused.
    let ann = Announcement::sign(&victim, &fake_url);
    assert_eq!(announce(&node, &ann).await, 400);
    let (_, peers) = get(&format!("{}/v1/peers", node.url)).await;
    assert_eq!(peers["peers"].as_array().map(Vec::len), Some(0), "{peers}");
}

#[tokio::test]
async fn offers_go_by_datagram_and_hostile_datagrams_change_nothing() {
    use agentmesh::federation::gossip::{Datagram, Kind, MAGIC, check, link_key, parse, seal};
    let a = fed_node(vec![], |_| {}).await;
    let b = fed_node(vec![a.url.clone()], |_| {}).await;
    let (_, info) = get(&format!("{}/v1/node", a.url)).await;
    let addr: std::net::SocketAddr = a.url.trim_start_matches("http://").parse().expect("addr");
    assert_eq!(
        info["gossip_udp"].as_u64(),
        Some(u64::from(addr.port())),
        "datagrams are read on the API's port"
    );
    // Garbage first: none of it is answered, none of it stops the node.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("udp");
    let stranger = Identity::generate();
    let key = link_key(&stranger, &a.node_id).expect("key");
    let offer = |id: u64| Datagram {
        k: Kind::Offer,
        from: stranger.id().to_string(),
        to: a.node_id.clone(),
        id,
        at: now_unix(),
        offer: vec![(
            "did:key:z6MkUnknown".into(),
            now_unix(),
            "0123456789abcdef".into(),
        )],
        want: Vec::new(),
    };
    let mut tampered = seal(&key, &offer(1)).expect("seal");
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    let mut stale = offer(2);
    stale.at -= 3600;
    let mut elsewhere = offer(3);
    elsewhere.to = b.node_id.clone();
    let hostile: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        [MAGIC.as_slice(), &[0u8; 32], b"{\"k\":\"offer\"}"].concat(),
        [MAGIC.as_slice(), &[0u8; 32], &[b'['; 1100]].concat(),
        vec![0xff; 1400],
        tampered,
        seal(&key, &stale).expect("seal"),
        seal(&key, &elsewhere).expect("seal"),
        seal(&[9u8; 32], &offer(4)).expect("seal"),
    ];
    for d in &hostile {
        sock.send_to(d, addr).await.expect("send");
    }
    // A valid offer from a node that is not even a peer is answered (offers need no peering;
    // the MAC proves who sent it): the unknown version is wanted.
    sock.send_to(&seal(&key, &offer(5)).expect("seal"), addr)
        .await
        .expect("send");
    let mut buf = vec![0u8; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
        .await
        .expect("an answer within 10 s")
        .expect("recv");
    let answer = parse(&buf[..n]).expect("a datagram");
    check(&key, &buf[..n]).expect("sealed under the link key");
    assert_eq!(
        (
            answer.k,
            answer.id,
            answer.want.as_slice(),
            answer.from.as_str()
        ),
        (Kind::Want, 5, [0u32].as_slice(), a.node_id.as_str()),
        "only the valid offer is answered"
    );
    // Between the two nodes, offers went by datagram and every one was answered.
    let agent = Identity::generate();
    let card = envelope(&agent, now_unix(), |_| {});
    assert_eq!(post(&b, &card).await.0, 201);
    let sig = card["manifest_signature"]
        .as_str()
        .expect("sig")
        .to_string();
    let only_a = [&a];
    eventually("a holds the card registered at b", || {
        all_have(&only_a, agent.id(), &sig)
    })
    .await;
    let (_, info) = get(&format!("{}/v1/node", b.url)).await;
    assert!(
        info["sync"]["offer_datagrams"].as_u64() >= Some(1),
        "{info}"
    );
    assert_eq!(info["sync"]["offers_unanswered"], 0, "{info}");
    // The hostile datagrams were counted where an operator can see them.
    let (_, info) = get(&format!("{}/v1/node", a.url)).await;
    assert!(
        info["sync"]["datagrams_refused"].as_u64() >= Some(hostile.len() as u64),
        "{}",
        info["sync"]
    );
}

/// Blocks every outbound federation request while set.
struct Cut(AtomicBool);

impl NetFilter for Cut {
    fn allow(&self, _url: &str) -> bool {
        !self.0.load(Ordering::SeqCst)
    }
}

/// A pull asks for digests first and fetches only the records the node lacks: 20 cards it
/// already holds are not sent again (whole-record pages sent all 20), a new one is.
#[tokio::test]
async fn a_pull_fetches_only_the_records_a_node_lacks() {
    let a = fed_node(vec![], |_| {}).await;
    let cut = Arc::new(Cut(AtomicBool::new(true)));
    let filter: Arc<dyn NetFilter> = cut.clone();
    let b = fed_node(vec![a.url.clone()], move |c| {
        c.federation.net = Some(filter)
    })
    .await;
    // The same 20 cards reach both nodes before they meet.
    for _ in 0..20 {
        let card = envelope(&Identity::generate(), now_unix(), |_| {});
        assert_eq!(post(&a, &card).await.0, 201);
        assert_eq!(post(&b, &card).await.0, 201);
    }
    cut.0.store(false, Ordering::SeqCst);
    let info = |n: &TestNode| {
        let url = format!("{}/v1/node", n.url);
        async move { get(&url).await.1 }
    };
    eventually("b pulled from a", || async {
        info(&b).await["peer_list"]
            .as_array()
            .is_some_and(|l| l.iter().any(|p| !p["last_sync"].is_null()))
    })
    .await;
    let before = info(&b).await;
    assert_eq!(before["agents"], 20);
    assert_eq!(
        before["sync"]["pull_records"], 0,
        "records b holds are not pulled again: {}",
        before["sync"]
    );
    // A card only a has: it arrives (by push or by pull), and no pull carries more than it.
    let fresh = Identity::generate();
    assert_eq!(post(&a, &envelope(&fresh, now_unix(), |_| {})).await.0, 201);
    eventually("b has the new card", || async {
        get(&format!("{}/v1/agents/{}", b.url, fresh.id())).await.0 == 200
    })
    .await;
    let after = info(&b).await;
    assert!(
        after["sync"]["pull_records"].as_u64().expect("counter") <= 1,
        "{}",
        after["sync"]
    );
}

/// Digest pages and fetches refuse what they cannot read, and a fetch returns only records
/// stored at the sequence numbers asked for.
#[tokio::test]
async fn digest_pages_and_fetches_refuse_garbage() {
    let node = fed_node(vec![], |_| {}).await;
    let mut cards = Vec::new();
    let issued = now_unix();
    for _ in 0..3 {
        let card = envelope(&Identity::generate(), issued, |_| {});
        assert_eq!(post(&node, &card).await.0, 201);
        cards.push(card);
    }
    let (s, page) = get(&format!(
        "{}/v1/sync?since=0&limit=2&digests=true",
        node.url
    ))
    .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["records"], json!([]));
    let digests = page["digests"].as_array().expect("digests");
    assert_eq!(digests.len(), 2);
    assert_eq!(page["more"], true);
    assert_eq!(page["next"], digests[1]["seq"]);
    let d = &digests[0]["digest"];
    assert_eq!(d[0], cards[0]["manifest"]["agent_id"]);
    assert_eq!(d[1], issued, "issued_at in unix seconds, as in offers");
    let sig = cards[0]["manifest_signature"].as_str().expect("sig");
    assert_eq!(d[2].as_str(), sig.get(..16));
    let (s, v) = get(&format!("{}/v1/sync?digests=maybe", node.url)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_field"))
    );

    let http = reqwest::Client::new();
    let fetch = |body: Vec<u8>| {
        let req = http
            .post(format!("{}/v1/sync/fetch", node.url))
            .header("content-type", "application/json")
            .body(body);
        async move {
            let res = req.send().await.expect("fetch");
            let s = res.status().as_u16();
            (s, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let seq0 = digests[0]["seq"].as_i64().expect("seq");
    let (s, v) = fetch(
        json!({"seqs": [seq0, -7, 999_999, seq0]})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let records = v["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "only the stored one, once: {v}");
    assert_eq!(records[0]["card"], cards[0]);
    let too_many: Vec<i64> = (0..1001).collect();
    for (body, status) in [
        (b"not json".to_vec(), 400),
        (b"{\"seqs\":\"1\"}".to_vec(), 400),
        (b"{\"seqs\":[1],\"extra\":1}".to_vec(), 400),
        (json!({ "seqs": too_many }).to_string().into_bytes(), 400),
        (vec![b' '; 64 * 1024], 413),
    ] {
        let (s, v) = fetch(body).await;
        assert_eq!(s, status, "{v}");
        assert!(v["error"]["code"].is_string(), "{v}");
    }
}
