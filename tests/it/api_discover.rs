//! Discovery through the router: ranking, filters, empty query, exclusions, limits, bad input.

use crate::common;

use agentmesh::encoding::{format_rfc3339, now_unix};
use agentmesh::identity::Identity;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::envelope;
use serde_json::{Value, json};

type Api = common::RouterApi;

async fn register(api: &Api, id: &Identity, edit: impl FnOnce(&mut Value)) {
    let (s, v) = api.post(&envelope(id, now_unix() - 60, edit)).await;
    assert!(s.is_success(), "{v}");
}

async fn names(api: &Api, uri: &str) -> Vec<String> {
    let (s, v) = api.get(uri).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            r["card"]["manifest"]["name"]
                .as_str()
                .expect("name")
                .to_string()
        })
        .collect()
}

fn card(
    name: &'static str,
    desc: &'static str,
    tags: &'static [&'static str],
    protocols: &'static [&'static str],
) -> impl FnOnce(&mut Value) {
    move |m| {
        m["name"] = json!(name);
        m["description"] = json!(desc);
        m["tags"] = json!(tags);
        m["protocols"] = json!(protocols);
    }
}

async fn fleet(api: &Api) -> Vec<Identity> {
    let ids: Vec<Identity> = (0..4).map(|_| Identity::generate()).collect();
    register(
        api,
        &ids[0],
        card(
            "weather",
            "Forecasts rain, wind and temperature for any city",
            &["weather"],
            &["http"],
        ),
    )
    .await;
    register(
        api,
        &ids[1],
        card(
            "code-review",
            "Reviews pull requests and points out bugs",
            &["code", "review"],
            &["mcp", "http"],
        ),
    )
    .await;
    register(
        api,
        &ids[2],
        card(
            "translator",
            "Translates text between forty languages",
            &["language"],
            &["a2a"],
        ),
    )
    .await;
    register(
        api,
        &ids[3],
        card(
            "invoices",
            "Extracts totals and due dates from invoices",
            &["finance"],
            &["http"],
        ),
    )
    .await;
    ids
}

#[tokio::test]
async fn ranks_by_meaning_and_reports_scores() {
    let api = Api::new();
    fleet(&api).await;
    let top = names(
        &api,
        "/v1/agents?q=will%20it%20rain%20in%20Paris%20tomorrow",
    )
    .await;
    assert_eq!(top[0], "weather");
    let top = names(
        &api,
        "/v1/agents?q=check%20my%20PR%20for%20mistakes&limit=1",
    )
    .await;
    assert_eq!(top, vec!["code-review"]);
    let (_, v) = api.get("/v1/agents?q=weather%20forecast").await;
    let top = &v["results"][0];
    for f in ["score", "similarity", "lexical", "trust"] {
        assert!(top[f].is_number(), "{f} in {top}");
    }
    assert!(
        top["lexical"].as_f64().expect("lex") > 0.0,
        "exact words count"
    );
    assert_eq!(top["trust"], 0.5, "unknown agents count as 0.5");
    assert!(v["took_ms"].is_number());
}

#[tokio::test]
async fn filters_tags_protocol_and_trust() {
    let api = Api::new();
    let ids = fleet(&api).await;
    assert_eq!(
        names(&api, "/v1/agents?q=anything&tags=CODE,review").await,
        vec!["code-review"]
    );
    assert_eq!(
        names(&api, "/v1/agents?tag=code&tag=weather").await,
        Vec::<String>::new()
    );
    let mut http = names(&api, "/v1/agents?protocol=http").await;
    http.sort();
    assert_eq!(http, vec!["code-review", "invoices", "weather"]);
    assert!(names(&api, "/v1/agents?protocol=ws").await.is_empty());
    // Unknown agents count as 0.5: a 0.6 floor hides them until trust says otherwise.
    assert!(names(&api, "/v1/agents?min_trust=0.6").await.is_empty());
    api.discovery.set_trust(ids[2].id(), 0.9);
    assert_eq!(
        names(&api, "/v1/agents?min_trust=0.6").await,
        vec!["translator"]
    );
    // Empty query: trust first, then recency.
    let all = names(&api, "/v1/agents").await;
    assert_eq!(all[0], "translator");
    assert_eq!(all.len(), 4);
}

#[tokio::test]
async fn revoked_and_expired_cards_are_never_returned() {
    let api = Api::new();
    let ids = fleet(&api).await;
    let tomb = envelope(&ids[0], now_unix() - 1, |m| {
        m["revoked"] = json!(true);
    });
    let req = Request::post("/v1/agents")
        .body(Body::from(serde_json::to_vec(&tomb).expect("ser")))
        .expect("req");
    assert_eq!(api.call(req).await.0, StatusCode::OK);
    assert!(
        !names(&api, "/v1/agents?q=rain%20forecast")
            .await
            .contains(&"weather".to_string())
    );

    let short = Identity::generate();
    register(&api, &short, |m| {
        m["name"] = json!("ephemeral-weather");
        m["expires_at"] = json!(format_rfc3339(now_unix() - 1));
    })
    .await;
    let names = names(&api, "/v1/agents?q=weather").await;
    assert!(
        !names.contains(&"ephemeral-weather".to_string()),
        "{names:?}"
    );
}

#[tokio::test]
async fn limits_and_bad_input() {
    let api = Api::new();
    fleet(&api).await;
    assert_eq!(names(&api, "/v1/agents?limit=2").await.len(), 2);
    for (uri, field) in [
        ("/v1/agents?limit=0", "limit"),
        ("/v1/agents?limit=101", "limit"),
        ("/v1/agents?limit=ten", "limit"),
        ("/v1/agents?min_trust=1.5", "min_trust"),
        ("/v1/agents?min_trust=x", "min_trust"),
        ("/v1/agents?qq=typo", "qq"),
    ] {
        let (s, v) = api.get(uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(v["error"]["code"], "invalid_field");
        assert!(
            v["error"]["message"]
                .as_str()
                .expect("msg")
                .starts_with(field),
            "{v}"
        );
    }
    let long = "a".repeat(1001);
    let (s, v) = api.get(&format!("/v1/agents?q={long}")).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_field"))
    );
    let ok = "a".repeat(1000);
    assert_eq!(
        api.get(&format!("/v1/agents?q={ok}")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn index_is_rebuilt_at_start_and_reembeds_on_model_change() {
    let node = common::TestNode::start().await;
    let client = agentmesh::client::Client::new(&node.url, std::time::Duration::from_secs(10))
        .expect("client");
    let id = Identity::generate();
    client
        .register(&envelope(&id, now_unix(), |m| m["name"] = json!("weather")))
        .await
        .expect("register");
    let dir = node.stop().await;
    let data = dir.path().join("data");

    // Pretend the vectors came from another model: the next start must re-embed.
    let conn = rusqlite::Connection::open(data.join("agentmesh.db")).expect("db");
    conn.execute("UPDATE embeddings SET model = 'old-model'", [])
        .expect("update");
    drop(conn);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let node =
        agentmesh::node::Node::spawn(listener, agentmesh::node::NodeConfig::new(&data), async {
            let _ = rx.await;
        })
        .await
        .expect("restart");
    let client = agentmesh::client::Client::new(
        &format!("http://{}", node.addr),
        std::time::Duration::from_secs(10),
    )
    .expect("client");
    let v: serde_json::Value = client
        .get("/v1/agents?q=rain%20tomorrow")
        .await
        .expect("search");
    assert_eq!(v["results"][0]["agent_id"], id.id());
    let conn = rusqlite::Connection::open(data.join("agentmesh.db")).expect("db");
    let model: String = conn
        .query_row("SELECT model FROM embeddings", [], |r| r.get(0))
        .expect("row");
    assert!(
        model.starts_with("minilm-m2v-256-int8@"),
        "re-embedded and written back: {model}"
    );
    let _ = tx.send(());
    node.task.await.expect("join").expect("clean stop");
}

/// A query's results are matches: every score is at least the relevance floor, and a query
/// that shares nothing with the fleet finds less than the whole fleet (it had found all of it,
/// the unrelated ones with scores near zero or below).
#[tokio::test]
async fn unrelated_cards_are_left_out() {
    let api = Api::new();
    let ids = fleet(&api).await;
    for q in [
        "will%20it%20rain%20in%20Paris%20tomorrow",
        "translate%20this%20contract%20into%20German",
        "qzxv%20wplk%20mmrt",
    ] {
        let (_, v) = api.get(&format!("/v1/agents?q={q}&limit=100")).await;
        let results = v["results"].as_array().expect("results");
        for r in results {
            let score = r["score"].as_f64().expect("score");
            assert!(
                score >= f64::from(agentmesh::discovery::MIN_RELEVANCE) - 1e-4,
                "{q}: {score} in {r}"
            );
        }
        assert!(
            results.len() < ids.len(),
            "{q}: all {} cards came back",
            ids.len()
        );
    }
}
