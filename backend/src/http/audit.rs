//! REST for the audit trail: a filtered, paginated listing and exports.

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use berth_frontend::api::{AuditEvent, AuditQuery, ErrorBody, Page};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::Query;
use crate::{audit, auth::Ctx, App, Error, Result};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(export))
}

/// Audit events, newest first. Admins see every event; members see their teams' and their own.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditEvent>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list(
    State(app): State<App>,
    ctx: Ctx,
    Query(query): Query<AuditQuery>,
) -> Result<axum::Json<Page<AuditEvent>>> {
    Ok(axum::Json(audit::list(&app, &ctx, &query).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ExportFormat {
    Csv,
    Ndjson,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ExportParams {
    /// `csv` or `ndjson`.
    #[param(inline)]
    format: ExportFormat,
}

/// Every event the filters match, as CSV or NDJSON.
#[utoipa::path(get, path = "/audit/export", tag = "audit", params(ExportParams, AuditQuery),
    responses((status = 200, description = "CSV (`format=csv`) or one JSON object per line (`format=ndjson`)",
               content((String = "text/csv"), (String = "application/x-ndjson"))),
              (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn export(
    State(app): State<App>,
    ctx: Ctx,
    Query(params): Query<ExportParams>,
    Query(query): Query<AuditQuery>,
) -> Result<Response> {
    if query.cursor.is_some() || query.limit.is_some() {
        return Err(Error::invalid(
            "cursor",
            "exports take no cursor or limit; they return every match",
        ));
    }
    let events = audit::export_all(&app, &ctx, &query).await?;
    let (body, content_type, extension) = match params.format {
        ExportFormat::Csv => (audit::to_csv(&events)?, "text/csv; charset=utf-8", "csv"),
        ExportFormat::Ndjson => (audit::to_ndjson(&events)?, "application/x-ndjson", "ndjson"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"berth-audit.{extension}\""),
            ),
        ],
        body,
    )
        .into_response())
}
