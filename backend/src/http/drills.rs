//! REST for disaster-recovery drills: start, follow, cancel, history, objectives.

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use berth_frontend::api::{
    Drill, DrillObjectives, DrillSchedule, DrillScheduleInput, ErrorBody, NewDrill,
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{Json, Path};
use crate::{auth::Ctx, drills, App, Result};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_drills, start_drill))
        .routes(routes!(get_drill))
        .routes(routes!(list_fleet_drills))
        .routes(routes!(cancel_drill))
        .routes(routes!(set_objectives))
        .routes(routes!(get_schedule, set_schedule, remove_schedule))
}

/// A namespace's drill schedule, if it has one.
#[utoipa::path(get, path = "/namespaces/{cluster}/{name}/drill-schedule", tag = "drills",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Option<DrillSchedule>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_schedule(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
) -> Result<axum::Json<Option<DrillSchedule>>> {
    Ok(axum::Json(
        drills::schedule(&app, &ctx, &cluster, &name).await?,
    ))
}

/// Schedule drills with a cron expression read in a time zone (team members and admins).
#[utoipa::path(put, path = "/namespaces/{cluster}/{name}/drill-schedule", tag = "drills",
    params(("cluster" = String, Path), ("name" = String, Path)), request_body = DrillScheduleInput,
    responses((status = 200, body = DrillSchedule), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_schedule(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
    Json(input): Json<DrillScheduleInput>,
) -> Result<axum::Json<DrillSchedule>> {
    Ok(axum::Json(
        drills::set_schedule(&app, &ctx, &cluster, &name, input).await?,
    ))
}

/// Stop scheduled drills of a namespace.
#[utoipa::path(delete, path = "/namespaces/{cluster}/{name}/drill-schedule", tag = "drills",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_schedule(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
) -> Result<StatusCode> {
    drills::remove_schedule(&app, &ctx, &cluster, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A namespace's drills, newest first, each with its evidence.
#[utoipa::path(get, path = "/namespaces/{cluster}/{name}/drills", tag = "drills",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Vec<Drill>), (status = 401, body = ErrorBody)))]
async fn list_drills(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
) -> Result<axum::Json<Vec<Drill>>> {
    Ok(axum::Json(
        drills::history(&app, &ctx, &cluster, &name).await?,
    ))
}

/// Start a restore drill or a failover-readiness check (team members for their namespaces,
/// admins for all). One drill per namespace at a time: a second is refused with 409.
#[utoipa::path(post, path = "/namespaces/{cluster}/{name}/drills", tag = "drills",
    params(("cluster" = String, Path), ("name" = String, Path)), request_body = NewDrill,
    responses((status = 201, body = Drill), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn start_drill(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
    Json(input): Json<NewDrill>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(drills::start(&app, &ctx, &cluster, &name, input).await?),
    ))
}

/// A drill: its steps with their times, RTO, RPO, items, verdict — the evidence, as JSON.
#[utoipa::path(get, path = "/drills/{id}", tag = "drills", params(("id" = Uuid, Path)),
    responses((status = 200, body = Drill), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_drill(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Drill>> {
    Ok(axum::Json(drills::get(&app, &ctx, id).await?))
}

/// Stop a running drill; Berth deletes what it created and ends it `cancelled`.
#[utoipa::path(post, path = "/drills/{id}/cancel", tag = "drills", params(("id" = Uuid, Path)),
    responses((status = 200, body = Drill), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn cancel_drill(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Drill>> {
    Ok(axum::Json(drills::cancel(&app, &ctx, id).await?))
}

/// Set a namespace's RTO and RPO objectives (defaults come from its environment).
#[utoipa::path(put, path = "/namespaces/{cluster}/{name}/drill-objectives", tag = "drills",
    params(("cluster" = String, Path), ("name" = String, Path)), request_body = DrillObjectives,
    responses((status = 200, body = DrillObjectives), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_objectives(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
    Json(input): Json<DrillObjectives>,
) -> Result<axum::Json<DrillObjectives>> {
    Ok(axum::Json(
        drills::set_objectives(&app, &ctx, &cluster, &name, input).await?,
    ))
}

/// Drills across the fleet (admins) or the caller's teams, newest first (the latest 500).
#[utoipa::path(get, path = "/drills", tag = "drills",
    responses((status = 200, body = Vec<Drill>), (status = 401, body = ErrorBody)))]
async fn list_fleet_drills(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<Drill>>> {
    Ok(axum::Json(drills::fleet_history(&app, &ctx).await?))
}
