//! RFC 9421 beyond the gateway: key directories signed by their own keys (docs/protocol.md §4c),
//! gone with a revoked card, and the Web Bot Auth signature of `invoke --direct`.

use crate::common;

use assert_cmd::assert::OutputAssertExt as _;
use common::{ServeProcess, cmd};

fn get(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let client = agentmesh::client::Client::new(url, std::time::Duration::from_secs(10))
            .expect("client");
        let res = client.http().get(url).send().await.expect("get");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.text().await.expect("body"))
    })
}

#[test]
fn a_key_directory_is_signed_by_its_key_and_goes_with_the_card() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let node = ServeProcess::start(home.path(), &[]);
    cmd(home.path())
        .args(["--node", &node.url, "register", "--name", "dir-agent"])
        .args(["--endpoint", "http://127.0.0.1:8080"])
        .assert()
        .success();
    let id = common::key_id(home.path());
    let url = format!(
        "{}/v1/agents/{id}/http-message-signatures-directory",
        node.url
    );
    let (status, headers, body) = get(&url);
    assert_eq!(status, 200);
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        h("content-type"),
        "application/http-message-signatures-directory+json"
    );
    let public = agentmesh::identity::public_from_did(&id)
        .expect("did")
        .to_bytes();
    assert_eq!(body, agentmesh::httpsig::directory_body(&public));
    assert_eq!(
        h("content-digest"),
        agentmesh::httpsig::content_digest(body.as_bytes())
    );
    let jwks: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        jwks["keys"][0]["kid"],
        agentmesh::httpsig::jwk_thumbprint(&public)
    );
    // Signed by the agent's own key for the authority it registered at.
    let authority = node.url.trim_start_matches("http://");
    let input = h("signature-input");
    let sig = h("signature");
    assert!(
        input.contains("tag=\"http-message-signatures-directory\""),
        "{input}"
    );
    assert!(agentmesh::httpsig::check_directory(
        &public,
        authority,
        input.trim_start_matches("binding="),
        sig.trim_start_matches("binding="),
    ));
    // Asked under another name, the same key is served, unsigned.
    let other = url.replace("127.0.0.1", "localhost");
    let (status, headers, again) = get(&other);
    assert_eq!((status, again.as_str()), (200, body.as_str()));
    assert!(headers.get("signature").is_none());
    // Revoked: the key is no longer listed.
    cmd(home.path())
        .args(["--node", &node.url, "register", "--revoke"])
        .assert()
        .success();
    assert_eq!(get(&url).0, 410);
    let unknown = url.replace(&id, agentmesh::identity::Identity::generate().id());
    assert_eq!(get(&unknown).0, 404);
}

/// A request as an agent received it, for Cloudflare's verifier.
struct Received {
    method: String,
    authority: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
}

impl web_bot_auth::message_signatures::SignedMessage for Received {
    fn lookup_component(&self, name: &web_bot_auth::components::CoveredComponent) -> Vec<String> {
        use web_bot_auth::components::{
            CoveredComponent, DerivedComponent as D, HTTPField, HTTPFieldParameters,
        };
        match name {
            CoveredComponent::Derived(D::Method { .. }) => vec![self.method.clone()],
            CoveredComponent::Derived(D::Authority { .. }) => vec![self.authority.clone()],
            CoveredComponent::Derived(D::Path { .. }) => vec![self.path.clone()],
            CoveredComponent::Derived(D::Query { .. }) => {
                vec![format!("?{}", self.query.clone().unwrap_or_default())]
            }
            CoveredComponent::HTTP(HTTPField { name, parameters }) => {
                let values: Vec<String> = self
                    .headers
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .collect();
                match parameters.0.first() {
                    // A Dictionary member: this test's only one is `wba=…` of Signature-Agent.
                    Some(HTTPFieldParameters::Key(key)) => values
                        .iter()
                        .filter_map(|v| v.strip_prefix(&format!("{key}=")).map(str::to_string))
                        .collect(),
                    _ => values,
                }
            }
            _ => vec![],
        }
    }
}

#[test]
fn invoke_direct_signs_for_rfc9421_and_web_bot_auth_verifiers() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Option<Received>>> = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method, uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let keep = keep.clone();
            async move {
                *keep.lock().expect("lock") = Some(Received {
                    method: method.to_string(),
                    authority: headers["host"].to_str().expect("host").to_string(),
                    path: uri.path().to_string(),
                    query: uri.query().map(str::to_string),
                    headers: headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().expect("ascii").to_string()))
                        .collect(),
                });
                "ok"
            }
        },
    );
    let site = common::serve_app_on_thread(app);
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let node = ServeProcess::start(home.path(), &[]);
    cmd(home.path())
        .args(["--node", &node.url, "register", "--name", "site"])
        .args(["--endpoint", &site])
        .assert()
        .success();
    cmd(home.path())
        .args([
            "--node",
            &node.url,
            "invoke",
            "@default",
            "--direct",
            "--web-bot-auth",
        ])
        .args(["--path", "/page?x=1", "-d", r#"{"q":1}"#])
        .assert()
        .success();
    let got = seen
        .lock()
        .expect("lock")
        .take()
        .expect("the site was called");
    let id = common::key_id(home.path());
    let public = agentmesh::identity::public_from_did(&id)
        .expect("did")
        .to_bytes();
    let thumbprint = agentmesh::httpsig::jwk_thumbprint(&public);
    let mut keyring = web_bot_auth::keyring::KeyRing::default();
    keyring.import_raw(
        thumbprint.clone(),
        web_bot_auth::keyring::Algorithm::Ed25519,
        public.to_vec(),
    );
    keyring.import_raw(
        id.clone(),
        web_bot_auth::keyring::Algorithm::Ed25519,
        public.to_vec(),
    );
    // Web Bot Auth, as Cloudflare verifies it, pointing at this key's directory.
    let verifier = web_bot_auth::WebBotAuthVerifier::parse(&got).expect("a Web Bot Auth signature");
    assert_eq!(
        verifier.get_signature_agents(),
        &vec![web_bot_auth::SignatureAgentLink::External(format!(
            "{}/v1/agents/{id}/http-message-signatures-directory",
            node.url
        ))]
    );
    verifier
        .verify(&keyring, None)
        .expect("Cloudflare's verifier accepts it");
    // The request carries that signature alone (one per request, as such verifiers take), and
    // the X-Agent-* form beside it, which the agent checks as ever.
    let input = got
        .headers
        .iter()
        .find(|(k, _)| k == "signature-input")
        .map(|(_, v)| v.clone())
        .expect("signature-input");
    assert!(
        input.starts_with("wba=(") && !input.contains("am="),
        "{input}"
    );
    let header = |n: &str| {
        got.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    let caller = agentmesh::handshake::Verifier::new(&id, 60, 16)
        .verify(
            header,
            "POST",
            "/page?x=1",
            br#"{"q":1}"#,
            agentmesh::encoding::now_unix(),
        )
        .expect("the X-Agent-* form verifies beside it");
    assert_eq!(caller, id);
    // A plain direct call carries `am`, which a generic RFC 9421 verifier (Cloudflare's) checks.
    cmd(home.path())
        .args(["--node", &node.url, "invoke", "@default", "--direct"])
        .args(["--path", "/page?x=2", "-d", r#"{"q":2}"#])
        .assert()
        .success();
    let got = seen
        .lock()
        .expect("lock")
        .take()
        .expect("the site was called");
    let am = web_bot_auth::message_signatures::MessageVerifier::parse(&got, |(label, _)| {
        label.as_str() == "am"
    })
    .expect("an am signature");
    am.verify(&keyring, None)
        .expect("an RFC 9421 verifier accepts am");
    // And the directory the signature names serves the key it was made with.
    let (status, _, body) = get(&format!(
        "{}/v1/agents/{id}/http-message-signatures-directory",
        node.url
    ));
    assert_eq!(status, 200);
    assert!(body.contains(&thumbprint));
}

/// An MCP server's own 401 to a direct call names its URL and is not blamed on a gateway.
#[test]
fn a_direct_refusal_names_the_agent_not_a_gateway() {
    use predicates::prelude::*;
    let app = axum::Router::new()
        .fallback(|| async { (axum::http::StatusCode::UNAUTHORIZED, "token required") });
    let site = common::serve_app_on_thread(app);
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let node = ServeProcess::start(home.path(), &[]);
    cmd(home.path())
        .args(["--node", &node.url, "register", "--name", "oauth-mcp"])
        .args(["--endpoint", &format!("{site}/mcp")])
        .assert()
        .success();
    cmd(home.path())
        .args([
            "--node",
            &node.url,
            "invoke",
            "oauth-mcp",
            "--direct",
            "--mcp",
            "tools/list",
        ])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(format!("HTTP 401 from {site}/mcp (initialize)"))
                .and(predicate::str::contains("the agent refused the call"))
                .and(predicate::str::contains("gateway").not()),
        );
}
