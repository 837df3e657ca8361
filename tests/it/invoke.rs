//! Secure invocation end to end: real upstream agents (axum on port 0) behind a real node.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agentmesh::encoding::now_unix;
use agentmesh::events::{OutcomeKind, OutcomeLog};
use agentmesh::handshake::{
    SignedRequest, Verifier, sign_request, sign_request_with_nonce, sign_response, verify_response,
};
use agentmesh::identity::Identity;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use common::{TestNode, envelope};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// How an upstream agent behaves.
#[derive(Clone)]
enum Mode {
    /// Verifies the caller itself, echoes, signs its answer.
    Echo,
    /// Counts arrivals, then waits for a permit before answering (never, if none is added).
    Hold(Arc<Semaphore>, Arc<AtomicUsize>),
    /// Answers 500.
    Fail,
    /// Answers with a big body.
    Big,
    /// Signs its answer wrongly.
    ForgedSignature,
}

struct Upstream {
    url: String,
    agent: Identity,
}

async fn upstream(mode: Mode) -> Upstream {
    let agent = Identity::generate();
    let verifier = Arc::new(Verifier::new(agent.id(), 60, 10_000));
    let me = agent.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (verifier, me, mode) = (verifier.clone(), me.clone(), mode.clone());
            async move {
                let get = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let path = uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/")
                    .to_string();
                let caller = verifier.verify(get, method.as_str(), &path, &body, now_unix());
                match &mode {
                    Mode::Hold(sem, arrived) => {
                        arrived.fetch_add(1, Ordering::SeqCst);
                        let _p = sem.acquire().await;
                    }
                    Mode::Fail => {
                        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
                    }
                    Mode::Big => return vec![b'x'; 200 * 1024].into_response(),
                    _ => {}
                }
                let answer = serde_json::to_vec(&json!({
                    "caller": caller.as_ref().ok(),
                    "caller_error": caller.as_ref().err().map(|e| e.code()),
                    "path": path,
                    "body": String::from_utf8_lossy(&body),
                }))
                .expect("ser");
                let nonce = get("x-agent-nonce")
                    .or_else(|| agentmesh::httpsig::nonce_of(&get))
                    .unwrap_or_default();
                let signed = sign_response(&me, 200, &nonce, &answer, now_unix());
                let rfc = agentmesh::httpsig::sign_response(&me, 200, &nonce, &answer, now_unix())
                    .expect("sign");
                let sig = match mode {
                    Mode::ForgedSignature => Identity::generate().sign_b64(b"forged"),
                    _ => signed.signature,
                };
                (
                    [
                        ("x-agent-id", signed.agent_id),
                        ("x-agent-timestamp", signed.timestamp.to_string()),
                        ("x-agent-signature", sig),
                        ("content-type", "application/json".to_string()),
                        (
                            "content-digest",
                            agentmesh::httpsig::content_digest(&answer),
                        ),
                        ("signature-input", rfc.input_member()),
                        ("signature", rfc.signature_member()),
                    ],
                    answer,
                )
                    .into_response()
            }
        },
    );
    let url = common::serve_app(app).await;
    Upstream { url, agent }
}

struct Setup {
    node: TestNode,
    outcomes: Arc<OutcomeLog>,
    http: reqwest::Client,
}

async fn setup() -> Setup {
    let outcomes = Arc::new(OutcomeLog::default());
    let node = TestNode::start_with(
        |c| {
            c.gateway.upstream_timeout = Duration::from_millis(500);
            c.gateway.max_body = 64 * 1024;
        },
        Some(outcomes.clone()),
    )
    .await;
    Setup {
        node,
        outcomes,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    async fn register(&self, agent: &Identity, endpoint: &str, edit: impl FnOnce(&mut Value)) {
        let env = envelope(agent, now_unix() - 5, |m| {
            m["endpoint"] = json!(endpoint);
            edit(m);
        });
        let res = self
            .http
            .post(format!("{}/v1/agents", self.node.url))
            .json(&env)
            .send()
            .await
            .expect("post");
        assert!(res.status().is_success(), "{:?}", res.text().await);
    }

    async fn send(
        &self,
        target: &str,
        path: &str,
        body: &[u8],
        signed: &SignedRequest,
    ) -> (u16, HeaderMap, Bytes) {
        let mut req = self
            .http
            .post(format!("{}/v1/agents/{target}/invoke{path}", self.node.url))
            .body(body.to_vec());
        for (k, v) in signed.headers() {
            req = req.header(k, v);
        }
        let res = req.send().await.expect("send");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.bytes().await.expect("body"))
    }

    async fn call(
        &self,
        caller: &Identity,
        target: &str,
        path: &str,
        body: &[u8],
    ) -> (u16, HeaderMap, Bytes) {
        let signed = sign_request(caller, target, "POST", path, body, now_unix());
        self.send(target, path, body, &signed).await
    }
}

fn code(body: &Bytes) -> String {
    let v: Value = serde_json::from_slice(body).expect("JSON error");
    v["error"]["code"].as_str().expect("code").to_string()
}

#[tokio::test]
async fn a_signed_call_reaches_the_agent_which_verifies_the_caller() {
    let s = setup().await;
    let up = upstream(Mode::Echo).await;
    s.register(&up.agent, &up.url, |_| {}).await;
    let caller = Identity::generate();
    let signed = sign_request(
        &caller,
        up.agent.id(),
        "POST",
        "/forecast?days=2",
        br#"{"city":"Paris"}"#,
        now_unix(),
    );
    let (status, headers, body) = s
        .send(
            up.agent.id(),
            "/forecast?days=2",
            br#"{"city":"Paris"}"#,
            &signed,
        )
        .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        v["caller"],
        caller.id(),
        "the upstream verified the untouched signed headers"
    );
    assert_eq!(v["path"], "/forecast?days=2");
    assert_eq!(v["body"], r#"{"city":"Paris"}"#);
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    };
    verify_response(up.agent.id(), 200, &signed.nonce, get, &body).expect("signed answer");
    assert_eq!(s.outcomes.count(up.agent.id(), OutcomeKind::Success), 1);
}

#[tokio::test]
async fn every_bad_request_gets_its_own_401_code_and_no_trust_event() {
    let s = setup().await;
    let up = upstream(Mode::Echo).await;
    s.register(&up.agent, &up.url, |_| {}).await;
    let caller = Identity::generate();
    let target = up.agent.id();
    let now = now_unix();

    let signed = sign_request(&caller, target, "POST", "/x", b"{}", now);
    assert_eq!(s.send(target, "/x", b"{}", &signed).await.0, 200);
    let (st, _, b) = s.send(target, "/x", b"{}", &signed).await;
    assert_eq!((st, code(&b).as_str()), (401, "replayed_nonce"));

    for ts in [now - 120, now + 120] {
        let signed = sign_request(&caller, target, "POST", "/x", b"{}", ts);
        let (st, _, b) = s.send(target, "/x", b"{}", &signed).await;
        assert_eq!((st, code(&b).as_str()), (401, "stale_timestamp"), "ts {ts}");
    }
    let signed = sign_request(&caller, target, "POST", "/x", b"{}", now);
    let (st, _, b) = s.send(target, "/x", b"{\"tampered\":1}", &signed).await;
    assert_eq!((st, code(&b).as_str()), (401, "bad_signature"));

    let other = Identity::generate();
    let signed = sign_request(&caller, other.id(), "POST", "/x", b"{}", now);
    let (st, _, b) = s.send(target, "/x", b"{}", &signed).await;
    assert_eq!((st, code(&b).as_str()), (401, "wrong_target"));

    let res = s
        .http
        .post(format!("{}/v1/agents/{target}/invoke/x", s.node.url))
        .header("x-agent-id", caller.id())
        .send()
        .await
        .expect("send");
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(code(&res.bytes().await.expect("b")), "missing_header");

    // A forged signature claiming to be someone never lowers that someone's standing.
    let victim = Identity::generate();
    let mut forged = sign_request_with_nonce(
        &caller,
        target,
        "POST",
        "/x",
        b"{}",
        now,
        "bm9uY2Utbm9uY2Utbm9uY2UtMg",
    );
    forged.agent_id = victim.id().to_string();
    let (st, _, _) = s.send(target, "/x", b"{}", &forged).await;
    assert_eq!(st, 401);
    assert_eq!(s.outcomes.counts(victim.id()), [0; 5]);
}

#[tokio::test]
async fn qps_budget_answers_429_with_retry_after_and_refills() {
    let s = setup().await;
    let up = upstream(Mode::Echo).await;
    s.register(&up.agent, &up.url, |m| m["qps_budget"] = json!(2))
        .await;
    let caller = Identity::generate();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let (st, h, b) = s.call(&caller, up.agent.id(), "/", b"").await;
        if st == 429 {
            assert_eq!(code(&b), "rate_limited");
            let retry: u64 = h["retry-after"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("secs");
            assert!((1..=1).contains(&retry), "retry-after {retry}");
        }
        statuses.push(st);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 8);
    // The bucket refills at 2/s: poll (with a deadline) until a call is admitted again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (st, _, _) = s.call(&caller, up.agent.id(), "/", b"").await;
        if st == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "budget never refilled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn concurrency_limit_answers_429_while_a_call_is_in_flight() {
    let s = setup().await;
    let gate = Arc::new(Semaphore::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let up = upstream(Mode::Hold(gate.clone(), arrived.clone())).await;
    s.register(&up.agent, &up.url, |m| m["concurrency_limit"] = json!(1))
        .await;
    let caller = Identity::generate();
    let first = {
        let signed = sign_request(&caller, up.agent.id(), "POST", "/", b"", now_unix());
        let req = s.http.post(format!(
            "{}/v1/agents/{}/invoke/",
            s.node.url,
            up.agent.id()
        ));
        let req = signed
            .headers()
            .into_iter()
            .fold(req, |r, (k, v)| r.header(k, v));
        tokio::spawn(req.send())
    };
    // Poll (with a deadline) until the first call is at the agent, holding the only slot.
    let deadline = Instant::now() + Duration::from_secs(5);
    while arrived.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the first call never reached the agent"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (st, h, b) = s.call(&caller, up.agent.id(), "/", b"").await;
    assert_eq!((st, code(&b).as_str()), (429, "rate_limited"));
    assert!(h.contains_key("retry-after"));
    gate.add_permits(10);
    let res = first.await.expect("join").expect("first call");
    assert!(res.status().is_success() || res.status().as_u16() == 504);
}

#[tokio::test]
async fn upstream_down_slow_failing_and_oversized() {
    let s = setup().await;
    let caller = Identity::generate();

    let down = Identity::generate();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("b")
        .local_addr()
        .expect("a")
        .port();
    s.register(&down, &format!("http://127.0.0.1:{port}"), |_| {})
        .await;
    let (st, _, b) = s.call(&caller, down.id(), "/", b"").await;
    assert_eq!((st, code(&b).as_str()), (502, "upstream_failed"));
    assert_eq!(s.outcomes.count(down.id(), OutcomeKind::Failure), 1);

    let slow = upstream(Mode::Hold(Arc::new(Semaphore::new(0)), Arc::default())).await;
    s.register(&slow.agent, &slow.url, |_| {}).await;
    let (st, _, b) = s.call(&caller, slow.agent.id(), "/", b"").await;
    assert_eq!((st, code(&b).as_str()), (504, "upstream_timeout"));
    assert_eq!(s.outcomes.count(slow.agent.id(), OutcomeKind::Timeout), 1);

    let failing = upstream(Mode::Fail).await;
    s.register(&failing.agent, &failing.url, |_| {}).await;
    assert_eq!(s.call(&caller, failing.agent.id(), "/", b"").await.0, 500);
    assert_eq!(
        s.outcomes.count(failing.agent.id(), OutcomeKind::Failure),
        1
    );

    let echo = upstream(Mode::Echo).await;
    s.register(&echo.agent, &echo.url, |_| {}).await;
    let big = vec![b'a'; 65 * 1024];
    let (st, _, b) = s.call(&caller, echo.agent.id(), "/", &big).await;
    assert_eq!((st, code(&b).as_str()), (413, "too_large"));

    let huge = upstream(Mode::Big).await;
    s.register(&huge.agent, &huge.url, |_| {}).await;
    let (st, _, b) = s.call(&caller, huge.agent.id(), "/", b"").await;
    assert_eq!((st, code(&b).as_str()), (413, "too_large"));

    let forged = upstream(Mode::ForgedSignature).await;
    s.register(&forged.agent, &forged.url, |_| {}).await;
    assert_eq!(s.call(&caller, forged.agent.id(), "/", b"").await.0, 200);
    // The check runs after the answer went out: poll for its event.
    let deadline = Instant::now() + Duration::from_secs(10);
    while s
        .outcomes
        .count(forged.agent.id(), OutcomeKind::BadSignature)
        == 0
    {
        assert!(Instant::now() < deadline, "no bad_signature event");
        tokio::task::yield_now().await;
    }
    assert_eq!(
        s.outcomes
            .count(forged.agent.id(), OutcomeKind::BadSignature),
        1
    );
}

#[tokio::test]
async fn unknown_revoked_and_relay_targets() {
    let s = setup().await;
    let caller = Identity::generate();
    let nobody = Identity::generate();
    let (st, _, b) = s.call(&caller, nobody.id(), "/", b"").await;
    assert_eq!((st, code(&b).as_str()), (404, "not_found"));
    let (st, _, b) = s.call(&caller, "not-a-did", "/", b"").await;
    assert_eq!((st, code(&b).as_str()), (400, "invalid_id"));

    let relayed = Identity::generate();
    s.register(&relayed, &format!("relay://{}", relayed.id()), |_| {})
        .await;
    // A relay:// agent with no tunnel anywhere (the relay issue replaced the interim 501).
    let (st, _, b) = s.call(&caller, relayed.id(), "/", b"").await;
    assert_eq!((st, code(&b).as_str()), (503, "agent_offline"));

    let gone = Identity::generate();
    s.register(&gone, "http://127.0.0.1:9", |_| {}).await;
    let tomb = envelope(&gone, now_unix(), |m| m["revoked"] = json!(true));
    s.http
        .post(format!("{}/v1/agents", s.node.url))
        .json(&tomb)
        .send()
        .await
        .expect("revoke");
    let (st, _, b) = s.call(&caller, gone.id(), "/", b"").await;
    assert_eq!((st, code(&b).as_str()), (410, "revoked"));
}

#[tokio::test]
async fn the_cli_invokes_through_the_gateway_and_directly() {
    let s = setup().await;
    let up = upstream(Mode::Echo).await;
    s.register(&up.agent, &up.url, |_| {}).await;
    let home = tempfile::tempdir().expect("tmp");
    let run = |args: Vec<String>| {
        let mut c = common::cmd(home.path());
        c.args(args);
        tokio::task::spawn_blocking(move || c.output().expect("run"))
    };
    assert!(
        run(vec!["keygen".into()])
            .await
            .expect("join")
            .status
            .success()
    );
    for direct in [false, true] {
        let mut args = vec![
            "--node".to_string(),
            s.node.url.clone(),
            "invoke".into(),
            up.agent.id().into(),
            "--path".into(),
            "/forecast".into(),
            "--data".into(),
            r#"{"city":"Paris"}"#.into(),
            "--json".into(),
        ];
        if direct {
            args.push("--direct".into());
        }
        let out = run(args).await.expect("join");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["status"], 200);
        assert_eq!(v["response_verified"], true);
        assert_eq!(v["body"]["path"], "/forecast");
        assert!(
            v["body"]["caller"].is_string(),
            "the agent verified the CLI's signature: {v}"
        );
    }
    // A non-2xx answer exits 1.
    let nobody = Identity::generate();
    let out = run(vec![
        "--node".into(),
        s.node.url.clone(),
        "invoke".into(),
        nobody.id().into(),
    ])
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(1));
}

/// RFC 9421 headers for a call through the gateway at `gateway_url` (`.../invoke`) to an agent
/// at `agent_url`: `am` for the gateway, `am-agent` for the agent (docs/protocol.md §4b).
fn rfc9421(
    caller: &Identity,
    gateway_url: &str,
    agent_url: Option<&str>,
    path: &str,
    body: &[u8],
    params: &agentmesh::httpsig::Params,
) -> Vec<(&'static str, String)> {
    use agentmesh::httpsig::{self, RequestTarget};
    let join = |base: &str| agentmesh::encoding::join_endpoint(base, path);
    let mut signed = vec![
        httpsig::sign_request(
            caller,
            "am",
            &RequestTarget::of_url("POST", &join(gateway_url)).expect("url"),
            body,
            params,
        )
        .expect("sign"),
    ];
    if let Some(agent) = agent_url {
        signed.push(
            httpsig::sign_request(
                caller,
                "am-agent",
                &RequestTarget::of_url("POST", &join(agent)).expect("url"),
                body,
                params,
            )
            .expect("sign"),
        );
    }
    let list =
        |f: fn(&httpsig::Signed) -> String| signed.iter().map(f).collect::<Vec<_>>().join(", ");
    vec![
        ("content-digest", httpsig::content_digest(body)),
        ("signature-input", list(httpsig::Signed::input_member)),
        ("signature", list(httpsig::Signed::signature_member)),
    ]
}

impl Setup {
    async fn send_headers(
        &self,
        target: &str,
        path: &str,
        body: &[u8],
        headers: &[(&'static str, String)],
    ) -> (u16, HeaderMap, Bytes) {
        let mut req = self
            .http
            .post(format!("{}/v1/agents/{target}/invoke{path}", self.node.url))
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.expect("send");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.bytes().await.expect("body"))
    }
}

#[tokio::test]
async fn an_rfc9421_call_is_accepted_and_the_agent_checks_the_copy_signed_for_it() {
    let s = setup().await;
    let up = upstream(Mode::Echo).await;
    s.register(&up.agent, &up.url, |_| {}).await;
    let caller = Identity::generate();
    let gateway = format!("{}/v1/agents/{}/invoke", s.node.url, up.agent.id());
    let body = br#"{"city":"Paris"}"#;
    let params =
        agentmesh::httpsig::Params::agentmesh(&caller, now_unix(), "cmZjOTQyMS1ub25jZS0wMQ");
    let headers = rfc9421(
        &caller,
        &gateway,
        Some(&up.url),
        "/forecast?days=2",
        body,
        &params,
    );
    let (status, res_headers, answer) = s
        .send_headers(up.agent.id(), "/forecast?days=2", body, &headers)
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let v: Value = serde_json::from_slice(&answer).expect("json");
    assert_eq!(
        v["caller"],
        caller.id(),
        "the agent verified its own RFC 9421 copy"
    );
    // The answer is signed in both forms for the request's nonce, and both hold.
    let get = |n: &str| {
        res_headers
            .get(n)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    };
    assert!(get("signature-input").is_some_and(|i| i.contains("\"@status\"")));
    verify_response(up.agent.id(), 200, "cmZjOTQyMS1ub25jZS0wMQ", get, &answer)
        .expect("signed answer");
    assert!(verify_response(up.agent.id(), 200, "another-nonce-entirely", get, &answer).is_err());

    // The same request again is a replay.
    let (st, _, b) = s
        .send_headers(up.agent.id(), "/forecast?days=2", body, &headers)
        .await;
    assert_eq!((st, code(&b).as_str()), (401, "replayed_nonce"));

    // A stock signer's own label, no copy for the agent: the gateway accepts it; the agent
    // gets no signature it could check.
    let params = agentmesh::httpsig::Params {
        tag: None,
        ..agentmesh::httpsig::Params::agentmesh(&caller, now_unix(), "c3RvY2stbGFiZWwtbm9uY2U")
    };
    let mut stock = rfc9421(&caller, &gateway, None, "/x", b"{}", &params);
    for (_, v) in &mut stock {
        *v = v.replacen("am=", "sig1=", 1);
    }
    let (st, _, b) = s.send_headers(up.agent.id(), "/x", b"{}", &stock).await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!(v["caller_error"], "missing_header");
}

#[tokio::test]
async fn rfc9421_refusals_name_their_reason() {
    let s = setup().await;
    let up = upstream(Mode::Echo).await;
    s.register(&up.agent, &up.url, |_| {}).await;
    let caller = Identity::generate();
    let target = up.agent.id();
    let gateway = format!("{}/v1/agents/{target}/invoke", s.node.url);
    let now = now_unix();
    let mut n = 0;
    let mut params = |at: i64| {
        n += 1;
        agentmesh::httpsig::Params::agentmesh(&caller, at, &format!("bm9uY2Utbm9uY2UtbnVtYmVy{n}"))
    };

    // The body is not the one signed.
    let h = rfc9421(&caller, &gateway, None, "/x", b"{}", &params(now));
    let (st, _, b) = s.send_headers(target, "/x", b"{\"tampered\":1}", &h).await;
    assert_eq!((st, code(&b).as_str()), (401, "bad_signature"));
    // Signed for another agent's gateway URL.
    let other = format!(
        "{}/v1/agents/{}/invoke",
        s.node.url,
        Identity::generate().id()
    );
    let h = rfc9421(&caller, &other, None, "/x", b"{}", &params(now));
    let (st, _, b) = s.send_headers(target, "/x", b"{}", &h).await;
    assert_eq!((st, code(&b).as_str()), (401, "bad_signature"));
    // Too old, and from the future.
    for at in [now - 300, now + 300] {
        let h = rfc9421(&caller, &gateway, None, "/x", b"{}", &params(at));
        let (st, _, b) = s.send_headers(target, "/x", b"{}", &h).await;
        assert_eq!((st, code(&b).as_str()), (401, "stale_timestamp"), "{at}");
    }
    // Content-Digest left out of what is signed.
    let mut p = params(now);
    p.nonce = Some("bm8tZGlnZXN0LWNvdmVyZWQ".into());
    let signed = agentmesh::httpsig::sign(
        &caller,
        "am",
        &["@method", "@authority", "@path", "@query"],
        &[
            "POST".into(),
            s.node.url.trim_start_matches("http://").into(),
            format!("/v1/agents/{target}/invoke/x"),
            "?".into(),
        ],
        &p,
    )
    .expect("sign");
    let h = [
        ("content-digest", agentmesh::httpsig::content_digest(b"{}")),
        ("signature-input", signed.input_member()),
        ("signature", signed.signature_member()),
    ];
    let (st, _, b) = s.send_headers(target, "/x", b"{}", &h).await;
    assert_eq!((st, code(&b).as_str()), (401, "bad_signature"));
    assert!(String::from_utf8_lossy(&b).contains("content-digest"));
    // Both forms, disagreeing on the nonce.
    let x = sign_request_with_nonce(
        &caller,
        target,
        "POST",
        "/x",
        b"{}",
        now,
        "eC1hZ2VudC1ub25jZS0wMDE",
    );
    let mut h: Vec<(&'static str, String)> = x.headers().into_iter().collect();
    h.extend(rfc9421(&caller, &gateway, None, "/x", b"{}", &params(now)));
    let (st, _, b) = s.send_headers(target, "/x", b"{}", &h).await;
    assert_eq!((st, code(&b).as_str()), (401, "bad_signature"));
    assert!(String::from_utf8_lossy(&b).contains("disagree"));
    // Both forms, agreeing: accepted.
    let p = agentmesh::httpsig::Params::agentmesh(&caller, now, "eC1hZ2VudC1ub25jZS0wMDI");
    let x = sign_request_with_nonce(
        &caller,
        target,
        "POST",
        "/x",
        b"{}",
        now,
        "eC1hZ2VudC1ub25jZS0wMDI",
    );
    let mut h: Vec<(&'static str, String)> = x.headers().into_iter().collect();
    h.extend(rfc9421(&caller, &gateway, Some(&up.url), "/x", b"{}", &p));
    let (st, _, b) = s.send_headers(target, "/x", b"{}", &h).await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    // No Content-Digest: named.
    let h: Vec<(&'static str, String)> =
        rfc9421(&caller, &gateway, None, "/x", b"{}", &params(now))
            .into_iter()
            .filter(|(k, _)| *k != "content-digest")
            .collect();
    let (st, _, b) = s.send_headers(target, "/x", b"{}", &h).await;
    assert_eq!(
        (st, code(&b).as_str()),
        (401, "missing_header"),
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert!(String::from_utf8_lossy(&b).contains("content-digest"));
    // Garbage in the fields: a 401, never a 500.
    for (input, sig) in [
        ("((((", "am=:AAAA:"),
        ("am=()", "am=:AAAA:"),
        ("am=(\"@method\");created=1;keyid=\"did:key:zzz\"", "am=?1"),
    ] {
        let h = [
            ("content-digest", agentmesh::httpsig::content_digest(b"{}")),
            ("signature-input", input.to_string()),
            ("signature", sig.to_string()),
        ];
        let (st, _, _) = s.send_headers(target, "/x", b"{}", &h).await;
        assert_eq!(st, 401, "{input}");
    }
    assert_eq!(s.outcomes.counts(caller.id())[0], 0);
}

/// Behind a proxy that rewrites `Host`, callers sign the node's public name: the gateway takes
/// a signature over either.
#[tokio::test]
async fn rfc9421_over_the_public_url_is_accepted_behind_a_rewriting_proxy() {
    let outcomes = Arc::new(OutcomeLog::default());
    let node = TestNode::start_with(
        |c| c.public_url = Some("https://agents.example".into()),
        Some(outcomes),
    )
    .await;
    let s = Setup {
        node,
        outcomes: Arc::new(OutcomeLog::default()),
        http: reqwest::Client::new(),
    };
    let up = upstream(Mode::Echo).await;
    s.register(&up.agent, &up.url, |_| {}).await;
    let caller = Identity::generate();
    let now = now_unix();
    for (n, base) in [
        (
            1,
            format!("https://agents.example/v1/agents/{}/invoke", up.agent.id()),
        ),
        (
            2,
            format!("{}/v1/agents/{}/invoke", s.node.url, up.agent.id()),
        ),
    ] {
        let p = agentmesh::httpsig::Params::agentmesh(
            &caller,
            now,
            &format!("cHVibGljLXVybC1ub25jZS0w{n}"),
        );
        let h = rfc9421(&caller, &base, Some(&up.url), "/x", b"{}", &p);
        let (st, _, b) = s.send_headers(up.agent.id(), "/x", b"{}", &h).await;
        assert_eq!(st, 200, "{base}: {}", String::from_utf8_lossy(&b));
    }
    let p = agentmesh::httpsig::Params::agentmesh(&caller, now, "b3RoZXItbmFtZS1ub25jZS0x");
    let other = format!(
        "https://elsewhere.example/v1/agents/{}/invoke",
        up.agent.id()
    );
    let h = rfc9421(&caller, &other, None, "/x", b"{}", &p);
    let (st, _, b) = s.send_headers(up.agent.id(), "/x", b"{}", &h).await;
    assert_eq!((st, code(&b).as_str()), (401, "bad_signature"));
}
