//! The federation loops: bootstrap from seeds, pull anti-entropy with peer exchange, and eager
//! push rounds. They run beside the HTTP server until the node stops.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Announcement, Federation, Host, Peer, PeerError, PeerView};
use crate::card::Card;
use crate::encoding::now_unix;
use crate::events::{OutcomeEvent, OutcomeKind};
use crate::handshake::sign_request;
use crate::store::PutOutcome;
use crate::wire::{Digest, NodeInfo, Peers, SyncPage, SyncPush, SyncPushed};

/// How a batch of records from a peer went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// New versions stored.
    pub accepted: usize,
    /// Versions not newer than what is kept.
    pub stale: usize,
    /// Records that failed verification or the field rules.
    pub rejected: usize,
    /// Records this node failed to store (its own trouble, not the peer's).
    pub errors: usize,
}

/// Records a merge verifies on the async worker; more go to a blocking thread.
const INLINE_VERIFY: usize = 2;

/// Verifies each record on its own and stores the newer ones (the merge rules: docs/protocol.md §3
/// ordering, tombstones win over older versions and are kept). Signatures are checked in
/// batches off the async workers, and the verified records are stored together, so a page
/// costs a few group commits rather than one fsync per record.
pub async fn merge(state: &impl Host, records: Vec<Value>) -> Merged {
    let mut m = Merged::default();
    let now = now_unix();
    let fed = state.federation();
    let fresh: Vec<Value> = records
        .into_iter()
        .filter(|envelope| {
            let known = crate::card::version_of(envelope)
                .is_some_and(|(id, at, sig)| fed.is_known(id, at, sig));
            m.stale += usize::from(known);
            !known
        })
        .collect();
    if fresh.is_empty() {
        return m;
    }
    let checked = if fresh.len() <= INLINE_VERIFY {
        // A push or a quiet pull brings one or two records: checking them here (~40 µs each)
        // costs less than waking a blocking thread for them.
        Card::from_values(fresh)
    } else {
        match tokio::task::spawn_blocking(move || Card::from_values(fresh)).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "record verification stopped");
                return m;
            }
        }
    };
    let mut cards = Vec::with_capacity(checked.len());
    for result in checked {
        match result.and_then(|c| {
            c.check_not_future(now)?;
            Ok(c)
        }) {
            Ok(c) => cards.push(c),
            Err(e) => {
                tracing::debug!(error = %e, "refusing a synced record");
                m.rejected += 1;
            }
        }
    }
    // Submitted in order (one agent's versions apply in the order received), committed together.
    let stored = futures_util::future::join_all(cards.into_iter().map(|c| state.accept(c))).await;
    for outcome in stored {
        match outcome {
            Ok(PutOutcome::Stale { .. }) => m.stale += 1,
            Ok(_) => m.accepted += 1,
            Err(e) => {
                tracing::warn!(error = %e, "cannot store a synced record");
                m.errors += 1;
            }
        }
    }
    m
}

/// Charges a peer that served invalid records: a `bad_signature` trust event against its node
/// ID (attribution is certain: the records came from the URL that answered as that ID, or in a
/// request it signed) and a backoff.
pub async fn penalize(state: &impl Host, node_id: &str, rejected: usize) {
    tracing::warn!(peer = node_id, rejected, "peer served invalid records");
    state.outcomes().record(OutcomeEvent {
        agent_id: node_id.to_string(),
        kind: OutcomeKind::BadSignature,
        at: now_unix(),
    });
    let fed = state.federation();
    fed.count(&fed.stats.rejected, rejected);
    persist(state, fed.failed(node_id), node_id).await;
}

async fn persist(state: &impl Host, row: Option<crate::store::PeerRow>, node_id: &str) {
    let r = match row {
        Some(row) => state.store().put_peer(row).await,
        None => state.store().remove_peer(node_id).await,
    };
    if let Err(e) = r {
        tracing::warn!(error = %e, "cannot save a peer");
    }
}

/// Runs bootstrap, then pull and push rounds, until `stop`.
pub async fn run(state: impl Host, stop: CancellationToken) {
    let fed = state.federation().clone();
    match state.store().load_peers().await {
        Ok(rows) => fed.restore(rows),
        Err(e) => tracing::warn!(error = %e, "cannot load saved peers"),
    }
    match state.store().card_versions().await {
        Ok(v) => fed.remember(v),
        Err(e) => tracing::warn!(error = %e, "cannot load stored card versions"),
    }
    let config = &fed.config;
    let mut first = true;
    let pulls = every(config.sync_interval, &stop, || {
        let was_first = std::mem::replace(&mut first, false);
        let state = state.clone();
        async move {
            bootstrap(&state, was_first).await;
            pull_round(&state).await;
        }
    });
    let pushes = every(config.push_interval, &stop, || {
        let state = state.clone();
        async move { push_round(&state).await }
    });
    let datagrams = async {
        if let Some(g) = fed.gossip() {
            g.clone().serve(state.clone(), stop.clone()).await;
        }
    };
    tokio::join!(pulls, pushes, datagrams);
}

/// Runs `round` every `period` (the first at once; a late tick waits a whole period rather
/// than bursting) until `stop`, which also cuts a round short: a slow peer or a long first
/// pull must not hold up shutdown.
async fn every<F, Fut>(period: std::time::Duration, stop: &CancellationToken, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            () = round() => {}
        }
    }
}

/// Largest answer read from a peer other than a sync page (node info, peer lists, push
/// answers).
const MAX_PEER_ANSWER: usize = 1024 * 1024;
/// Largest sync page read from a peer: a page over it is asked again with fewer records, down
/// to one (a card is at most 64 KiB), so an honest peer always gets through and a hostile one
/// costs at most this much per attempt.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Reads a JSON answer of at most `cap` bytes as `T`, chunk by chunk: a peer's declared
/// length over the cap is refused before reading, and an undeclared one stops at the cap.
async fn read_capped_as<T: DeserializeOwned>(
    res: reqwest::Response,
    cap: usize,
) -> Result<T, PeerError> {
    use crate::client::CappedReadError;
    if !res.status().is_success() {
        return Err(PeerError::Status(res.status().as_u16()));
    }
    let body = crate::client::read_capped(res, cap)
        .await
        .map_err(|e| match e {
            CappedReadError::TooLarge => PeerError::TooLarge(cap),
            CappedReadError::Body(e) => PeerError::Connect(e),
        })?;
    serde_json::from_slice(&body).map_err(PeerError::Decode)
}

async fn get_as<T: DeserializeOwned>(
    fed: &Federation,
    url: &str,
    cap: usize,
) -> Result<T, PeerError> {
    if !fed.allowed(url) {
        return Err(PeerError::Partitioned);
    }
    let res = fed.http.get(url).send().await.map_err(PeerError::Connect)?;
    read_capped_as(res, cap).await
}

/// Asks `url` who it is, with a fresh challenge it must sign: the answer is an ID the
/// responder proved it holds the key of (so no server can pose as another node and have its
/// bad records charged to that node).
/// Also returns the UDP port the node reads offer datagrams on, if it said.
pub(super) async fn node_at(
    fed: &Federation,
    url: &str,
) -> Result<(String, Option<u16>), PeerError> {
    let challenge = crate::encoding::b64url(&crate::encoding::random_bytes::<16>());
    let info: NodeInfo = get_as(
        fed,
        &format!(
            "{}/v1/node?challenge={challenge}&agents=0&events=0",
            url.trim_end_matches('/')
        ),
        MAX_PEER_ANSWER,
    )
    .await?;
    if info.node_id.is_empty() {
        return Err(PeerError::Protocol("no node_id in /v1/node".into()));
    }
    let unproven = |why: String| PeerError::Unproven {
        url: url.to_string(),
        id: info.node_id.clone(),
        why,
    };
    let sig = info
        .challenge_signature
        .as_deref()
        .ok_or_else(|| unproven("no challenge_signature in /v1/node".into()))?;
    crate::identity::verify_b64(
        &info.node_id,
        super::node_challenge_string(&info.node_id, &challenge).as_bytes(),
        sig,
    )
    .map_err(|e| unproven(e.to_string()))?;
    Ok((info.node_id, info.gossip_udp))
}

/// Notes where `node_id` at `url` reads offer datagrams (`port`; `None`: it reads none), if
/// this node sends them.
pub(super) async fn learn_gossip(fed: &Federation, node_id: &str, url: &str, port: Option<u16>) {
    if fed.gossip().is_none() {
        return;
    }
    let addr = match port {
        Some(port) => gossip_addr(url, port).await,
        None => None,
    };
    fed.set_peer_gossip(node_id, addr);
}

/// Adds candidate peers after checking each URL answers as the node ID it is listed with.
async fn try_peers(state: &impl Host, candidates: Vec<PeerView>) {
    let fed = state.federation();
    for c in candidates.into_iter().take(16) {
        if c.node_id == fed.node_id() || fed.peer(&c.node_id).is_some() {
            continue;
        }
        if fed.peer_count() >= fed.config.max_peers {
            break;
        }
        match node_at(fed, &c.url).await {
            Ok((id, port)) if id == c.node_id => {
                if fed.add_peer(&id, &c.url, false) {
                    learn_gossip(fed, &id, &c.url, port).await;
                    persist(state, fed.peer(&id).map(|p| p.row()), &id).await;
                    // Links go both ways: pushes reach a node only from peers that know it.
                    let _ = announce_to(fed, &c.url).await;
                }
            }
            Ok((other, _)) => tracing::debug!(
                url = c.url,
                claimed = c.node_id,
                answered = other,
                "peer URL answers as another node"
            ),
            Err(e) => tracing::debug!(url = c.url, error = %e, "candidate peer unreachable"),
        }
    }
}

/// Announces this node (when it has a public URL) to the node at `url`; returns that node's
/// peer list.
async fn announce_to(fed: &Federation, url: &str) -> Result<Vec<PeerView>, PeerError> {
    let Some(me) = &fed.public_url else {
        return Ok(Vec::new());
    };
    let target = format!("{}/v1/peers", url.trim_end_matches('/'));
    if !fed.allowed(&target) {
        return Err(PeerError::Partitioned);
    }
    let res = fed
        .http
        .post(&target)
        .json(&Announcement::sign(&fed.me, me))
        .send()
        .await
        .map_err(PeerError::Connect)?;
    Ok(read_capped_as::<Peers>(res, MAX_PEER_ANSWER).await?.peers)
}

/// Seeds not yet known as peers: learn their IDs, announce this node, take their peer lists,
/// and (on the first round) pull everything they hold with progress.
async fn bootstrap(state: &impl Host, first: bool) {
    let fed = state.federation().clone();
    for seed in &fed.config.seeds {
        let seed = seed.trim_end_matches('/');
        let known = super::lock(&fed.peers).values().any(|p| p.url == seed);
        if known && !first {
            continue;
        }
        let (id, port) = match node_at(&fed, seed).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(seed, error = %e, "seed unreachable; will retry");
                continue;
            }
        };
        if id == fed.node_id() {
            continue;
        }
        fed.add_peer(&id, seed, true);
        learn_gossip(&fed, &id, seed, port).await;
        persist(state, fed.peer(&id).map(|p| p.row()), &id).await;
        match announce_to(&fed, seed).await {
            Ok(peers) => try_peers(state, peers).await,
            Err(PeerError::Partitioned) => {}
            Err(PeerError::Status(status)) => {
                tracing::warn!(seed, status, "seed refused the announcement")
            }
            Err(e) => tracing::warn!(seed, error = %e, "cannot announce to the seed"),
        }
        if first && let Some(p) = fed.peer(&id) {
            pull_from(state, &p, fed.config.on_progress.clone()).await;
        }
    }
}

/// Pulls from every usable peer, then asks one random peer for more peers.
async fn pull_round(state: &impl Host) {
    let fed = state.federation().clone();
    let peers = fed.usable_peers();
    let pulls = peers.iter().map(|p| pull_from(state, p, None));
    futures_util::future::join_all(pulls).await;
    fed.stats.pull_rounds.fetch_add(1, Ordering::Relaxed);
    if let Some(p) = pick(&peers, 1).first()
        && let Ok(list) =
            get_as::<Peers>(&fed, &format!("{}/v1/peers", p.url), MAX_PEER_ANSWER).await
    {
        fed.note_knows(&p.node_id, &list.peers);
        try_peers(state, list.peers).await;
    }
}

/// Pulls what followed the cursor of `peer`, page by page, persisting the cursor as it goes.
async fn pull_from(state: &impl Host, peer: &Peer, progress: Option<super::ProgressHook>) {
    let (outcome, got) = pull_pages(state, peer, progress).await;
    state.sync_round(&peer.node_id, outcome);
    let ok = outcome == "ok";
    if !ok || got > 0 {
        state.event(
            "sync",
            None,
            ok,
            format!("pull from {}: {outcome}, {got} new", peer.url),
        );
    }
}

/// One page of a pull: with `by_digest`, a page of digests whose records this node lacks are
/// then fetched (`POST /v1/sync/fetch`), so what arrived by push meanwhile is not sent again.
/// Returns the page (its `records` the ones to merge) and its last sequence number.
async fn pull_page(
    fed: &Federation,
    peer: &Peer,
    cursor: i64,
    limit: usize,
    by_digest: bool,
) -> Result<(SyncPage, i64), PeerError> {
    let url = format!(
        "{}/v1/sync?since={cursor}&limit={limit}{}",
        peer.url,
        if by_digest { "&digests=true" } else { "" }
    );
    let mut page = get_as::<SyncPage>(fed, &url, fed.config.max_page_bytes).await?;
    let n = page.records.len() + page.digests.len();
    if n > limit {
        return Err(PeerError::Protocol(format!(
            "{n} records in a page of at most {limit}"
        )));
    }
    let last = page
        .records
        .last()
        .map(|r| r.seq)
        .into_iter()
        .chain(page.digests.last().map(|d| d.seq))
        .max()
        .unwrap_or(cursor);
    if by_digest {
        let wanted: Vec<i64> = page
            .digests
            .iter()
            .filter(|d| !fed.knows_digest(&d.digest.0, d.digest.1, &d.digest.2))
            .map(|d| d.seq)
            .collect();
        if !wanted.is_empty() {
            page.records = fetch_records(fed, peer, &wanted).await?;
        }
    }
    Ok((page, last))
}

/// The records at `seqs` on `peer` (only those: anything else is a protocol error).
async fn fetch_records(
    fed: &Federation,
    peer: &Peer,
    seqs: &[i64],
) -> Result<Vec<crate::wire::SyncRecord>, PeerError> {
    let url = format!("{}/v1/sync/fetch", peer.url);
    if !fed.allowed(&url) {
        return Err(PeerError::Partitioned);
    }
    let body = serde_json::to_vec(&crate::wire::SyncFetch {
        seqs: seqs.to_vec(),
    })
    .expect("a fetch serializes");
    let res = fed
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(PeerError::Connect)?;
    // A refusal here is not a node from before digest pages (that one refused the page).
    let page: SyncPage = read_capped_as(res, fed.config.max_page_bytes)
        .await
        .map_err(|e| match e {
            PeerError::Status(s) => PeerError::Protocol(format!("fetch refused: HTTP {s}")),
            e => e,
        })?;
    if page.node_id != peer.node_id {
        return Err(PeerError::Protocol(format!(
            "fetch answered by {}",
            page.node_id
        )));
    }
    check_fetched(seqs, &page.records)?;
    Ok(page.records)
}

/// A fetch's answer holds only records asked for, each at most once, ascending: a peer cannot
/// make this node verify one record thousands of times.
fn check_fetched(seqs: &[i64], records: &[crate::wire::SyncRecord]) -> Result<(), PeerError> {
    let asked: std::collections::HashSet<i64> = seqs.iter().copied().collect();
    if let Some(r) = records.iter().find(|r| !asked.contains(&r.seq)) {
        return Err(PeerError::Protocol(format!(
            "fetch answered with seq {}, not asked for",
            r.seq
        )));
    }
    if !records.windows(2).all(|w| w[0].seq < w[1].seq) {
        return Err(PeerError::Protocol(
            "fetch answered with records repeated or out of order".into(),
        ));
    }
    Ok(())
}

/// The pages of one pull: how it ended (`ok`, `unreachable`, `wrong_node`, `store_error`,
/// `rejected`) and how many records were new. Pages go by digest (docs/protocol.md §6) unless
/// the peer refused them lately.
async fn pull_pages(
    state: &impl Host,
    peer: &Peer,
    progress: Option<super::ProgressHook>,
) -> (&'static str, i64) {
    let fed = state.federation().clone();
    let mut cursor = peer.cursor;
    let mut got = 0i64;
    let mut pulled = 0u64;
    let mut limit = fed.config.pull_page.max(1);
    let mut by_digest = peer
        .records_only
        .is_none_or(|until| std::time::Instant::now() >= until);
    for _ in 0..MAX_PAGES_PER_PULL {
        let page = pull_page(&fed, peer, cursor, limit, by_digest).await;
        let (page, last): (SyncPage, i64) = match page {
            Ok(p) => p,
            Err(PeerError::TooLarge(_)) if limit > 1 => {
                // Large cards: ask for fewer at a time.
                limit = (limit / 8).max(1);
                continue;
            }
            Err(PeerError::Status(400)) if by_digest => {
                // A node from before digest pages: whole records from it, as before.
                fed.set_records_only(&peer.node_id);
                by_digest = false;
                continue;
            }
            Err(e) => {
                tracing::debug!(peer = peer.url, error = %e, "pull failed");
                persist(state, fed.failed(&peer.node_id), &peer.node_id).await;
                return ("unreachable", got);
            }
        };
        if page.node_id != peer.node_id {
            tracing::warn!(
                peer = peer.url,
                answered = page.node_id,
                "peer URL now answers as another node"
            );
            persist(state, fed.failed(&peer.node_id), &peer.node_id).await;
            return ("wrong_node", got);
        }
        // Only when it changed, and not for a peer offered to over HTTP for a while.
        if peer.gossip.map(|a| a.port()) != page.gossip_udp
            && peer
                .gossip_off_until
                .is_none_or(|t| std::time::Instant::now() >= t)
        {
            learn_gossip(&fed, &peer.node_id, &peer.url, page.gossip_udp).await;
        }
        let received = page.records.len();
        let n = received.max(page.digests.len());
        let merged = merge(state, page.records.into_iter().map(|r| r.card).collect()).await;
        fed.count(&fed.stats.pulled, merged.accepted);
        fed.count(&fed.stats.pull_records, received);
        if merged.errors > 0 {
            // This node could not store something: keep the cursor so the page comes again.
            return ("store_error", got);
        }
        got += merged.accepted as i64;
        pulled += n as u64;
        let moved = last > cursor;
        cursor = cursor.max(last);
        if merged.rejected > 0 {
            persist(state, fed.advance(&peer.node_id, cursor), &peer.node_id).await;
            penalize(state, &peer.node_id, merged.rejected).await;
            return ("rejected", got);
        }
        persist(
            state,
            fed.succeeded(&peer.node_id, Some(cursor)),
            &peer.node_id,
        )
        .await;
        if let Some(p) = &progress {
            p(pulled, page.last_seq.map_or(pulled, |l| l.max(0) as u64));
        }
        // A page that does not move the cursor cannot lead anywhere new.
        if !page.more || n == 0 || !moved {
            break;
        }
    }
    let mut peers = super::lock(&fed.peers);
    if let Some(p) = peers.get_mut(&peer.node_id) {
        p.last_sync = Some(now_unix());
        p.lag = got;
    }
    ("ok", got)
}

/// `k` distinct random peers.
fn pick(peers: &[Peer], k: usize) -> Vec<Peer> {
    let mut idx: Vec<usize> = (0..peers.len()).collect();
    for i in (1..idx.len()).rev() {
        let r = u64::from_le_bytes(crate::encoding::random_bytes::<8>());
        idx.swap(i, (r % (i as u64 + 1)) as usize);
    }
    idx.into_iter().take(k).map(|i| peers[i].clone()).collect()
}

/// Pages one pull takes from a peer at most (500 records each); the rest comes next round.
const MAX_PAGES_PER_PULL: usize = 200;

/// Characters of signature in a push digest.
pub const DIGEST_SIG_CHARS: usize = 16;

/// The digest a push offers for a record: `[agent_id, issued_at, signature prefix]`. Queued
/// records were verified when they were accepted, so they have the shape.
pub(super) fn digest(envelope: &Value) -> Digest {
    let (id, at, sig) = crate::card::version_of(envelope).unwrap_or_default();
    (
        id.to_string(),
        at,
        sig.get(..DIGEST_SIG_CHARS).unwrap_or(sig).to_string(),
    )
}

/// Sends one push body to `peer` (signed when it carries records); returns the answer.
async fn send_push(
    fed: &Federation,
    peer: &Peer,
    push: &SyncPush,
) -> Result<SyncPushed, PeerError> {
    let path = "/v1/sync/push";
    let url = format!("{}{path}", peer.url);
    if !fed.allowed(&url) {
        return Err(PeerError::Partitioned);
    }
    let has_records = !push.records.is_empty();
    let body = serde_json::to_vec(push).expect("a push serializes");
    let mut req = fed
        .http
        .post(&url)
        .header("content-type", "application/json");
    if has_records {
        let signed = sign_request(&fed.me, &peer.node_id, "POST", path, &body, now_unix());
        for (k, v) in signed.headers() {
            req = req.header(k, v);
        }
    }
    fed.count(&fed.stats.bytes_sent, body.len());
    let res = req.body(body).send().await.map_err(PeerError::Connect)?;
    read_capped_as(res, MAX_PEER_ANSWER).await
}

/// Sends `records` to `peer` in a push this node signs.
pub(super) async fn send_records(
    fed: &Federation,
    peer: &Peer,
    records: Vec<Value>,
) -> Result<(), PeerError> {
    let push = SyncPush {
        from: fed.node_id().to_string(),
        records,
        offer: Vec::new(),
    };
    send_push(fed, peer, &push).await.map(|_| ())
}

/// Offers `batch` to `peer` by digest over HTTP, then sends the records it wants; returns how
/// many went.
pub(super) async fn offer_over_http(
    fed: &Federation,
    peer: &Peer,
    batch: Vec<Value>,
) -> Result<usize, PeerError> {
    let offer = SyncPush {
        from: fed.node_id().to_string(),
        records: Vec::new(),
        offer: batch.iter().map(digest).collect(),
    };
    let answer = send_push(fed, peer, &offer).await?;
    let records: Vec<Value> = answer
        .want
        .iter()
        .filter_map(|&i| batch.get(i).cloned())
        .collect();
    if records.is_empty() {
        return Ok(0);
    }
    let n = records.len();
    send_records(fed, peer, records).await?;
    Ok(n)
}

/// Offers `batch` to `peer`: by datagram when it reads them (the records it wants go when its
/// answer comes; returns 0), over HTTP otherwise.
async fn offer_and_send(
    fed: &Federation,
    peer: &Peer,
    batch: Vec<Value>,
) -> Result<usize, PeerError> {
    let batch = match (fed.gossip(), peer.gossip) {
        (Some(g), Some(addr)) => match g.offer(fed, peer, addr, batch).await {
            Ok(()) => return Ok(0),
            Err(batch) => batch,
        },
        _ => batch,
    };
    offer_over_http(fed, peer, batch).await
}

/// Where the node at `url` reads offer datagrams: its host (resolved, within 2 s) and `port`.
async fn gossip_addr(url: &str, port: u16) -> Option<std::net::SocketAddr> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Some((ip, port).into());
    }
    let found = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        tokio::net::lookup_host((host, port)),
    )
    .await;
    found.ok()?.ok()?.next()
}

/// One push round: the queued records to `fanout` random usable peers, offered by digest.
async fn push_round(state: &impl Host) {
    let fed: Arc<Federation> = state.federation().clone();
    if fed.queued() == 0 {
        return;
    }
    let targets = pick(&fed.usable_peers(), fed.config.fanout);
    let sends = targets.iter().filter_map(|p| {
        let batch = fed.take_push_batch(&p.node_id);
        if batch.is_empty() {
            return None;
        }
        let fed = fed.clone();
        Some(async move {
            (
                p.node_id.clone(),
                p.url.clone(),
                offer_and_send(&fed, p, batch).await,
            )
        })
    });
    for (node_id, url, result) in futures_util::future::join_all(sends).await {
        match result {
            Ok(n) => {
                fed.count(&fed.stats.pushed_out, n);
                fed.stats.push_requests.fetch_add(1, Ordering::Relaxed);
                let _ = fed.succeeded(&node_id, None);
            }
            Err(e) => {
                tracing::debug!(peer = url, error = %e, "push failed");
                persist(state, fed.failed(&node_id), &node_id).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SyncRecord;

    fn records(seqs: &[i64]) -> Vec<SyncRecord> {
        seqs.iter()
            .map(|s| SyncRecord {
                seq: *s,
                card: Value::Null,
            })
            .collect()
    }

    #[test]
    fn a_fetch_answer_holds_each_asked_record_once() {
        let asked = [3, 7, 9];
        for ok in [&[][..], &[3], &[3, 9], &[3, 7, 9]] {
            assert!(check_fetched(&asked, &records(ok)).is_ok(), "{ok:?}");
        }
        let repeated = vec![7; 500];
        for bad in [&[4][..], &[3, 3], &[9, 3], &repeated, &[3, 7, 9, 10]] {
            assert!(
                matches!(
                    check_fetched(&asked, &records(bad)),
                    Err(PeerError::Protocol(_))
                ),
                "{bad:?}"
            );
        }
    }
}
