//! REST for API tokens.

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use berth_frontend::api::{CreatedToken, ErrorBody, NewToken, Token};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{Json, Path};
use crate::{auth::Ctx, tokens, App, Result};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// Your tokens, newest first.
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    responses((status = 200, body = Vec<Token>), (status = 401, body = ErrorBody)))]
async fn list_tokens(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<Token>>> {
    Ok(axum::Json(tokens::list(&app, &ctx).await?))
}

/// Create a token (browser sessions only). The secret is in this answer and nowhere else.
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_token(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<NewToken>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(tokens::create(&app, &ctx, input).await?),
    ))
}

/// Revoke a token: yours, or anyone's for admins.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens", params(("id" = Uuid, Path)),
    responses((status = 200, body = Token), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Token>> {
    Ok(axum::Json(tokens::revoke(&app, &ctx, id).await?))
}
