//! Shared test helpers: signed cards, in-process nodes on port 0, `agentmesh serve` processes.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use agentmesh::card::{Manifest, sign_manifest};
use agentmesh::encoding::now_unix;
use agentmesh::identity::Identity;
use agentmesh::node::{Node, NodeConfig};
use serde_json::Value;

/// A signed envelope for `id`, issued `age_s` seconds ago, after `edit` touched the manifest.
pub fn envelope(id: &Identity, issued_at: i64, edit: impl FnOnce(&mut Value)) -> Value {
    let mut m = Manifest::new(id.id(), "weather", issued_at);
    m.description = "Forecasts weather for any city".into();
    m.endpoint = Some("http://127.0.0.1:8080".into());
    m.tags = vec!["weather".into()];
    m.protocols = vec!["http".into()];
    let mut v = m.to_value();
    edit(&mut v);
    sign_manifest(v, id).expect("sign")
}

/// A plain valid envelope issued now.
pub fn fresh(id: &Identity) -> Value {
    envelope(id, now_unix(), |_| {})
}

/// Serves `app` on 127.0.0.1:0 in the background (a local agent or a fake peer); its base URL.
pub async fn serve_app(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// An in-process node on 127.0.0.1:0 with its own temp data dir.
pub struct TestNode {
    pub url: String,
    pub node_id: String,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), agentmesh::node::NodeError>>>,
}

impl TestNode {
    pub async fn start() -> Self {
        Self::start_with(|_| {}, None).await
    }

    /// A node whose config `edit` adjusts, sending outcomes to `outcomes`.
    pub async fn start_with(
        edit: impl FnOnce(&mut NodeConfig),
        outcomes: Option<std::sync::Arc<dyn agentmesh::events::OutcomeSink>>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self::start_on(listener, edit, outcomes).await
    }

    /// As [`TestNode::start_with`] on a given listener (a restart on the same port).
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        edit: impl FnOnce(&mut NodeConfig),
        outcomes: Option<std::sync::Arc<dyn agentmesh::events::OutcomeSink>>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut config = NodeConfig::new(dir.path().join("data"));
        edit(&mut config);
        let node = Node::spawn_with(listener, config, outcomes, async {
            let _ = rx.await;
        })
        .await
        .expect("spawn node");
        Self {
            url: format!("http://{}", node.addr),
            node_id: node.node_id,
            dir,
            stop: Some(tx),
            task: Some(node.task),
        }
    }

    /// `POST /v1/agents` with `card`; the status and JSON body.
    pub async fn post_card(&self, card: &Value) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(format!("{}/v1/agents", self.url))
            .json(card)
            .send()
            .await
            .expect("post a card");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A call through the gateway signed by `caller`: `method` on `path` (starting with `/`)
    /// of agent `target`; the status.
    pub async fn invoke(
        &self,
        caller: &Identity,
        target: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> u16 {
        let signed =
            agentmesh::handshake::sign_request(caller, target, method, path, body, now_unix());
        let method: reqwest::Method = method.parse().expect("an HTTP method");
        let mut req = reqwest::Client::new()
            .request(
                method,
                format!("{}/v1/agents/{target}/invoke{path}", self.url),
            )
            .body(body.to_vec());
        for (k, v) in signed.headers() {
            req = req.header(k, v);
        }
        req.send().await.expect("invoke").status().as_u16()
    }

    /// Graceful shutdown, waiting until the store is flushed; hands back the data folder.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("join").expect("node ran cleanly");
        }
        self.dir
    }
}

/// The built `agentmesh` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_agentmesh"))
}

/// A `Command` for the binary with a private home and no inherited agentmesh settings.
pub fn cmd(home: &Path) -> Command {
    let mut c = Command::new(bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AGENTMESH_") {
            c.env_remove(k);
        }
    }
    c.env("AGENTMESH_HOME", home)
        .env("AGENTMESH_KEYSTORE", "file")
        .env("NO_COLOR", "1");
    c
}

/// The first line a child process prints, waiting at most `within` (a thread reads it, so a
/// silent child cannot hang the test).
pub fn first_line(stdout: std::process::ChildStdout, within: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(within).ok()
}

/// Serves `app` on 127.0.0.1:0 from a thread of its own (for tests without a runtime: a local
/// service behind `connect`, a web server that is not a node); its base URL. It serves until the
/// test process ends.
pub fn serve_app_on_thread(app: axum::Router) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("rt");
        rt.block_on(async move {
            tx.send(serve_app(app).await).expect("send");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("the app's URL")
}

/// The lines a child prints, read on a thread (so waiting for one can have a deadline).
pub fn lines_of(out: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits at most `within` for a line that `found` accepts; returns the lines before it.
pub fn wait_for_line(
    rx: &mpsc::Receiver<String>,
    within: Duration,
    found: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + within;
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no expected line in time; seen: {before:?}"));
        if found(&line) {
            return before;
        }
        before.push(line);
    }
}

/// The did:key of `home`'s default key (`keygen --show`).
pub fn key_id(home: &Path) -> String {
    key_id_named(home, "default")
}

/// The did:key of `home`'s key `name` (`keygen --name <name> --show`).
pub fn key_id_named(home: &Path, name: &str) -> String {
    let out = cmd(home)
        .args(["keygen", "--name", name, "--show"])
        .output()
        .expect("run");
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string()
}

/// An `agentmesh serve` process on port 0.
pub struct ServeProcess {
    pub child: Child,
    pub url: String,
    pub node_id: String,
}

impl ServeProcess {
    /// Starts `agentmesh serve --listen 127.0.0.1:0 --json` under `home` and waits (with a
    /// deadline) for its `listening` line.
    pub fn start(home: &Path, extra: &[&str]) -> Self {
        let mut child = cmd(home)
            .args(["serve", "--listen", "127.0.0.1:0", "--json"])
            .args(extra)
            .env("AGENTMESH_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn serve");
        let line = first_line(
            child.stdout.take().expect("stdout"),
            Duration::from_secs(30),
        )
        .expect("serve printed its listening line in time");
        let v: Value = serde_json::from_str(&line).expect("listening line is JSON");
        Self {
            child,
            url: v["url"].as_str().expect("url").to_string(),
            node_id: v["node_id"].as_str().expect("node_id").to_string(),
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit (with a deadline).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The node's router over a temp store, driven with `oneshot` (no sockets).
pub struct RouterApi {
    pub app: axum::Router,
    pub discovery: std::sync::Arc<agentmesh::discovery::Discovery>,
    _dir: tempfile::TempDir,
}

impl RouterApi {
    pub fn new() -> Self {
        use agentmesh::discovery::{DEFAULT_LEXICAL_WEIGHT, Discovery, builtin_embedder};
        let dir = tempfile::tempdir().expect("tmp");
        let store = agentmesh::store::Store::open(dir.path(), Default::default()).expect("store");
        let discovery =
            std::sync::Arc::new(Discovery::new(builtin_embedder(), DEFAULT_LEXICAL_WEIGHT));
        let state =
            agentmesh::node::AppState::new(store, Identity::generate(), discovery.clone(), None);
        Self {
            app: agentmesh::node::router(state),
            discovery,
            _dir: dir,
        }
    }

    /// Sends `req`; every answer must be JSON.
    pub async fn call(
        &self,
        req: axum::http::Request<axum::body::Body>,
    ) -> (axum::http::StatusCode, Value) {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().expect("ascii").to_string());
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(
            ct.as_deref(),
            Some("application/json"),
            "every answer is JSON"
        );
        (status, serde_json::from_slice(&bytes).expect("JSON body"))
    }

    /// Any answer: status, content type and body text.
    pub async fn raw(
        &self,
        req: axum::http::Request<axum::body::Body>,
    ) -> (axum::http::StatusCode, String, String) {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().expect("ascii").to_string())
            .unwrap_or_default();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        (status, ct, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn post_raw(
        &self,
        body: impl Into<axum::body::Body>,
    ) -> (axum::http::StatusCode, Value) {
        self.call(
            axum::http::Request::post("/v1/agents")
                .header("content-type", "application/json")
                .body(body.into())
                .expect("req"),
        )
        .await
    }

    pub async fn post(&self, env: &Value) -> (axum::http::StatusCode, Value) {
        self.post_raw(serde_json::to_vec(env).expect("ser")).await
    }

    pub async fn get(&self, uri: &str) -> (axum::http::StatusCode, Value) {
        self.call(
            axum::http::Request::get(uri)
                .body(axum::body::Body::empty())
                .expect("req"),
        )
        .await
    }
}
