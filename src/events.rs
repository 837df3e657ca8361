//! Outcome events: what the gateway saw happen when it called an agent. The trust model
//! consumes them through [`OutcomeSink`]; until then [`OutcomeLog`] counts them per agent.
//!
//! Attribution rules: `success`, `failure` (5xx or no connection) and `timeout` are the
//! target's; `rate_limit` is a *caller's* whose signature verified and whom the agent itself
//! answered 429; `bad_signature` only where attribution is certain — an agent's own response
//! signature failing. A bad request signature proves nothing about the ID it claims and never
//! produces an event.

use parking_lot::Mutex;
use std::collections::HashMap;

pub use crate::wire::OutcomeKind;

/// One outcome about one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeEvent {
    /// Whom it is about.
    pub agent_id: String,
    /// What happened.
    pub kind: OutcomeKind,
    /// Unix seconds.
    pub at: i64,
}

/// Where outcome events go.
pub trait OutcomeSink: Send + Sync {
    /// Records one event. Must not block.
    fn record(&self, event: OutcomeEvent);
}

/// Counts events per agent (the sink used until the trust model consumes them).
#[derive(Debug, Default)]
pub struct OutcomeLog {
    counts: Mutex<HashMap<String, [u64; 5]>>,
}

impl OutcomeLog {
    /// Counts of each kind for `agent_id`, in [`OutcomeKind::ALL`] order.
    pub fn counts(&self, agent_id: &str) -> [u64; 5] {
        self.counts
            .lock()
            .get(agent_id)
            .copied()
            .unwrap_or_default()
    }

    /// The count of one kind for `agent_id`.
    pub fn count(&self, agent_id: &str, kind: OutcomeKind) -> u64 {
        self.counts(agent_id)[kind.index()]
    }
}

impl OutcomeSink for OutcomeLog {
    fn record(&self, event: OutcomeEvent) {
        let i = event.kind.index();
        tracing::debug!(
            agent_id = event.agent_id,
            kind = event.kind.as_str(),
            "outcome"
        );
        let mut counts = self.counts.lock();
        match counts.get_mut(&event.agent_id) {
            Some(c) => c[i] += 1,
            None => counts.entry(event.agent_id).or_default()[i] += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_matches_all_order() {
        for (i, k) in OutcomeKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i, "{k:?}");
        }
    }
}
