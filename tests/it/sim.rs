//! `agentmesh sim` in miniature: real nodes with every fault on, nothing lost; and the CLI's
//! table, JSON and plot.

use crate::common;

use std::time::Duration;

use agentmesh::sim::{SimConfig, run, svg};
use assert_cmd::assert::OutputAssertExt as _;
use predicates::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_federation_with_faults_loses_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = SimConfig {
        nodes: 8,
        fanout: 3,
        updates: 12,
        update_every: Duration::from_millis(100),
        kill: 0.25,
        partition: Some(Duration::from_millis(400)),
        drop: 0.05,
        sync_interval: Duration::from_millis(500),
        push_interval: Duration::from_millis(20),
        max_peers: 16,
        udp_offers: true,
    };
    let report = run(cfg, dir.path().to_path_buf(), |_| {})
        .await
        .expect("sim runs");
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(report.updates.len(), 12);
    assert!(
        report.heal_ms.is_some(),
        "updates were made during the split"
    );
    assert!(report.kbps_per_node > 0.0);
    // Offers went by datagram (the dropped ones, and those to killed nodes, again by HTTP).
    assert!(report.datagram_share > 0.5, "{report:?}");
    let plot = svg(&report);
    assert!(plot.starts_with("<svg") && plot.contains("polyline"));
}

#[test]
fn sim_prints_a_table_and_writes_the_plot() {
    let home = tempfile::tempdir().expect("tmp");
    let plot = home.path().join("conv.svg");
    common::cmd(home.path())
        .args([
            "sim",
            "--nodes",
            "4",
            "--updates",
            "3",
            "--sync-interval",
            "1s",
        ])
        .arg("--plot")
        .arg(&plot)
        .assert()
        .success()
        .stdout(predicate::str::contains("P50 MS").and(predicate::str::contains("LOST")));
    assert!(
        std::fs::read_to_string(&plot)
            .expect("plot")
            .contains("<svg")
    );
    common::cmd(home.path())
        .args(["sim", "--nodes", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--nodes"));
    common::cmd(home.path())
        .args(["sim", "--kill", "150%"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("between 0% and 100%"));
}
