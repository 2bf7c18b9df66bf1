//! REST for capacity: right-sizing recommendations, quota suggestions and the quota change
//! they prefill, the replica planner, pool headroom.

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use berth_frontend::api::{
    ClusterHeadroom, ErrorBody, NamespaceRecommendations, PlanInput, PlanOutput, QuotaSuggestion,
    RecommendationQuery, RequestDetail, RightSizeInput, ShapeQuery, TeamSizing,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{Json, Path, Query};
use crate::{auth::Ctx, capacity, App, Result};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(namespace_recommendations))
        .routes(routes!(team_recommendations))
        .routes(routes!(quota_suggestion))
        .routes(routes!(right_size))
        .routes(routes!(plan))
        .routes(routes!(headroom))
}

/// Right-sizing per container of a namespace, grouped by workload (team members and admins).
/// `strategy=simple` follows KRR's defaults, `decaying` the VPA recommender.
#[utoipa::path(get, path = "/namespaces/{cluster}/{name}/recommendations", tag = "capacity",
    params(("cluster" = String, Path), ("name" = String, Path), RecommendationQuery),
    responses((status = 200, body = NamespaceRecommendations), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 502, description = "Prometheus is not configured, down, slow or answered garbage", body = ErrorBody)))]
async fn namespace_recommendations(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
    Query(query): Query<RecommendationQuery>,
) -> Result<axum::Json<NamespaceRecommendations>> {
    Ok(axum::Json(
        capacity::recommendations(&app, &ctx, &cluster, &name, query).await?,
    ))
}

/// Requested and recommended totals for every namespace of a team; a namespace whose
/// Prometheus fails carries the error, the others still answer.
#[utoipa::path(get, path = "/teams/{team}/recommendations", tag = "capacity",
    params(("team" = String, Path), RecommendationQuery),
    responses((status = 200, body = TeamSizing), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn team_recommendations(
    State(app): State<App>,
    ctx: Ctx,
    Path(team): Path<String>,
    Query(query): Query<RecommendationQuery>,
) -> Result<axum::Json<TeamSizing>> {
    Ok(axum::Json(
        capacity::team_sizing(&app, &ctx, &team, query).await?,
    ))
}

/// The quota a namespace needs, with the evidence behind it.
#[utoipa::path(get, path = "/namespaces/{cluster}/{name}/quota-suggestion", tag = "capacity",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = QuotaSuggestion), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn quota_suggestion(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
) -> Result<axum::Json<QuotaSuggestion>> {
    Ok(axum::Json(
        capacity::quota_suggestion(&app, &ctx, &cluster, &name).await?,
    ))
}

/// Files a quota change for CPU and memory (as prefilled from the suggestion); Berth
/// attaches the suggestion it computes now as evidence for the approver.
#[utoipa::path(post, path = "/namespaces/{cluster}/{name}/right-size", tag = "capacity",
    params(("cluster" = String, Path), ("name" = String, Path)), request_body = RightSizeInput,
    responses((status = 201, body = RequestDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 502, body = ErrorBody)))]
async fn right_size(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
    Json(input): Json<RightSizeInput>,
) -> Result<impl IntoResponse> {
    let detail = capacity::request_right_size(&app, &ctx, &cluster, &name, input).await?;
    Ok((StatusCode::CREATED, axum::Json(detail)))
}

/// Replicas, HPA bounds, the cluster reserve and a pre-scale plan from the capacity model.
#[utoipa::path(post, path = "/capacity/plan", tag = "capacity", request_body = PlanInput,
    responses((status = 200, body = PlanOutput), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn plan(ctx: Ctx, Json(input): Json<PlanInput>) -> Result<axum::Json<PlanOutput>> {
    Ok(axum::Json(capacity::plan(&ctx, &input)?))
}

/// Per node pool: how many more pods of a shape fit now (first-fit-decreasing over each
/// node's free allocatable) and the capacity stranded on nodes where it no longer fits.
#[utoipa::path(get, path = "/clusters/{name}/headroom", tag = "capacity",
    params(("name" = String, Path), ShapeQuery),
    responses((status = 200, body = ClusterHeadroom), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn headroom(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
    Query(shape): Query<ShapeQuery>,
) -> Result<axum::Json<ClusterHeadroom>> {
    Ok(axum::Json(
        capacity::headroom(&app, &ctx, &name, shape).await?,
    ))
}
