//! The one error type of the HTTP API: every failure becomes `{"error":{"code","message"}}` with
//! a fitting status (docs/protocol.md §6). Internal details are logged, never sent.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::card::CardError;
use crate::identity::IdError;
use crate::store::StoreError;
use crate::wire::ErrorCode;

/// An API error: status, stable code, human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// One of docs/protocol.md §6's error codes.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// Seconds for a `Retry-After` header (429 / 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    /// 400 `invalid_field`.
    pub fn bad_field(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            format!("{field}: {reason}"),
        )
    }

    /// 500 `internal`; the cause is logged, not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; see the node's log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = crate::wire::ErrorBody::new(self.code.as_str(), self.message);
        let mut res = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

impl From<CardError> for ApiError {
    fn from(e: CardError) -> Self {
        let (status, code) = match &e {
            CardError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge),
            CardError::InvalidJson(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidJson),
            CardError::InvalidId(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidId),
            CardError::BadSignature(_) => (StatusCode::UNAUTHORIZED, ErrorCode::BadSignature),
            CardError::InvalidField { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidField)
            }
        };
        Self::new(status, code, e.to_string())
    }
}

impl From<IdError> for ApiError {
    fn from(e: IdError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidId, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Closed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Internal,
                "the node is shutting down",
            ),
            e if e.is_full() => {
                tracing::error!(error = %e, "the database cannot grow: disk full or at max_db_size");
                Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    ErrorCode::InsufficientStorage,
                    "this node's storage is full; nothing was stored (retry later or on another node)",
                )
            }
            other => Self::internal(other),
        }
    }
}

/// Whether a body error (anywhere in its chain) is the listener's body timeout.
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

impl ApiError {
    /// 408 `request_timeout`: the body stopped arriving.
    pub fn body_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            "the request body stopped arriving",
        )
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(r: axum::extract::rejection::PathRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidId,
            format!("the path cannot be read: {}", r.body_text()),
        )
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        if is_body_timeout(&r) {
            Self::body_timeout()
        } else if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::TooLarge,
                "request body is over the limit",
            )
        } else {
            Self::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                r.body_text(),
            )
        }
    }
}
