//! Extractors that answer bad input in Berth's error format instead of axum's plain text.

use axum::{
    extract::{
        rejection::{JsonRejection, PathRejection, QueryRejection},
        FromRequest, FromRequestParts, Request,
    },
    http::{request::Parts, StatusCode},
};
use serde::de::DeserializeOwned;

use crate::{
    auth::{self, Ctx, Intent, RequestMeta},
    App, Error,
};

impl FromRequestParts<App> for Ctx {
    type Rejection = Error;

    /// Every endpoint that takes a `Ctx` needs a caller: anonymous requests get 401 here,
    /// before their body is read (login takes `RequestMeta` instead).
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Error> {
        let ctx = auth::authenticate(app, parts, Intent::of_method(&parts.method)).await?;
        ctx.actor()?;
        Ok(ctx)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        Ok(RequestMeta::from_parts(parts))
    }
}

/// JSON body. Syntax errors are 400, wrong types or missing fields 422 naming the field,
/// an oversize body 413.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> Error {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            let detail = text
                .split_once("target type: ")
                .map(|(_, rest)| rest.to_owned())
                .unwrap_or(text);
            // serde_path_to_error prefixes the path: `name: invalid type ...`; a missing
            // field is reported at the parent as "missing field `name`".
            let (field, message) = if let Some(missing) = detail
                .split("missing field `")
                .nth(1)
                .and_then(|rest| rest.split('`').next())
            {
                (missing.to_owned(), "is required".to_owned())
            } else {
                match detail.split_once(": ") {
                    Some((path, message)) if path != "." => (path.to_owned(), message.to_owned()),
                    _ => ("_".to_owned(), detail.clone()),
                }
            };
            Error::invalid(&field, message)
        }
        JsonRejection::JsonSyntaxError(e) => {
            Error::BadRequest(format!("malformed JSON: {}", e.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => {
            Error::BadRequest("Content-Type must be application/json".into())
        }
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Error::PayloadTooLarge(0)
        }
        other => Error::BadRequest(other.body_text()),
    }
}

pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e: QueryRejection| Error::BadRequest(e.body_text()))
    }
}

pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|_: PathRejection| Error::NotFound("resource"))
    }
}
