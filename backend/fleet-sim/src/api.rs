//! The Kubernetes HTTP API of one simulated cluster: discovery, `/version`, and the verbs on
//! every registered resource (get, list, watch, create, update, patch — apply, merge and
//! JSON patch — delete), with Kubernetes' paths, query parameters and `Status` errors.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::{Path, Query, Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{any, get},
    Json, Router,
};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    cluster::ClusterState,
    resources::{self, Resource},
    select::{FieldSelector, LabelSelector},
    status::{ApiError, ApiResult},
    store::{FieldManager, Key},
};

pub fn router(state: Arc<ClusterState>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/api", get(core_versions))
        .route("/api/v1", get(core_resources))
        .route("/api/v1/{*rest}", any(core_op))
        .route("/apis", get(groups))
        .route("/apis/{group}", get(group))
        .route("/apis/{group}/{version}", get(group_resources))
        .route("/apis/{group}/{version}/{*rest}", any(group_op))
        .route("/openapi/v3", get(openapi_root))
        .route("/openapi/v3/{*gv}", get(openapi_document))
        .fallback(|req: Request| async move { ApiError::unknown_path(req.uri().path()) })
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

async fn openapi_root(State(state): State<Arc<ClusterState>>) -> Json<Value> {
    Json(crate::openapi::root(&state.resources))
}

async fn openapi_document(
    State(state): State<Arc<ClusterState>>,
    Path(gv): Path<String>,
) -> ApiResult<Json<Value>> {
    let parts: Vec<&str> = gv.split('/').collect();
    let (group, version) = match parts[..] {
        ["api", version] => ("", version),
        ["apis", group, version] => (group, version),
        _ => return Err(ApiError::unknown_path(&format!("/openapi/v3/{gv}"))),
    };
    crate::openapi::document(&state.resources, group, version)
        .map(Json)
        .ok_or_else(|| ApiError::unknown_path(&format!("/openapi/v3/{gv}")))
}

/// Authentication (when the cluster has a token) and injected faults, before anything else.
async fn gate(State(state): State<Arc<ClusterState>>, req: Request, next: Next) -> Response {
    if let Some(token) = &state.spec.token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented != Some(token.as_str()) {
            let mut body = ApiError::forbidden("Unauthorized").body();
            body["reason"] = json!("Unauthorized");
            body["code"] = json!(401);
            return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        }
    }
    if state.faults.hanging() {
        // Hang until the client gives up.
        futures::future::pending::<()>().await;
    }
    let latency = state.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if state.faults.should_fail() {
        return ApiError::internal("simulated failure injected by the fleet simulator")
            .into_response();
    }
    next.run(req).await
}

async fn version(State(state): State<Arc<ClusterState>>) -> Json<Value> {
    let v = state.spec.kubernetes_version.trim_start_matches('v');
    let mut parts = v.split('.');
    let (major, minor) = (parts.next().unwrap_or("1"), parts.next().unwrap_or("0"));
    Json(json!({
        "major": major, "minor": minor, "gitVersion": state.spec.kubernetes_version,
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.4", "compiler": "gc", "platform": "linux/amd64",
    }))
}

async fn core_versions() -> Json<Value> {
    Json(json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}))
}

fn resource_list(state: &ClusterState, group: &str, version: &str) -> Option<Value> {
    let resources: Vec<&Resource> = state
        .resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if resources.is_empty() {
        return None;
    }
    let mut list = Vec::new();
    for r in resources {
        let verbs = [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        let mut entry = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                               "kind": r.kind, "verbs": verbs});
        let short = crate::resources::short_names(r.plural);
        if !short.is_empty() {
            entry["shortNames"] = json!(short);
        }
        list.push(entry);
        if r.has_status {
            list.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                             "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list}),
    )
}

async fn core_resources(State(state): State<Arc<ClusterState>>) -> Json<Value> {
    Json(resource_list(&state, "", "v1").expect("core resources exist"))
}

fn api_group(state: &ClusterState, name: &str) -> Option<Value> {
    let versions: Vec<&str> = {
        let mut v: Vec<&str> = state
            .resources
            .iter()
            .filter(|r| r.group == name)
            .map(|r| r.version)
            .collect();
        v.dedup();
        v
    };
    let first = versions.first()?;
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    Some(
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": versions,
                "preferredVersion": {"groupVersion": format!("{name}/{first}"), "version": first}}),
    )
}

async fn groups(State(state): State<Arc<ClusterState>>) -> Json<Value> {
    let mut names: Vec<&str> = state
        .resources
        .iter()
        .map(|r| r.group)
        .filter(|g| !g.is_empty())
        .collect();
    names.sort();
    names.dedup();
    let groups: Vec<Value> = names.iter().filter_map(|n| api_group(&state, n)).collect();
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

async fn group(
    State(state): State<Arc<ClusterState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    api_group(&state, &name)
        .map(Json)
        .ok_or_else(|| ApiError::unknown_path(&format!("/apis/{name}")))
}

async fn group_resources(
    State(state): State<Arc<ClusterState>>,
    Path((group, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    resource_list(&state, &group, &version)
        .map(Json)
        .ok_or_else(|| ApiError::unknown_path(&format!("/apis/{group}/{version}")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    label_selector: Option<String>,
    field_selector: Option<String>,
    limit: Option<usize>,
    #[serde(rename = "continue")]
    continue_token: Option<String>,
    resource_version: Option<String>,
    watch: Option<String>,
    allow_watch_bookmarks: Option<bool>,
    timeout_seconds: Option<u64>,
    field_manager: Option<String>,
    force: Option<bool>,
    dry_run: Option<String>,
    field_validation: Option<String>,
}

/// Which object or collection a path names.
struct Target {
    resource: Resource,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn find(
    state: &ClusterState,
    group: &str,
    version: &str,
    plural: &str,
    path: &str,
) -> ApiResult<Resource> {
    state
        .resources
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .copied()
        .ok_or_else(|| ApiError::unknown_path(path))
}

fn target(
    state: &ClusterState,
    group: &str,
    version: &str,
    rest: &str,
    path: &str,
) -> ApiResult<Target> {
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let t = |resource, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| Target {
        resource,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        subresource: sub.map(str::to_owned),
    };
    let target = match segs.as_slice() {
        [plural] => t(find(state, group, version, plural, path)?, None, None, None),
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => t(
            find(state, group, version, "namespaces", path)?,
            None,
            Some(name),
            Some(sub),
        ),
        ["namespaces", ns, plural] => {
            let r = find(state, group, version, plural, path)?;
            if !r.namespaced {
                return Err(ApiError::unknown_path(path));
            }
            t(r, Some(ns), None, None)
        }
        ["namespaces", ns, plural, name] => {
            let r = find(state, group, version, plural, path)?;
            if !r.namespaced {
                return Err(ApiError::unknown_path(path));
            }
            t(r, Some(ns), Some(name), None)
        }
        ["namespaces", ns, plural, name, "status"] => t(
            find(state, group, version, plural, path)?,
            Some(ns),
            Some(name),
            Some("status"),
        ),
        [plural, name] => {
            let r = find(state, group, version, plural, path)?;
            if r.namespaced {
                return Err(ApiError::unknown_path(path));
            }
            t(r, None, Some(name), None)
        }
        [plural, name, "status"] => t(
            find(state, group, version, plural, path)?,
            None,
            Some(name),
            Some("status"),
        ),
        _ => return Err(ApiError::unknown_path(path)),
    };
    Ok(target)
}

async fn core_op(
    State(state): State<Arc<ClusterState>>,
    Path(rest): Path<String>,
    method: Method,
    Query(params): Query<Params>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    serve_op(&state, "", "v1", &rest, method, params, &headers, request).await
}

async fn group_op(
    State(state): State<Arc<ClusterState>>,
    Path((group, version, rest)): Path<(String, String, String)>,
    method: Method,
    Query(params): Query<Params>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    serve_op(
        &state, &group, &version, &rest, method, params, &headers, request,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn serve_op(
    state: &Arc<ClusterState>,
    group: &str,
    version: &str,
    rest: &str,
    method: Method,
    params: Params,
    headers: &HeaderMap,
    request: Request,
) -> Response {
    let path = request.uri().path().to_owned();
    let body = axum::body::to_bytes(request.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    respond(
        operate(
            state, group, version, rest, &path, method, params, headers, body,
        )
        .await,
    )
}

fn respond(result: ApiResult<Response>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

fn verb(method: &Method, target: &Target, params: &Params) -> &'static str {
    let watching = params
        .watch
        .as_deref()
        .is_some_and(|w| w == "true" || w == "1");
    match (method.as_str(), target.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if watching => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

#[allow(clippy::too_many_arguments)]
async fn operate(
    state: &Arc<ClusterState>,
    group: &str,
    version: &str,
    rest: &str,
    path: &str,
    method: Method,
    params: Params,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let target = target(state, group, version, rest, path)?;
    let verb = verb(&method, &target, &params);
    state.record_request(target.resource.group, target.resource.plural, verb);
    if state.is_forbidden(verb, target.resource.plural) {
        let scope = match &target.namespace {
            Some(ns) => format!(" in the namespace \"{ns}\""),
            None => " at the cluster scope".into(),
        };
        return Err(ApiError::forbidden(format!(
            "{} is forbidden: User \"berth\" cannot {verb} resource \"{}\" in API group \"{}\"{scope}",
            target.resource.qualified(),
            target.resource.plural,
            target.resource.group
        )));
    }
    let dry_run = params.dry_run.as_deref() == Some("All");
    match verb {
        "get" => get_one(state, &target),
        "list" => list(state, &target, &params),
        "watch" => watch(state, &target, &params),
        "create" => {
            let obj = decode_body(headers, &body)?;
            create(state, &target, obj, &params, dry_run)
        }
        "update" => {
            let obj = decode_body(headers, &body)?;
            update(state, &target, obj, &params, dry_run)
        }
        "patch" => patch(state, &target, headers, &body, &params, dry_run),
        "delete" => delete(state, &target, dry_run),
        "deletecollection" => delete_collection(state, &target, &params),
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned())
        .unwrap_or_else(|| "application/json".into())
}

/// JSON, or YAML (which includes JSON), by content type.
fn decode(content_type: &str, body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    let value: Value = if content_type.ends_with("yaml") {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => serde_yaml_ng::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
        }
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?
    };
    if !value.is_object() {
        return Err(ApiError::bad_request("the body must be an object"));
    }
    Ok(value)
}

fn decode_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    let ct = content_type(headers);
    if !(ct == "application/json" || ct.ends_with("yaml")) {
        return Err(ApiError::unsupported_media_type(&ct));
    }
    decode(&ct, body)
}

/// A DNS-1123 label (namespaces) or subdomain (everything else).
fn check_name(resource: &Resource, name: &str) -> Option<String> {
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if name.is_empty() {
        return Some("name or generateName is required".into());
    }
    if resource.kind == "Namespace" {
        (!label(name)).then(|| format!("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?') (got {name:?})"))
    } else {
        let ok = name.len() <= 253 && name.split('.').all(label);
        (!ok).then(|| format!("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (got {name:?})"))
    }
}

/// Checks an object sent for `target`: kind and apiVersion match the path, the namespace
/// matches, the name is valid and the body has the kind's real shape. Fills in the
/// namespace and (for POST) the name.
fn admit(target: &Target, obj: &mut Value) -> ApiResult<()> {
    let r = &target.resource;
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if api_version.is_empty() || kind.is_empty() {
        return Err(ApiError::bad_request(
            "Object 'Kind' is missing or 'apiVersion' is missing in the body",
        ));
    }
    if api_version != r.api_version() || kind != r.kind {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({}) or kind {kind} is not {}",
            r.api_version(),
            r.kind
        )));
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    if r.namespaced {
        let path_ns = target.namespace.clone().unwrap_or_default();
        match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
            Some(ns) if ns != path_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => obj["metadata"]["namespace"] = json!(path_ns),
        }
    }
    let body_name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let name = match (&target.name, body_name) {
        (Some(path), Some(body)) if *path != body => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body}) does not match the name on the URL ({path})"
            )))
        }
        (Some(path), _) => path.clone(),
        (None, Some(body)) => body,
        (None, None) => match obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
        {
            Some(prefix) => format!(
                "{prefix}{}",
                &uuid::Uuid::new_v4().simple().to_string()[..5]
            ),
            None => String::new(),
        },
    };
    obj["metadata"]["name"] = json!(name);
    let mut causes = Vec::new();
    if let Some(problem) = check_name(r, &name) {
        causes.push(("metadata.name".to_owned(), problem));
    }
    if let Err(e) = resources::decode_typed(r, obj) {
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            r.kind, r.version, r.kind
        )));
    }
    for (field, quantity) in resources::quantity_fields(r, obj) {
        if berth_kube::quantity::Quantity::parse(&quantity).is_err() {
            causes.push((field, format!("Invalid value: {quantity:?}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")));
        }
    }
    match r.kind {
        "ResourceQuota" => causes.extend(crate::validate::resource_quota(obj)),
        "LimitRange" => causes.extend(crate::validate::limit_range(obj)),
        _ => {}
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(r.kind, &name, causes));
    }
    Ok(())
}

/// `fieldValidation=Strict` refuses unknown fields with 400, as the real server does.
fn strict(target: &Target, obj: &Value, params: &Params) -> ApiResult<()> {
    if params.field_validation.as_deref() != Some("Strict") {
        return Ok(());
    }
    let unknown = crate::resources::unknown_fields(&target.resource, obj);
    if unknown.is_empty() {
        return Ok(());
    }
    let r = &target.resource;
    let listed: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    Err(ApiError::bad_request(format!(
        "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
        r.kind,
        r.version,
        r.kind,
        listed.join(", ")
    )))
}

/// New content may go only into a namespace that exists and is not terminating.
fn namespace_open(state: &ClusterState, target: &Target) -> ApiResult<()> {
    let Some(ns) = target
        .namespace
        .as_deref()
        .filter(|_| target.resource.namespaced)
    else {
        return Ok(());
    };
    let namespaces = state.resource("namespaces");
    match state.store.get(&Key::new(&namespaces, None, ns)) {
        None => Err(ApiError::not_found("namespaces", ns)),
        Some(obj) if obj.pointer("/metadata/deletionTimestamp").is_some() => Err(ApiError::forbidden(format!(
            "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            target.resource.qualified(),
            target.name.as_deref().unwrap_or_default()
        ))),
        Some(_) => Ok(()),
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (status, Json(value)).into_response()
}

fn key_of(target: &Target) -> Key {
    Key::new(
        &target.resource,
        target.namespace.as_deref(),
        target.name.as_deref().unwrap_or_default(),
    )
}

fn get_one(state: &ClusterState, target: &Target) -> ApiResult<Response> {
    let obj = state.store.get(&key_of(target)).ok_or_else(|| {
        ApiError::not_found(
            &target.resource.qualified(),
            target.name.as_deref().unwrap_or_default(),
        )
    })?;
    Ok(json_response(StatusCode::OK, &obj))
}

fn selectors(params: &Params) -> ApiResult<(LabelSelector, FieldSelector)> {
    let labels = LabelSelector::parse(params.label_selector.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let fields = FieldSelector::parse(params.field_selector.as_deref().unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn list(state: &ClusterState, target: &Target, params: &Params) -> ApiResult<Response> {
    let (labels, fields) = selectors(params)?;
    let after = match params.continue_token.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(token) => Some(decode_continue(&target.resource, token)?),
    };
    let (objects, rv) = state.store.list(
        &target.resource,
        target.namespace.as_deref(),
        after.as_ref(),
    );
    let limit = params.limit.filter(|l| *l > 0);
    let filtering = !labels.is_empty() || !fields.is_empty();
    let mut items = String::from("[");
    let mut count = 0;
    let mut last_key = None;
    let mut more = false;
    for (key, text) in objects {
        if let Some(limit) = limit {
            if count == limit {
                more = true;
                break;
            }
        }
        if filtering {
            let obj: Value = serde_json::from_str(&text).expect("stored JSON");
            if !labels.matches(&obj) || !fields.matches(&obj) {
                continue;
            }
        }
        if count > 0 {
            items.push(',');
        }
        items.push_str(&text);
        count += 1;
        last_key = Some(key);
    }
    items.push(']');
    let continue_token = match (more, last_key) {
        (true, Some(key)) => encode_continue(&key, rv),
        _ => String::new(),
    };
    let kind = format!("{}List", target.resource.kind);
    let body = format!(
        r#"{{"kind":{},"apiVersion":{},"metadata":{{"resourceVersion":"{rv}"{}}},"items":{items}}}"#,
        serde_json::to_string(&kind).expect("string"),
        serde_json::to_string(&target.resource.api_version()).expect("string"),
        if continue_token.is_empty() {
            String::new()
        } else {
            format!(r#","continue":"{continue_token}""#)
        },
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn encode_continue(key: &Key, rv: u64) -> String {
    let raw = json!({"rv": rv, "ns": key.namespace, "name": key.name}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(resource: &Resource, token: &str) -> ApiResult<Key> {
    let bad = || ApiError::bad_request("continue key is not valid: illegal base64 data or JSON");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok(Key {
        resource: resource.qualified(),
        namespace: value["ns"].as_str().ok_or_else(bad)?.to_owned(),
        name: value["name"].as_str().ok_or_else(bad)?.to_owned(),
    })
}

fn watch(state: &Arc<ClusterState>, target: &Target, params: &Params) -> ApiResult<Response> {
    let (labels, fields) = selectors(params)?;
    let resource = target.resource;
    let namespace = target.namespace.clone();
    let qualified = resource.qualified();
    let mut receiver = state.store.subscribe();
    let since = params
        .resource_version
        .as_deref()
        .unwrap_or("")
        .parse::<u64>()
        .unwrap_or(0);
    let matches = {
        let namespace = namespace.clone();
        move |ns: &str, obj: &Value| {
            namespace.as_deref().is_none_or(|n| n == ns)
                && labels.matches(obj)
                && fields.matches(obj)
        }
    };
    // Replay: from the log when a resourceVersion is given, else the current objects.
    let mut initial: Vec<String> = Vec::new();
    let mut last_rv = state.store.resource_version();
    if since == 0 {
        let (objects, rv) = state.store.list(&resource, namespace.as_deref(), None);
        for (key, text) in objects {
            let obj: Value = serde_json::from_str(&text).expect("stored JSON");
            if matches(&key.namespace, &obj) {
                initial.push(format!(r#"{{"type":"ADDED","object":{text}}}"#));
            }
        }
        last_rv = rv;
    } else {
        match state.store.events_since(&qualified, since) {
            None => {
                let gone = ApiError::gone(format!("too old resource version: {since}"));
                initial.push(json!({"type": "ERROR", "object": gone.body()}).to_string());
                let body = initial.join("\n") + "\n";
                return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
            }
            Some(events) => {
                for e in events {
                    let obj: Value = serde_json::from_str(&e.object).expect("stored JSON");
                    if matches(&e.namespace, &obj) {
                        initial.push(format!(r#"{{"type":"{}","object":{}}}"#, e.kind, e.object));
                    }
                    last_rv = e.resource_version;
                }
            }
        }
    }
    let bookmarks = params.allow_watch_bookmarks.unwrap_or(false);
    let bookmark_every = state.settings.bookmark_interval;
    let deadline = params
        .timeout_seconds
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let (kind, api_version) = (resource.kind, resource.api_version());
    let stream = async_stream(move |tx| async move {
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        loop {
            let timeout = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => futures::future::pending().await,
                }
            };
            tokio::select! {
                _ = timeout => return,
                _ = ticker.tick(), if bookmarks => {
                    let line = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version,
                        "metadata": {"resourceVersion": last_rv.to_string()}}}).to_string();
                    if tx.send(line).await.is_err() { return; }
                }
                event = receiver.recv() => match event {
                    Ok(e) => {
                        if e.resource != qualified || e.resource_version <= last_rv {
                            continue;
                        }
                        last_rv = e.resource_version;
                        let obj: Value = serde_json::from_str(&e.object).expect("stored JSON");
                        if matches(&e.namespace, &obj) {
                            let line = format!(r#"{{"type":"{}","object":{}}}"#, e.kind, e.object);
                            if tx.send(line).await.is_err() { return; }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let gone = ApiError::gone("the watch fell behind; relist");
                        let _ = tx.send(json!({"type": "ERROR", "object": gone.body()}).to_string()).await;
                        return;
                    }
                    Err(_) => return,
                }
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// A body stream fed by a task: each line sent becomes one newline-terminated chunk.
fn async_stream<F, Fut>(producer: F) -> impl futures::Stream<Item = Result<Bytes, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<String>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(producer(tx));
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|line| (Ok(Bytes::from(line + "\n")), rx))
    })
}

fn create(
    state: &Arc<ClusterState>,
    target: &Target,
    mut obj: Value,
    params: &Params,
    dry_run: bool,
) -> ApiResult<Response> {
    if target.name.is_some() {
        return Err(ApiError::method_not_allowed("POST is for collections"));
    }
    admit(target, &mut obj)?;
    strict(target, &obj, params)?;
    namespace_open(state, target)?;
    if target.resource.kind == "Pod" {
        if let Some(ns) = target.namespace.as_deref() {
            crate::admission::pod_create(state, ns, &mut obj)?;
        }
    }
    if dry_run {
        return Ok(json_response(StatusCode::CREATED, &obj));
    }
    let manager = params.field_manager.as_deref().unwrap_or("unknown");
    let created = state.store.create(&target.resource, obj, manager)?;
    Ok(json_response(StatusCode::CREATED, &created))
}

fn update(
    state: &Arc<ClusterState>,
    target: &Target,
    mut obj: Value,
    params: &Params,
    dry_run: bool,
) -> ApiResult<Response> {
    if target.name.is_none() {
        return Err(ApiError::method_not_allowed("PUT needs an object name"));
    }
    admit(target, &mut obj)?;
    strict(target, &obj, params)?;
    let key = key_of(target);
    if dry_run {
        return Ok(json_response(StatusCode::OK, &obj));
    }
    let manager = params.field_manager.as_deref().unwrap_or("unknown");
    let status_only = target.subresource.as_deref() == Some("status");
    let updated = state
        .store
        .replace(&target.resource, &key, obj, manager, status_only)?;
    Ok(json_response(StatusCode::OK, &updated))
}

fn patch(
    state: &Arc<ClusterState>,
    target: &Target,
    headers: &HeaderMap,
    body: &[u8],
    params: &Params,
    dry_run: bool,
) -> ApiResult<Response> {
    let ct = content_type(headers);
    let key = key_of(target);
    let name = target.name.clone().unwrap_or_default();
    match ct.as_str() {
        "application/apply-patch+yaml" => {
            let manager = params
                .field_manager
                .as_deref()
                .filter(|m| !m.is_empty())
                .ok_or_else(|| ApiError::bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"))?;
            let mut applied = decode(&ct, body)?;
            admit(target, &mut applied)?;
            // Server-side apply builds a typed object: an unknown field fails it, whatever
            // fieldValidation says (and the real server answers 500).
            let unknown = crate::resources::unknown_fields(&target.resource, &applied);
            if !unknown.is_empty() {
                let listed: Vec<String> = unknown
                    .iter()
                    .map(|f| format!("  .{f}: field not declared in schema"))
                    .collect();
                return Err(ApiError::internal(format!(
                    "failed to create typed patch object ({}/{name}; {}, Kind={}): errors:\n{}",
                    target.namespace.clone().unwrap_or_default(),
                    target.resource.api_version(),
                    target.resource.kind,
                    listed.join("\n")
                )));
            }
            if !state.store.contains(&key) {
                namespace_open(state, target)?;
            }
            // A dry run answers the object as the merge would leave it, and stores nothing.
            let written = state.store.apply_or_try(
                &target.resource,
                &key,
                applied,
                FieldManager {
                    name: manager,
                    force: params.force.unwrap_or(false),
                },
                dry_run,
            )?;
            let status = if written.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_response(status, &written.object))
        }
        "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "application/json-patch+json" => {
            let live = state
                .store
                .get(&key)
                .ok_or_else(|| ApiError::not_found(&target.resource.qualified(), &name))?;
            let mut next = live.clone();
            if ct == "application/json-patch+json" {
                let ops: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
                    ApiError::bad_request(format!("error decoding JSON patch: {e}"))
                })?;
                json_patch::patch(&mut next, &ops).map_err(|e| {
                    ApiError::invalid(
                        target.resource.kind,
                        &name,
                        vec![("patch".into(), e.to_string())],
                    )
                })?;
            } else {
                // Strategic merge is served as a JSON merge patch: lists are replaced whole.
                let patch: Value = serde_json::from_slice(body).map_err(|e| {
                    ApiError::bad_request(format!("error decoding merge patch: {e}"))
                })?;
                json_patch::merge(&mut next, &patch);
            }
            if let Some(meta) = next["metadata"].as_object_mut() {
                meta.remove("resourceVersion");
            }
            admit(target, &mut next)?;
            if dry_run {
                return Ok(json_response(StatusCode::OK, &next));
            }
            let manager = params.field_manager.as_deref().unwrap_or("unknown");
            let status_only = target.subresource.as_deref() == Some("status");
            let updated =
                state
                    .store
                    .replace(&target.resource, &key, next, manager, status_only)?;
            Ok(json_response(StatusCode::OK, &updated))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

fn delete(state: &Arc<ClusterState>, target: &Target, dry_run: bool) -> ApiResult<Response> {
    let key = key_of(target);
    if target.resource.kind == "Namespace" {
        if dry_run {
            return get_one(state, target);
        }
        let terminating = state.store.mark_terminating(&target.resource, &key)?;
        state.schedule_namespace_finalization(key.name.clone());
        return Ok(json_response(StatusCode::OK, &terminating));
    }
    if dry_run {
        return get_one(state, target);
    }
    let deleted = state.store.delete(&target.resource, &key)?;
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": key.name, "group": target.resource.group, "kind": target.resource.plural,
                    "uid": deleted.pointer("/metadata/uid")}});
    Ok(json_response(StatusCode::OK, &status))
}

fn delete_collection(
    state: &Arc<ClusterState>,
    target: &Target,
    params: &Params,
) -> ApiResult<Response> {
    let (labels, fields) = selectors(params)?;
    let (objects, _) = state
        .store
        .list(&target.resource, target.namespace.as_deref(), None);
    for (key, text) in objects {
        let obj: Value = serde_json::from_str(&text).expect("stored JSON");
        if labels.matches(&obj) && fields.matches(&obj) {
            let _ = state.store.delete(&target.resource, &key);
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
    ))
}
