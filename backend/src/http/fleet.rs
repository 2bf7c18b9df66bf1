//! REST for the fleet: clusters, their inventory, syncs, and simulator faults (demo mode).

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use berth_frontend::api::{
    Cluster, ClusterDetail, ClusterUpdate, ErrorBody, NewCluster, SimulatorFaults, SyncOutcome,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{Json, Path};
use crate::{auth::Ctx, fleet, App, Result};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_clusters, register_cluster))
        .routes(routes!(get_cluster, update_cluster, remove_cluster))
        .routes(routes!(sync_cluster))
        .routes(routes!(sync_fleet))
        .routes(routes!(get_faults, set_faults))
}

/// Every cluster with its inventory: version, health, data age, node pools with capacity.
#[utoipa::path(get, path = "/clusters", tag = "fleet",
    responses((status = 200, body = Vec<Cluster>), (status = 401, body = ErrorBody)))]
async fn list_clusters(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<Cluster>>> {
    Ok(axum::Json(fleet::list(&app, &ctx).await?))
}

/// Register a cluster (admins). The connection is probed first; credentials are sealed and
/// never returned.
#[utoipa::path(post, path = "/clusters", tag = "fleet", request_body = NewCluster,
    responses((status = 201, body = Cluster), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn register_cluster(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<NewCluster>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(fleet::create(&app, &ctx, input).await?),
    ))
}

/// A cluster, its pools (allocatable and committed) and storage classes.
#[utoipa::path(get, path = "/clusters/{name}", tag = "fleet", params(("name" = String, Path)),
    responses((status = 200, body = ClusterDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_cluster(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Result<axum::Json<ClusterDetail>> {
    Ok(axum::Json(fleet::get(&app, &ctx, &name).await?))
}

/// Edit or disable a cluster (admins).
#[utoipa::path(patch, path = "/clusters/{name}", tag = "fleet", params(("name" = String, Path)),
    request_body = ClusterUpdate,
    responses((status = 200, body = Cluster), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_cluster(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
    Json(input): Json<ClusterUpdate>,
) -> Result<axum::Json<Cluster>> {
    Ok(axum::Json(fleet::update(&app, &ctx, &name, input).await?))
}

/// Remove a cluster (admins); refused while Berth namespaces live on it.
#[utoipa::path(delete, path = "/clusters/{name}", tag = "fleet", params(("name" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove_cluster(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    fleet::remove(&app, &ctx, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sync one cluster's inventory now (admins).
#[utoipa::path(post, path = "/clusters/{name}/sync", tag = "fleet", params(("name" = String, Path)),
    responses((status = 200, body = SyncOutcome), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn sync_cluster(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Result<axum::Json<SyncOutcome>> {
    Ok(axum::Json(fleet::sync_now(&app, &ctx, &name).await?))
}

/// Sync every enabled cluster now (admins); one slow cluster does not hold back the rest.
#[utoipa::path(post, path = "/fleet/sync", tag = "fleet",
    responses((status = 200, body = Vec<SyncOutcome>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn sync_fleet(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<SyncOutcome>>> {
    Ok(axum::Json(fleet::sync_all(&app, &ctx).await?))
}

/// Faults injected into a simulated cluster (admins, demo fleet only).
#[utoipa::path(get, path = "/clusters/{name}/simulator/faults", tag = "fleet", params(("name" = String, Path)),
    responses((status = 200, body = SimulatorFaults), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn get_faults(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Result<axum::Json<SimulatorFaults>> {
    Ok(axum::Json(fleet::faults(&app, &ctx, &name).await?))
}

/// Inject latency, 500s, a hang, or take a simulated cluster down — and back (admins).
#[utoipa::path(put, path = "/clusters/{name}/simulator/faults", tag = "fleet", params(("name" = String, Path)),
    request_body = SimulatorFaults,
    responses((status = 200, body = SimulatorFaults), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_faults(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
    Json(input): Json<SimulatorFaults>,
) -> Result<axum::Json<SimulatorFaults>> {
    Ok(axum::Json(
        fleet::set_faults(&app, &ctx, &name, input).await?,
    ))
}
