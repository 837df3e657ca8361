//! A2A Agent Card import and export on real-world card shapes (`tests/data/a2a/SOURCES.md`):
//! every card becomes a valid signed AgentMesh card, its fields land where they belong, and the
//! card served back reads as the same agent.

use agentmesh::card::{Card, sign_manifest};
use agentmesh::identity::Identity;
use agentmesh::interop::a2a::{card_from_manifest, interfaces, manifest_from_card};
use serde_json::{Value, json};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/a2a/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("card file")).expect("JSON")
}

/// (file, endpoint chosen, protocol version of it, skill IDs)
const CASES: &[(&str, &str, &str, &[&str])] = &[
    (
        "spec_v0.3.0_georoute_agent.json",
        "https://georoute-agent.example.com/a2a/v1",
        "0.2.9",
        &["route-optimizer-traffic", "custom-map-generator"],
    ),
    (
        "spec_v1.0.0_georoute_agent.json",
        "https://georoute-agent.example.com/a2a/v1",
        "1.0",
        &["route-optimizer-traffic", "custom-map-generator"],
    ),
    (
        "a2a-samples_adk_facts_agent.json",
        "http://localhost:8001/a2a/facts_agent",
        "0.3.0",
        &["give_facts"],
    ),
    (
        "a2a-samples_weather_agent_card_v1.json",
        "https://api.weathernow.io/a2a",
        "1.0",
        &["current-weather", "weather-forecast"],
    ),
    (
        "served_by_a2a-sdk-1.3_default.json",
        "http://127.0.0.1:45313/",
        "1.0",
        &["echo"],
    ),
    (
        "served_by_a2a-sdk-1.3_v03compat.json",
        "http://127.0.0.1:36307/",
        "1.0",
        &["echo"],
    ),
];

#[test]
fn real_world_cards_import_sign_and_serve_back() {
    let key = Identity::generate();
    for (file, endpoint, version, skills) in CASES {
        let a2a = load(file);
        let m = manifest_from_card(&a2a, key.id(), 1_795_000_000)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(m.name, a2a["name"].as_str().expect("name"), "{file}");
        assert_eq!(
            m.description,
            a2a["description"].as_str().unwrap_or(""),
            "{file}"
        );
        assert_eq!(m.endpoint.as_deref(), Some(*endpoint), "{file}");
        assert_eq!(m.protocols, vec!["a2a".to_string()], "{file}");
        let ids: Vec<&str> = m.skills.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, *skills, "{file}");
        // Skill tags become the card's tags (discovery filters on them).
        for s in &m.skills {
            for t in &s.tags {
                assert!(m.tags.contains(t), "{file}: tag {t}");
            }
        }
        let meta = m.meta.clone().expect("meta");
        assert_eq!(
            meta["a2a"]["interface"]["protocolVersion"], *version,
            "{file}"
        );
        assert_eq!(meta["a2a"]["interface"]["url"], *endpoint, "{file}");
        for kept in ["version", "provider", "capabilities", "defaultInputModes"] {
            if a2a.get(kept).is_some() {
                assert_eq!(
                    meta["a2a"][kept], a2a[kept],
                    "{file}: {kept} kept under meta.a2a"
                );
            }
        }
        // A valid, signed AgentMesh card: the node would accept it.
        let env = sign_manifest(m.to_value(), &key).unwrap_or_else(|e| panic!("{file}: {e}"));
        let card = Card::from_slice(&serde_json::to_vec(&env).expect("bytes"))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        // Served back as an A2A card: same name, skills and interface, plus the gateway.
        let manifest = &serde_json::to_value(&env).expect("value")["manifest"];
        let back = card_from_manifest(manifest, "https://node.example/v1/agents/x/invoke");
        assert_eq!(back["name"], a2a["name"], "{file}");
        let back_ifaces = interfaces(&back);
        assert_eq!(back_ifaces[0].url, *endpoint, "{file}");
        assert_eq!(back_ifaces[0].version, *version, "{file}");
        assert_eq!(
            back_ifaces[1].url,
            "https://node.example/v1/agents/x/invoke"
        );
        let back_ids: Vec<&str> = back["skills"]
            .as_array()
            .expect("skills")
            .iter()
            .filter_map(|s| s["id"].as_str())
            .collect();
        assert_eq!(back_ids, *skills, "{file}");
        for (i, s) in a2a["skills"].as_array().expect("skills").iter().enumerate() {
            for k in [
                "name",
                "description",
                "tags",
                "examples",
                "inputModes",
                "outputModes",
            ] {
                if let Some(v) = s.get(k) {
                    assert_eq!(
                        back["skills"][i][k], *v,
                        "{file}: skills[{i}].{k} round-trips"
                    );
                }
            }
        }
        for k in [
            "provider",
            "version",
            "capabilities",
            "iconUrl",
            "documentationUrl",
        ] {
            if let Some(v) = a2a.get(k) {
                // The served card adds the AgentMesh extension to the card's own extensions.
                let mut back = back[k].clone();
                if let Some(list) = back.get_mut("extensions").and_then(Value::as_array_mut) {
                    list.retain(|e| e["uri"] != agentmesh::interop::a2a::AGENTMESH_EXTENSION);
                    if list.is_empty() && v.get("extensions").is_none() {
                        back.as_object_mut().expect("object").remove("extensions");
                    }
                }
                assert_eq!(back, *v, "{file}: {k} round-trips");
            }
        }
        // Security schemes come back in the 1.0 shape only; 0.3's (`type: …`) stay in meta.
        if let Some(Value::Object(schemes)) = a2a.get("securitySchemes") {
            if schemes.values().any(|v| v.get("type").is_some()) {
                assert!(back.get("securitySchemes").is_none(), "{file}");
            } else {
                assert_eq!(back["securitySchemes"], a2a["securitySchemes"], "{file}");
            }
        }
        let ext = back["capabilities"]["extensions"]
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|e| e["uri"] == agentmesh::interop::a2a::AGENTMESH_EXTENSION)
            })
            .expect("the AgentMesh extension");
        assert_eq!(ext["params"]["agentId"], card.agent_id.as_str(), "{file}");
    }
}

#[test]
fn import_errors_name_the_field_and_oversized_cards_are_trimmed() {
    let key = Identity::generate();
    let e = manifest_from_card(&json!({"url": "http://x"}), key.id(), 1).expect_err("no name");
    assert!(e.to_string().contains("`name` is missing"), "{e}");
    let e = manifest_from_card(&json!({"name": "x", "url": "grpc://x"}), key.id(), 1)
        .expect_err("no http interface");
    assert!(e.to_string().contains("supportedInterfaces"), "{e}");
    let e = manifest_from_card(&json!([1]), key.id(), 1).expect_err("not an object");
    assert!(e.to_string().contains("JSON object"), "{e}");
    let e = manifest_from_card(
        &json!({"name": "x", "url": "http://x", "skills": [{"name": "no id"}]}),
        key.id(),
        1,
    )
    .expect_err("skill without id");
    assert!(e.to_string().contains("skills[0].id"), "{e}");

    // A long name is cut to 64 characters (the full one kept), a huge field dropped and named.
    let long = "N".repeat(100);
    let big = json!({
        "name": long, "url": "http://x",
        "securitySchemes": {"a": "s".repeat(20_000)},
        "version": "2",
    });
    let m = manifest_from_card(&big, key.id(), 1).expect("imports");
    assert_eq!(m.name.chars().count(), 64);
    let meta = m.meta.clone().expect("meta");
    assert_eq!(meta["a2a"]["name"], long.as_str());
    assert_eq!(meta["a2a"]["dropped"], json!(["securitySchemes"]));
    assert_eq!(meta["a2a"]["version"], "2");
    assert_valid(&m, &key);
}

/// Signs `m` and reads it back as the node does (every field rule and size limit).
fn assert_valid(m: &agentmesh::card::Manifest, key: &Identity) {
    let env = sign_manifest(m.to_value(), key).expect("sign");
    Card::from_slice(&serde_json::to_vec(&env).expect("bytes")).expect("the node would accept it");
}

#[test]
fn huge_cards_are_cut_to_what_a_card_may_hold() {
    let key = Identity::generate();
    let skills: Vec<Value> = (0..70)
        .map(|i| {
            json!({
                "id": format!("skill-{i}"),
                "name": "N".repeat(300),
                "description": "d".repeat(3000),
                "tags": (0..40).map(|t| format!("t{i}-{t}")).chain(["x".repeat(80)]).collect::<Vec<_>>(),
                "examples": (0..20).map(|_| "e".repeat(500)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let card = json!({"name": "big", "url": "http://x", "skills": skills, "version": 7,
                      "securitySchemes": {"k": {"type": "http", "scheme": "bearer"}}});
    let m = manifest_from_card(&card, key.id(), 1).expect("imports");
    assert_valid(&m, &key);
    assert!(
        m.skills.len() < 64,
        "skills dropped to fit: {}",
        m.skills.len()
    );
    assert!(
        m.skills
            .iter()
            .all(|s| s.examples.len() <= 8 && s.tags.len() <= 16)
    );
    assert!(m.tags.len() <= 32 && m.tags.iter().all(|t| t.chars().count() <= 64));
    let meta = m.meta.clone().expect("meta");
    assert!(
        meta["a2a"]["skills_dropped"]
            .as_u64()
            .is_some_and(|n| n > 6),
        "{}",
        meta["a2a"]["skills_dropped"]
    );
    // Served back: the version as a string, 0.3-shaped security schemes left out.
    let back = card_from_manifest(&m.to_value(), "http://node/v1/agents/x/invoke");
    assert_eq!(back["version"], "7");
    assert!(back.get("securitySchemes").is_none());
}

#[test]
fn the_first_json_rpc_interface_of_the_newest_version_is_called() {
    let key = Identity::generate();
    let pick = |ifaces: Value| {
        let card = json!({"name": "n", "supportedInterfaces": ifaces});
        manifest_from_card(&card, key.id(), 1)
            .expect("imports")
            .endpoint
            .expect("endpoint")
    };
    let i = |url: &str, b: &str, v: &str| json!({"url": url, "protocolBinding": b, "protocolVersion": v});
    assert_eq!(
        pick(json!([
            i("http://a", "JSONRPC", "1.0"),
            i("http://b", "JSONRPC", "1.0")
        ])),
        "http://a"
    );
    assert_eq!(
        pick(json!([
            i("http://g", "GRPC", "1.0"),
            i("http://j", "JSONRPC", "0.3")
        ])),
        "http://j"
    );
    assert_eq!(
        pick(json!([
            i("http://old", "jsonrpc", "0.3"),
            i("http://new", "JSONRPC", "1.0")
        ])),
        "http://new"
    );
    assert_eq!(
        pick(json!([
            i("grpc://x", "GRPC", "1.0"),
            i("https://h", "HTTP+JSON", "1.0")
        ])),
        "https://h"
    );
}

#[test]
fn served_cards_are_signed_by_the_node_and_imports_check_signatures() {
    use agentmesh::interop::a2a_sign::{Check, check, sign};
    use assert_cmd::assert::OutputAssertExt as _;
    use predicates::prelude::*;

    let home = tempfile::tempdir().expect("tmp");
    crate::common::cmd(home.path())
        .arg("keygen")
        .assert()
        .success();
    let node = crate::common::ServeProcess::start(home.path(), &[]);
    let dir = tempfile::tempdir().expect("tmp");
    let write = |name: &str, card: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, card.to_string()).expect("write");
        path.to_string_lossy().into_owned()
    };
    let register = |file: &str, extra: &[&str]| {
        let mut c = crate::common::cmd(home.path());
        c.args(["--node", &node.url, "register", "--from-a2a", file])
            .args(extra);
        c.assert()
    };

    // Signed by a did:key: verified and imported.
    let signer = Identity::generate();
    let mut card = load("spec_v1.0.0_georoute_agent.json");
    sign(&mut card, &signer);
    let good = write("good.json", &card);
    register(&good, &[])
        .success()
        .stderr(predicate::str::contains(format!(
            "verified the A2A card's signature by {}",
            signer.id()
        )));
    // The card served back is signed by the node, and its signature holds.
    let id = crate::common::key_id(home.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let served: Value = rt.block_on(async {
        let client = agentmesh::client::Client::new(&node.url, std::time::Duration::from_secs(10))
            .expect("client");
        client
            .get(&format!("/v1/agents/{id}/agent-card.json"))
            .await
            .expect("served")
    });
    assert_eq!(
        check(&served, &[]),
        [Check::Valid {
            kid: node.node_id.clone()
        }]
    );
    assert_eq!(served["signatures"].as_array().map(Vec::len), Some(1));

    // Changed after signing: refused, nothing published.
    card["name"] = json!("GeoRoute (forged)");
    let bad = write("bad.json", &card);
    register(&bad, &[])
        .code(2)
        .stderr(predicate::str::contains("does not verify"));

    // A kid that is not a did:key, with a jku: never followed; checked with --a2a-key.
    let mut card = load("spec_v1.0.0_georoute_agent.json");
    sign(&mut card, &signer);
    let header =
        json!({"alg": "EdDSA", "kid": "georoute-key-1", "jku": "http://127.0.0.1:9/jwks.json"});
    let protected = agentmesh::encoding::b64url(header.to_string().as_bytes());
    let mut unsigned = card.clone();
    unsigned
        .as_object_mut()
        .expect("object")
        .remove("signatures");
    let payload =
        agentmesh::encoding::b64url(&serde_json_canonicalizer::to_vec(&unsigned).expect("jcs"));
    let sig = signer.sign_b64(format!("{protected}.{payload}").as_bytes());
    card["signatures"] = json!([{"protected": protected, "signature": sig}]);
    let kid_card = write("kid.json", &card);
    register(&kid_card, &[])
        .success()
        .stderr(predicate::str::contains("was not checked"));
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "georoute-key-1",
        "x": agentmesh::encoding::b64url(signer.verifying_key().as_bytes())}]});
    let jwks_file = write("jwks.json", &jwks);
    register(&kid_card, &["--a2a-key", &jwks_file])
        .success()
        .stderr(predicate::str::contains(
            "verified the A2A card's signature by georoute-key-1",
        ));
}
