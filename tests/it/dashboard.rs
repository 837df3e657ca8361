//! The web dashboard's serving (`/ui/`: embedded files, a strict Content-Security-Policy,
//! validators, `--no-ui`) and the live event stream it follows (`GET /v1/events`). The pages
//! themselves run in a real browser in `tests/ui/` (`.ci/ui-test`).

use crate::common::{self, TestNode};

use std::time::{Duration, Instant};

use agentmesh::identity::Identity;

async fn get(url: &str) -> reqwest::Response {
    reqwest::Client::new().get(url).send().await.expect("GET")
}

#[tokio::test]
async fn the_dashboard_is_served_locked_down_and_can_be_turned_off() {
    let node = TestNode::start().await;
    let res = get(&format!("{}/ui/", node.url)).await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    let csp = h["content-security-policy"].to_str().expect("text");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-type"]
            .to_str()
            .expect("text")
            .starts_with("text/html")
    );
    let page = res.text().await.expect("body");
    assert!(page.contains("<script src=\"app.js\""), "{page}");
    // No CDN: every script and style is the node's own.
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    // The scripts and styles, with a validator: an unchanged file is not sent again.
    let mut weight = page.len();
    for (file, kind) in [("app.js", "text/javascript"), ("app.css", "text/css")] {
        let res = get(&format!("{}/ui/{file}", node.url)).await;
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .expect("t")
                .starts_with(kind)
        );
        let etag = res.headers()["etag"].clone();
        weight += res.bytes().await.expect("body").len();
        let again = reqwest::Client::new()
            .get(format!("{}/ui/{file}", node.url))
            .header("if-none-match", etag)
            .send()
            .await
            .expect("GET");
        assert_eq!(again.status(), 304);
    }
    assert!(weight < 200 * 1024, "the dashboard weighs {weight} bytes");
    let res = get(&format!("{}/ui", node.url)).await;
    assert_eq!(res.url().path(), "/ui/", "redirected");
    // Read-only.
    let res = reqwest::Client::new()
        .post(format!("{}/ui/", node.url))
        .body("x")
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 405);

    let off = TestNode::start_with(|c| c.ui = false, None).await;
    let res = get(&format!("{}/ui/", off.url)).await;
    assert_eq!(res.status(), 404);
    let res = get(&format!("{}/v1/node", off.url)).await;
    assert_eq!(res.status(), 200, "the API stays");
}

/// Reads server-sent events from `res` until one `node-event` arrives (at most 10 s).
async fn next_event(stream: &mut reqwest::Response, buf: &mut String) -> (u64, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if frame.contains("event: node-event") {
                let id = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .and_then(|v| v.parse().ok())
                    .expect("an id");
                let data = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .expect("data");
                return (id, serde_json::from_str(data).expect("JSON data"));
            }
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.chunk())
            .await
            .expect("an event within 10 s")
            .expect("a chunk")
            .expect("the stream stays open");
        buf.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
    }
}

#[tokio::test]
async fn events_stream_live_and_resume_after_the_last_id() {
    let node = TestNode::start().await;
    let res = get(&format!("{}/v1/events", node.url)).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("t")
            .starts_with("text/event-stream")
    );
    let mut stream = res;
    let mut buf = String::new();
    let agent = Identity::generate();
    let (status, _) = node.post_card(&common::fresh(&agent)).await;
    assert_eq!(status, 201);
    let (id, event) = next_event(&mut stream, &mut buf).await;
    assert_eq!(event["kind"], "register");
    assert_eq!(event["agent_id"], agent.id());
    assert_eq!(event["seq"], id);
    // A client that comes back with Last-Event-ID gets what followed it.
    let second = Identity::generate();
    node.post_card(&common::fresh(&second)).await;
    let res = reqwest::Client::new()
        .get(format!("{}/v1/events", node.url))
        .header("last-event-id", id.to_string())
        .send()
        .await
        .expect("GET");
    let mut resumed = res;
    let mut buf2 = String::new();
    let (_, event) = next_event(&mut resumed, &mut buf2).await;
    assert_eq!(event["agent_id"], second.id(), "resumed after {id}");
    // A garbage Last-Event-ID is ignored: the stream starts with what happens next.
    for garbage in ["not a number", "-1", "18446744073709551616", ""] {
        let mut res = reqwest::Client::new()
            .get(format!("{}/v1/events", node.url))
            .header("last-event-id", garbage)
            .send()
            .await
            .expect("GET");
        assert_eq!(res.status(), 200, "{garbage:?}");
        let third = Identity::generate();
        node.post_card(&common::fresh(&third)).await;
        let mut buf3 = String::new();
        let (_, event) = next_event(&mut res, &mut buf3).await;
        assert_eq!(event["agent_id"], third.id(), "{garbage:?}");
    }
}

#[tokio::test]
async fn event_streams_are_capped() {
    let node = TestNode::start().await;
    let client = reqwest::Client::new();
    let mut open = Vec::new();
    for _ in 0..64 {
        let res = client
            .get(format!("{}/v1/events", node.url))
            .send()
            .await
            .expect("GET");
        assert_eq!(res.status(), 200);
        open.push(res);
    }
    let res = client
        .get(format!("{}/v1/events", node.url))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "overloaded");
    // A closed stream frees its place.
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = client
            .get(format!("{}/v1/events", node.url))
            .send()
            .await
            .expect("GET");
        if res.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the place never came free");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
