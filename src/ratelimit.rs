//! Per-agent admission: a token bucket at the agent's `qps_budget` (burst max(1, qps)) and a
//! concurrency gate at its `concurrency_limit`. Both are checked before any signature is
//! verified, so a flood is turned away for the price of a hash-map lookup.
//!
//! Buckets live in one mutex-guarded map (a lookup and a few float operations: tens of
//! nanoseconds held). The map forgets agents idle for longer than it takes their bucket to
//! refill, so its size follows the set of recently called agents.
//!
//! Every value a card can carry is handled: budgets are clamped to
//! [`MIN_QPS`]–[`MAX_QPS`] (card validation refuses values outside it, but stored or synced
//! cards of older versions may still carry them), waits saturate at [`MAX_RETRY_AFTER`], and the
//! lock is `parking_lot`'s, which a panic cannot poison: one bad request never closes the gate
//! for every other agent.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

pub use crate::card::{MAX_CONCURRENCY, MAX_QPS, MIN_QPS};
/// The longest `Retry-After` ever answered (a budget of [`MIN_QPS`] waits 1,000 s).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(1000);

/// Why a call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rejected {
    /// The token bucket is empty: retry after this long.
    Rate {
        /// When a token will be available.
        retry_after: Duration,
    },
    /// `concurrency_limit` calls are already in flight.
    Concurrency,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    in_flight: u32,
}

/// Admission state for every agent.
#[derive(Debug, Default, Clone)]
pub struct Limiter {
    inner: Arc<Mutex<HashMap<String, Bucket>>>,
}

/// Holds one concurrency slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    limiter: Limiter,
    agent: Option<String>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(agent) = self.agent.take()
            && let Some(b) = self.limiter.inner.lock().get_mut(&agent)
        {
            b.in_flight = b.in_flight.saturating_sub(1);
        }
    }
}

impl Limiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Admits one call to `agent` under its declared limits (`None`: unlimited).
    pub fn try_acquire(
        &self,
        agent: &str,
        qps: Option<f64>,
        concurrency: Option<u32>,
        now: Instant,
    ) -> Result<Permit, Rejected> {
        if qps.is_none() && concurrency.is_none() {
            return Ok(Permit {
                limiter: self.clone(),
                agent: None,
            });
        }
        let qps = qps.map(|q| {
            if q.is_nan() {
                MIN_QPS
            } else {
                q.clamp(MIN_QPS, MAX_QPS)
            }
        });
        let mut map = self.inner.lock();
        if map.len() > 100_000 {
            map.retain(|_, b| {
                b.in_flight > 0 || now.duration_since(b.last) < Duration::from_secs(60)
            });
        }
        let burst = qps.map_or(f64::INFINITY, |q| q.max(1.0));
        let b = map.entry(agent.to_string()).or_insert(Bucket {
            tokens: burst,
            last: now,
            in_flight: 0,
        });
        if let Some(q) = qps {
            let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
            b.tokens = (b.tokens + elapsed * q).min(burst);
            b.last = now;
        }
        if concurrency.is_some_and(|c| b.in_flight >= c) {
            return Err(Rejected::Concurrency);
        }
        if let Some(q) = qps {
            if b.tokens < 1.0 {
                let wait = (1.0 - b.tokens) / q;
                let retry_after = Duration::try_from_secs_f64(wait)
                    .unwrap_or(MAX_RETRY_AFTER)
                    .min(MAX_RETRY_AFTER);
                return Err(Rejected::Rate { retry_after });
            }
            b.tokens -= 1.0;
        }
        b.in_flight += 1;
        Ok(Permit {
            limiter: self.clone(),
            agent: Some(agent.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bursts_then_refills() {
        let l = Limiter::new();
        let t0 = Instant::now();
        let permits: Vec<_> = (0..2)
            .map(|_| l.try_acquire("a", Some(2.0), None, t0).expect("burst of 2"))
            .collect();
        match l.try_acquire("a", Some(2.0), None, t0) {
            Err(Rejected::Rate { retry_after }) => {
                assert!((retry_after.as_secs_f64() - 0.5).abs() < 1e-6)
            }
            other => panic!("expected rate limit, got {other:?}"),
        }
        drop(permits);
        assert!(
            l.try_acquire("a", Some(2.0), None, t0 + Duration::from_millis(500))
                .is_ok()
        );
        // Another agent has its own bucket.
        assert!(l.try_acquire("b", Some(2.0), None, t0).is_ok());
        // A fractional budget still allows one call at a time.
        assert!(l.try_acquire("c", Some(0.1), None, t0).is_ok());
        assert!(l.try_acquire("c", Some(0.1), None, t0).is_err());
    }

    #[test]
    fn concurrency_gate_frees_on_drop() {
        let l = Limiter::new();
        let t0 = Instant::now();
        let p = l.try_acquire("a", None, Some(1), t0).expect("first");
        assert_eq!(
            l.try_acquire("a", None, Some(1), t0).err(),
            Some(Rejected::Concurrency)
        );
        drop(p);
        assert!(l.try_acquire("a", None, Some(1), t0).is_ok());
        assert!(
            l.try_acquire("x", None, None, t0).is_ok(),
            "no limits declared"
        );
    }

    /// Every budget a card could carry — the tiniest, the largest, zero, negative, NaN,
    /// infinities — admits the first call, refuses the next with a bounded wait, and leaves the
    /// limiter usable for everyone else (it panicked and poisoned its lock on 1e-20).
    #[test]
    fn extreme_budgets_neither_panic_nor_poison() {
        let l = Limiter::new();
        let t0 = Instant::now();
        let budgets = [
            1e-20,
            f64::MIN_POSITIVE,
            5e-324,
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            f64::MAX,
        ];
        for (i, q) in budgets.into_iter().enumerate() {
            let agent = format!("a{i}");
            let _first = l.try_acquire(&agent, Some(q), Some(u32::MAX), t0);
            for _ in 0..3 {
                if let Err(Rejected::Rate { retry_after }) =
                    l.try_acquire(&agent, Some(q), Some(u32::MAX), t0)
                {
                    assert!(retry_after <= MAX_RETRY_AFTER, "{q}: {retry_after:?}");
                }
            }
        }
        // A tiny budget refuses the second call and asks for the longest wait.
        assert_eq!(
            l.try_acquire("a0", Some(1e-20), None, t0).err(),
            Some(Rejected::Rate {
                retry_after: MAX_RETRY_AFTER
            })
        );
        // Others are still admitted.
        assert!(l.try_acquire("b", Some(2.0), Some(1), t0).is_ok());
        assert!(l.try_acquire("c", None, Some(0), t0).is_err());
    }
}
