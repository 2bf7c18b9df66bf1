//! REST for the caller, logins, and users.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{AppendHeaders, IntoResponse},
};
use berth_frontend::api::{
    CreatedUser, ErrorBody, LoginInput, Me, NewUser, PasswordChange, User, UserStatus,
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{Json, Path};
use crate::{
    auth::{sessions, Ctx, RequestMeta},
    people, App, Result,
};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(change_password))
        .routes(routes!(list_users, create_user))
        .routes(routes!(set_user_status))
}

/// The caller: user, teams, and (for sessions) the CSRF token to send on writes.
#[utoipa::path(get, path = "/me", tag = "people",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Me>> {
    Ok(axum::Json(people::me(&app, &ctx).await?))
}

/// Log in with email and password; sets the session cookie.
#[utoipa::path(post, path = "/auth/login", tag = "people", security(()),
    request_body = LoginInput,
    responses((status = 200, body = Me), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(app): State<App>,
    meta: RequestMeta,
    Json(input): Json<LoginInput>,
) -> Result<impl IntoResponse> {
    let logged_in = sessions::login(&app, meta, input).await?;
    Ok((
        AppendHeaders([(header::SET_COOKIE, logged_in.set_cookie)]),
        axum::Json(logged_in.me),
    ))
}

/// End this browser session.
#[utoipa::path(post, path = "/auth/logout", tag = "people",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn logout(State(app): State<App>, ctx: Ctx) -> Result<impl IntoResponse> {
    let cookie = sessions::logout(&app, &ctx).await?;
    Ok((
        StatusCode::NO_CONTENT,
        AppendHeaders([(header::SET_COOKIE, cookie)]),
    ))
}

/// Change your own password (browser sessions only); your other sessions end.
#[utoipa::path(post, path = "/me/password", tag = "people", request_body = PasswordChange,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_password(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<PasswordChange>,
) -> Result<StatusCode> {
    sessions::change_password(&app, &ctx, input).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every user (admins).
#[utoipa::path(get, path = "/users", tag = "people",
    responses((status = 200, body = Vec<User>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_users(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<User>>> {
    Ok(axum::Json(people::list(&app, &ctx).await?))
}

/// Create a user (admins); the answer carries a one-time password, shown once.
#[utoipa::path(post, path = "/users", tag = "people", request_body = NewUser,
    responses((status = 201, body = CreatedUser), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_user(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<NewUser>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(people::create(&app, &ctx, input).await?),
    ))
}

/// Disable or enable a user (admins). Disabling ends their sessions and tokens at once.
#[utoipa::path(put, path = "/users/{id}/status", tag = "people", request_body = UserStatus,
    params(("id" = Uuid, Path, description = "user id")),
    responses((status = 200, body = User), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn set_user_status(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Json(input): Json<UserStatus>,
) -> Result<axum::Json<User>> {
    Ok(axum::Json(
        people::set_disabled(&app, &ctx, id, input.disabled).await?,
    ))
}
