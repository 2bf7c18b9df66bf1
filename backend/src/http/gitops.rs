//! REST for GitOps delivery and change windows: Git repositories, a cluster's delivery mode,
//! freeze windows and their calendar, and letting a held request through a freeze.

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use berth_frontend::api::{
    Cluster, DeliveryInput, ErrorBody, FreezeCalendar, FreezeCalendarQuery, FreezeRelease,
    FreezeWindow, GitCheck, GitRepository, NewFreezeWindow, NewGitRepository, RequestDetail,
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{Json, Path, Query};
use crate::{auth::Ctx, gitops::repositories, tenancy::freeze, App, Result};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_repositories, register_repository))
        .routes(routes!(
            get_repository,
            update_repository,
            remove_repository
        ))
        .routes(routes!(check_repository))
        .routes(routes!(set_delivery))
        .routes(routes!(list_freezes, create_freeze))
        .routes(routes!(remove_freeze))
        .routes(routes!(freeze_calendar))
        .routes(routes!(release_request))
}

/// Git repositories Berth commits to (admins). Credentials are never returned.
#[utoipa::path(get, path = "/git-repositories", tag = "gitops",
    responses((status = 200, body = Vec<GitRepository>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_repositories(
    State(app): State<App>,
    ctx: Ctx,
) -> Result<axum::Json<Vec<GitRepository>>> {
    Ok(axum::Json(repositories::list(&app, &ctx).await?))
}

/// Register a repository (admins): HTTPS with a user and token, SSH with a key and the host's
/// keys, or none. The secret and the API token are sealed and never returned.
#[utoipa::path(post, path = "/git-repositories", tag = "gitops", request_body = NewGitRepository,
    responses((status = 201, body = GitRepository), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn register_repository(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<NewGitRepository>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(repositories::create(&app, &ctx, input).await?),
    ))
}

#[utoipa::path(get, path = "/git-repositories/{name}", tag = "gitops", params(("name" = String, Path)),
    responses((status = 200, body = GitRepository), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn get_repository(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Result<axum::Json<GitRepository>> {
    Ok(axum::Json(repositories::get(&app, &ctx, &name).await?))
}

/// Replace a repository's settings (admins); a secret or API token left out is kept.
#[utoipa::path(put, path = "/git-repositories/{name}", tag = "gitops", params(("name" = String, Path)),
    request_body = NewGitRepository,
    responses((status = 200, body = GitRepository), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_repository(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
    Json(input): Json<NewGitRepository>,
) -> Result<axum::Json<GitRepository>> {
    Ok(axum::Json(
        repositories::update(&app, &ctx, &name, input).await?,
    ))
}

/// Remove a repository (admins); refused while a cluster delivers through it.
#[utoipa::path(delete, path = "/git-repositories/{name}", tag = "gitops", params(("name" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove_repository(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    repositories::remove(&app, &ctx, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reach a repository with its credentials and read its branch's head (admins).
#[utoipa::path(post, path = "/git-repositories/{name}/check", tag = "gitops", params(("name" = String, Path)),
    responses((status = 200, body = GitCheck), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn check_repository(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Result<axum::Json<GitCheck>> {
    Ok(axum::Json(repositories::check(&app, &ctx, &name).await?))
}

/// How a cluster gets its namespaces: `direct` or `gitops` through a repository (admins).
/// Every live namespace is delivered again the new way.
#[utoipa::path(put, path = "/clusters/{name}/delivery", tag = "gitops", params(("name" = String, Path)),
    request_body = DeliveryInput,
    responses((status = 200, body = Cluster), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_delivery(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
    Json(input): Json<DeliveryInput>,
) -> Result<axum::Json<Cluster>> {
    Ok(axum::Json(
        repositories::set_delivery(&app, &ctx, &name, input).await?,
    ))
}

/// Change windows, each with its current or next occurrence.
#[utoipa::path(get, path = "/freezes", tag = "gitops",
    responses((status = 200, body = Vec<FreezeWindow>), (status = 401, body = ErrorBody)))]
async fn list_freezes(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<FreezeWindow>>> {
    Ok(axum::Json(freeze::list(&app, &ctx).await?))
}

/// Define a change window (admins): dated (starts_at, ends_at) or recurring (a cron schedule,
/// a duration and a time zone), over environments and clusters (neither: the whole fleet).
#[utoipa::path(post, path = "/freezes", tag = "gitops", request_body = NewFreezeWindow,
    responses((status = 201, body = FreezeWindow), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_freeze(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<NewFreezeWindow>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(freeze::create(&app, &ctx, input).await?),
    ))
}

/// Remove a change window (admins); what it held continues at once.
#[utoipa::path(delete, path = "/freezes/{id}", tag = "gitops", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn remove_freeze(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    freeze::remove(&app, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every occurrence of every window over a period, with the clusters it holds.
#[utoipa::path(get, path = "/freezes/calendar", tag = "gitops", params(FreezeCalendarQuery),
    responses((status = 200, body = FreezeCalendar), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn freeze_calendar(
    State(app): State<App>,
    ctx: Ctx,
    Query(query): Query<FreezeCalendarQuery>,
) -> Result<axum::Json<FreezeCalendar>> {
    Ok(axum::Json(freeze::calendar(&app, &ctx, query).await?))
}

/// Let one held request through its freeze (admins), with a reason.
#[utoipa::path(post, path = "/namespace-requests/{id}/release", tag = "gitops", params(("id" = Uuid, Path)),
    request_body = FreezeRelease,
    responses((status = 200, body = RequestDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn release_request(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Json(input): Json<FreezeRelease>,
) -> Result<axum::Json<RequestDetail>> {
    Ok(axum::Json(freeze::release(&app, &ctx, id, input).await?))
}
