//! The REST API and the operational endpoints. Handlers only translate: they extract,
//! call one service function and shape the answer. Conventions for every endpoint:
//! `/api/v1/...`, JSON, errors as `{"error":{"code","message","fields"}}`, cursor pages
//! (`?limit=&cursor=`), `X-Request-Id` echoed or generated, a body limit.

mod audit;
mod capacity;
mod cost;
mod docs;
mod drills;
mod edge;
mod events;
pub mod extract;
mod fleet;
mod gitops;
mod people;
mod sso;
mod teams;
mod tenancy;
mod tokens;

use std::time::Instant;

use axum::{
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{header, HeaderName, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};
use utoipa_axum::router::OpenApiRouter;

use crate::App;

#[derive(OpenApi)]
#[openapi(
    info(title = "Berth", description = "Self-service tenancy for Kubernetes fleets."),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "people", description = "The caller, logins and users"),
        (name = "teams", description = "Teams and their members"),
        (name = "tokens", description = "API tokens for automation"),
        (name = "audit", description = "The append-only audit trail"),
        (name = "fleet", description = "Clusters, node pools, storage classes and inventory sync"),
        (name = "drills", description = "Disaster-recovery drills: Velero restores into scratch namespaces and failover-readiness checks"),
        (name = "capacity", description = "Right-sizing from Prometheus (KRR simple, VPA-style decaying), quota suggestions, the replica planner, pool headroom, prices and team cost reports"),
        (name = "tenancy", description = "Namespace requests, approvals, namespaces, quotas, budgets, policies and webhooks"),
        (name = "gitops", description = "Git repositories, clusters delivered through Git (Argo CD, Flux), change windows (freezes) and their calendar"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("berth_…")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "Browser session; writes also need the X-CSRF-Token header from GET /api/v1/me",
            ))),
        );
    }
}

/// The versioned API and its OpenAPI document.
pub fn api() -> (Router<App>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(
            "/api/v1",
            OpenApiRouter::new()
                .merge(people::router())
                .merge(teams::router())
                .merge(tokens::router())
                .merge(audit::router())
                .merge(fleet::router())
                .merge(tenancy::router())
                .merge(drills::router())
                .merge(capacity::router())
                .merge(cost::router())
                .merge(sso::router())
                .merge(gitops::router())
                .merge(events::router()),
        )
        .split_for_parts();
    document_shared_errors(&mut doc);
    (router, doc)
}

/// Statuses every operation can return whatever its handler does, added where a handler's
/// own list lacks them: 400 (a body or query that does not parse), 401, 403 (a token's scope,
/// a cross-site write), 404, 422 (control characters anywhere, a body that is not an
/// object), 500 and 503 (the database away, sign-ins queued); 409 and 413 for operations
/// that write or take a body; 429 for login; 502 for what asks Prometheus. Each as an
/// `ErrorBody`.
fn document_shared_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{path::HttpMethod, RefOr, ResponseBuilder};
    let error = || {
        ResponseBuilder::new()
            .description("an error; `error.fields` names the fields at fault")
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Put, &mut item.put),
            (HttpMethod::Patch, &mut item.patch),
            (HttpMethod::Delete, &mut item.delete),
        ];
        for (method, op) in operations {
            let Some(op) = op.as_mut() else { continue };
            let writes = !matches!(method, HttpMethod::Get);
            let mut statuses = vec!["400", "401", "403", "404", "422", "500", "503"];
            if writes {
                statuses.extend(["409", "413"]);
            }
            if path.ends_with("/auth/login") {
                statuses.push("429");
            }
            if op.tags.iter().flatten().any(|t| t == "capacity") {
                statuses.push("502");
            }
            for status in statuses {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::T(error()));
            }
        }
    }
}

/// The OpenAPI document as served, for tests and tools.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// Everything but the web pages: API, docs, health, readiness and metrics, with the
/// middleware every request passes through.
pub fn router(app: App, pages: Router<App>) -> Router {
    let (api, openapi) = api();
    let spec = std::sync::Arc::new(openapi);
    let docs_spec = spec.clone();
    let request_id = HeaderName::from_static(crate::auth::REQUEST_ID_HEADER);
    Router::new()
        .merge(api)
        .merge(sso::browser())
        .route("/api/v1/openapi.json", get(move || async move { Json(spec.as_ref().clone()) }))
        .route("/api/docs", get(move || async move { docs::page(&docs_spec) }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .merge(pages)
        .layer(middleware::from_fn_with_state(app.clone(), settle_credentials))
        .layer(middleware::from_fn_with_state(app.clone(), edge::guard))
        .layer(DefaultBodyLimit::max(app.config.max_body_bytes))
        .layer(middleware::from_fn(record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let id = req.headers().get(crate::auth::REQUEST_ID_HEADER).and_then(|v| v.to_str().ok());
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = id)
                }))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                // Pages set their own policy with the hydration nonce (frontend/src/app.rs);
                // everything else (JSON, the API reference, metrics) runs no script at all.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
                    ),
                )),
        )
        .with_state(app)
}

async fn api_not_found() -> crate::Error {
    crate::Error::NotFound("endpoint")
}

/// Ready when the database answers.
async fn readyz(State(app): State<App>) -> Response {
    match sqlx::query_scalar!("SELECT 1 AS \"one!\"")
        .fetch_one(&app.db)
        .await
    {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Prometheus exposition. Gauges read from Postgres at scrape time (so every replica reports
/// the same shared queue): jobs queued and running, the oldest due job's wait, each cluster's
/// inventory age.
async fn metrics(State(app): State<App>) -> impl IntoResponse {
    match crate::jobs::queue_depth(&app).await {
        Ok((queued, running, oldest)) => {
            metrics::gauge!("berth_jobs_queued").set(queued as f64);
            metrics::gauge!("berth_jobs_running").set(running as f64);
            metrics::gauge!("berth_job_oldest_age_seconds").set(oldest);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: job queue unreadable"),
    }
    match crate::fleet::inventory::sync_ages(&app).await {
        Ok(ages) => {
            for (cluster, age) in ages {
                metrics::gauge!("berth_cluster_sync_age_seconds", "cluster" => cluster).set(age);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: inventory ages unreadable"),
    }
    if let Some(trusted) = app.credentials.trusted() {
        metrics::gauge!("berth_credential_memory_trusted").set(if trusted { 1.0 } else { 0.0 });
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}

/// A write through this replica holds its answer until this replica's credential memory has
/// heard what the write changed (a disabled user, a membership, a logout, a revoked token), so
/// the caller's next request here is answered with it. Refused writes changed nothing and do
/// not wait. Single sign-on sets its cookie from a GET; it waits too.
async fn settle_credentials(State(app): State<App>, req: Request, next: Next) -> Response {
    let writes = matches!(
        crate::auth::Intent::of_method(req.method()),
        crate::auth::Intent::Write { .. }
    );
    let response = next.run(req).await;
    if (writes && !response.status().is_client_error())
        || response.headers().contains_key(header::SET_COOKIE)
    {
        app.credentials.settle(&app.db).await;
    }
    response
}

/// Request counts and latency by route template (never the raw path, so ids do not make
/// new series) and status.
async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
