//! REST for cost: prices per pool (admins set them), and a team's cost report as JSON or CSV.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use berth_frontend::api::{
    CostReport, ErrorBody, InstancePrice, InstancePriceInput, InstancePriceKey, Price, PriceInput,
    PriceScope, RecommendationQuery,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{Json, Path, Query};
use crate::{auth::Ctx, cost, App, Result};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(prices, set_price, remove_price))
        .routes(routes!(
            instance_prices,
            set_instance_price,
            remove_instance_price
        ))
        .routes(routes!(team_cost))
        .routes(routes!(team_cost_csv))
}

/// Every price: the fleet's default first, then per cluster and pool.
#[utoipa::path(get, path = "/cost/prices", tag = "capacity",
    responses((status = 200, body = Vec<Price>), (status = 401, body = ErrorBody)))]
async fn prices(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<Price>>> {
    Ok(axum::Json(cost::prices(&app, &ctx).await?))
}

/// Sets the fleet's default price (no cluster, no pool) or a pool's (admins; audited).
#[utoipa::path(put, path = "/cost/prices", tag = "capacity", request_body = PriceInput,
    responses((status = 200, body = Price), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn set_price(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<PriceInput>,
) -> Result<axum::Json<Price>> {
    Ok(axum::Json(cost::set_price(&app, &ctx, input).await?))
}

/// Removes the default price or a pool's (admins; audited).
#[utoipa::path(delete, path = "/cost/prices", tag = "capacity", params(PriceScope),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn remove_price(
    State(app): State<App>,
    ctx: Ctx,
    Query(which): Query<PriceScope>,
) -> Result<StatusCode> {
    cost::remove_price(&app, &ctx, which).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every instance type's price per hour, for pools without a price of their own.
#[utoipa::path(get, path = "/cost/instance-prices", tag = "capacity",
    responses((status = 200, body = Vec<InstancePrice>), (status = 401, body = ErrorBody)))]
async fn instance_prices(
    State(app): State<App>,
    ctx: Ctx,
) -> Result<axum::Json<Vec<InstancePrice>>> {
    Ok(axum::Json(cost::instance_prices(&app, &ctx).await?))
}

/// Sets an instance type's price per hour, on-demand or spot, for one region or all (admins;
/// audited). A pool of that type without a price of its own is priced from it.
#[utoipa::path(put, path = "/cost/instance-prices", tag = "capacity", request_body = InstancePriceInput,
    responses((status = 200, body = InstancePrice), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn set_instance_price(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<InstancePriceInput>,
) -> Result<axum::Json<InstancePrice>> {
    Ok(axum::Json(
        cost::set_instance_price(&app, &ctx, input).await?,
    ))
}

/// Removes an instance type's price (admins; audited).
#[utoipa::path(delete, path = "/cost/instance-prices", tag = "capacity", params(InstancePriceKey),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn remove_instance_price(
    State(app): State<App>,
    ctx: Ctx,
    Query(key): Query<InstancePriceKey>,
) -> Result<StatusCode> {
    cost::remove_instance_price(&app, &ctx, key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the team's namespaces cost per month: committed by their quotas, requested by their
/// pods, and after right-sizing (team members and admins).
#[utoipa::path(get, path = "/teams/{team}/cost", tag = "capacity",
    params(("team" = String, Path), RecommendationQuery),
    responses((status = 200, body = CostReport), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn team_cost(
    State(app): State<App>,
    ctx: Ctx,
    Path(team): Path<String>,
    Query(query): Query<RecommendationQuery>,
) -> Result<axum::Json<CostReport>> {
    Ok(axum::Json(cost::report(&app, &ctx, &team, query).await?))
}

/// The cost report as CSV, one row per namespace and a total.
#[utoipa::path(get, path = "/teams/{team}/cost.csv", tag = "capacity",
    params(("team" = String, Path), RecommendationQuery),
    responses((status = 200, description = "CSV", content_type = "text/csv"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn team_cost_csv(
    State(app): State<App>,
    ctx: Ctx,
    Path(team): Path<String>,
    Query(query): Query<RecommendationQuery>,
) -> Result<Response> {
    let report = cost::report(&app, &ctx, &team, query).await?;
    let body = cost::to_csv(&report)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"berth-cost-{}.csv\"", report.team),
            ),
        ],
        body,
    )
        .into_response())
}
