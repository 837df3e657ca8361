use super::*;
use crate::store::StoreOptions;

const T0: i64 = 1_790_000_000;
const A: &str = "did:key:z6MkA";
const B: &str = "did:key:z6MkB";

fn manager() -> (TrustManager, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    (
        TrustManager::new(&TrustConfig::default(), clock.clone()),
        clock,
    )
}

#[test]
fn events_move_the_score_and_decay_brings_it_back() {
    let (m, clock) = manager();
    assert_eq!(m.score(A), 0.5);
    assert!(!m.view(A).known);
    for _ in 0..8 {
        m.record_at(A, OutcomeKind::Failure, T0);
    }
    let low = m.score(A);
    assert!((low - 0.1).abs() < 1e-9, "(0+1)/(0+8+2) = 0.1, got {low}");
    clock.advance(DEFAULT_HALF_LIFE);
    let v = m.view(A);
    assert!(
        (v.beta - 4.0).abs() < 1e-6,
        "one half-life halves β: {}",
        v.beta
    );
    assert!((v.score - 1.0 / 6.0).abs() < 1e-6);
    clock.advance(DEFAULT_HALF_LIFE * 30);
    assert!((m.score(A) - 0.5).abs() < 1e-6);
    assert_eq!(v.counts.failure, 8);
    assert_eq!(v.last_event, Some(OutcomeKind::Failure));
}

#[test]
fn configured_weights_and_half_life_apply() {
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = TrustConfig {
        weights: Weights {
            rate_limit: 2.0,
            ..Weights::default()
        },
        half_life: Duration::from_secs(3600),
        ..TrustConfig::default()
    };
    let m = TrustManager::new(&cfg, clock.clone());
    m.record_at(A, OutcomeKind::RateLimit, T0);
    assert!((m.view(A).beta - 2.0).abs() < 1e-12);
    clock.advance(Duration::from_secs(3600));
    assert!((m.view(A).beta - 1.0).abs() < 1e-9);
}

#[test]
fn reports_are_counted_and_attributed() {
    let (m, _) = manager();
    let v = m.report(
        A,
        OutcomeKind::BadSignature,
        Some("forged".into()),
        "did:key:z6MkAdmin",
    );
    assert_eq!(v.reports, 1);
    assert_eq!(v.counts.bad_signature, 1);
    assert!((v.beta - 5.0).abs() < 1e-12);
    let r = v.last_report.expect("report kept");
    assert_eq!(r.by, "did:key:z6MkAdmin");
    assert_eq!(r.note.as_deref(), Some("forged"));
}

#[test]
fn list_sorts_and_limits() {
    let (m, clock) = manager();
    m.record_at(A, OutcomeKind::Success, T0);
    m.record_at(A, OutcomeKind::Success, T0);
    clock.advance(Duration::from_secs(10));
    m.record_at(B, OutcomeKind::Failure, T0 + 10);
    let (total, top) = m.list(TrustSort::Score, 1);
    assert_eq!(total, 2);
    assert_eq!(top[0].agent_id, A);
    let (_, low) = m.list(TrustSort::Low, 10);
    assert_eq!(low[0].agent_id, B);
    let (_, recent) = m.list(TrustSort::Recent, 10);
    assert_eq!(recent[0].agent_id, B);
    let (_, busy) = m.list(TrustSort::Events, 10);
    assert_eq!(busy[0].agent_id, A);
    assert!("nope".parse::<TrustSort>().is_err());
}

#[test]
fn unpushed_scores_go_out_once_and_again_after_decay() {
    let (m, clock) = manager();
    m.record_at(A, OutcomeKind::Failure, T0);
    let first = m.take_unpushed();
    assert_eq!(first.len(), 1);
    assert!(m.take_unpushed().is_empty(), "nothing moved since");
    clock.advance(DEFAULT_HALF_LIFE);
    m.decay_all();
    let again = m.take_unpushed();
    assert_eq!(again.len(), 1);
    assert!(again[0].2 > first[0].2);
    assert_eq!(
        again[0].1, first[0].2,
        "the change starts from what was given"
    );
}

#[tokio::test]
async fn flush_and_restore_keep_everything() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
    let (m, clock) = manager();
    m.record_at(A, OutcomeKind::Success, T0);
    m.record_at(A, OutcomeKind::Timeout, T0);
    m.report(
        B,
        OutcomeKind::Failure,
        Some("wrong answer".into()),
        "did:key:z6MkX",
    );
    assert_eq!(m.flush(&store).await.expect("flush"), 2);
    assert_eq!(m.flush(&store).await.expect("flush"), 0, "nothing changed");
    m.record_at(A, OutcomeKind::Success, T0 + 1);
    assert_eq!(m.flush(&store).await.expect("flush"), 1);

    let m2 = TrustManager::new(&TrustConfig::default(), clock.clone());
    assert_eq!(m2.restore(store.load_trust().await.expect("load")), 2);
    assert_eq!(m2.view(A), m.view(A));
    assert_eq!(m2.view(B), m.view(B));
    store.close().await;
}

#[test]
fn tee_reaches_every_sink() {
    let (m, _) = manager();
    let m = Arc::new(m);
    let log = Arc::new(crate::events::OutcomeLog::default());
    let tee = Tee(vec![m.clone(), log.clone()]);
    tee.record(OutcomeEvent {
        agent_id: A.into(),
        kind: OutcomeKind::Success,
        at: T0,
    });
    assert_eq!(m.view(A).counts.success, 1);
    assert_eq!(log.count(A, OutcomeKind::Success), 1);
}

#[test]
fn top_ids_pick_the_most_trusted_and_the_latest() {
    let (m, _clock) = manager();
    let ids = ["did:key:one", "did:key:two", "did:key:three"];
    m.record_at(ids[0], OutcomeKind::Success, T0 - 30);
    m.record_at(ids[0], OutcomeKind::Success, T0 - 30);
    m.record_at(ids[1], OutcomeKind::Failure, T0 - 10);
    m.record_at(ids[2], OutcomeKind::Success, T0 - 20);
    let (best, latest) = m.top_ids(2);
    assert_eq!(best, [ids[0], ids[2]]);
    assert_eq!(latest, [ids[1], ids[2]]);
    let (all, _) = m.top_ids(10);
    assert_eq!(all, [ids[0], ids[2], ids[1]]);
    assert_eq!(m.top_ids(0), (vec![], vec![]));
}
