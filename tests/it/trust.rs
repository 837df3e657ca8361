//! Trust end to end: admin reports and their auth, gateway outcomes from a real upstream moving
//! scores both ways, `min_trust` in discovery, periodic flush and restart.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use agentmesh::encoding::now_unix;
use agentmesh::handshake::sign_request;
use agentmesh::identity::{Identity, KeyStore};
use axum::http::StatusCode;
use common::{TestNode, envelope, fresh};
use serde_json::{Value, json};

fn node_key(node: &TestNode) -> Identity {
    KeyStore::load_or_create_file(&node.dir.path().join("data/node.key"))
        .expect("node key")
        .0
}

/// Posts a report about `agent` signed by `by` for `target`; returns status and body.
async fn report(
    node: &TestNode,
    by: &Identity,
    target: &str,
    agent: &str,
    body: Value,
    tamper: bool,
) -> (StatusCode, Value) {
    let path = format!("/v1/trust/{agent}/events");
    let bytes = serde_json::to_vec(&body).expect("ser");
    let signed = sign_request(by, target, "POST", &path, &bytes, now_unix());
    let sent = if tamper {
        serde_json::to_vec(&json!({"event": "success"})).expect("ser")
    } else {
        bytes
    };
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", node.url))
        .body(sent);
    for (k, v) in signed.headers() {
        req = req.header(k, v);
    }
    let res = req.send().await.expect("send");
    let status = StatusCode::from_u16(res.status().as_u16()).expect("status");
    (status, res.json().await.expect("json body"))
}

async fn get(node: &TestNode, path: &str) -> (StatusCode, Value) {
    let res = reqwest::get(format!("{}{path}", node.url))
        .await
        .expect("get");
    let status = StatusCode::from_u16(res.status().as_u16()).expect("status");
    (status, res.json().await.expect("json body"))
}

#[tokio::test]
async fn admin_reports_need_an_admin_signature() {
    let admin = Identity::generate();
    let admin_id = admin.id().to_string();
    let node = TestNode::start_with(move |c| c.trust.admins = vec![admin_id], None).await;
    let me = node_key(&node);
    let agent = Identity::generate();
    let stranger = Identity::generate();
    let failure = json!({"event": "failure", "note": "wrong answer"});

    let (s, b) = report(
        &node,
        &stranger,
        &node.node_id,
        agent.id(),
        failure.clone(),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["error"]["code"], "forbidden");
    let (s, b) = report(&node, &me, &node.node_id, agent.id(), failure.clone(), true).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(b["error"]["code"], "bad_signature");
    let (s, b) = report(&node, &me, agent.id(), agent.id(), failure.clone(), false).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("wrong_target"))
    );
    let unsigned = reqwest::Client::new()
        .post(format!("{}/v1/trust/{}/events", node.url, agent.id()))
        .body(failure.to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(unsigned.status().as_u16(), 401);
    // Nothing above counted.
    assert_eq!(
        get(&node, &format!("/v1/trust/{}", agent.id())).await.1["known"],
        false
    );

    let (s, b) = report(
        &node,
        &me,
        &node.node_id,
        agent.id(),
        failure.clone(),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["counts"]["failure"], 1);
    assert_eq!(b["last_report"]["note"], "wrong answer");
    assert_eq!(b["last_report"]["by"], node.node_id);
    let (s, b) = report(
        &node,
        &admin,
        &node.node_id,
        agent.id(),
        json!({"event": "bad_signature"}),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert!(
        (b["beta"].as_f64().expect("beta") - 6.0).abs() < 1e-3,
        "{b}"
    );
    assert_eq!(b["reports"], 2);
    let (s, b) = report(
        &node,
        &me,
        &node.node_id,
        agent.id(),
        json!({"event": "great"}),
        false,
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json"))
    );
}

#[tokio::test]
async fn trust_api_answers_unknown_agents_and_refuses_bad_input() {
    let node = TestNode::start().await;
    let agent = Identity::generate();
    let (s, b) = get(&node, &format!("/v1/trust/{}", agent.id())).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (b["score"].as_f64(), b["known"].as_bool()),
        (Some(0.5), Some(false))
    );
    assert_eq!(
        b["counts"],
        json!({"success":0,"failure":0,"timeout":0,"bad_signature":0,"rate_limit":0})
    );
    let (s, b) = get(&node, "/v1/trust/did:key:nope").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_id"))
    );
    for bad in ["sort=best", "limit=0", "limit=5000", "colour=red"] {
        let (s, b) = get(&node, &format!("/v1/trust?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
        assert_eq!(b["error"]["code"], "invalid_field");
    }
    let (s, b) = get(&node, "/v1/trust").await;
    assert_eq!((s, b["total"].as_u64()), (StatusCode::OK, Some(0)));
}

/// An upstream that fails with 500 while `fail` is set and answers 200 otherwise.
async fn switchable_upstream(fail: Arc<AtomicBool>) -> String {
    let app = axum::Router::new().fallback(move || {
        let fail = fail.load(Ordering::SeqCst);
        async move {
            if fail {
                (StatusCode::INTERNAL_SERVER_ERROR, "boom")
            } else {
                (StatusCode::OK, "ok")
            }
        }
    });
    common::serve_app(app).await
}

async fn invoke(node: &TestNode, caller: &Identity, agent: &str) -> u16 {
    node.invoke(caller, agent, "GET", "/", b"").await
}

#[tokio::test]
async fn gateway_outcomes_lower_and_raise_the_score() {
    let node = TestNode::start().await;
    let fail = Arc::new(AtomicBool::new(true));
    let url = switchable_upstream(fail.clone()).await;
    let agent = Identity::generate();
    let card = envelope(&agent, now_unix(), |m| {
        m["endpoint"] = json!(url);
        m["qps_budget"] = json!(1000);
        m["concurrency_limit"] = json!(64);
    });
    assert_eq!(node.post_card(&card).await.0, 201);
    let caller = Identity::generate();
    for _ in 0..6 {
        assert_eq!(invoke(&node, &caller, agent.id()).await, 500);
    }
    let (_, low) = get(&node, &format!("/v1/trust/{}", agent.id())).await;
    assert_eq!(low["counts"]["failure"], 6, "{low}");
    let low_score = low["score"].as_f64().expect("score");
    assert!(low_score < 0.2, "six failures: {low}");
    assert_eq!(low["last_event"], "failure");
    fail.store(false, Ordering::SeqCst);
    for _ in 0..20 {
        assert_eq!(invoke(&node, &caller, agent.id()).await, 200);
    }
    let (_, high) = get(&node, &format!("/v1/trust/{}", agent.id())).await;
    assert_eq!(high["counts"]["success"], 20);
    assert!(high["score"].as_f64().expect("score") > 0.7, "{high}");
    let hours = high["history"].as_array().map_or(0, Vec::len);
    assert!(
        (1..=2).contains(&hours),
        "all events fall in one or two hours: {high}"
    );
    // The caller, whose calls were all fine, has no record.
    assert_eq!(
        get(&node, &format!("/v1/trust/{}", caller.id())).await.1["known"],
        false
    );
}

#[tokio::test]
async fn min_trust_and_ordering_use_local_scores() {
    let node = TestNode::start().await;
    let me = node_key(&node);
    let (good, bad) = (Identity::generate(), Identity::generate());
    for a in [&good, &bad] {
        assert_eq!(node.post_card(&fresh(a)).await.0, 201);
    }
    for _ in 0..4 {
        let (s, _) = report(
            &node,
            &me,
            &node.node_id,
            bad.id(),
            json!({"event":"failure"}),
            false,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let ids = |b: &Value| -> Vec<String> {
        b["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["agent_id"].as_str().expect("id").to_string())
            .collect()
    };
    let (_, b) = get(&node, "/v1/agents?q=weather%20forecast&min_trust=0.4").await;
    assert_eq!(ids(&b), [good.id()]);
    // Same card text: the trusted one ranks first, and each hit reports its trust.
    let (_, b) = get(&node, "/v1/agents?q=weather%20forecast").await;
    assert_eq!(ids(&b), [good.id(), bad.id()]);
    assert!(
        b["results"][1]["trust"].as_f64().expect("trust") < 0.2,
        "{b}"
    );
    let (_, b) = get(&node, "/v1/agents?min_trust=0.4").await;
    assert_eq!(ids(&b), [good.id()]);
}

#[tokio::test]
async fn records_flush_on_the_interval_and_survive_a_restart() {
    let node =
        TestNode::start_with(|c| c.trust.flush_interval = Duration::from_millis(50), None).await;
    let me = node_key(&node);
    let agent = Identity::generate();
    for ev in ["failure", "success", "timeout"] {
        let (s, _) = report(
            &node,
            &me,
            &node.node_id,
            agent.id(),
            json!({"event": ev}),
            false,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    // The periodic flush writes the row while the node runs.
    let db = node.dir.path().join("data/agentmesh.db");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("open db");
        let counts: Option<String> = conn
            .query_row(
                "SELECT counts FROM trust WHERE agent_id = ?1",
                [agent.id()],
                |r| r.get(0),
            )
            .ok();
        if counts.is_some_and(|c| c.contains("\"timeout\":1")) {
            break;
        }
        assert!(Instant::now() < deadline, "no flush within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, before) = get(&node, &format!("/v1/trust/{}", agent.id())).await;
    let dir = node.stop().await;
    let data = dir.path().join("data");
    let node = TestNode::start_with(move |c| c.data_dir = data, None).await;
    let (_, after) = get(&node, &format!("/v1/trust/{}", agent.id())).await;
    assert_eq!(after["counts"], before["counts"]);
    assert_eq!(
        after["history"].as_array().map(Vec::len),
        before["history"].as_array().map(Vec::len)
    );
    assert!(
        (after["score"].as_f64().expect("s") - before["score"].as_f64().expect("s")).abs() < 1e-4
    );
    assert_eq!(after["last_report"], before["last_report"]);
    drop(dir);
}
