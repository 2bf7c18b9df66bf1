//! Single sign-on's browser endpoints (`/auth/oidc/start` and `/auth/oidc/callback`: a
//! browser follows them, so they answer with redirects, not JSON), the login page's
//! sign-in options, and the REST for the admins' group rules.

use axum::{
    extract::{Query, State},
    http::{header, StatusCode},
    response::{AppendHeaders, IntoResponse, Redirect, Response},
    routing::get,
    Router,
};
use berth_frontend::api::{ErrorBody, GroupRule, NewGroupRule, SignInOptions};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{Json, Path};
use crate::{
    auth::{
        sso::{self, Callback, Failure},
        Ctx, RequestMeta,
    },
    group_rules, App, Error, Result,
};

/// The browser flow, outside the versioned API.
pub fn browser() -> Router<App> {
    Router::new()
        .route("/auth/oidc/start", get(start))
        .route(sso::CALLBACK_PATH, get(callback))
}

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(sign_in_options))
        .routes(routes!(list_group_rules, create_group_rule))
        .routes(routes!(delete_group_rule))
}

fn to_login(failure: Failure) -> String {
    format!("/login?sso={}", failure.code())
}

#[derive(serde::Deserialize)]
struct StartQuery {
    return_to: Option<String>,
}

async fn start(State(app): State<App>, Query(q): Query<StartQuery>) -> Result<Response> {
    match sso::start(&app, q.return_to.as_deref()).await {
        Ok(started) => Ok((
            AppendHeaders([(header::SET_COOKIE, started.set_cookie)]),
            Redirect::to(&started.location),
        )
            .into_response()),
        Err(Failure::Off) => Err(Error::NotFound("single sign-on")),
        Err(failure) => Ok(Redirect::to(&to_login(failure)).into_response()),
    }
}

async fn callback(
    State(app): State<App>,
    meta: RequestMeta,
    headers: axum::http::HeaderMap,
    Query(query): Query<Callback>,
) -> Result<Response> {
    let browser = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(|c| c.ok())
        .find(|c| c.name() == sso::BROWSER_COOKIE)
        .map(|c| c.value().to_owned());
    let clear = sso::clearing_browser_cookie(&app);
    Ok(
        match sso::callback(&app, meta, query, browser.as_deref()).await? {
            Ok(signed_in) => (
                AppendHeaders([
                    (header::SET_COOKIE, signed_in.set_cookie),
                    (header::SET_COOKIE, clear),
                ]),
                Redirect::to(&signed_in.location),
            )
                .into_response(),
            Err(Failure::Off) => return Err(Error::NotFound("single sign-on")),
            Err(failure) => (
                AppendHeaders([(header::SET_COOKIE, clear)]),
                Redirect::to(&to_login(failure)),
            )
                .into_response(),
        },
    )
}

/// How people sign in here: the identity provider's name, if single sign-on is set up, and
/// who may use a password.
#[utoipa::path(get, path = "/auth/options", tag = "people", security(()),
    responses((status = 200, body = SignInOptions)))]
async fn sign_in_options(State(app): State<App>) -> axum::Json<SignInOptions> {
    axum::Json(sso::options(&app))
}

/// The rules from provider groups to team roles and platform admin (admins).
#[utoipa::path(get, path = "/group-rules", tag = "people",
    responses((status = 200, body = Vec<GroupRule>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_group_rules(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<GroupRule>>> {
    Ok(axum::Json(group_rules::list(&app, &ctx).await?))
}

/// Add a rule (admins). It applies at each member's next sign-in.
#[utoipa::path(post, path = "/group-rules", tag = "people", request_body = NewGroupRule,
    responses((status = 201, body = GroupRule), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_group_rule(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<NewGroupRule>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(group_rules::create(&app, &ctx, input).await?),
    ))
}

/// Delete a rule (admins). Memberships it gave end at each member's next sign-in.
#[utoipa::path(delete, path = "/group-rules/{id}", tag = "people", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn delete_group_rule(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    group_rules::delete(&app, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
