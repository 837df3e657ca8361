//! Handlers of the registry API (docs/protocol.md §3 and §6).

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};

use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse as _;
use serde_json::Value;

use super::{ApiError, AppState, Path};
use crate::card::Card;
use crate::discovery::{MAX_LIMIT, MAX_QUERY_CHARS, Query as SearchQuery};
use crate::encoding::{format_rfc3339, now_unix};
use crate::identity::public_from_did;
use crate::store::{NameMatch, PutOutcome, StoredCard};
use crate::wire::{DiscoverHit, Discovered, ErrorCode, Health};

/// `POST /v1/agents`: verify a signed envelope and store it if newer.
#[utoipa::path(post, path = "/v1/agents", tag = "registry",
    request_body(content = crate::card::Envelope, description = "A signed card (docs/protocol.md §3), at most 64 KiB."),
    responses(
        (status = 201, description = "A new agent", body = crate::wire::Registered),
        (status = 200, description = "A newer version, or a tombstone", body = crate::wire::Registered),
        (status = 401, description = "`bad_signature`", body = crate::wire::ErrorBody),
        (status = 409, description = "`stale`: a version as new or newer is stored", body = crate::wire::ErrorBody),
        (status = 413, description = "`too_large`", body = crate::wire::ErrorBody),
        (status = 422, description = "`invalid_field`: a field breaks a card rule", body = crate::wire::ErrorBody),
        (status = 507, description = "`insufficient_storage`: the store is full", body = crate::wire::ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<crate::wire::Registered>), ApiError> {
    let mut agent_id = None;
    let result = store_card(&state, body, &mut agent_id).await;
    let outcome: &'static str = match &result {
        Ok((_, v)) => super::metrics::REGISTRATION_OUTCOMES
            .into_iter()
            .find(|o| v.status == *o)
            .unwrap_or("created"),
        Err(e) if e.code == ErrorCode::Stale => "stale",
        Err(e) if e.status.is_client_error() => "invalid",
        Err(_) => "error",
    };
    state.metrics().registration(outcome);
    state.activity().registration(agent_id.as_deref(), outcome);
    result
}

async fn store_card(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
    agent_id_out: &mut Option<String>,
) -> Result<(StatusCode, Json<crate::wire::Registered>), ApiError> {
    let body = body?;
    let card = Card::from_slice_batched(&body).await?;
    let agent_id = card.agent_id.clone();
    *agent_id_out = Some(agent_id.clone());
    card.check_not_future(now_unix())?;
    let outcome = super::ingest::accept(state, card).await?;
    let (status, seq, word) = match outcome {
        PutOutcome::Created { seq } => (StatusCode::CREATED, seq, "created"),
        PutOutcome::Updated { seq } => (StatusCode::OK, seq, "updated"),
        PutOutcome::Revoked { seq } => (StatusCode::OK, seq, "revoked"),
        PutOutcome::Stale {
            stored_issued_at,
            stored_revoked,
        } => {
            let what = if stored_revoked {
                "tombstone"
            } else {
                "version"
            };
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::Stale,
                format!(
                    "a {what} issued at {} is already stored; sign the card with a newer issued_at",
                    format_rfc3339(stored_issued_at)
                ),
            ));
        }
    };
    tracing::debug!(agent_id, seq, status = word, "card stored");
    Ok((
        status,
        Json(crate::wire::Registered {
            agent_id,
            seq,
            status: word.to_string(),
        }),
    ))
}

/// Answers 410 for a tombstone or an expired card of `agent_id`.
pub fn check_live(agent_id: &str, revoked: bool, expires_at: Option<i64>) -> Result<(), ApiError> {
    if revoked {
        return Err(ApiError::new(
            StatusCode::GONE,
            ErrorCode::Revoked,
            format!("agent {agent_id} has revoked its card"),
        ));
    }
    if let Some(exp) = expires_at.filter(|e| *e <= now_unix()) {
        return Err(ApiError::new(
            StatusCode::GONE,
            ErrorCode::NotFound,
            format!(
                "the card of agent {agent_id} expired at {}",
                format_rfc3339(exp)
            ),
        ));
    }
    Ok(())
}

/// The stored version of `id` (tombstones included): 400 for a malformed ID, 404 if unknown.
pub async fn stored_card(state: &AppState, id: &str) -> Result<StoredCard, ApiError> {
    public_from_did(id)?;
    state
        .store()
        .get_card(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no agent {id} is registered here")))
}

/// Looks up a live card, mapping unknown/revoked/expired to their errors.
pub async fn live_card(state: &AppState, id: &str) -> Result<StoredCard, ApiError> {
    let card = stored_card(state, id).await?;
    check_live(&card.agent_id, card.revoked, card.expires_at)?;
    Ok(card)
}

/// `GET /v1/agents/{id}`: the current signed envelope.
#[utoipa::path(get, path = "/v1/agents/{id}", tag = "registry",
    params(("id" = String, Path, pattern = r"^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$", description = "The agent's did:key")),
    responses(
        (status = 200, description = "The signed card, exactly as the agent signed it", body = crate::card::Envelope),
        (status = 404, description = "`not_found`: no such agent here", body = crate::wire::ErrorBody),
        (status = 410, description = "`revoked`, or `not_found` for an expired card", body = crate::wire::ErrorBody),
    ))]
pub async fn get_agent(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match live_card(&state, &id).await {
        Ok(card) => Ok(Json(card.envelope)),
        Err(e) => {
            let card = from_dht(&state, &id, e).await?;
            check_live(&id, card.revoked, card.expires_at)?;
            Ok(Json(card.envelope().clone()))
        }
    }
}

/// After `refused` for `id` here: in DHT mode, when this node does not hold the card
/// (`not_found`), the card a DHT lookup finds (every record there is checked, and the newest
/// valid version wins); otherwise `refused` itself.
pub async fn from_dht(
    state: &AppState,
    id: &str,
    refused: ApiError,
) -> Result<crate::card::Card, ApiError> {
    match state.dht() {
        Some(dht) if refused.status == StatusCode::NOT_FOUND => match dht.get_card(id).await {
            Ok(Some(card)) => Ok(card),
            _ => Err(refused),
        },
        _ => Err(refused),
    }
}

/// Parses the discovery query string: `q`, `tags` (comma-separated and/or repeated; `tag` is
/// accepted too), `protocol`, `min_trust`, `limit`. Unknown parameters are refused so a typo
/// does not silently widen a search.
fn parse_search(raw: Option<&str>) -> Result<(SearchQuery, Scope), ApiError> {
    let mut q = SearchQuery {
        limit: 10,
        ..SearchQuery::default()
    };
    let mut scope = Scope::Network;
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "q" => {
                if v.chars().count() > MAX_QUERY_CHARS {
                    return Err(ApiError::bad_field(
                        "q",
                        format!("is longer than {MAX_QUERY_CHARS} characters"),
                    ));
                }
                q.text = v.into_owned();
            }
            "tags" | "tag" => q.tags.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
            ),
            "protocol" if !v.is_empty() => q.protocol = Some(v.into_owned()),
            "protocol" => {}
            "min_trust" => {
                q.min_trust = match v.parse::<f64>() {
                    Ok(t) if (0.0..=1.0).contains(&t) => t,
                    _ => return Err(ApiError::bad_field("min_trust", "must be a number in 0–1")),
                }
            }
            "limit" => {
                q.limit = match v.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                    _ => {
                        return Err(ApiError::bad_field(
                            "limit",
                            format!("must be an integer in 1–{MAX_LIMIT}"),
                        ));
                    }
                }
            }
            "scope" => {
                scope = match v.as_ref() {
                    "local" => Scope::Local,
                    "network" => Scope::Network,
                    _ => return Err(ApiError::bad_field("scope", "must be local or network")),
                }
            }
            other => {
                return Err(ApiError::bad_field(
                    other,
                    "unknown query parameter (use q, tags, protocol, min_trust, limit, scope)",
                ));
            }
        }
    }
    Ok((q, scope))
}

/// Where a discovery query looks: this node's index only, or (in DHT mode) also the nodes
/// that provide the query's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Local,
    Network,
}

/// The query passed on to other nodes (which add `scope=local`): without `scope`, and without
/// `min_trust`, which this node applies with its own scores (theirs are never imported).
fn forwarded_query(raw: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            form_urlencoded::parse(raw.as_bytes())
                .filter(|(k, _)| k != "scope" && k != "min_trust"),
        )
        .finish()
}

/// `GET /v1/agents?q=&tags=&protocol=&min_trust=&limit=`: discovery, best first.
#[utoipa::path(get, path = "/v1/agents", tag = "registry",
    params(
        ("q" = Option<String>, Query, description = "Free text, ranked by meaning (at most 1,000 characters)"),
        ("tags" = Option<String>, Query, description = "Comma-separated tags, all required (`tag` is accepted too)"),
        ("protocol" = Option<String>, Query, description = "A protocol the agent must speak"),
        ("min_trust" = Option<f64>, Query, minimum = 0, maximum = 1, description = "Lowest trust score"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Most results (10)"),
        ("scope" = Option<String>, Query, description = "`network` (default): in DHT mode, also ask the nodes that provide the query's terms; `local`: this node's index only"),
    ),
    responses((status = 200, description = "Matches, best first", body = crate::wire::Discovered)))]
pub async fn discover(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Discovered>, ApiError> {
    let started = Instant::now();
    let result = search(&state, raw.as_deref(), started).await;
    state.metrics().discovery(result.is_ok(), started.elapsed());
    state.activity().discovery();
    result
}

async fn search(
    state: &AppState,
    raw: Option<&str>,
    started: Instant,
) -> Result<Json<Discovered>, ApiError> {
    let (query, scope) = parse_search(raw)?;
    let discovery = state.discovery().clone();
    let _slot = match (discovery.rerank(), query.text.trim().is_empty()) {
        (Some(r), false) => Some(r.query_slot().await),
        _ => None,
    };
    let q = query.clone();
    let discovery = discovery.clone();
    let hits = tokio::task::spawn_blocking(move || discovery.search(&q))
        .await
        .map_err(ApiError::internal)?;
    let cards = state
        .store()
        .get_cards(hits.iter().map(|h| h.agent_id.clone()).collect())
        .await?;
    let by_id: std::collections::HashMap<&str, &StoredCard> =
        cards.iter().map(|c| (c.agent_id.as_str(), c)).collect();
    let mut results: Vec<DiscoverHit> = hits
        .iter()
        .filter_map(|h| {
            // A card revoked between the search and this read is left out.
            let card = by_id.get(h.agent_id.as_str()).filter(|c| !c.revoked)?;
            Some(DiscoverHit {
                agent_id: h.agent_id.clone(),
                score: round4(h.score),
                similarity: round4(h.similarity),
                lexical: round4(h.lexical),
                trust: round4(h.trust),
                card: card.signed().ok()?,
                via: None,
            })
        })
        .collect();
    if let (Some(dht), Scope::Network) = (state.dht(), scope) {
        let remote =
            super::dht_search::remote_hits(state, dht, &query, &forwarded_query(raw.unwrap_or("")))
                .await;
        merge(&mut results, remote, query.limit);
    }
    Ok(Json(Discovered {
        results,
        took_ms: round4(started.elapsed().as_secs_f64() * 1000.0),
        model: Some(state.discovery().ranking_model().to_string()),
    }))
}

/// Merges other nodes' matches into this node's: scores of the same embedding model are
/// compared directly; matches ranked by another model follow, in their own order. An agent
/// this node holds keeps its own entry.
fn merge(results: &mut Vec<DiscoverHit>, remote: Vec<super::dht_search::Remote>, limit: usize) {
    let mut seen: std::collections::HashSet<String> =
        results.iter().map(|h| h.agent_id.clone()).collect();
    let mut other = Vec::new();
    for r in remote {
        if !seen.insert(r.hit.agent_id.clone()) {
            continue;
        }
        let mut hit = r.hit;
        hit.score = round4(hit.score);
        hit.trust = round4(hit.trust);
        if r.same_model {
            results.push(hit);
        } else {
            other.push(hit);
        }
    }
    results.sort_by(|a, b| b.score.total_cmp(&a.score));
    other.sort_by(|a, b| b.score.total_cmp(&a.score));
    results.extend(other);
    results.truncate(limit);
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// `GET /v1/agents/{id}/agent-card.json`: the agent's card as an A2A Agent Card (1.0 shape), so
/// A2A clients can read it; fields imported from an A2A card come back from `meta.a2a`.
#[utoipa::path(get, path = "/v1/agents/{id}/agent-card.json", tag = "registry",
    params(("id" = String, Path, pattern = r"^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$", description = "The agent's did:key")),
    responses(
        (status = 200, description = "The card as an A2A 1.0 Agent Card", body = Object),
        (status = 404, description = "`not_found`: no such agent, or it does not speak A2A", body = crate::wire::ErrorBody),
        (status = 410, description = "`revoked`, or an expired card", body = crate::wire::ErrorBody),
    ))]
pub async fn a2a_card(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let card = live_card(&state, &id).await?;
    let manifest = card.fields().map_err(ApiError::internal)?;
    let speaks_a2a = manifest.protocols.iter().any(|p| p == "a2a")
        || manifest
            .meta
            .as_ref()
            .is_some_and(|m| m.contains_key("a2a"));
    if !speaks_a2a {
        return Err(ApiError::not_found(format!(
            "agent {id} does not speak A2A (its protocols: {:?})",
            manifest.protocols
        )));
    }
    let base = match &state.inner.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            format!("http://{host}")
        }
    };
    let gateway = format!("{base}/v1/agents/{id}/invoke");
    let mut a2a = crate::interop::a2a::card_from_manifest(&manifest.to_value(), &gateway);
    // Signed by this node, whose rendering it is (docs/protocol.md §7).
    crate::interop::a2a_sign::sign(&mut a2a, state.node());
    // Without --public-url the gateway URL comes from the request's Host: never cache it
    // across hosts (a shared cache must not hand one client's URL to another).
    Ok((
        [
            (axum::http::header::CACHE_CONTROL, "no-store"),
            (axum::http::header::VARY, "Host"),
        ],
        Json(a2a),
    )
        .into_response())
}

/// `GET /`: a JSON index of the API for clients, a short page for browsers.
#[utoipa::path(get, path = "/", tag = "node",
    responses((status = 200, description = "What this is and where its API starts (HTML when the client accepts text/html before JSON)", body = crate::wire::Index)))]
pub async fn index(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let index = crate::wire::Index {
        name: "agentmesh".into(),
        version: crate::VERSION.into(),
        node_id: state.node().id().to_string(),
        openapi: "/v1/openapi.json".into(),
        agents: "/v1/agents".into(),
        node: "/v1/node".into(),
    };
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let wants_html = accept
        .find("text/html")
        .is_some_and(|h| accept.find("application/json").is_none_or(|j| h < j));
    if !wants_html {
        return Json(index).into_response();
    }
    // Fixed text and the node's own ID (a did:key: base58 only): nothing to escape.
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>AgentMesh node</title></head>\
         <body><h1>AgentMesh node</h1><p>Version {}. Node ID <code>{}</code>.</p>\
         <p>This is an API for agents and the <code>agentmesh</code> command line:</p><ul>\
         <li><a href=\"/v1/openapi.json\">/v1/openapi.json</a>: the API (OpenAPI 3.1)</li>\
         <li><a href=\"/v1/agents?q=\">/v1/agents?q=…</a>: find agents by what they do</li>\
         <li><a href=\"/v1/node\">/v1/node</a>: this node's state</li>\
         <li><a href=\"/metrics\">/metrics</a>: Prometheus metrics</li></ul></body></html>",
        index.version, index.node_id
    );
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'",
            ),
        ],
        page,
    )
        .into_response()
}

/// `GET /v1/agents/{id}/http-message-signatures-directory`: the agent's key as a key directory
/// of the webbotauth drafts (docs/protocol.md §4c), signed by the agent's own key when the card
/// carries that signature for the authority asked.
#[utoipa::path(get, path = "/v1/agents/{id}/http-message-signatures-directory", tag = "registry",
    params(("id" = String, Path, pattern = r"^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$", description = "The agent's did:key")),
    responses(
        (status = 200, description = "A JWKS of the agent's key (`application/http-message-signatures-directory+json`)", content_type = "application/http-message-signatures-directory+json", body = Object),
        (status = 404, description = "`not_found`: no such agent", body = crate::wire::ErrorBody),
        (status = 410, description = "`revoked`, or an expired card: its key is no longer listed", body = crate::wire::ErrorBody),
    ))]
pub async fn key_directory(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use crate::httpsig;
    let card = live_card(&state, &id).await?;
    let public = public_from_did(&id)
        .map_err(|e| ApiError::bad_field("id", e.to_string()))?
        .to_bytes();
    let body = httpsig::directory_body(&public);
    let mut res = (
        [
            (
                axum::http::header::CONTENT_TYPE,
                httpsig::DIRECTORY_MEDIA_TYPE.to_string(),
            ),
            (axum::http::header::CACHE_CONTROL, "max-age=300".to_string()),
            (
                axum::http::header::HeaderName::from_static(httpsig::H_CONTENT_DIGEST),
                httpsig::content_digest(body.as_bytes()),
            ),
        ],
        body,
    )
        .into_response();
    // The agent's own signature, made at registration for one authority; served when this
    // request asked that authority and it holds.
    let authority = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let signed = card
        .fields()
        .ok()
        .and_then(|m| m.meta)
        .and_then(|meta| meta.get("httpsig_directory").cloned())
        .and_then(|d| {
            let field = |k: &str| d.get(k).and_then(Value::as_str).map(str::to_string);
            Some((
                field("authority")?,
                field("signature_input")?,
                field("signature")?,
            ))
        })
        .and_then(|(auth, input, sig)| {
            let input = input.strip_prefix("binding=")?.to_string();
            let sig = sig.strip_prefix("binding=")?.to_string();
            (auth.eq_ignore_ascii_case(authority)
                && httpsig::check_directory(&public, &auth, &input, &sig))
            .then_some((input, sig))
        });
    if let Some((input, sig)) = signed {
        for (name, value) in [
            (httpsig::H_SIGNATURE_INPUT, format!("binding={input}")),
            (httpsig::H_SIGNATURE, format!("binding={sig}")),
        ] {
            if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
                res.headers_mut().insert(name, v);
            }
        }
        res.headers_mut().insert(
            axum::http::header::VARY,
            axum::http::HeaderValue::from_static("Host"),
        );
    }
    Ok(res)
}

/// Most agents `GET /v1/resolve` lists.
const MAX_RESOLVED: usize = 10;
/// Most agents `GET /v1/resolve?prefix=true` lists (shell completion).
const MAX_COMPLETED: usize = 50;

/// `GET /v1/resolve?ref=`: the live agents a reference names (a did:key or its prefix, the
/// short form `z6Mk…<last 8>` tables print, or a card name in any case), so people can name
/// agents as they see them. With `prefix=true`, names and IDs that start with `ref` (which
/// may then be empty): what shell completion offers.
#[utoipa::path(get, path = "/v1/resolve", tag = "registry",
    params(
        ("ref" = String, Query, description = "A did:key or its prefix, a short form `z6Mk…tail`, or a card name (1–128 characters; 0–128 with prefix=true)"),
        ("prefix" = Option<bool>, Query, description = "Match names and IDs starting with `ref` (up to 50) instead of naming one agent"),
    ),
    responses((status = 200, description = "The live agents it names, by ID", body = crate::wire::Resolved)))]
pub async fn resolve(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<crate::wire::Resolved>, ApiError> {
    let mut reference = None;
    let mut prefix = false;
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "ref" => reference = Some(v.trim().to_string()),
            "prefix" => {
                prefix = match v.as_ref() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::bad_field("prefix", "must be true or false")),
                }
            }
            other => {
                return Err(ApiError::bad_field(
                    other,
                    "unknown query parameter (use ref, prefix)",
                ));
            }
        }
    }
    let min = usize::from(!prefix);
    let reference = reference
        .filter(|r| (min..=128).contains(&r.chars().count()))
        .ok_or_else(|| {
            ApiError::bad_field(
                "ref",
                if prefix {
                    "is required, 0–128 characters"
                } else {
                    "is required, 1–128 characters"
                },
            )
        })?;
    let (limit, (glob, name)) = if prefix {
        (MAX_COMPLETED, prefix_patterns(&reference))
    } else {
        (MAX_RESOLVED, reference_patterns(&reference))
    };
    let mut found = state.store().find_agents(glob, name, limit + 1).await?;
    let more = found.len() > limit;
    found.truncate(limit);
    Ok(Json(crate::wire::Resolved {
        matches: found
            .into_iter()
            .map(|(agent_id, name)| crate::wire::ResolvedAgent { agent_id, name })
            .collect(),
        more,
    }))
}

/// Whether `s` is all base58, which has no GLOB metacharacter.
fn base58(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l'))
}

/// The ID GLOB and the name a reference may mean. Anything but base58 can only be a name.
fn reference_patterns(r: &str) -> (Option<String>, Option<NameMatch>) {
    let body = r.strip_prefix("did:key:").unwrap_or(r);
    let id_glob = match body.split_once('…').or_else(|| body.split_once("...")) {
        Some((head, tail)) if base58(head) && base58(tail) && !tail.is_empty() => {
            Some(format!("did:key:{head}*{tail}"))
        }
        Some(_) => None,
        None if base58(body) && (r.starts_with("did:key:") || body.starts_with("z6Mk")) => {
            Some(format!("did:key:{body}*"))
        }
        None => None,
    };
    (id_glob, Some(NameMatch::Exact(r.to_string())))
}

/// The ID GLOB and name prefix of a word being completed: IDs only once it reads as one
/// (`did:key:…` or a prefix of that, or `z6Mk…` as tables print it), so an empty word lists
/// names, not IDs.
fn prefix_patterns(r: &str) -> (Option<String>, Option<NameMatch>) {
    let id_glob = match r.strip_prefix("did:key:") {
        Some(body) if base58(body) => Some(format!("did:key:{body}*")),
        Some(_) => None,
        None if !r.is_empty() && "did:key:".starts_with(r) => Some("did:key:*".to_string()),
        None if !r.is_empty() && base58(r) && (r.starts_with("z6Mk") || "z6Mk".starts_with(r)) => {
            Some(format!("did:key:{r}*"))
        }
        None => None,
    };
    (id_glob, Some(NameMatch::Prefix(r.to_string())))
}

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", tag = "node",
    responses((status = 200, description = "The node is serving", body = crate::wire::Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Any unknown path.
pub async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

/// A handler panicked: the request gets a 500 in the API's shape and the node keeps serving
/// (the panic is logged; its payload is not sent).
pub fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    axum::response::IntoResponse::into_response(ApiError::internal(format!(
        "a handler panicked: {what}"
    )))
}

/// A known path with the wrong method.
pub async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::NotFound,
        "method not allowed on this path",
    )
}

#[cfg(test)]
mod tests {
    use super::{
        NameMatch, Scope, forwarded_query, parse_search, prefix_patterns, reference_patterns,
    };

    #[test]
    fn other_nodes_get_the_query_without_scope_or_min_trust() {
        assert_eq!(
            forwarded_query("q=write+a+note&scope=network&min_trust=0.9&tags=mail&limit=5"),
            "q=write+a+note&tags=mail&limit=5"
        );
        assert_eq!(forwarded_query(""), "");
        assert!(matches!(
            parse_search(Some("scope=local")),
            Ok((_, Scope::Local))
        ));
        assert!(matches!(parse_search(None), Ok((_, Scope::Network))));
        assert!(parse_search(Some("scope=everywhere")).is_err());
    }

    #[test]
    fn references_become_id_globs_only_when_they_are_base58() {
        let id = "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw";
        assert_eq!(
            reference_patterns(id).0.as_deref(),
            Some(&*format!("{id}*"))
        );
        assert_eq!(
            reference_patterns("z6Mk…Zq7oMMsw").0.as_deref(),
            Some("did:key:z6Mk*Zq7oMMsw")
        );
        assert_eq!(
            reference_patterns("z6Mktwup").0.as_deref(),
            Some("did:key:z6Mktwup*")
        );
        // Names, and anything with a GLOB metacharacter or outside base58, match by name only.
        for r in [
            "weather",
            "*",
            "z6Mk*",
            "did:key:[a-z]",
            "z6Mk…",
            "z6Mk…a?b",
            "héllo",
            "z6Mk0O",
        ] {
            assert_eq!(reference_patterns(r).0, None, "{r}");
            assert!(matches!(reference_patterns(r).1, Some(NameMatch::Exact(n)) if n == r));
        }
    }

    #[test]
    fn completion_words_match_ids_only_once_they_read_as_ids() {
        for (word, glob) in [
            ("", None),
            ("wea", None),
            ("d", Some("did:key:*")),
            ("did:key:z6Mkab", Some("did:key:z6Mkab*")),
            ("z6", Some("did:key:z6*")),
            ("z6Mkab", Some("did:key:z6Mkab*")),
            ("did:key:*", None),
            ("zebra", None),
        ] {
            assert_eq!(prefix_patterns(word).0.as_deref(), glob, "{word:?}");
            assert!(matches!(prefix_patterns(word).1, Some(NameMatch::Prefix(p)) if p == word));
        }
    }
}
