//! `GET /metrics`: the node's Prometheus metrics.
//!
//! Each node owns its recorder (not the process-global one): `agentmesh sim` and the tests run
//! many nodes in one process, and each must report only its own traffic. Hot-path metrics are
//! handles registered once ([`Counter`], [`Histogram`]: an atomic add or a lock-free push per
//! event); counters that other modules already keep as atomics (relay frames, sync records,
//! trust events) are copied into the registry when scraped rather than counted twice.
//! Histograms buffer samples until drained, so [`run_upkeep`](Metrics::run_upkeep) runs every few
//! seconds whether or not anyone scrapes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

use crate::events::OutcomeKind;

/// Latency buckets, seconds: 50 µs to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Write-batch size buckets (jobs per transaction).
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

const META: Metadata<'static> = Metadata::new("agentmesh", metrics::Level::INFO, None);

/// Outcomes of a gateway call registered up front, so the hot path finds its counter in a
/// fixed table without a lock (any other code goes through the labelled map).
pub const INVOCATION_OUTCOMES: [&str; 17] = [
    "ok",
    "agent_5xx",
    "rate_limited",
    "not_found",
    "invalid_id",
    "revoked",
    "expired",
    "too_large",
    "missing_header",
    "bad_signature",
    "wrong_target",
    "stale_timestamp",
    "replayed_nonce",
    "upstream_failed",
    "upstream_timeout",
    "agent_offline",
    "internal",
];

/// Most distinct `peer` label values of `agentmesh_sync_rounds_total`; rounds with peers beyond
/// it count under `peer="other"` (peers come and go, and a series is never dropped).
pub const MAX_PEER_LABELS: usize = 128;

/// Outcomes of `POST /v1/agents`.
pub const REGISTRATION_OUTCOMES: [&str; 6] =
    ["created", "updated", "revoked", "stale", "invalid", "error"];

/// Values copied from other modules' counters at scrape time.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Live cards stored.
    pub agents: u64,
    /// Cards in the discovery index.
    pub indexed: u64,
    /// Active peers.
    pub peers: u64,
    /// Open relay tunnels.
    pub tunnels: u64,
    /// Relay frames received and sent.
    pub frames: (u64, u64),
    /// Records pulled and accepted as new, records pulled in all.
    pub pulled: (u64, u64),
    /// Records received by push and accepted, records sent in pushes.
    pub pushed: (u64, u64),
    /// Records refused by the merge rules.
    pub rejected: u64,
    /// Trust events by kind, in [`OutcomeKind::ALL`] order.
    pub trust_events: [u64; 5],
    /// Admin trust reports.
    pub trust_reports: u64,
    /// Agents with trust records.
    pub trust_agents: u64,
    /// Write transactions committed and jobs in them.
    pub commits: (u64, u64),
    /// Seconds since start.
    pub uptime_s: f64,
    /// Connections: open, evicted, refused at the cap, first heads timed out, refused.
    pub connections: [u64; 5],
}

/// A series: metric name and label pairs.
type SeriesKey = (&'static str, Vec<(&'static str, String)>);

/// One node's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    registrations: [Counter; 6],
    discoveries: [Counter; 2],
    discovery_seconds: Histogram,
    invoke_seconds: Histogram,
    rate_limited: [Counter; 2],
    write_batch: Histogram,
    invocations: [Counter; INVOCATION_OUTCOMES.len()],
    /// Labelled series created as they first occur (sync peers, rare codes, scrape-time copies).
    dynamic: Mutex<HashMap<SeriesKey, Counter>>,
    peer_labels: Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, v.to_string()))
        .collect();
    Key::from_parts(name, labels)
}

impl Metrics {
    /// A fresh registry with every fixed series registered (so they read 0 before traffic).
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("agentmesh_store_write_batch_size".into()),
                    BATCH_BUCKETS,
                )
            })
            .expect("bucket lists are non-empty")
            .build_recorder();
        describe(&recorder);
        let counter = |name, labels: &[(&'static str, &str)]| {
            recorder.register_counter(&key(name, labels), &META)
        };
        let histogram = |name| recorder.register_histogram(&key(name, &[]), &META);
        let registrations = REGISTRATION_OUTCOMES
            .map(|o| counter("agentmesh_registrations_total", &[("outcome", o)]));
        let discoveries = ["ok", "error"]
            .map(|o| counter("agentmesh_discovery_queries_total", &[("outcome", o)]));
        let rate_limited = ["rate", "concurrency"]
            .map(|r| counter("agentmesh_rate_limited_total", &[("reason", r)]));
        let invocations =
            INVOCATION_OUTCOMES.map(|o| counter("agentmesh_invocations_total", &[("outcome", o)]));
        Self {
            registrations,
            discoveries,
            discovery_seconds: histogram("agentmesh_discovery_duration_seconds"),
            invoke_seconds: histogram("agentmesh_invocation_duration_seconds"),
            rate_limited,
            write_batch: histogram("agentmesh_store_write_batch_size"),
            invocations,
            dynamic: Mutex::new(HashMap::new()),
            peer_labels: Mutex::new(std::collections::HashSet::new()),
            recorder,
        }
    }

    fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        let k = (
            name,
            labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        );
        let mut map = self
            .dynamic
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(k)
            .or_insert_with(|| self.recorder.register_counter(&key(name, labels), &META))
            .clone()
    }

    fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        self.recorder.register_gauge(&key(name, labels), &META)
    }

    /// One `POST /v1/agents` answered with `outcome` (one of [`REGISTRATION_OUTCOMES`]).
    pub fn registration(&self, outcome: &str) {
        if let Some(i) = REGISTRATION_OUTCOMES.iter().position(|o| *o == outcome) {
            self.registrations[i].increment(1);
        }
    }

    /// One discovery query and how long it took.
    pub fn discovery(&self, ok: bool, took: Duration) {
        self.discoveries[usize::from(!ok)].increment(1);
        if ok {
            self.discovery_seconds.record(took.as_secs_f64());
        }
    }

    /// One call through the gateway: `ok` when the agent answered, else the error code the
    /// gateway answered with.
    pub fn invocation(&self, outcome: &'static str, took: Duration) {
        match INVOCATION_OUTCOMES.iter().position(|o| *o == outcome) {
            Some(i) => self.invocations[i].increment(1),
            None => self
                .counter("agentmesh_invocations_total", &[("outcome", outcome)])
                .increment(1),
        }
        self.invoke_seconds.record(took.as_secs_f64());
    }

    /// A call refused by a rate (`concurrency == false`) or concurrency limit.
    pub fn rate_limited(&self, concurrency: bool) {
        self.rate_limited[usize::from(concurrency)].increment(1);
    }

    /// One pull round from `peer` ended with `outcome`.
    pub fn sync_round(&self, peer: &str, outcome: &'static str) {
        let peer = {
            let mut seen = self
                .peer_labels
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.contains(peer) || seen.len() < MAX_PEER_LABELS {
                seen.insert(peer.to_string());
                peer
            } else {
                "other"
            }
        };
        self.counter(
            "agentmesh_sync_rounds_total",
            &[("peer", peer), ("outcome", outcome)],
        )
        .increment(1);
    }

    /// The histogram the store's writer records batch sizes into.
    pub fn write_batch_histogram(&self) -> Histogram {
        self.write_batch.clone()
    }

    /// Drains histogram buffers (call every few seconds so memory stays bounded).
    pub fn run_upkeep(&self) {
        self.recorder.handle().run_upkeep();
    }

    /// Prometheus text exposition of everything, with `snap` copied in first.
    pub fn render(&self, snap: &Snapshot) -> String {
        let g = |name, v: u64| self.gauge(name, &[]).set(v as f64);
        g("agentmesh_agents", snap.agents);
        g("agentmesh_indexed_cards", snap.indexed);
        g("agentmesh_peers", snap.peers);
        g("agentmesh_relay_tunnels", snap.tunnels);
        g("agentmesh_trust_agents", snap.trust_agents);
        self.gauge("agentmesh_uptime_seconds", &[])
            .set(snap.uptime_s);
        self.gauge("agentmesh_build_info", &[("version", crate::VERSION)])
            .set(1.0);
        let c =
            |name, labels: &[(&'static str, &str)], v: u64| self.counter(name, labels).absolute(v);
        c(
            "agentmesh_relay_frames_total",
            &[("direction", "in")],
            snap.frames.0,
        );
        c(
            "agentmesh_relay_frames_total",
            &[("direction", "out")],
            snap.frames.1,
        );
        c(
            "agentmesh_sync_records_total",
            &[("way", "pulled")],
            snap.pulled.1,
        );
        c(
            "agentmesh_sync_records_total",
            &[("way", "pulled_new")],
            snap.pulled.0,
        );
        c(
            "agentmesh_sync_records_total",
            &[("way", "pushed_in_new")],
            snap.pushed.0,
        );
        c(
            "agentmesh_sync_records_total",
            &[("way", "pushed_out")],
            snap.pushed.1,
        );
        c("agentmesh_sync_records_rejected_total", &[], snap.rejected);
        let [open, evicted, refused, head_timeouts, bad_heads] = snap.connections;
        g("agentmesh_connections_open", open);
        c("agentmesh_connections_evicted_total", &[], evicted);
        c("agentmesh_connections_refused_total", &[], refused);
        c(
            "agentmesh_requests_refused_total",
            &[("reason", "head_timeout")],
            head_timeouts,
        );
        c(
            "agentmesh_requests_refused_total",
            &[("reason", "bad_head")],
            bad_heads,
        );
        for kind in OutcomeKind::ALL {
            c(
                "agentmesh_trust_events_total",
                &[("kind", kind.as_str())],
                snap.trust_events[kind.index()],
            );
        }
        c("agentmesh_trust_reports_total", &[], snap.trust_reports);
        c("agentmesh_store_commits_total", &[], snap.commits.0);
        c("agentmesh_store_writes_total", &[], snap.commits.1);
        self.recorder.handle().render()
    }
}

fn describe(r: &PrometheusRecorder) {
    let d = |name: &'static str, unit: Option<Unit>, help: &'static str| {
        r.describe_counter(name.into(), unit, help.into());
    };
    d(
        "agentmesh_registrations_total",
        None,
        "POST /v1/agents by outcome.",
    );
    d(
        "agentmesh_connections_open",
        None,
        "Client connections open now.",
    );
    d(
        "agentmesh_connections_evicted_total",
        None,
        "Idle connections closed to make room at the connection cap.",
    );
    d(
        "agentmesh_connections_refused_total",
        None,
        "Connections answered 503 at the cap with none idle to close.",
    );
    d(
        "agentmesh_requests_refused_total",
        None,
        "First request heads refused by the listener: late (head_timeout) or malformed or too large (bad_head).",
    );
    d(
        "agentmesh_discovery_queries_total",
        None,
        "Discovery queries by outcome.",
    );
    d(
        "agentmesh_discovery_duration_seconds",
        Some(Unit::Seconds),
        "Time to rank a discovery query.",
    );
    d(
        "agentmesh_invocations_total",
        None,
        "Calls through the gateway: ok when the agent answered, else the gateway's error code.",
    );
    d(
        "agentmesh_invocation_duration_seconds",
        Some(Unit::Seconds),
        "Time from request to answer through the gateway.",
    );
    d(
        "agentmesh_rate_limited_total",
        None,
        "Calls answered 429 by the gateway's limits.",
    );
    d("agentmesh_relay_tunnels", None, "Open relay tunnels.");
    d(
        "agentmesh_relay_frames_total",
        None,
        "Relay frames by direction.",
    );
    d(
        "agentmesh_sync_rounds_total",
        None,
        "Pull rounds by peer and outcome.",
    );
    d(
        "agentmesh_sync_records_total",
        None,
        "Records moved by sync.",
    );
    d(
        "agentmesh_sync_records_rejected_total",
        None,
        "Records refused by the merge rules (invalid or forged).",
    );
    d(
        "agentmesh_trust_events_total",
        None,
        "Trust events recorded by kind.",
    );
    d(
        "agentmesh_trust_reports_total",
        None,
        "Trust events reported by admins.",
    );
    d(
        "agentmesh_store_write_batch_size",
        None,
        "Registrations and other writes per SQLite transaction.",
    );
    d(
        "agentmesh_store_commits_total",
        None,
        "SQLite write transactions.",
    );
    d("agentmesh_store_writes_total", None, "Writes committed.");
    d("agentmesh_agents", None, "Live cards stored.");
    d("agentmesh_peers", None, "Federation peers known.");
    d(
        "agentmesh_uptime_seconds",
        Some(Unit::Seconds),
        "Seconds since the node started.",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_labels_are_bounded_and_codes_land_in_their_series() {
        let m = Metrics::new();
        for i in 0..(MAX_PEER_LABELS + 3) {
            m.sync_round(&format!("did:key:peer{i}"), "ok");
        }
        m.sync_round("did:key:peer0", "ok");
        m.invocation("rate_limited", Duration::from_millis(1));
        m.invocation("some_new_code", Duration::from_millis(1));
        let text = m.render(&Snapshot::default());
        let series = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(series("agentmesh_sync_rounds_total{"), MAX_PEER_LABELS + 1);
        assert!(
            text.contains(r#"agentmesh_sync_rounds_total{peer="other",outcome="ok"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"agentmesh_sync_rounds_total{peer="did:key:peer0",outcome="ok"} 2"#)
        );
        assert!(text.contains(r#"agentmesh_invocations_total{outcome="rate_limited"} 1"#));
        assert!(text.contains(r#"agentmesh_invocations_total{outcome="some_new_code"} 1"#));
    }
}
