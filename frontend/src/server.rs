//! Server functions: each takes the form's fields, hands them to the [`Portal`], and returns
//! its answer. No rule lives here.
//!
//! [`Portal`]: crate::portal::Portal

// A server function's arguments are its form's fields, one each; the macro copies them to
// the generated client function, where an attribute on the item cannot reach.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
#[cfg(feature = "ssr")]
use uuid::Uuid;

use crate::api::*;

impl FromServerFnError for ErrorDetail {
    type Encoder = JsonEncoding;

    /// What the framework itself refuses: arguments that are missing or do not decode are
    /// the caller's mistake (400), like a malformed REST body; anything else is ours (500).
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let (status, code) = match &value {
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::Deserialization(_) => (400, "bad_request"),
            ServerFnErrorErr::UnsupportedRequestMethod(_) => (405, "bad_request"),
            _ => (500, "internal"),
        };
        #[cfg(feature = "ssr")]
        if let (Some(response), Ok(status)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            http::StatusCode::from_u16(status),
        ) {
            response.set_status(status);
        }
        #[cfg(not(feature = "ssr"))]
        let _ = status;
        ErrorDetail::new(code, value.to_string())
    }
}

#[cfg(feature = "ssr")]
fn portal() -> Result<
    (
        std::sync::Arc<dyn crate::portal::Portal>,
        http::request::Parts,
    ),
    ErrorDetail,
> {
    let portal = use_context::<std::sync::Arc<dyn crate::portal::Portal>>()
        .ok_or_else(|| ErrorDetail::new("internal", "the portal is not configured"))?;
    let parts = use_context::<http::request::Parts>()
        .ok_or_else(|| ErrorDetail::new("internal", "no request in context"))?;
    Ok((portal, parts))
}

/// A field error found here, before the service layer: answered 422 like the service's own.
#[cfg(feature = "ssr")]
fn invalid(field: &str, message: &str) -> ErrorDetail {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::UNPROCESSABLE_ENTITY);
    }
    let mut error = ErrorDetail::new("invalid", "some fields are invalid");
    error.fields.insert(field.into(), message.into());
    error
}

#[cfg(feature = "ssr")]
fn set_cookie(value: &str) {
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(value),
    ) {
        response.append_header(http::header::SET_COOKIE, value);
    }
}

/// A plain HTML form post (the page not yet hydrated) is answered with a redirect; a call
/// from the hydrated page reloads by itself.
#[cfg(feature = "ssr")]
fn redirect_plain_form_post(parts: &http::request::Parts, to: &str) {
    let wants_html = parts
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        leptos_axum::redirect(to);
    }
}

#[cfg(feature = "ssr")]
fn uuid(field: &str, raw: &str) -> Result<Uuid, ErrorDetail> {
    Uuid::parse_str(raw).map_err(|_| invalid(field, "is not an id"))
}

#[cfg(feature = "ssr")]
fn role(raw: &str) -> Result<TeamRole, ErrorDetail> {
    match raw {
        "owner" => Ok(TeamRole::Owner),
        "member" => Ok(TeamRole::Member),
        _ => Err(invalid("role", "must be member or owner")),
    }
}

#[server(prefix = "/fn")]
pub async fn get_me() -> Result<Option<Me>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.me(&parts).await
}

#[server(prefix = "/fn")]
pub async fn login(email: String, password: String) -> Result<(), ErrorDetail> {
    let (portal, parts) = portal()?;
    let cookie = portal.login(&parts, LoginInput { email, password }).await?;
    set_cookie(&cookie);
    redirect_plain_form_post(&parts, "/");
    Ok(())
}

#[server(prefix = "/fn")]
pub async fn logout(csrf: String) -> Result<(), ErrorDetail> {
    let (portal, parts) = portal()?;
    let cookie = portal.logout(&parts, &csrf).await?;
    set_cookie(&cookie);
    redirect_plain_form_post(&parts, "/login");
    Ok(())
}

#[server(prefix = "/fn")]
pub async fn change_password(
    csrf: String,
    current_password: String,
    new_password: String,
) -> Result<(), ErrorDetail> {
    let (portal, parts) = portal()?;
    portal
        .change_password(
            &parts,
            &csrf,
            PasswordChange {
                current_password,
                new_password,
            },
        )
        .await
}

#[server(prefix = "/fn")]
pub async fn list_teams() -> Result<Vec<Team>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.teams(&parts).await
}

#[server(prefix = "/fn")]
pub async fn get_team(name: String) -> Result<TeamDetail, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.team(&parts, &name).await
}

#[server(prefix = "/fn")]
pub async fn create_team(
    csrf: String,
    name: String,
    display_name: String,
    owner_email: Option<String>,
) -> Result<Team, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal
        .create_team(
            &parts,
            &csrf,
            NewTeam {
                name,
                display_name,
                owner_email,
            },
        )
        .await
}

#[server(prefix = "/fn")]
pub async fn add_member(
    csrf: String,
    team: String,
    email: String,
    role: String,
) -> Result<TeamDetail, ErrorDetail> {
    let role = self::role(&role)?;
    let (portal, parts) = portal()?;
    portal
        .add_member(&parts, &csrf, &team, NewMember { email, role })
        .await
}

#[server(prefix = "/fn")]
pub async fn change_role(
    csrf: String,
    team: String,
    user_id: String,
    role: String,
) -> Result<TeamDetail, ErrorDetail> {
    let user = uuid("user_id", &user_id)?;
    let role = self::role(&role)?;
    let (portal, parts) = portal()?;
    portal.change_role(&parts, &csrf, &team, user, role).await
}

#[server(prefix = "/fn")]
pub async fn remove_member(
    csrf: String,
    team: String,
    user_id: String,
) -> Result<TeamDetail, ErrorDetail> {
    let user = uuid("user_id", &user_id)?;
    let (portal, parts) = portal()?;
    portal.remove_member(&parts, &csrf, &team, user).await
}

#[server(prefix = "/fn")]
pub async fn list_users() -> Result<Vec<User>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.users(&parts).await
}

#[server(prefix = "/fn")]
pub async fn create_user(
    csrf: String,
    email: String,
    display_name: String,
    is_admin: Option<String>,
) -> Result<CreatedUser, ErrorDetail> {
    let (portal, parts) = portal()?;
    let input = NewUser {
        email,
        display_name,
        is_admin: is_admin.is_some(),
    };
    portal.create_user(&parts, &csrf, input).await
}

#[server(prefix = "/fn")]
pub async fn set_user_disabled(
    csrf: String,
    user_id: String,
    disabled: bool,
) -> Result<User, ErrorDetail> {
    let user = uuid("user_id", &user_id)?;
    let (portal, parts) = portal()?;
    portal
        .set_user_disabled(&parts, &csrf, user, disabled)
        .await
}

#[server(prefix = "/fn")]
pub async fn get_sign_in_options() -> Result<SignInOptions, ErrorDetail> {
    let (portal, _) = portal()?;
    portal.sign_in_options().await
}

#[server(prefix = "/fn")]
pub async fn list_group_rules() -> Result<Vec<GroupRule>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.group_rules(&parts).await
}

#[server(prefix = "/fn")]
pub async fn create_group_rule(
    csrf: String,
    provider_group: String,
    grant: GroupGrant,
    team: Option<String>,
) -> Result<GroupRule, ErrorDetail> {
    let (portal, parts) = portal()?;
    let input = NewGroupRule {
        provider_group,
        team,
        grant,
    };
    portal.create_group_rule(&parts, &csrf, input).await
}

#[server(prefix = "/fn")]
pub async fn delete_group_rule(csrf: String, id: String) -> Result<(), ErrorDetail> {
    let id = uuid("id", &id)?;
    let (portal, parts) = portal()?;
    portal.delete_group_rule(&parts, &csrf, id).await
}

#[server(prefix = "/fn")]
pub async fn list_tokens() -> Result<Vec<Token>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.tokens(&parts).await
}

#[server(prefix = "/fn")]
pub async fn create_token(
    csrf: String,
    name: String,
    expires_in_days: String,
    scope_read: Option<String>,
    scope_request: Option<String>,
    scope_approve: Option<String>,
) -> Result<CreatedToken, ErrorDetail> {
    let expires_in_days = expires_in_days
        .trim()
        .parse::<i64>()
        .map_err(|_| invalid("expires_in_days", "must be a whole number of days"))?;
    let scopes = [
        (scope_read, Scope::Read),
        (scope_request, Scope::Request),
        (scope_approve, Scope::Approve),
    ]
    .into_iter()
    .filter_map(|(checked, scope)| checked.map(|_| scope))
    .collect();
    let (portal, parts) = portal()?;
    portal
        .create_token(
            &parts,
            &csrf,
            NewToken {
                name,
                scopes,
                expires_in_days,
            },
        )
        .await
}

#[server(prefix = "/fn")]
pub async fn revoke_token(csrf: String, id: String) -> Result<Token, ErrorDetail> {
    let id = uuid("id", &id)?;
    let (portal, parts) = portal()?;
    portal.revoke_token(&parts, &csrf, id).await
}

// JSON, because a form encoding of a filter with every field empty is an empty body.
#[server(prefix = "/fn", input = server_fn::codec::Json)]
pub async fn list_audit(query: AuditQuery) -> Result<Page<AuditEvent>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.audit(&parts, query).await
}

#[server(prefix = "/fn")]
pub async fn list_clusters() -> Result<Vec<Cluster>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.clusters(&parts).await
}

#[server(prefix = "/fn")]
pub async fn get_cluster(name: String) -> Result<ClusterDetail, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.cluster(&parts, &name).await
}

/// Registers a cluster reached by API URL, CA and token (the form's connection kind).
#[server(prefix = "/fn")]
pub async fn register_cluster(
    csrf: String,
    name: String,
    display_name: String,
    region: String,
    environment: String,
    layer: String,
    dr_pair: Option<String>,
    api_url: String,
    ca_pem: Option<String>,
    token: String,
) -> Result<Cluster, ErrorDetail> {
    let (portal, parts) = portal()?;
    let input = NewCluster {
        name,
        display_name,
        region,
        environment,
        layer,
        dr_pair,
        labels: Default::default(),
        connection: Connection::Token {
            api_url,
            ca_pem,
            token,
        },
    };
    portal.register_cluster(&parts, &csrf, input).await
}

#[server(prefix = "/fn")]
pub async fn set_cluster_disabled(
    csrf: String,
    name: String,
    disabled: bool,
) -> Result<Cluster, ErrorDetail> {
    let (portal, parts) = portal()?;
    let input = ClusterUpdate {
        disabled: Some(disabled),
        ..Default::default()
    };
    portal.update_cluster(&parts, &csrf, &name, input).await
}

#[server(prefix = "/fn")]
pub async fn remove_cluster(csrf: String, name: String) -> Result<(), ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.remove_cluster(&parts, &csrf, &name).await?;
    redirect_plain_form_post(&parts, "/fleet");
    Ok(())
}

#[server(prefix = "/fn")]
pub async fn sync_cluster(csrf: String, name: String) -> Result<SyncOutcome, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.sync_cluster(&parts, &csrf, &name).await
}

#[server(prefix = "/fn")]
pub async fn sync_fleet(csrf: String) -> Result<Vec<SyncOutcome>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.sync_fleet(&parts, &csrf).await
}

#[server(prefix = "/fn")]
pub async fn set_faults(
    csrf: String,
    name: String,
    latency_ms: String,
    error_rate: String,
    hang: Option<String>,
    down: Option<String>,
) -> Result<SimulatorFaults, ErrorDetail> {
    let latency_ms = latency_ms
        .trim()
        .parse()
        .map_err(|_| invalid("latency_ms", "must be a whole number of milliseconds"))?;
    let error_rate = error_rate
        .trim()
        .parse()
        .map_err(|_| invalid("error_rate", "must be a number between 0 and 1"))?;
    let (portal, parts) = portal()?;
    let faults = SimulatorFaults {
        latency_ms,
        error_rate,
        hang: hang.is_some(),
        down: down.is_some(),
    };
    portal.set_faults(&parts, &csrf, &name, faults).await
}

#[server(prefix = "/fn")]
pub async fn update_cluster(
    csrf: String,
    name: String,
    display_name: String,
    region: String,
    environment: String,
    layer: String,
    dr_pair: String,
    policy_engine: Option<String>,
) -> Result<Cluster, ErrorDetail> {
    let (portal, parts) = portal()?;
    let input = ClusterUpdate {
        display_name: Some(display_name),
        region: Some(region),
        environment: Some(environment),
        layer: Some(layer),
        dr_pair: Some(dr_pair),
        policy_engine,
        ..Default::default()
    };
    portal.update_cluster(&parts, &csrf, &name, input).await
}

// --- Tenancy -----------------------------------------------------------------------------

/// `2026-12-01T18:00` (a datetime-local field, read as UTC) or RFC 3339.
#[cfg(feature = "ssr")]
fn utc_time(field: &str, raw: Option<String>) -> Result<Option<time::OffsetDateTime>, ErrorDetail> {
    use time::format_description::well_known::Rfc3339;
    let Some(raw) = raw.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = time::OffsetDateTime::parse(&raw, &Rfc3339) {
        return Ok(Some(t));
    }
    let with_seconds = if raw.len() == 16 {
        format!("{raw}:00Z")
    } else {
        format!("{raw}Z")
    };
    time::OffsetDateTime::parse(&with_seconds, &Rfc3339)
        .map(Some)
        .map_err(|_| invalid(field, "is not a date and time"))
}

/// `gp3=40Gi/5, standard=10Gi/2` → classes with storage and claims; empty: keep as requested;
/// `none`: no class at all.
#[cfg(feature = "ssr")]
fn classes(field: &str, raw: &str) -> Result<Option<Vec<ClassQuota>>, ErrorDetail> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if raw == "none" {
        return Ok(Some(vec![]));
    }
    raw.split(',')
        .map(|item| {
            let item = item.trim();
            let (name, rest) = item.split_once('=').ok_or_else(|| {
                invalid(
                    field,
                    "write each class as name=size/claims, e.g. gp3=40Gi/5",
                )
            })?;
            let (storage, claims) = rest.split_once('/').unwrap_or((rest, "1"));
            let claims = claims
                .trim()
                .parse()
                .map_err(|_| invalid(field, "claims must be a whole number, e.g. gp3=40Gi/5"))?;
            Ok(ClassQuota {
                name: name.trim().to_owned(),
                storage: storage.trim().to_owned(),
                persistentvolumeclaims: claims,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(feature = "ssr")]
fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[server(prefix = "/fn", input = server_fn::codec::Json)]
pub async fn list_requests(query: RequestQuery) -> Result<Page<NamespaceRequest>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.requests(&parts, query).await
}

#[server(prefix = "/fn")]
pub async fn get_request(id: String) -> Result<RequestDetail, ErrorDetail> {
    let id = uuid("id", &id)?;
    let (portal, parts) = portal()?;
    portal.request(&parts, id).await
}

#[server(prefix = "/fn", input = server_fn::codec::Json)]
pub async fn preview_request(input: NewNamespaceRequest) -> Result<RequestPreview, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.preview_request(&parts, input).await
}

#[server(prefix = "/fn", input = server_fn::codec::Json)]
pub async fn create_request(
    csrf: String,
    input: NewNamespaceRequest,
) -> Result<RequestDetail, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.create_request(&parts, &csrf, input).await
}

#[server(prefix = "/fn")]
pub async fn decide_request(
    csrf: String,
    id: String,
    decision: String,
    reason: Option<String>,
) -> Result<RequestDetail, ErrorDetail> {
    let id = uuid("id", &id)?;
    let decision = match decision.as_str() {
        "approve" => DecisionKind::Approve,
        "reject" => DecisionKind::Reject,
        "cancel" => DecisionKind::Cancel,
        "release" => DecisionKind::Release,
        _ => {
            return Err(invalid(
                "decision",
                "must be approve, reject, cancel or release",
            ))
        }
    };
    let (portal, parts) = portal()?;
    let detail = portal.decide(&parts, &csrf, id, decision, reason).await?;
    redirect_plain_form_post(&parts, &format!("/requests/{id}"));
    Ok(detail)
}

#[server(prefix = "/fn")]
pub async fn amend_request(
    csrf: String,
    id: String,
    node_pool: String,
    preset: String,
    storage_classes: String,
    note: String,
) -> Result<RequestDetail, ErrorDetail> {
    let id = uuid("id", &id)?;
    let input = Amendment {
        node_pool: Some(node_pool).filter(|p| !p.is_empty()),
        spec: SpecChoice {
            preset: Some(preset).filter(|p| !p.is_empty()),
            storage_classes: classes("storage_classes", &storage_classes)?,
            ..Default::default()
        },
        note,
        ..Default::default()
    };
    let (portal, parts) = portal()?;
    let detail = portal.amend(&parts, &csrf, id, input).await?;
    redirect_plain_form_post(&parts, &format!("/requests/{id}"));
    Ok(detail)
}

#[server(prefix = "/fn", input = server_fn::codec::Json)]
pub async fn list_namespaces(query: NamespaceQuery) -> Result<Page<Namespace>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.namespaces(&parts, query).await
}

/// The caller's first 200 namespaces as the home page shows them: not each one's spec, drift
/// and pinning, so the page most visits start on receives and decodes less.
#[server(prefix = "/fn")]
pub async fn my_namespaces() -> Result<Vec<NamespaceSummary>, ErrorDetail> {
    let (portal, parts) = portal()?;
    let query = NamespaceQuery {
        limit: Some(200),
        ..Default::default()
    };
    let page = portal.namespaces(&parts, query).await?;
    Ok(page.items.into_iter().map(Into::into).collect())
}

#[server(prefix = "/fn")]
pub async fn get_namespace(cluster: String, name: String) -> Result<NamespaceDetail, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.namespace(&parts, &cluster, &name).await
}

#[server(prefix = "/fn")]
pub async fn change_quota(
    csrf: String,
    cluster: String,
    name: String,
    preset: String,
    burst_until: Option<String>,
    purpose: String,
) -> Result<RequestDetail, ErrorDetail> {
    let input = QuotaChange {
        spec: SpecChoice {
            preset: Some(preset).filter(|p| !p.is_empty()),
            ..Default::default()
        },
        burst_until: utc_time("burst_until", burst_until)?,
        purpose,
    };
    let (portal, parts) = portal()?;
    let detail = portal
        .quota_change(&parts, &csrf, &cluster, &name, input)
        .await?;
    redirect_plain_form_post(&parts, &format!("/requests/{}", detail.request.id));
    Ok(detail)
}

#[server(prefix = "/fn")]
pub async fn decommission_namespace(
    csrf: String,
    cluster: String,
    name: String,
    confirm: String,
    purpose: String,
) -> Result<RequestDetail, ErrorDetail> {
    let (portal, parts) = portal()?;
    let detail = portal
        .decommission(
            &parts,
            &csrf,
            &cluster,
            &name,
            Decommission { confirm, purpose },
        )
        .await?;
    redirect_plain_form_post(&parts, &format!("/requests/{}", detail.request.id));
    Ok(detail)
}

#[server(prefix = "/fn")]
pub async fn reapply_namespace(
    csrf: String,
    cluster: String,
    name: String,
) -> Result<NamespaceDetail, ErrorDetail> {
    let (portal, parts) = portal()?;
    let detail = portal.reapply(&parts, &csrf, &cluster, &name).await?;
    redirect_plain_form_post(&parts, &format!("/namespaces/{cluster}/{name}"));
    Ok(detail)
}

#[server(prefix = "/fn")]
pub async fn check_namespaces(csrf: String, cluster: String) -> Result<(), ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.check_namespaces(&parts, &csrf, &cluster).await
}

#[server(prefix = "/fn")]
pub async fn get_ledger() -> Result<Vec<LedgerRow>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.ledger(&parts).await
}

#[server(prefix = "/fn")]
pub async fn get_out_of_band() -> Result<Vec<OutOfBand>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.out_of_band(&parts).await
}

#[server(prefix = "/fn")]
pub async fn list_guardrails() -> Result<Vec<Guardrails>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.guardrails(&parts).await
}

#[allow(clippy::too_many_arguments)]
#[server(prefix = "/fn")]
pub async fn update_guardrails(
    csrf: String,
    environment: String,
    pod_security_enforce: String,
    pod_security_warn: String,
    pod_security_audit: String,
    require_resources: String,
    require_probes: String,
    forbid_latest: String,
    forbid_privileged: String,
) -> Result<Guardrails, ErrorDetail> {
    let input = GuardrailsInput {
        pod_security_enforce,
        pod_security_warn,
        pod_security_audit,
        require_resources,
        require_probes,
        forbid_latest,
        forbid_privileged,
    };
    let (portal, parts) = portal()?;
    let saved = portal
        .update_guardrails(&parts, &csrf, &environment, input)
        .await?;
    redirect_plain_form_post(&parts, "/admin/tenancy");
    Ok(saved)
}

#[server(prefix = "/fn")]
pub async fn list_layer_guardrails() -> Result<Vec<LayerGuardrails>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.layer_guardrails(&parts).await
}

#[allow(clippy::too_many_arguments)]
#[server(prefix = "/fn")]
pub async fn update_layer_guardrails(
    csrf: String,
    layer: String,
    pod_security_enforce: String,
    pod_security_warn: String,
    pod_security_audit: String,
    require_resources: String,
    require_probes: String,
    forbid_latest: String,
    forbid_privileged: String,
    priority_class: String,
    priority_value: String,
) -> Result<LayerGuardrails, ErrorDetail> {
    let input = LayerGuardrailsInput {
        pod_security_enforce,
        pod_security_warn,
        pod_security_audit,
        require_resources,
        require_probes,
        forbid_latest,
        forbid_privileged,
        priority_class,
        priority_value,
    };
    let (portal, parts) = portal()?;
    let saved = portal
        .update_layer_guardrails(&parts, &csrf, &layer, input)
        .await?;
    redirect_plain_form_post(&parts, "/admin/tenancy");
    Ok(saved)
}

#[server(prefix = "/fn")]
pub async fn list_presets() -> Result<Vec<Preset>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.presets(&parts).await
}

#[server(prefix = "/fn")]
pub async fn update_preset(
    csrf: String,
    name: String,
    requests_cpu: String,
    requests_memory: String,
    limits_cpu: String,
    limits_memory: String,
    pods: String,
    services: String,
    persistentvolumeclaims: String,
    requests_storage: String,
    /// Other quota keys, one `key: value` per line.
    other: String,
    default_request_cpu: String,
    default_request_memory: String,
    default_limit_cpu: String,
    default_limit_memory: String,
    min_cpu: String,
    min_memory: String,
    max_cpu: String,
    max_memory: String,
    max_limit_request_ratio_cpu: String,
    max_limit_request_ratio_memory: String,
) -> Result<Preset, ErrorDetail> {
    let whole = |field: &str, raw: &str| -> Result<i64, ErrorDetail> {
        raw.trim()
            .parse()
            .map_err(|_| invalid(&format!("quota.{field}"), "must be a whole number"))
    };
    let input = Preset {
        name,
        rank: 0,
        quota: QuotaSpec {
            requests_cpu,
            requests_memory,
            limits_cpu,
            limits_memory,
            pods: whole("pods", &pods)?,
            services: whole("services", &services)?,
            persistentvolumeclaims: whole("persistentvolumeclaims", &persistentvolumeclaims)?,
            requests_storage,
            other: crate::api::quota_other_from_text(&other),
        },
        limits: LimitSpec {
            default_request_cpu,
            default_request_memory,
            default_limit_cpu,
            default_limit_memory,
            min_cpu,
            min_memory,
            max_cpu,
            max_memory,
            max_limit_request_ratio_cpu: Some(max_limit_request_ratio_cpu)
                .filter(|r| !r.trim().is_empty()),
            max_limit_request_ratio_memory: Some(max_limit_request_ratio_memory)
                .filter(|r| !r.trim().is_empty()),
        },
    };
    let (portal, parts) = portal()?;
    let preset = portal.update_preset(&parts, &csrf, input).await?;
    redirect_plain_form_post(&parts, "/admin/tenancy");
    Ok(preset)
}

#[server(prefix = "/fn")]
pub async fn list_budgets(team: String) -> Result<Vec<Budget>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.budgets(&parts, &team).await
}

/// Every team's budgets in one call: a resource whose fetcher awaits one server function.
#[server(prefix = "/fn")]
pub async fn list_all_budgets() -> Result<Vec<Budget>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.all_budgets(&parts).await
}

#[server(prefix = "/fn")]
pub async fn set_budget(
    csrf: String,
    team: String,
    cluster: String,
    cpu: String,
    memory: String,
    storage: String,
    /// Extended resources, one `resource: count` per line.
    extended: String,
) -> Result<Vec<Budget>, ErrorDetail> {
    let input = BudgetInput {
        cluster: Some(cluster).filter(|c| !c.is_empty()),
        cpu,
        memory,
        storage,
        extended: crate::api::quota_other_from_text(&extended),
    };
    let (portal, parts) = portal()?;
    let budgets = portal.set_budget(&parts, &csrf, &team, input).await?;
    redirect_plain_form_post(&parts, "/admin/tenancy");
    Ok(budgets)
}

#[server(prefix = "/fn")]
pub async fn list_policies() -> Result<Vec<Policy>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.policies(&parts).await
}

#[server(prefix = "/fn")]
pub async fn save_policy(
    csrf: String,
    id: Option<String>,
    name: String,
    position: String,
    enabled: Option<String>,
    kinds: String,
    environments: String,
    max_preset: String,
    within_budget: Option<String>,
    decrease_only: Option<String>,
    min_usage_percent: String,
    max_preset_steps: String,
    action: String,
) -> Result<Policy, ErrorDetail> {
    let id = match id.filter(|i| !i.is_empty()) {
        Some(raw) => Some(uuid("id", &raw)?),
        None => None,
    };
    let position = position
        .trim()
        .parse()
        .map_err(|_| invalid("position", "must be a whole number"))?;
    let optional = |field: &str, raw: &str| -> Result<Option<u32>, ErrorDetail> {
        match raw.trim() {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| invalid(field, "must be a whole number")),
        }
    };
    let min_usage_percent = optional("conditions.min_usage_percent", &min_usage_percent)?;
    let max_preset_steps = optional("conditions.max_preset_steps", &max_preset_steps)?;
    let input = PolicyInput {
        name,
        position,
        enabled: enabled.is_some(),
        conditions: PolicyConditions {
            kinds: list(&kinds),
            environments: list(&environments),
            max_preset: Some(max_preset).filter(|p| !p.is_empty()),
            within_budget: within_budget.is_some(),
            decrease_only: decrease_only.is_some(),
            min_usage_percent,
            max_preset_steps,
        },
        action,
    };
    let (portal, parts) = portal()?;
    let policy = portal.save_policy(&parts, &csrf, id, input).await?;
    redirect_plain_form_post(&parts, "/admin/tenancy");
    Ok(policy)
}

#[server(prefix = "/fn")]
pub async fn remove_policy(csrf: String, id: String) -> Result<(), ErrorDetail> {
    let id = uuid("id", &id)?;
    let (portal, parts) = portal()?;
    portal.remove_policy(&parts, &csrf, id).await?;
    redirect_plain_form_post(&parts, "/admin/tenancy");
    Ok(())
}

#[server(prefix = "/fn")]
pub async fn list_webhooks() -> Result<Vec<Webhook>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.webhooks(&parts).await
}

#[server(prefix = "/fn")]
pub async fn create_webhook(
    csrf: String,
    url: String,
    secret: String,
    events: String,
) -> Result<Webhook, ErrorDetail> {
    let (portal, parts) = portal()?;
    let hook = portal
        .create_webhook(
            &parts,
            &csrf,
            NewWebhook {
                url,
                secret,
                events: list(&events),
            },
        )
        .await?;
    redirect_plain_form_post(&parts, "/admin/tenancy");
    Ok(hook)
}

#[server(prefix = "/fn")]
pub async fn remove_webhook(csrf: String, id: String) -> Result<(), ErrorDetail> {
    let id = uuid("id", &id)?;
    let (portal, parts) = portal()?;
    portal.remove_webhook(&parts, &csrf, id).await?;
    redirect_plain_form_post(&parts, "/admin/tenancy");
    Ok(())
}

// --- Drills ------------------------------------------------------------------------------

#[server(prefix = "/fn")]
pub async fn list_drills(cluster: String, name: String) -> Result<Vec<Drill>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.drills(&parts, &cluster, &name).await
}

#[server(prefix = "/fn")]
pub async fn get_drill(id: String) -> Result<Drill, ErrorDetail> {
    let id = uuid("id", &id)?;
    let (portal, parts) = portal()?;
    portal.drill(&parts, id).await
}

#[server(prefix = "/fn")]
pub async fn start_drill(
    csrf: String,
    cluster: String,
    name: String,
    kind: String,
    target: String,
    keep_hours: String,
    create_backup: Option<String>,
) -> Result<Drill, ErrorDetail> {
    let keep_hours = match keep_hours.trim() {
        "" => None,
        raw => Some(
            raw.parse()
                .map_err(|_| invalid("keep_hours", "must be a whole number of hours"))?,
        ),
    };
    let input = NewDrill {
        kind,
        target: Some(target),
        keep_hours,
        ready_timeout_seconds: None,
        create_backup: create_backup.is_some(),
    };
    let (portal, parts) = portal()?;
    let drill = portal
        .start_drill(&parts, &csrf, &cluster, &name, input)
        .await?;
    redirect_plain_form_post(&parts, &format!("/drills/{}", drill.id));
    Ok(drill)
}

#[server(prefix = "/fn")]
pub async fn cancel_drill(csrf: String, id: String) -> Result<Drill, ErrorDetail> {
    let id = uuid("id", &id)?;
    let (portal, parts) = portal()?;
    let drill = portal.cancel_drill(&parts, &csrf, id).await?;
    redirect_plain_form_post(&parts, &format!("/drills/{id}"));
    Ok(drill)
}

#[server(prefix = "/fn")]
pub async fn get_drill_schedule(
    cluster: String,
    name: String,
) -> Result<Option<DrillSchedule>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.drill_schedule(&parts, &cluster, &name).await
}

#[server(prefix = "/fn")]
pub async fn set_drill_schedule(
    csrf: String,
    cluster: String,
    name: String,
    cron: String,
    timezone: String,
    kind: String,
    target: String,
) -> Result<DrillSchedule, ErrorDetail> {
    let input = DrillScheduleInput {
        cron,
        timezone: Some(timezone),
        kind,
        target: Some(target),
    };
    let (portal, parts) = portal()?;
    let schedule = portal
        .set_drill_schedule(&parts, &csrf, &cluster, &name, input)
        .await?;
    redirect_plain_form_post(&parts, &format!("/namespaces/{cluster}/{name}"));
    Ok(schedule)
}

#[server(prefix = "/fn")]
pub async fn remove_drill_schedule(
    csrf: String,
    cluster: String,
    name: String,
) -> Result<(), ErrorDetail> {
    let (portal, parts) = portal()?;
    portal
        .remove_drill_schedule(&parts, &csrf, &cluster, &name)
        .await?;
    redirect_plain_form_post(&parts, &format!("/namespaces/{cluster}/{name}"));
    Ok(())
}

#[server(prefix = "/fn")]
pub async fn list_fleet_drills() -> Result<Vec<Drill>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.fleet_drills(&parts).await
}

// Capacity

#[server(prefix = "/fn")]
pub async fn get_recommendations(
    cluster: String,
    name: String,
    strategy: Strategy,
    allow_hpa: bool,
    use_oomkill: bool,
) -> Result<NamespaceRecommendations, ErrorDetail> {
    let (portal, parts) = portal()?;
    let query = RecommendationQuery {
        strategy: Some(strategy),
        allow_hpa: Some(allow_hpa),
        use_oomkill: Some(use_oomkill),
    };
    portal.recommendations(&parts, &cluster, &name, query).await
}

#[server(prefix = "/fn")]
/// A team's right-sizing; an empty name: the first team there is (none: `None`). Choosing
/// the default here keeps the page's resource to one server call, which hydration needs.
pub async fn get_team_sizing(team: String) -> Result<Option<TeamSizing>, ErrorDetail> {
    let (portal, parts) = portal()?;
    let team = match team.is_empty() {
        false => team,
        true => match portal.teams(&parts).await?.into_iter().next() {
            Some(first) => first.name,
            None => return Ok(None),
        },
    };
    portal.team_sizing(&parts, &team).await.map(Some)
}

#[server(prefix = "/fn")]
pub async fn get_cost_report(team: String) -> Result<CostReport, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.cost_report(&parts, &team).await
}

#[server(prefix = "/fn")]
pub async fn list_prices() -> Result<Vec<Price>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.prices(&parts).await
}

/// Where a plain form post from a team's page returns to: that page, else home (never
/// anywhere the form names outside the site's team pages).
#[cfg(feature = "ssr")]
fn team_page_or_home(back: String) -> String {
    if back.starts_with("/teams/") {
        back
    } else {
        "/".to_owned()
    }
}

#[server(prefix = "/fn")]
pub async fn list_instance_prices() -> Result<Vec<InstancePrice>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.instance_prices(&parts).await
}

#[server(prefix = "/fn")]
pub async fn set_instance_price(
    csrf: String,
    instance_type: String,
    capacity: String,
    region: String,
    hour_price: String,
    /// Where a plain form post returns to.
    back: String,
) -> Result<InstancePrice, ErrorDetail> {
    let input = InstancePriceInput {
        instance_type,
        capacity: Some(capacity),
        region: Some(region),
        hour_price,
    };
    let (portal, parts) = portal()?;
    let price = portal.set_instance_price(&parts, &csrf, input).await?;
    redirect_plain_form_post(&parts, &team_page_or_home(back));
    Ok(price)
}

#[server(prefix = "/fn")]
pub async fn set_price(
    csrf: String,
    /// `cluster/pool`, or empty for the fleet's default.
    scope: String,
    cpu_core_hour: String,
    memory_gib_hour: String,
    /// One `resource: price` per line.
    extended_hour: String,
    /// Where a plain form post returns to.
    back: String,
) -> Result<Price, ErrorDetail> {
    let (cluster, pool) = match scope.split_once('/') {
        Some((c, p)) => (Some(c.to_owned()), Some(p.to_owned())),
        None => (None, None),
    };
    let input = PriceInput {
        cluster,
        pool,
        cpu_core_hour,
        memory_gib_hour,
        extended_hour: crate::api::quota_other_from_text(&extended_hour),
    };
    let (portal, parts) = portal()?;
    let price = portal.set_price(&parts, &csrf, input).await?;
    redirect_plain_form_post(&parts, &team_page_or_home(back));
    Ok(price)
}

#[server(prefix = "/fn")]
pub async fn get_quota_suggestion(
    cluster: String,
    name: String,
) -> Result<QuotaSuggestion, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.quota_suggestion(&parts, &cluster, &name).await
}

#[server(prefix = "/fn")]
pub async fn right_size_quota(
    csrf: String,
    cluster: String,
    name: String,
    requests_cpu: String,
    requests_memory: String,
    limits_cpu: String,
    limits_memory: String,
    purpose: String,
) -> Result<RequestDetail, ErrorDetail> {
    let input = RightSizeInput {
        requests_cpu,
        requests_memory,
        limits_cpu,
        limits_memory,
        purpose,
    };
    let (portal, parts) = portal()?;
    let detail = portal
        .right_size(&parts, &csrf, &cluster, &name, input)
        .await?;
    redirect_plain_form_post(&parts, &format!("/requests/{}", detail.request.id));
    Ok(detail)
}

#[cfg(feature = "ssr")]
fn number(field: &str, raw: &str) -> Result<f64, ErrorDetail> {
    match raw.trim() {
        "" => Ok(0.0),
        v => v.parse().map_err(|_| invalid(field, "must be a number")),
    }
}

#[server(prefix = "/fn")]
pub async fn plan_capacity(
    peak_traffic: String,
    baseline_traffic: String,
    pod_capacity: String,
    safety_factor: String,
    pod_startup_seconds: String,
    node_ready_seconds: String,
    pods_per_node: String,
    peak_increment: String,
    event_at: Option<String>,
) -> Result<PlanOutput, ErrorDetail> {
    let input = PlanInput {
        peak_traffic: number("peak_traffic", &peak_traffic)?,
        baseline_traffic: number("baseline_traffic", &baseline_traffic)?,
        pod_capacity: number("pod_capacity", &pod_capacity)?,
        safety_factor: number("safety_factor", &safety_factor)?,
        pod_startup_seconds: number("pod_startup_seconds", &pod_startup_seconds)?,
        node_ready_seconds: number("node_ready_seconds", &node_ready_seconds)?,
        pods_per_node: number("pods_per_node", &pods_per_node)?,
        peak_increment: number("peak_increment", &peak_increment)?,
        event_at: utc_time("event_at", event_at)?,
    };
    let (portal, parts) = portal()?;
    portal.plan(&parts, input).await
}

#[server(prefix = "/fn")]
pub async fn get_headroom(
    cluster: String,
    cpu: String,
    memory: String,
) -> Result<Option<ClusterHeadroom>, ErrorDetail> {
    let (portal, parts) = portal()?;
    let shape = ShapeQuery {
        cpu: Some(cpu),
        memory: Some(memory),
    };
    // An empty name: the first cluster there is (none: `None`), chosen here for the same
    // reason as in `get_team_sizing`.
    let cluster = match cluster.is_empty() {
        false => cluster,
        true => match portal.clusters(&parts).await?.into_iter().next() {
            Some(first) => first.name,
            None => return Ok(None),
        },
    };
    portal.headroom(&parts, &cluster, shape).await.map(Some)
}

// --- GitOps delivery and change windows ---------------------------------------------------

/// `Some(text)` for a field that was filled in.
#[cfg(feature = "ssr")]
fn given(raw: String) -> Option<String> {
    let t = raw.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

#[server(prefix = "/fn")]
pub async fn list_git_repositories() -> Result<Vec<GitRepository>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.git_repositories(&parts).await
}

#[server(prefix = "/fn")]
pub async fn register_git_repository(
    csrf: String,
    name: String,
    url: String,
    branch: String,
    auth: String,
    username: String,
    secret: String,
    ca_pem: String,
    known_hosts: String,
    forge: String,
    forge_api_url: String,
    forge_project: String,
    forge_token: String,
) -> Result<GitRepository, ErrorDetail> {
    let (portal, parts) = portal()?;
    let input = NewGitRepository {
        name,
        url,
        branch: given(branch),
        auth,
        username: given(username),
        secret: given(secret),
        ca_pem: given(ca_pem),
        known_hosts: given(known_hosts),
        forge: given(forge),
        forge_api_url: given(forge_api_url),
        forge_project: given(forge_project),
        forge_token: given(forge_token),
    };
    portal.register_git_repository(&parts, &csrf, input).await
}

#[server(prefix = "/fn")]
pub async fn remove_git_repository(csrf: String, name: String) -> Result<(), ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.remove_git_repository(&parts, &csrf, &name).await
}

#[server(prefix = "/fn")]
pub async fn check_git_repository(csrf: String, name: String) -> Result<GitCheck, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.check_git_repository(&parts, &csrf, &name).await
}

#[server(prefix = "/fn")]
pub async fn set_cluster_delivery(
    csrf: String,
    name: String,
    mode: String,
    repository: String,
    path: String,
    shared_path: String,
    review: Option<String>,
) -> Result<Cluster, ErrorDetail> {
    let (portal, parts) = portal()?;
    let input = DeliveryInput {
        mode,
        repository: given(repository),
        path: given(path),
        shared_path: given(shared_path),
        review: review.is_some(),
    };
    portal.set_delivery(&parts, &csrf, &name, input).await
}

#[server(prefix = "/fn")]
pub async fn list_freezes() -> Result<Vec<FreezeWindow>, ErrorDetail> {
    let (portal, parts) = portal()?;
    portal.freezes(&parts).await
}

#[server(prefix = "/fn")]
pub async fn get_freeze_calendar(days: i64) -> Result<FreezeCalendar, ErrorDetail> {
    let (portal, parts) = portal()?;
    let query = FreezeCalendarQuery {
        from: None,
        days: Some(days),
    };
    portal.freeze_calendar(&parts, query).await
}

#[server(prefix = "/fn")]
pub async fn create_freeze(
    csrf: String,
    name: String,
    reason: String,
    env_prod: Option<String>,
    env_staging: Option<String>,
    env_dev: Option<String>,
    clusters: String,
    when: String,
    starts_at: String,
    ends_at: String,
    schedule: String,
    duration_hours: String,
    timezone: String,
) -> Result<FreezeWindow, ErrorDetail> {
    let environments = [
        ("prod", env_prod),
        ("staging", env_staging),
        ("dev", env_dev),
    ]
    .into_iter()
    .filter(|(_, on)| on.is_some())
    .map(|(e, _)| e.to_owned())
    .collect();
    let clusters = clusters
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let mut input = NewFreezeWindow {
        name,
        reason,
        environments,
        clusters,
        ..Default::default()
    };
    match when.as_str() {
        "recurring" => {
            input.schedule = given(schedule);
            input.duration_minutes = match given(duration_hours) {
                None => None,
                Some(h) => Some(
                    h.parse::<f64>()
                        .ok()
                        .filter(|h| h.is_finite() && *h > 0.0 && *h <= 744.0)
                        .map(|h| (h * 60.0).round() as i32)
                        .ok_or_else(|| {
                            invalid(
                                "duration_minutes",
                                "give the hours as a number, at most 744",
                            )
                        })?,
                ),
            };
            input.timezone = given(timezone);
        }
        _ => {
            input.starts_at = utc_time("starts_at", Some(starts_at))?.map(rfc);
            input.ends_at = utc_time("ends_at", Some(ends_at))?.map(rfc);
        }
    }
    let (portal, parts) = portal()?;
    portal.create_freeze(&parts, &csrf, input).await
}

#[server(prefix = "/fn")]
pub async fn remove_freeze(csrf: String, id: String) -> Result<(), ErrorDetail> {
    let id = uuid("id", &id)?;
    let (portal, parts) = portal()?;
    portal.remove_freeze(&parts, &csrf, id).await
}

/// How many requests wait for a decision (at most 100 are counted): the admin's inbox.
#[server(prefix = "/fn")]
pub async fn pending_count() -> Result<usize, ErrorDetail> {
    let (portal, parts) = portal()?;
    let query = RequestQuery {
        state: Some("pending".into()),
        limit: Some(100),
        ..Default::default()
    };
    Ok(portal.requests(&parts, query).await?.items.len())
}
