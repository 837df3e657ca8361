//! The registry API through the router (`oneshot`): every status and error code of docs/protocol.md §3.

use crate::common;

use agentmesh::encoding::now_unix;
use agentmesh::identity::Identity;
use axum::http::StatusCode;
use common::{envelope, fresh};
use serde_json::{Value, json};

type Api = common::RouterApi;

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().expect("error.code")
}

#[tokio::test]
async fn register_update_get() {
    let api = Api::new();
    let id = Identity::generate();
    let now = now_unix();
    let first = envelope(&id, now - 10, |_| {});
    let (s, v) = api.post(&first).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        v,
        json!({"agent_id": id.id(), "seq": 1, "status": "created"})
    );

    let (s, v) = api.get(&format!("/v1/agents/{}", id.id())).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, first, "GET returns the envelope as registered");

    let second = envelope(&id, now, |m| m["name"] = json!("weather-2"));
    let (s, v) = api.post(&second).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "updated");
    assert_eq!(v["seq"], 2);
    let (_, v) = api.get(&format!("/v1/agents/{}", id.id())).await;
    assert_eq!(v["manifest"]["name"], "weather-2");

    let (s, v) = api.get("/v1/agents").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["results"].as_array().expect("results").len(), 1);
    assert_eq!(
        v["results"][0]["card"], second,
        "discovery serves the newest version"
    );
}

#[tokio::test]
async fn stale_and_future_versions() {
    let api = Api::new();
    let id = Identity::generate();
    let now = now_unix();
    assert_eq!(
        api.post(&envelope(&id, now, |_| {})).await.0,
        StatusCode::CREATED
    );
    // Same issued_at, same card: not newer.
    let (s, v) = api.post(&envelope(&id, now, |_| {})).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "stale"));
    // Older.
    let (s, v) = api.post(&envelope(&id, now - 5, |_| {})).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "stale"));
    // Too far in the future.
    let (s, v) = api.post(&envelope(&id, now + 3600, |_| {})).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("issued_at")
    );
    // Equal issued_at, different manifest: the larger signature wins, on every node.
    let other = envelope(&id, now, |m| m["description"] = json!("variant"));
    let stored = api.get(&format!("/v1/agents/{}", id.id())).await.1;
    let wins = other["manifest_signature"].as_str() > stored["manifest_signature"].as_str();
    let (s, _) = api.post(&other).await;
    assert_eq!(s == StatusCode::OK, wins, "tie-break by signature");
}

#[tokio::test]
async fn tombstones_are_gone_and_stay_gone() {
    let api = Api::new();
    let id = Identity::generate();
    let now = now_unix();
    api.post(&envelope(&id, now - 20, |_| {})).await;
    let tomb = envelope(&id, now - 10, |m| {
        m["revoked"] = json!(true);
        m.as_object_mut().expect("obj").remove("endpoint");
    });
    let (s, v) = api.post(&tomb).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("revoked")));
    let (s, v) = api.get(&format!("/v1/agents/{}", id.id())).await;
    assert_eq!((s, code(&v)), (StatusCode::GONE, "revoked"));
    // The older live version can never come back.
    let (s, v) = api.post(&envelope(&id, now - 15, |_| {})).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "stale"));
    let (_, v) = api.get("/v1/agents").await;
    assert!(v["results"].as_array().expect("results").is_empty());
}

#[tokio::test]
async fn expired_cards_are_not_served() {
    let api = Api::new();
    let id = Identity::generate();
    let now = now_unix();
    let env = envelope(&id, now - 100, |m| {
        m["expires_at"] = json!(agentmesh::encoding::format_rfc3339(now - 1));
    });
    assert_eq!(api.post(&env).await.0, StatusCode::CREATED);
    let (s, _) = api.get(&format!("/v1/agents/{}", id.id())).await;
    assert_eq!(s, StatusCode::GONE);
}

#[tokio::test]
async fn bad_signatures_ids_and_fields() {
    let api = Api::new();
    let id = Identity::generate();

    let mut tampered = fresh(&id);
    tampered["manifest"]["endpoint"] = json!("http://evil.example");
    let (s, v) = api.post(&tampered).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "bad_signature"));

    let mut unsigned = fresh(&id);
    unsigned
        .as_object_mut()
        .expect("obj")
        .remove("manifest_signature");
    let (s, v) = api.post(&unsigned).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "bad_signature"));

    let mut not_did = fresh(&id);
    not_did["manifest"]["agent_id"] = json!("agent-42");
    let (s, v) = api.post(&not_did).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "invalid_id"));

    let cases: Vec<(&str, Value)> = vec![
        (
            "name",
            envelope(&id, now_unix(), |m| {
                m.as_object_mut().expect("o").remove("name");
            }),
        ),
        (
            "name",
            envelope(&id, now_unix(), |m| m["name"] = json!("n".repeat(65))),
        ),
        (
            "description",
            envelope(&id, now_unix(), |m| {
                m["description"] = json!("d".repeat(4001))
            }),
        ),
        (
            "tags",
            envelope(&id, now_unix(), |m| m["tags"] = json!("weather")),
        ),
        (
            "qps_budget",
            envelope(&id, now_unix(), |m| m["qps_budget"] = json!(-1)),
        ),
        (
            "skills[0].id",
            envelope(&id, now_unix(), |m| m["skills"] = json!([{"id": ""}])),
        ),
    ];
    for (field, env) in cases {
        let (s, v) = api.post(&env).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
        );
        let msg = v["error"]["message"].as_str().expect("msg");
        assert!(msg.starts_with(&format!("{field}:")), "{msg} names {field}");
    }
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let api = Api::new();
    let (s, v) = api.post_raw("{\"manifest\": ").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "invalid_json"));
    let (s, v) = api.post_raw(vec![b'x'; 64 * 1024 + 1]).await;
    assert_eq!((s, code(&v)), (StatusCode::PAYLOAD_TOO_LARGE, "too_large"));
    let (s, v) = api.post(&json!([1, 2])).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    // A big-but-allowed body is fine up to the limit: a 60 KiB meta is refused by its own rule.
    let id = Identity::generate();
    let env = envelope(&id, now_unix(), |m| {
        m["meta"] = json!({"x": "y".repeat(60_000)})
    });
    let (s, v) = api.post(&env).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
}

#[tokio::test]
async fn lookups_and_routes() {
    let api = Api::new();
    let unknown = Identity::generate();
    let (s, v) = api.get(&format!("/v1/agents/{}", unknown.id())).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, v) = api.get("/v1/agents/not-a-did").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "invalid_id"));
    let (s, _) = api.get("/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api.get("/healthz").await;
    assert_eq!((s, &v["status"]), (StatusCode::OK, &json!("ok")));
    let (s, v) = api.get("/v1/node").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        v["node_id"]
            .as_str()
            .expect("id")
            .starts_with("did:key:z6Mk")
    );
    assert_eq!(v["agents"], 0);
}

/// The node serves its OpenAPI document, the one committed as docs/openapi.json, and the
/// bodies it answers carry the fields that document requires.
#[tokio::test]
async fn serves_its_openapi_document() {
    let api = Api::new();
    let (s, doc) = api.get("/v1/openapi.json").await;
    assert_eq!(s, 200);
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"))
            .expect("docs/openapi.json"),
    )
    .expect("JSON");
    assert_eq!(doc, committed);
    assert_eq!(doc["openapi"], "3.1.0");
    // Every required field of the discovery answer is in a real answer.
    let id = Identity::generate();
    let (s, _) = api.post(&fresh(&id)).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, found) = api.get("/v1/agents?q=weather").await;
    for field in doc["components"]["schemas"]["DiscoverHit"]["required"]
        .as_array()
        .expect("required fields")
    {
        let field = field.as_str().expect("a name");
        assert!(
            found["results"][0].get(field).is_some(),
            "{field} missing from {found}"
        );
    }
}

/// `GET /` answers a JSON index to clients and a short page to browsers.
#[tokio::test]
async fn the_root_says_what_this_is() {
    let api = Api::new();
    let (s, v) = api.get("/").await;
    assert_eq!(s, 200);
    assert_eq!(v["name"], "agentmesh");
    assert_eq!(v["openapi"], "/v1/openapi.json");
    assert!(
        v["node_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("did:key:z6Mk"))
    );
    let res = api
        .raw(
            axum::http::Request::get("/")
                .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(res.0, 200);
    assert!(res.1.starts_with("text/html"), "{}", res.1);
    assert!(res.2.contains("/v1/openapi.json"));
}
