//! The one error type of the service layer. It is also the HTTP response: 4xx variants say
//! what the caller did wrong, in the body every client reads; database and internal errors
//! are logged with the request id and answered with a bare 500.

use std::collections::BTreeMap;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use berth_frontend::api::{ErrorBody, ErrorDetail};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Field name → what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict {
        message: String,
        fields: FieldErrors,
    },
    #[error("some fields are invalid")]
    Invalid(FieldErrors),
    #[error("{0}")]
    BadRequest(String),
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("too many attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// A system Berth depends on (Prometheus, say) did not answer usefully; the message says
    /// which and why, and carries no secret.
    #[error("{0}")]
    Unavailable(String),
    /// Berth cannot serve the call just now — its database is away, or too many password
    /// checks are waiting — and the client should try again after the delay (503).
    #[error("{message}")]
    Busy {
        message: &'static str,
        retry_after_secs: u64,
    },
    #[error("database error")]
    Database(sqlx::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// A database that cannot be reached (restarting, failed over, out of connections) is not
/// the client's mistake nor Berth's bug: it is a 503 to retry, not a 500.
fn database_away(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exceptions; 57P01–57P03: the server is shutting down or
        // starting; 53300: too many connections.
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if database_away(&e) {
            tracing::warn!(error = %e, "the database is unavailable");
            Error::Busy {
                message: "the database is unavailable; retry shortly",
                retry_after_secs: 2,
            }
        } else {
            Error::Database(e)
        }
    }
}

impl Error {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Invalid(BTreeMap::from([(field.to_owned(), message.into())]))
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Error::Conflict {
            fields: BTreeMap::from([(field.to_owned(), message.clone())]),
            message,
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::BAD_GATEWAY,
            Error::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Database(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated(_) => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict { .. } => "conflict",
            Error::Invalid(_) => "invalid",
            Error::BadRequest(_) => "bad_request",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::Throttled { .. } => "throttled",
            Error::Unavailable(_) => "unavailable",
            Error::Busy { .. } => "busy",
            Error::Database(_) | Error::Internal(_) => "internal",
        }
    }

    /// The body a client sees. Internal errors say nothing about their cause.
    pub fn detail(&self) -> ErrorDetail {
        let mut detail = ErrorDetail::new(self.code(), self.to_string());
        match self {
            Error::Invalid(fields) | Error::Conflict { fields, .. } => {
                detail.fields = fields.clone()
            }
            Error::Database(_) | Error::Internal(_) => {
                detail.message =
                    "internal error; the request id identifies it in the server log".into()
            }
            _ => {}
        }
        detail
    }

    /// Unique violations become 409s naming the field, by constraint name.
    pub fn from_unique(err: sqlx::Error, constraint: &str, field: &str, message: &str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.constraint() == Some(constraint) => {
                Error::conflict(field, message)
            }
            _ => Error::from(err),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let retry_after = match &self {
            Error::Throttled { retry_after_secs }
            | Error::Busy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: self.detail(),
            }),
        )
            .into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"berth\""),
            );
        }
        response
    }
}
