//! REST for teams and membership.

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use berth_frontend::api::{ErrorBody, NewMember, NewTeam, RoleChange, Team, TeamDetail};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{Json, Path};
use crate::{auth::Ctx, teams, App, Result};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team))
        .routes(routes!(add_member))
        .routes(routes!(change_role, remove_member))
}

/// Your teams (admins: every team).
#[utoipa::path(get, path = "/teams", tag = "teams",
    responses((status = 200, body = Vec<Team>), (status = 401, body = ErrorBody)))]
async fn list_teams(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<Team>>> {
    Ok(axum::Json(teams::list(&app, &ctx).await?))
}

/// Create a team (admins).
#[utoipa::path(post, path = "/teams", tag = "teams", request_body = NewTeam,
    responses((status = 201, body = Team), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_team(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<NewTeam>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(teams::create(&app, &ctx, input).await?),
    ))
}

/// A team and its members (members and admins).
#[utoipa::path(get, path = "/teams/{name}", tag = "teams", params(("name" = String, Path)),
    responses((status = 200, body = TeamDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn get_team(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Result<axum::Json<TeamDetail>> {
    Ok(axum::Json(teams::get(&app, &ctx, &name).await?))
}

/// Add a member (owners and admins).
#[utoipa::path(post, path = "/teams/{name}/members", tag = "teams", params(("name" = String, Path)),
    request_body = NewMember,
    responses((status = 201, body = TeamDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_member(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
    Json(input): Json<NewMember>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(teams::add_member(&app, &ctx, &name, input).await?),
    ))
}

/// Change a member's role (owners and admins). A team keeps at least one owner.
#[utoipa::path(put, path = "/teams/{name}/members/{user_id}", tag = "teams",
    params(("name" = String, Path), ("user_id" = Uuid, Path)), request_body = RoleChange,
    responses((status = 200, body = TeamDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn change_role(
    State(app): State<App>,
    ctx: Ctx,
    Path((name, user_id)): Path<(String, Uuid)>,
    Json(input): Json<RoleChange>,
) -> Result<axum::Json<TeamDetail>> {
    Ok(axum::Json(
        teams::change_role(&app, &ctx, &name, user_id, input.role).await?,
    ))
}

/// Remove a member (owners and admins). A team keeps at least one owner.
#[utoipa::path(delete, path = "/teams/{name}/members/{user_id}", tag = "teams",
    params(("name" = String, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, body = TeamDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove_member(
    State(app): State<App>,
    ctx: Ctx,
    Path((name, user_id)): Path<(String, Uuid)>,
) -> Result<axum::Json<TeamDetail>> {
    Ok(axum::Json(
        teams::remove_member(&app, &ctx, &name, user_id).await?,
    ))
}
