//! The API's OpenAPI 3.1 document, generated from the handlers' annotations and the wire types
//! (`crate::wire`), served at `GET /v1/openapi.json` and committed as `docs/openapi.json`.
//!
//! Refusals that any route can get from the listener or the body caps before its handler runs
//! (a malformed request, a slow one, an oversized head, a panic, an overloaded node) are added
//! to every operation here rather than repeated on each.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi as _;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};

use super::{federation, gateway, handlers, info, trust, ui};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "AgentMesh node API",
        description = "The HTTP API of an AgentMesh node: a registry of signed agent cards, discovery by meaning, a signed-call gateway, trust scores, federation and relay tunnels. The wire formats are specified in docs/protocol.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        handlers::register,
        handlers::discover,
        handlers::get_agent,
        handlers::resolve,
        handlers::a2a_card,
        handlers::key_directory,
        gateway::invoke_root,
        trust::list,
        trust::show,
        trust::report,
        federation::sync,
        federation::fetch,
        federation::push,
        federation::peers,
        federation::announce,
        info::node_info,
        ui::events,
        info::metrics,
        super::relay_ws,
        handlers::healthz,
        handlers::index,
        openapi_json,
    ),
    components(schemas(crate::wire::ErrorBody, crate::wire::ErrorCode)),
    modifiers(&CommonRefusals),
    tags(
        (name = "registry", description = "Signed cards and discovery"),
        (name = "gateway", description = "Signed calls to agents"),
        (name = "trust", description = "This node's trust in agents"),
        (name = "federation", description = "Node-to-node sync"),
        (name = "relay", description = "Tunnels of agents behind NAT"),
        (name = "node", description = "Health, identity and metrics"),
    )
)]
struct ApiDoc;

/// Statuses every operation can answer before its handler runs, with what they mean.
const COMMON: [(&str, &str); 6] = [
    (
        "400",
        "`invalid_json`, `invalid_id` or `invalid_field`: a malformed request, path or parameter",
    ),
    ("408", "`request_timeout`: the head or body came too slowly"),
    ("414", "`too_large`: the request target is too long"),
    ("431", "`too_large`: the request head is too large"),
    (
        "500",
        "`internal`: the node failed (never the caller's doing)",
    ),
    (
        "503",
        "`overloaded`: too many connections or large bodies at once",
    ),
];

struct CommonRefusals;

impl utoipa::Modify for CommonRefusals {
    fn modify(&self, doc: &mut OpenApi) {
        let error = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build();
        for item in doc.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                for (status, what) in COMMON {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(what)
                                .content("application/json", error.clone())
                                .into()
                        });
                }
            }
        }
    }
}

/// The document (built once).
pub fn document() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = crate::VERSION.to_string();
        doc
    })
}

/// The document as pretty JSON with a final newline: `docs/openapi.json`.
pub fn document_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("an OpenAPI document serializes");
    text.push('\n');
    text
}

/// `GET /v1/openapi.json`.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "node",
    responses((status = 200, description = "This document", body = Object)))]
pub async fn openapi_json() -> impl IntoResponse {
    static BODY: OnceLock<String> = OnceLock::new();
    (
        [(header::CONTENT_TYPE, "application/json")],
        BODY.get_or_init(document_json).as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_the_common_refusals() {
        let doc = document();
        let paths: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        for p in [
            "/v1/agents",
            "/v1/agents/{id}",
            "/v1/agents/{id}/agent-card.json",
            "/v1/agents/{id}/invoke",
            "/v1/trust",
            "/v1/trust/{id}",
            "/v1/trust/{id}/events",
            "/v1/sync",
            "/v1/sync/push",
            "/v1/peers",
            "/v1/node",
            "/metrics",
            "/relay/v1/ws/{agent_id}",
            "/healthz",
            "/v1/openapi.json",
        ] {
            assert!(paths.contains(&p), "{p} is not documented: {paths:?}");
        }
        let register = doc.paths.paths["/v1/agents"].post.as_ref().expect("post");
        for status in [
            "201", "200", "400", "401", "409", "413", "422", "500", "507",
        ] {
            assert!(
                register.responses.responses.contains_key(status),
                "POST /v1/agents does not document {status}"
            );
        }
        let json = document_json();
        assert!(
            json.starts_with("{\n  \"openapi\": \"3.1.0\""),
            "{}",
            &json[..40]
        );
        assert!(json.contains("\"ErrorBody\""));
        assert!(json.contains("\"Manifest\""));
    }
}
