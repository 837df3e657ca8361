//! Accepting a verified card, from a client (`POST /v1/agents`) or a peer (sync): store it if it
//! is newer (docs/protocol.md §3 ordering, tombstones kept), then update the route cache and the
//! discovery index, and hand a new version to federation for eager push.

use super::{AppState, Route};
use crate::card::Card;
use crate::store::{PutOutcome, StoreError, VectorRecord};

/// Stores `card` (already verified) if newer than what is kept and applies it everywhere.
pub async fn accept(state: &AppState, card: Card) -> Result<PutOutcome, StoreError> {
    let agent_id = card.agent_id.clone();
    let issued_at = card.issued_at;
    let signature = card.signature.clone();
    let discovery = state.discovery();
    let prepared = (!card.revoked).then(|| discovery.prepare(card.manifest()));
    let vector = prepared.as_ref().map(|p| VectorRecord {
        model: discovery.model_id().to_string(),
        bytes: p.vector.to_bytes(),
    });
    let mut route = Route::of(0, &card);
    let federation = state.federation();
    let envelope = federation.wants_push().then(|| card.envelope().clone());
    let for_dht = state.dht().map(|d| {
        let keys = crate::dht::card_provider_keys(&card, discovery);
        (d.clone(), card.clone(), keys)
    });
    let outcome = state.store().put_card(card, vector).await?;
    if let PutOutcome::Created { seq } | PutOutcome::Updated { seq } | PutOutcome::Revoked { seq } =
        &outcome
    {
        route.seq = *seq;
        state.gateway().routes().put(&agent_id, route);
        match &prepared {
            Some(p) if !matches!(outcome, PutOutcome::Revoked { .. }) => {
                discovery.apply(&agent_id, *seq, p);
            }
            _ => discovery.remove(&agent_id, *seq),
        }
        federation.accepted(&agent_id, issued_at, &signature, envelope);
        // In DHT mode the new version goes to the nodes closest to its key too, and this node
        // provides its tags, skills, protocols and semantic buckets (in the background: the
        // DHT's answer is not the client's business).
        if let Some((dht, card, keys)) = for_dht {
            tokio::spawn(async move {
                if let Err(e) = dht.put_card(card, keys).await {
                    tracing::debug!(error = %e, "DHT put");
                }
            });
        }
    }
    Ok(outcome)
}
