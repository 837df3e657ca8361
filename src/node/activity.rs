//! What the node did lately, for `GET /v1/node` and `agentmesh top`: per-second counts over the
//! last minute, per-agent call counters, and a ring of recent events.
//!
//! Everything sits behind one mutex held for a few array and map operations (well under a
//! microsecond); event texts are formatted when read, not when recorded. Calls and
//! registrations go to one ring and the node's own events (trust moves, reports, pull rounds)
//! to another, so a busy gateway cannot push those out before anyone sees them. Memory is
//! bounded: 64 one-second buckets, two rings of [`EVENT_RING`] events, [`MAX_TRACKED_AGENTS`]
//! agents (agents idle for five minutes are forgotten first, at most one sweep a second; past
//! the bound new agents go uncounted, which `untracked` says). Only agents with a card here
//! are counted per agent: an ID from a request path that matched nothing is not kept.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

pub use crate::wire::{AgentCalls, NodeEvent, Rates, Totals};

/// Seconds of per-second rates kept and reported.
pub const RATE_WINDOW: usize = 60;
/// Events kept.
pub const EVENT_RING: usize = 256;
/// Agents whose calls are counted at once.
pub const MAX_TRACKED_AGENTS: usize = 4096;
const IDLE_FORGET_S: i64 = 300;
const SLOTS: usize = 64;

/// Series counted per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Calls through the gateway.
    Invocations = 0,
    /// Calls the gateway answered with an error of its own or the agent with a 5xx.
    Errors = 1,
    /// `POST /v1/agents` accepted.
    Registrations = 2,
    /// Discovery queries.
    Discoveries = 3,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    sec: i64,
    counts: [u32; 4],
}

/// What an event says, kept unformatted until read.
#[derive(Debug, Clone)]
enum Detail {
    Call {
        status: u16,
        outcome: &'static str,
        millis: f32,
    },
    Text(String),
}

#[derive(Debug, Clone)]
struct Stored {
    seq: u64,
    at_ms: i64,
    kind: &'static str,
    agent_id: Option<String>,
    ok: bool,
    detail: Detail,
}

impl Stored {
    fn view(&self) -> NodeEvent {
        let text = match &self.detail {
            Detail::Call {
                status,
                outcome: "ok",
                millis,
            } => format!("{status} in {millis:.1} ms"),
            Detail::Call {
                status,
                outcome,
                millis,
            } => format!("{status} {outcome} in {millis:.1} ms"),
            Detail::Text(t) => t.clone(),
        };
        NodeEvent {
            seq: self.seq,
            at_ms: self.at_ms,
            kind: self.kind.to_string(),
            agent_id: self.agent_id.clone(),
            ok: self.ok,
            text,
        }
    }
}

#[derive(Default)]
struct Inner {
    slots: Vec<Slot>,
    totals: Totals,
    /// Calls and registrations.
    traffic: VecDeque<Stored>,
    /// Trust moves, reports, pull rounds.
    node: VecDeque<Stored>,
    next_seq: u64,
    agents: HashMap<String, AgentCalls>,
    last_sweep: i64,
}

/// The node's recent activity.
#[derive(Default)]
pub struct Activity {
    inner: Mutex<Inner>,
    /// Event streams open (`/v1/events`).
    streams: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// One open event stream; dropping it frees its place.
#[derive(Debug)]
pub struct StreamPermit(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activity").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Inner {
    fn bump(&mut self, sec: i64, series: Series) {
        if self.slots.is_empty() {
            self.slots = vec![Slot::default(); SLOTS];
        }
        let slot = &mut self.slots[sec.rem_euclid(SLOTS as i64) as usize];
        if slot.sec != sec {
            *slot = Slot {
                sec,
                counts: [0; 4],
            };
        }
        slot.counts[series as usize] = slot.counts[series as usize].saturating_add(1);
    }

    fn push(
        &mut self,
        at_ms: i64,
        kind: &'static str,
        agent_id: Option<&str>,
        ok: bool,
        detail: Detail,
    ) {
        self.next_seq += 1;
        let ring = if matches!(kind, "invoke" | "register") {
            &mut self.traffic
        } else {
            &mut self.node
        };
        if ring.len() == EVENT_RING {
            ring.pop_front();
        }
        ring.push_back(Stored {
            seq: self.next_seq,
            at_ms,
            kind,
            agent_id: agent_id.map(str::to_string),
            ok,
            detail,
        });
    }

    fn agent(&mut self, agent_id: &str, now: i64) -> Option<&mut AgentCalls> {
        if !self.agents.contains_key(agent_id) {
            if self.agents.len() >= MAX_TRACKED_AGENTS && now > self.last_sweep {
                self.last_sweep = now;
                self.agents.retain(|_, a| now - a.last_at < IDLE_FORGET_S);
            }
            if self.agents.len() >= MAX_TRACKED_AGENTS {
                self.totals.untracked += 1;
                return None;
            }
            self.agents
                .insert(agent_id.to_string(), AgentCalls::default());
        }
        self.agents.get_mut(agent_id)
    }
}

impl Activity {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A place for one more event stream, unless `max` are open.
    pub fn stream_permit(&self, max: usize) -> Option<StreamPermit> {
        use std::sync::atomic::Ordering;
        self.streams
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(StreamPermit(self.streams.clone()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Counters only: a panic mid-update leaves nothing inconsistent worth refusing over.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A call through the gateway answered `status` after `millis`; `outcome` is `ok` when the
    /// agent answered, else the gateway's error code. `agent_id` is `None` when the path named
    /// no agent this node has a card for.
    pub fn invocation(
        &self,
        agent_id: Option<&str>,
        status: u16,
        outcome: &'static str,
        millis: f64,
    ) {
        let at_ms = now_ms();
        let sec = at_ms.div_euclid(1000);
        let failed = outcome != "ok" || status >= 500;
        let mut g = self.lock();
        g.bump(sec, Series::Invocations);
        g.totals.invocations += 1;
        if failed {
            g.bump(sec, Series::Errors);
            g.totals.errors += 1;
        }
        if let Some(a) = agent_id.and_then(|id| g.agent(id, sec)) {
            a.calls += 1;
            a.errors += u64::from(failed);
            a.last_at = sec;
        }
        let detail = Detail::Call {
            status,
            outcome,
            millis: millis as f32,
        };
        g.push(at_ms, "invoke", agent_id, !failed, detail);
    }

    /// A `POST /v1/agents` answered with `outcome` (`created`, `updated`, `revoked`, or why
    /// not).
    pub fn registration(&self, agent_id: Option<&str>, outcome: &'static str) {
        let at_ms = now_ms();
        let ok = matches!(outcome, "created" | "updated" | "revoked");
        let mut g = self.lock();
        if ok {
            g.bump(at_ms.div_euclid(1000), Series::Registrations);
            g.totals.registrations += 1;
        }
        g.push(
            at_ms,
            "register",
            agent_id,
            ok,
            Detail::Text(outcome.to_string()),
        );
    }

    /// A discovery query.
    pub fn discovery(&self) {
        let sec = now_ms().div_euclid(1000);
        let mut g = self.lock();
        g.bump(sec, Series::Discoveries);
        g.totals.discoveries += 1;
    }

    /// Any other event (`trust`, `report`, `sync`).
    pub fn event(&self, kind: &'static str, agent_id: Option<&str>, ok: bool, text: String) {
        let at_ms = now_ms();
        self.lock()
            .push(at_ms, kind, agent_id, ok, Detail::Text(text));
    }

    /// The last [`RATE_WINDOW`] seconds, ending with the current one.
    pub fn rates(&self) -> Rates {
        let now = now_ms().div_euclid(1000);
        let g = self.lock();
        let mut out = Rates {
            window_s: RATE_WINDOW as u32,
            ..Rates::default()
        };
        for sec in now + 1 - RATE_WINDOW as i64..=now {
            let c = g
                .slots
                .get(sec.rem_euclid(SLOTS as i64) as usize)
                .filter(|s| s.sec == sec)
                .map_or([0; 4], |s| s.counts);
            out.invocations.push(c[0]);
            out.errors.push(c[1]);
            out.registrations.push(c[2]);
            out.discoveries.push(c[3]);
        }
        out
    }

    /// Counts since start.
    pub fn totals(&self) -> Totals {
        self.lock().totals
    }

    /// Events newer than `since` (by `seq`), at most `limit` (the newest), oldest first; and
    /// the newest seq.
    pub fn events(&self, since: u64, limit: usize) -> (Vec<NodeEvent>, u64) {
        let g = self.lock();
        let mut newer: Vec<&Stored> = g
            .traffic
            .iter()
            .chain(g.node.iter())
            .filter(|e| e.seq > since)
            .collect();
        newer.sort_unstable_by_key(|e| e.seq);
        let skip = newer.len().saturating_sub(limit);
        let out = newer[skip..].iter().map(|e| e.view()).collect();
        (out, g.next_seq)
    }

    /// Calls to `agent_id` (zero when not counted).
    pub fn calls(&self, agent_id: &str) -> AgentCalls {
        self.lock()
            .agents
            .get(agent_id)
            .copied()
            .unwrap_or_default()
    }

    /// Up to `n` agents called most recently, latest first.
    pub fn recent_agents(&self, n: usize) -> Vec<(String, AgentCalls)> {
        let g = self.lock();
        let mut all: Vec<(&String, &AgentCalls)> = g.agents.iter().collect();
        all.sort_unstable_by(|a, b| {
            (b.1.last_at, b.1.calls)
                .cmp(&(a.1.last_at, a.1.calls))
                .then_with(|| a.0.cmp(b.0))
        });
        all.into_iter()
            .take(n)
            .map(|(id, a)| (id.clone(), *a))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_count_the_current_second_and_events_are_bounded() {
        let a = Activity::new();
        for _ in 0..3 {
            a.invocation(Some("did:key:a"), 200, "ok", 1.0);
        }
        a.invocation(Some("did:key:b"), 502, "upstream_failed", 2.0);
        a.registration(Some("did:key:a"), "created");
        a.discovery();
        let r = a.rates();
        assert_eq!(r.invocations.len(), RATE_WINDOW);
        // The second may have turned between the calls and the read: look at the last two.
        let sum = |v: &[u32]| v[RATE_WINDOW - 2..].iter().sum::<u32>();
        assert_eq!(sum(&r.invocations), 4);
        assert_eq!(sum(&r.errors), 1);
        assert_eq!(sum(&r.registrations), 1);
        assert_eq!(sum(&r.discoveries), 1);
        let t = a.totals();
        assert_eq!((t.invocations, t.errors, t.registrations), (4, 1, 1));
        assert_eq!(a.calls("did:key:a").calls, 3);
        assert_eq!(a.calls("did:key:b").errors, 1);
        assert_eq!(a.recent_agents(1).len(), 1);
        for i in 0..(EVENT_RING + 10) {
            a.event("sync", None, true, format!("round {i}"));
        }
        let (all, newest) = a.events(0, usize::MAX);
        assert_eq!(
            all.len(),
            EVENT_RING + 5,
            "a full node ring and the traffic ring"
        );
        assert_eq!(
            all[0].kind, "invoke",
            "calls were not pushed out by node events"
        );
        assert_eq!(all[3].text, "502 upstream_failed in 2.0 ms");
        assert_eq!(all.last().map(|e| e.seq), Some(newest));
        let (few, _) = a.events(newest - 3, 10);
        assert_eq!(few.len(), 3, "only events after `since`");
        let (capped, _) = a.events(0, 5);
        assert_eq!(
            capped.first().map(|e| e.seq),
            Some(newest - 4),
            "the newest ones"
        );
    }

    #[test]
    fn agent_table_is_bounded() {
        let a = Activity::new();
        for i in 0..(MAX_TRACKED_AGENTS + 5) {
            a.invocation(Some(&format!("did:key:{i}")), 200, "ok", 1.0);
        }
        assert_eq!(a.totals().untracked, 5);
        assert_eq!(a.lock().agents.len(), MAX_TRACKED_AGENTS);
        a.invocation(None, 404, "not_found", 0.1);
        assert_eq!(a.totals().invocations, MAX_TRACKED_AGENTS as u64 + 6);
        assert_eq!(
            a.totals().untracked,
            5,
            "a call that named no agent is not an agent"
        );
    }
}
