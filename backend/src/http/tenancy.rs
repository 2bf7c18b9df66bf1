//! REST for tenancy: namespace requests and their decisions, namespaces, quota changes,
//! decommissions, presets, budgets, approval policies, webhooks and the quota ledger.

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use berth_frontend::api::{
    Amendment, Budget, BudgetInput, Decision, Decommission, ErrorBody, Guardrails, GuardrailsInput,
    LayerGuardrails, LayerGuardrailsInput, LedgerRow, Namespace, NamespaceDetail, NamespaceQuery,
    NamespaceRequest, NewNamespaceRequest, NewWebhook, OutOfBand, Page, Policy, PolicyInput,
    Preset, QuotaChange, RequestDetail, RequestPreview, RequestQuery, Webhook,
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{Json, Path, Query};
use crate::{auth::Ctx, tenancy, App, Result};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_requests, create_request))
        .routes(routes!(preview_request))
        .routes(routes!(get_request))
        .routes(routes!(approve_request))
        .routes(routes!(amend_request))
        .routes(routes!(reject_request))
        .routes(routes!(cancel_request))
        .routes(routes!(list_namespaces))
        .routes(routes!(get_namespace))
        .routes(routes!(namespace_manifests))
        .routes(routes!(change_quota))
        .routes(routes!(decommission_namespace))
        .routes(routes!(reapply_namespace))
        .routes(routes!(check_cluster_namespaces))
        .routes(routes!(out_of_band))
        .routes(routes!(ledger))
        .routes(routes!(list_guardrails))
        .routes(routes!(update_guardrails))
        .routes(routes!(list_layer_guardrails))
        .routes(routes!(update_layer_guardrails))
        .routes(routes!(list_presets))
        .routes(routes!(update_preset))
        .routes(routes!(list_budgets, set_budget))
        .routes(routes!(remove_budget))
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(update_policy, remove_policy))
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(remove_webhook))
}

/// Namespace requests the caller may see (their teams'; admins: all), newest first.
#[utoipa::path(get, path = "/namespace-requests", tag = "tenancy", params(RequestQuery),
    responses((status = 200, body = Page<NamespaceRequest>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_requests(
    State(app): State<App>,
    ctx: Ctx,
    Query(q): Query<RequestQuery>,
) -> Result<axum::Json<Page<NamespaceRequest>>> {
    Ok(axum::Json(tenancy::requests::list(&app, &ctx, q).await?))
}

/// Request a namespace for one of your teams. An approval policy may approve it at once
/// (`state: provisioning`); otherwise it waits for an admin (`pending`).
#[utoipa::path(post, path = "/namespace-requests", tag = "tenancy", request_body = NewNamespaceRequest,
    responses((status = 201, body = RequestDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_request(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<NewNamespaceRequest>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(tenancy::requests::create(&app, &ctx, input).await?),
    ))
}

/// What a request would do — field errors, capacity impact, manifests, deciding policy —
/// without storing anything.
#[utoipa::path(post, path = "/namespace-requests/preview", tag = "tenancy", request_body = NewNamespaceRequest,
    responses((status = 200, body = RequestPreview), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn preview_request(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<NewNamespaceRequest>,
) -> Result<axum::Json<RequestPreview>> {
    Ok(axum::Json(
        tenancy::requests::preview(&app, &ctx, input).await?,
    ))
}

/// A request with its capacity impact (while pending) and the outcome of each object.
#[utoipa::path(get, path = "/namespace-requests/{id}", tag = "tenancy", params(("id" = Uuid, Path)),
    responses((status = 200, body = RequestDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_request(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<RequestDetail>> {
    Ok(axum::Json(tenancy::requests::get(&app, &ctx, id).await?))
}

/// Approve a pending request (admins; never your own). Needs the `approve` scope.
#[utoipa::path(post, path = "/namespace-requests/{id}/approve", tag = "tenancy", params(("id" = Uuid, Path)),
    request_body = Decision,
    responses((status = 200, body = RequestDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn approve_request(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Json(input): Json<Decision>,
) -> Result<axum::Json<RequestDetail>> {
    Ok(axum::Json(
        tenancy::requests::approve(&app, &ctx, id, input).await?,
    ))
}

/// Change what a pending request will apply: pool, preset, quota, limits or classes
/// (admins). The requester sees the amendment and its note.
#[utoipa::path(post, path = "/namespace-requests/{id}/amend", tag = "tenancy", params(("id" = Uuid, Path)),
    request_body = Amendment,
    responses((status = 200, body = RequestDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn amend_request(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Json(input): Json<Amendment>,
) -> Result<axum::Json<RequestDetail>> {
    Ok(axum::Json(
        tenancy::requests::amend(&app, &ctx, id, input).await?,
    ))
}

/// Reject a pending request with a reason (admins).
#[utoipa::path(post, path = "/namespace-requests/{id}/reject", tag = "tenancy", params(("id" = Uuid, Path)),
    request_body = Decision,
    responses((status = 200, body = RequestDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reject_request(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Json(input): Json<Decision>,
) -> Result<axum::Json<RequestDetail>> {
    Ok(axum::Json(
        tenancy::requests::reject(&app, &ctx, id, input).await?,
    ))
}

/// Withdraw a pending request (the requester or an admin).
#[utoipa::path(post, path = "/namespace-requests/{id}/cancel", tag = "tenancy", params(("id" = Uuid, Path)),
    responses((status = 200, body = RequestDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_request(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<RequestDetail>> {
    Ok(axum::Json(tenancy::requests::cancel(&app, &ctx, id).await?))
}

/// Namespaces the caller may see, by name, paged.
#[utoipa::path(get, path = "/namespaces", tag = "tenancy", params(NamespaceQuery),
    responses((status = 200, body = Page<Namespace>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_namespaces(
    State(app): State<App>,
    ctx: Ctx,
    Query(q): Query<NamespaceQuery>,
) -> Result<axum::Json<Page<Namespace>>> {
    Ok(axum::Json(tenancy::namespaces::list(&app, &ctx, q).await?))
}

/// A namespace with live quota usage, its objects, drift and requests.
#[utoipa::path(get, path = "/namespaces/{cluster}/{name}", tag = "tenancy",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = NamespaceDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_namespace(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
) -> Result<axum::Json<NamespaceDetail>> {
    Ok(axum::Json(
        tenancy::namespaces::get(&app, &ctx, &cluster, &name).await?,
    ))
}

/// What Berth applies (or commits, on a GitOps cluster) for the namespace, as YAML documents;
/// `?download=true` names a file to save.
#[utoipa::path(get, path = "/namespaces/{cluster}/{name}/manifests", tag = "tenancy",
    params(("cluster" = String, Path), ("name" = String, Path), ("download" = Option<bool>, Query)),
    responses((status = 200, content_type = "application/yaml", body = String),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn namespace_manifests(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
    Query(q): Query<DownloadQuery>,
) -> Result<axum::response::Response> {
    use axum::response::IntoResponse;
    let yaml = tenancy::namespaces::manifests(&app, &ctx, &cluster, &name).await?;
    let mut response = (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/yaml; charset=utf-8",
        )],
        yaml,
    )
        .into_response();
    if q.download.unwrap_or(false) {
        if let Ok(v) = format!("attachment; filename=\"{cluster}-{name}.yaml\"").parse() {
            response
                .headers_mut()
                .insert(axum::http::header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(response)
}

#[derive(serde::Deserialize)]
struct DownloadQuery {
    #[serde(default)]
    download: Option<bool>,
}

/// Ask for a quota change (with `burst_until`: a timed increase Berth reverts by itself).
#[utoipa::path(post, path = "/namespaces/{cluster}/{name}/quota-change", tag = "tenancy",
    params(("cluster" = String, Path), ("name" = String, Path)), request_body = QuotaChange,
    responses((status = 201, body = RequestDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_quota(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
    Json(input): Json<QuotaChange>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(tenancy::requests::quota_change(&app, &ctx, &cluster, &name, input).await?),
    ))
}

/// Ask for the namespace to be deleted; `confirm` repeats its name.
#[utoipa::path(post, path = "/namespaces/{cluster}/{name}/decommission", tag = "tenancy",
    params(("cluster" = String, Path), ("name" = String, Path)), request_body = Decommission,
    responses((status = 201, body = RequestDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn decommission_namespace(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
    Json(input): Json<Decommission>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(tenancy::requests::decommission(&app, &ctx, &cluster, &name, input).await?),
    ))
}

/// Apply the namespace's objects again, undoing drift.
#[utoipa::path(post, path = "/namespaces/{cluster}/{name}/reapply", tag = "tenancy",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = NamespaceDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn reapply_namespace(
    State(app): State<App>,
    ctx: Ctx,
    Path((cluster, name)): Path<(String, String)>,
) -> Result<axum::Json<NamespaceDetail>> {
    Ok(axum::Json(
        tenancy::namespaces::reapply(&app, &ctx, &cluster, &name).await?,
    ))
}

/// Read quota usage and drift of a cluster's namespaces now (admins).
#[utoipa::path(post, path = "/clusters/{name}/check-namespaces", tag = "tenancy", params(("name" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn check_cluster_namespaces(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    tenancy::namespaces::check_now(&app, &ctx, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Namespaces labelled managed-by=berth that Berth has no record of (admins).
#[utoipa::path(get, path = "/out-of-band-namespaces", tag = "tenancy",
    responses((status = 200, body = Vec<OutOfBand>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn out_of_band(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<OutOfBand>>> {
    Ok(axum::Json(
        tenancy::namespaces::out_of_band(&app, &ctx).await?,
    ))
}

/// The quota ledger: per team and cluster, allocated, used and pool capacity.
#[utoipa::path(get, path = "/quota-ledger", tag = "tenancy",
    responses((status = 200, body = Vec<LedgerRow>), (status = 401, body = ErrorBody)))]
async fn ledger(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<LedgerRow>>> {
    Ok(axum::Json(tenancy::namespaces::ledger(&app, &ctx).await?))
}

/// The guardrails of each environment: Pod Security levels and workload standards.
#[utoipa::path(get, path = "/guardrails", tag = "tenancy",
    responses((status = 200, body = Vec<Guardrails>), (status = 401, body = ErrorBody)))]
async fn list_guardrails(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<Guardrails>>> {
    Ok(axum::Json(tenancy::guardrails::list(&app, &ctx).await?))
}

/// Replace one environment's guardrails (admins); its namespaces are re-applied.
#[utoipa::path(put, path = "/guardrails/{environment}", tag = "tenancy", params(("environment" = String, Path)),
    request_body = GuardrailsInput,
    responses((status = 200, body = Guardrails), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_guardrails(
    State(app): State<App>,
    ctx: Ctx,
    Path(environment): Path<String>,
    Json(input): Json<GuardrailsInput>,
) -> Result<axum::Json<Guardrails>> {
    Ok(axum::Json(
        tenancy::guardrails::update(&app, &ctx, &environment, input).await?,
    ))
}

/// The guardrails each cluster layer adds to its environment's, and its default PriorityClass.
#[utoipa::path(get, path = "/guardrails/layers", tag = "tenancy",
    responses((status = 200, body = Vec<LayerGuardrails>), (status = 401, body = ErrorBody)))]
async fn list_layer_guardrails(
    State(app): State<App>,
    ctx: Ctx,
) -> Result<axum::Json<Vec<LayerGuardrails>>> {
    Ok(axum::Json(
        tenancy::guardrails::list_layers(&app, &ctx).await?,
    ))
}

/// Replace one layer's guardrails (admins); the namespaces on its clusters are re-applied.
#[utoipa::path(put, path = "/guardrails/layers/{layer}", tag = "tenancy", params(("layer" = String, Path)),
    request_body = LayerGuardrailsInput,
    responses((status = 200, body = LayerGuardrails), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_layer_guardrails(
    State(app): State<App>,
    ctx: Ctx,
    Path(layer): Path<String>,
    Json(input): Json<LayerGuardrailsInput>,
) -> Result<axum::Json<LayerGuardrails>> {
    Ok(axum::Json(
        tenancy::guardrails::update_layer(&app, &ctx, &layer, input).await?,
    ))
}

/// The quota presets S, M, L and XL.
#[utoipa::path(get, path = "/presets", tag = "tenancy",
    responses((status = 200, body = Vec<Preset>), (status = 401, body = ErrorBody)))]
async fn list_presets(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<Preset>>> {
    Ok(axum::Json(tenancy::settings::presets(&app, &ctx).await?))
}

/// Replace a preset's quota and limits (admins). Existing namespaces keep theirs.
#[utoipa::path(put, path = "/presets/{name}", tag = "tenancy", params(("name" = String, Path)), request_body = Preset,
    responses((status = 200, body = Preset), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_preset(
    State(app): State<App>,
    ctx: Ctx,
    Path(name): Path<String>,
    Json(input): Json<Preset>,
) -> Result<axum::Json<Preset>> {
    Ok(axum::Json(
        tenancy::settings::update_preset(&app, &ctx, &name, input).await?,
    ))
}

/// A team's budgets with what its quotas use of them.
#[utoipa::path(get, path = "/teams/{team}/budgets", tag = "tenancy", params(("team" = String, Path)),
    responses((status = 200, body = Vec<Budget>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_budgets(
    State(app): State<App>,
    ctx: Ctx,
    Path(team): Path<String>,
) -> Result<axum::Json<Vec<Budget>>> {
    Ok(axum::Json(
        tenancy::settings::budgets(&app, &ctx, &team).await?,
    ))
}

/// Set a team's budget, fleet-wide or for one cluster (admins).
#[utoipa::path(put, path = "/teams/{team}/budgets", tag = "tenancy", params(("team" = String, Path)), request_body = BudgetInput,
    responses((status = 200, body = Vec<Budget>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn set_budget(
    State(app): State<App>,
    ctx: Ctx,
    Path(team): Path<String>,
    Json(input): Json<BudgetInput>,
) -> Result<axum::Json<Vec<Budget>>> {
    Ok(axum::Json(
        tenancy::settings::set_budget(&app, &ctx, &team, input).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct BudgetScope {
    /// The cluster of the budget; absent for the fleet-wide one.
    cluster: Option<String>,
}

/// Remove a team's budget (admins).
#[utoipa::path(delete, path = "/teams/{team}/budgets", tag = "tenancy", params(("team" = String, Path), BudgetScope),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_budget(
    State(app): State<App>,
    ctx: Ctx,
    Path(team): Path<String>,
    Query(scope): Query<BudgetScope>,
) -> Result<StatusCode> {
    tenancy::settings::remove_budget(
        &app,
        &ctx,
        &team,
        scope.cluster.as_deref().filter(|c| !c.is_empty()),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Auto-approval policies in the order they are evaluated.
#[utoipa::path(get, path = "/approval-policies", tag = "tenancy",
    responses((status = 200, body = Vec<Policy>), (status = 401, body = ErrorBody)))]
async fn list_policies(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<Policy>>> {
    Ok(axum::Json(tenancy::settings::policies(&app, &ctx).await?))
}

/// Add an approval policy (admins).
#[utoipa::path(post, path = "/approval-policies", tag = "tenancy", request_body = PolicyInput,
    responses((status = 201, body = Policy), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_policy(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<PolicyInput>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(tenancy::settings::save_policy(&app, &ctx, None, input).await?),
    ))
}

/// Replace an approval policy (admins).
#[utoipa::path(put, path = "/approval-policies/{id}", tag = "tenancy", params(("id" = Uuid, Path)), request_body = PolicyInput,
    responses((status = 200, body = Policy), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_policy(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Json(input): Json<PolicyInput>,
) -> Result<axum::Json<Policy>> {
    Ok(axum::Json(
        tenancy::settings::save_policy(&app, &ctx, Some(id), input).await?,
    ))
}

/// Remove an approval policy (admins).
#[utoipa::path(delete, path = "/approval-policies/{id}", tag = "tenancy", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_policy(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    tenancy::settings::remove_policy(&app, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Webhooks told about request events (admins). Secrets are never returned.
#[utoipa::path(get, path = "/webhooks", tag = "tenancy",
    responses((status = 200, body = Vec<Webhook>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_webhooks(State(app): State<App>, ctx: Ctx) -> Result<axum::Json<Vec<Webhook>>> {
    Ok(axum::Json(tenancy::settings::webhooks(&app, &ctx).await?))
}

/// Add a webhook (admins). Deliveries are signed: `X-Berth-Signature: sha256=<HMAC of the body>`.
#[utoipa::path(post, path = "/webhooks", tag = "tenancy", request_body = NewWebhook,
    responses((status = 201, body = Webhook), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_webhook(
    State(app): State<App>,
    ctx: Ctx,
    Json(input): Json<NewWebhook>,
) -> Result<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        axum::Json(tenancy::settings::create_webhook(&app, &ctx, input).await?),
    ))
}

/// Remove a webhook (admins).
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "tenancy", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_webhook(
    State(app): State<App>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    tenancy::settings::remove_webhook(&app, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
