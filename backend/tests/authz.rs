//! The authorization matrix: every endpoint of the OpenAPI document × {anonymous, a token
//! lacking the endpoint's scope, another team's member, a member, an owner, an admin}, with
//! the expected status, from the one table below. An endpoint missing from the table fails the
//! test, so a new endpoint cannot be forgotten.
//!
//! Bodies are generated from the document's schemas (required fields only), so a request
//! always parses and the service layer, not the JSON extractor, decides. `OK` means the
//! caller got past authorization: any status but 401, 403 and 404.

mod common;

use berth::jobs;
use berth_frontend::api::Scope;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use sqlx::PgPool;

const OK: u16 = 0;
const HIDDEN: u16 = 404;
const DENIED: u16 = 403;

/// The scope a token needs; `Session` endpoints refuse every token.
#[derive(Clone, Copy, Debug)]
enum Needs {
    Public,
    Read,
    Request,
    Approve,
    Session,
}

use Needs::*;

/// (method, path, scope, [admin, owner, member, another team's member]).
#[rustfmt::skip]
const MATRIX: &[(&str, &str, Needs, [u16; 4])] = &[
    ("POST", "/api/v1/auth/login", Public, [OK, OK, OK, OK]),
    ("GET", "/api/v1/auth/options", Public, [OK, OK, OK, OK]),
    ("GET", "/api/v1/group-rules", Read, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/group-rules", Approve, [OK, DENIED, DENIED, DENIED]),
    ("DELETE", "/api/v1/group-rules/{id}", Approve, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/auth/logout", Session, [OK, OK, OK, OK]),
    ("GET", "/api/v1/me", Read, [OK, OK, OK, OK]),
    ("GET", "/api/v1/events", Read, [OK, OK, OK, OK]),
    ("POST", "/api/v1/me/password", Session, [OK, OK, OK, OK]),
    ("GET", "/api/v1/users", Read, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/users", Approve, [OK, DENIED, DENIED, DENIED]),
    ("PUT", "/api/v1/users/{id}/status", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/teams", Read, [OK, OK, OK, OK]),
    ("POST", "/api/v1/teams", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/teams/{name}", Read, [OK, OK, OK, DENIED]),
    ("POST", "/api/v1/teams/{name}/members", Request, [OK, OK, DENIED, DENIED]),
    ("PUT", "/api/v1/teams/{name}/members/{user_id}", Request, [OK, OK, DENIED, DENIED]),
    ("DELETE", "/api/v1/teams/{name}/members/{user_id}", Request, [OK, OK, DENIED, DENIED]),
    ("GET", "/api/v1/teams/{team}/budgets", Read, [OK, OK, OK, DENIED]),
    ("PUT", "/api/v1/teams/{team}/budgets", Approve, [OK, DENIED, DENIED, DENIED]),
    ("DELETE", "/api/v1/teams/{team}/budgets", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/teams/{team}/recommendations", Read, [OK, OK, OK, HIDDEN]),
    ("GET", "/api/v1/teams/{team}/cost", Read, [OK, OK, OK, HIDDEN]),
    ("GET", "/api/v1/teams/{team}/cost.csv", Read, [OK, OK, OK, HIDDEN]),
    ("GET", "/api/v1/cost/prices", Read, [OK, OK, OK, OK]),
    ("PUT", "/api/v1/cost/prices", Approve, [OK, DENIED, DENIED, DENIED]),
    ("DELETE", "/api/v1/cost/prices", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/cost/instance-prices", Read, [OK, OK, OK, OK]),
    ("PUT", "/api/v1/cost/instance-prices", Approve, [OK, DENIED, DENIED, DENIED]),
    ("DELETE", "/api/v1/cost/instance-prices", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/tokens", Read, [OK, OK, OK, OK]),
    ("POST", "/api/v1/tokens", Session, [OK, OK, OK, OK]),
    ("DELETE", "/api/v1/tokens/{id}", Request, [OK, HIDDEN, HIDDEN, HIDDEN]),
    ("GET", "/api/v1/audit", Read, [OK, OK, OK, OK]),
    ("GET", "/api/v1/audit/export", Read, [OK, OK, OK, OK]),
    ("GET", "/api/v1/clusters", Read, [OK, OK, OK, OK]),
    ("POST", "/api/v1/clusters", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/clusters/{name}", Read, [OK, OK, OK, OK]),
    ("PATCH", "/api/v1/clusters/{name}", Approve, [OK, DENIED, DENIED, DENIED]),
    ("DELETE", "/api/v1/clusters/{name}", Approve, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/clusters/{name}/sync", Approve, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/clusters/{name}/check-namespaces", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/clusters/{name}/headroom", Read, [OK, OK, OK, OK]),
    ("GET", "/api/v1/clusters/{name}/simulator/faults", Read, [OK, DENIED, DENIED, DENIED]),
    ("PUT", "/api/v1/clusters/{name}/simulator/faults", Approve, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/fleet/sync", Approve, [OK, DENIED, DENIED, DENIED]),
    ("PUT", "/api/v1/clusters/{name}/delivery", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/git-repositories", Read, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/git-repositories", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/git-repositories/{name}", Read, [OK, DENIED, DENIED, DENIED]),
    ("PUT", "/api/v1/git-repositories/{name}", Approve, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/git-repositories/{name}/check", Approve, [OK, DENIED, DENIED, DENIED]),
    ("DELETE", "/api/v1/git-repositories/{name}", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/freezes", Read, [OK, OK, OK, OK]),
    ("POST", "/api/v1/freezes", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/freezes/calendar", Read, [OK, OK, OK, OK]),
    ("DELETE", "/api/v1/freezes/{id}", Approve, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/namespace-requests/{id}/release", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/namespace-requests", Read, [OK, OK, OK, OK]),
    ("POST", "/api/v1/namespace-requests", Request, [OK, OK, OK, OK]),
    ("POST", "/api/v1/namespace-requests/preview", Request, [OK, OK, OK, OK]),
    ("GET", "/api/v1/namespace-requests/{id}", Read, [OK, OK, OK, HIDDEN]),
    ("POST", "/api/v1/namespace-requests/{id}/amend", Approve, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/namespace-requests/{id}/approve", Approve, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/namespace-requests/{id}/reject", Approve, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/namespace-requests/{id}/cancel", Request, [OK, OK, DENIED, HIDDEN]),
    ("GET", "/api/v1/namespaces", Read, [OK, OK, OK, OK]),
    ("GET", "/api/v1/namespaces/{cluster}/{name}", Read, [OK, OK, OK, HIDDEN]),
    ("GET", "/api/v1/namespaces/{cluster}/{name}/manifests", Read, [OK, OK, OK, HIDDEN]),
    ("POST", "/api/v1/namespaces/{cluster}/{name}/quota-change", Request, [OK, OK, OK, HIDDEN]),
    ("POST", "/api/v1/namespaces/{cluster}/{name}/decommission", Request, [OK, OK, OK, HIDDEN]),
    ("POST", "/api/v1/namespaces/{cluster}/{name}/reapply", Request, [OK, OK, OK, HIDDEN]),
    ("GET", "/api/v1/namespaces/{cluster}/{name}/drills", Read, [OK, OK, OK, OK]),
    ("POST", "/api/v1/namespaces/{cluster}/{name}/drills", Request, [OK, OK, OK, HIDDEN]),
    ("PUT", "/api/v1/namespaces/{cluster}/{name}/drill-objectives", Request, [OK, OK, OK, HIDDEN]),
    ("GET", "/api/v1/namespaces/{cluster}/{name}/drill-schedule", Read, [OK, OK, OK, HIDDEN]),
    ("PUT", "/api/v1/namespaces/{cluster}/{name}/drill-schedule", Request, [OK, OK, OK, HIDDEN]),
    ("DELETE", "/api/v1/namespaces/{cluster}/{name}/drill-schedule", Request, [OK, OK, OK, HIDDEN]),
    ("GET", "/api/v1/namespaces/{cluster}/{name}/recommendations", Read, [OK, OK, OK, HIDDEN]),
    ("GET", "/api/v1/namespaces/{cluster}/{name}/quota-suggestion", Read, [OK, OK, OK, HIDDEN]),
    ("POST", "/api/v1/namespaces/{cluster}/{name}/right-size", Request, [OK, OK, OK, HIDDEN]),
    ("GET", "/api/v1/drills", Read, [OK, OK, OK, OK]),
    ("GET", "/api/v1/drills/{id}", Read, [OK, OK, OK, HIDDEN]),
    ("POST", "/api/v1/drills/{id}/cancel", Request, [OK, OK, OK, HIDDEN]),
    ("GET", "/api/v1/out-of-band-namespaces", Read, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/quota-ledger", Read, [OK, OK, OK, OK]),
    ("GET", "/api/v1/guardrails", Read, [OK, OK, OK, OK]),
    ("PUT", "/api/v1/guardrails/{environment}", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/guardrails/layers", Read, [OK, OK, OK, OK]),
    ("PUT", "/api/v1/guardrails/layers/{layer}", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/presets", Read, [OK, OK, OK, OK]),
    ("PUT", "/api/v1/presets/{name}", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/approval-policies", Read, [OK, OK, OK, OK]),
    ("POST", "/api/v1/approval-policies", Approve, [OK, DENIED, DENIED, DENIED]),
    ("PUT", "/api/v1/approval-policies/{id}", Approve, [OK, DENIED, DENIED, DENIED]),
    ("DELETE", "/api/v1/approval-policies/{id}", Approve, [OK, DENIED, DENIED, DENIED]),
    ("GET", "/api/v1/webhooks", Read, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/webhooks", Approve, [OK, DENIED, DENIED, DENIED]),
    ("DELETE", "/api/v1/webhooks/{id}", Approve, [OK, DENIED, DENIED, DENIED]),
    ("POST", "/api/v1/capacity/plan", Read, [OK, OK, OK, OK]),
];

/// A value for `schema` with only its required fields, so the body parses.
fn example(schema: &Value, doc: &Value) -> Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap();
        return example(&doc["components"]["schemas"][name], doc);
    }
    // allOf: every part holds (a flattened struct), so the example has every part's fields.
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let mut out = Map::new();
        for part in parts {
            if let Value::Object(fields) = example(part, doc) {
                out.extend(fields);
            }
        }
        return Value::Object(out);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let first = options
                .iter()
                .find(|o| o.get("type") != Some(&json!("null")))
                .unwrap();
            return example(first, doc);
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values[0].clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .find(|k| *k != "null")
            .cloned()
            .unwrap_or(Value::Null),
        k => k.clone(),
    };
    match kind.as_str().unwrap_or("object") {
        "object" => {
            let mut out = Map::new();
            for field in schema["required"].as_array().into_iter().flatten() {
                let f = field.as_str().unwrap();
                out.insert(f.into(), example(&schema["properties"][f], doc));
            }
            Value::Object(out)
        }
        "array" => json!([]),
        "string" => match schema["format"].as_str() {
            Some("date-time") => json!("2030-01-01T00:00:00Z"),
            Some("uuid") => json!("00000000-0000-0000-0000-000000000000"),
            _ => json!("x"),
        },
        "integer" | "number" => json!(1),
        "boolean" => json!(false),
        _ => Value::Null,
    }
}

fn lacking(needs: Needs) -> Vec<Scope> {
    let all = [Scope::Read, Scope::Request, Scope::Approve];
    match needs {
        Read => vec![Scope::Request, Scope::Approve],
        Request => vec![Scope::Read, Scope::Approve],
        Approve => vec![Scope::Read, Scope::Request],
        Session | Public => all.to_vec(),
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn every_endpoint_answers_every_kind_of_caller_as_the_matrix_says(db: PgPool) {
    let (app, fleet) = demo_world(db).await;
    let server = TestServer::serve_app(app).await;
    let _fleet = fleet;
    user(&server.app, "member@example.com", false).await;
    for u in ["spare@example.com", "leaver@example.com"] {
        user(&server.app, u, false).await;
    }
    let admin = server.login("admin@example.com").await;
    let owner = server.login("dev@example.com").await;
    let (s, _) = admin
        .post(
            "/api/v1/teams/payments/members",
            json!({"email": "member@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = admin
        .post(
            "/api/v1/teams/payments/members",
            json!({"email": "leaver@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let member = server.login("member@example.com").await;
    let other = server.login("outsider@example.com").await;

    // Fixtures: a ready namespace, a pending request, a drill, and things an admin may delete.
    let (s, r) = owner
        .post(
            "/api/v1/namespace-requests",
            json!({"team": "payments", "cluster": "prod-shanghai-1", "name": "payments-api",
               "node_pool": "general", "preset": "S", "purpose": "matrix"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (s, _) = admin
        .post(
            &format!(
                "/api/v1/namespace-requests/{}/approve",
                r["request"]["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    jobs::drain(&server.app).await.unwrap();
    let (_, pending) = owner
        .post(
            "/api/v1/namespace-requests",
            json!({"team": "payments", "cluster": "prod-shanghai-1", "name": "payments-web",
               "node_pool": "general", "preset": "S", "purpose": "matrix"}),
        )
        .await;
    let (s, drill) = owner
        .post(
            "/api/v1/namespaces/prod-shanghai-1/payments-api/drills",
            json!({"kind": "readiness"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{drill}");
    let (_, token) = admin
        .post(
            "/api/v1/tokens",
            json!({"name": "spare", "scopes": ["read"], "expires_in_days": 1}),
        )
        .await;
    let (_, users) = admin.get("/api/v1/users").await;
    let id_of = |email: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (_, policies) = admin.get("/api/v1/approval-policies").await;
    let (s, b) = admin
        .put(
            "/api/v1/teams/payments/budgets",
            json!({"cpu": "64", "memory": "256Gi", "storage": "1Ti"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The default price, for DELETE to find.
    let (s, b) = admin
        .put(
            "/api/v1/cost/prices",
            json!({"cpu_core_hour": "0.04", "memory_gib_hour": "0.005"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // An instance price named as the document's example key (`x`), for DELETE to find.
    let (s, b) = admin
        .put(
            "/api/v1/cost/instance-prices",
            json!({"instance_type": "x", "hour_price": "0.1"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = owner
        .put(
            "/api/v1/namespaces/prod-shanghai-1/payments-api/drill-schedule",
            json!({"kind": "readiness", "cron": "0 3 * * *", "timezone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, rule) = admin
        .post(
            "/api/v1/group-rules",
            json!({"provider_group": "authz-devs", "team": "payments", "grant": "member"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    // A repository (on a closed loopback port: a check fails fast) and a freeze that ended
    // long ago is refused, so one that is yet to come.
    let (s, b) = admin
        .post(
            "/api/v1/git-repositories",
            json!({"name": "authz", "url": "https://127.0.0.1:9/authz.git", "auth": "none"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, freeze) = admin
        .post(
            "/api/v1/freezes",
            json!({"name": "authz", "reason": "matrix", "environments": ["dev"],
                   "starts_at": "2099-01-01T00:00:00Z", "ends_at": "2099-01-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{freeze}");
    let (_, hook) = admin.post("/api/v1/webhooks", json!({"url": "http://127.0.0.1:9/hook", "secret": "a long enough shared secret", "events": ["request.created"]})).await;

    let spec = server.anonymous().get("/api/v1/openapi.json").await.1;
    // Every reference in the document resolves (a dangling one fails schema-driven clients).
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    out.push(r.to_owned());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&spec, &mut all);
    for r in all {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(
            spec["components"]["schemas"].get(name).is_some(),
            "dangling $ref {r}"
        );
    }
    let mut listed = Vec::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            listed.push((method.to_uppercase(), path.clone()));
        }
    }
    for (method, path) in &listed {
        assert!(
            MATRIX.iter().any(|(m, p, ..)| m == method && p == path),
            "{method} {path} is not in the authorization matrix: add it with its expected statuses"
        );
    }
    assert_eq!(
        listed.len(),
        MATRIX.len(),
        "the matrix lists endpoints that do not exist"
    );

    let mut failures = Vec::new();
    for (method, template, needs, expected) in MATRIX {
        let id = match template {
            t if t.contains("/users/{id}") => id_of("spare@example.com"),
            t if t.contains("/tokens/{id}") => token["token"]["id"].as_str().unwrap().to_owned(),
            t if t.contains("/drills/{id}") => drill["id"].as_str().unwrap().to_owned(),
            t if t.contains("/approval-policies/{id}") => {
                policies[0]["id"].as_str().unwrap().to_owned()
            }
            t if t.contains("/webhooks/{id}") => hook["id"].as_str().unwrap().to_owned(),
            t if t.contains("/group-rules/{id}") => rule["id"].as_str().unwrap().to_owned(),
            t if t.contains("/freezes/{id}") => freeze["id"].as_str().unwrap().to_owned(),
            _ => pending["request"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        let cluster_name = if *method == "DELETE" && template == &"/api/v1/clusters/{name}" {
            "dev-shanghai-1"
        } else {
            "prod-shanghai-1"
        };
        let path = template
            .replace("/teams/{name}", "/teams/payments")
            .replace("{team}", "payments")
            .replace("/clusters/{name}", &format!("/clusters/{cluster_name}"))
            .replace("/presets/{name}", "/presets/XL")
            .replace("/git-repositories/{name}", "/git-repositories/authz")
            .replace("{environment}", "staging")
            .replace("{layer}", "offline")
            .replace("{cluster}/{name}", "prod-shanghai-1/payments-api")
            .replace("{user_id}", &id_of("leaver@example.com"))
            .replace("{id}", &id);
        let mut path = path;
        let required: Vec<String> = spec["paths"][*template][method.to_lowercase()]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query" && p["required"] == true)
            .map(|p| {
                format!(
                    "{}={}",
                    p["name"].as_str().unwrap(),
                    example(&p["schema"], &spec).as_str().unwrap_or("1")
                )
            })
            .collect();
        if !required.is_empty() {
            path = format!("{path}?{}", required.join("&"));
        }
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let body = spec["paths"][*template][method.to_lowercase()]["requestBody"]["content"]
            ["application/json"]["schema"]
            .as_object()
            .map(|s| example(&Value::Object(s.clone()), &spec));
        let send = |client: &Client| {
            let mut req = client.request(m.clone(), &path);
            if let Some(b) = &body {
                req = req.json(b);
            }
            send(req)
        };
        // Every status an operation answers is in the document, for every caller.
        let documented = |s: StatusCode| {
            spec["paths"][*template][method.to_lowercase()]["responses"]
                .get(s.as_str())
                .is_some()
        };
        let undocumented = |s: StatusCode, who: &str| {
            (!documented(s))
                .then(|| format!("{method} {template} {who}: {s} is not in the OpenAPI document"))
        };
        // A refused call changes nothing: every change writes an audit row.
        let audit_rows = || async {
            sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM audit_events")
                .fetch_one(&server.app.db)
                .await
                .unwrap()
        };
        let unchanged = |before: i64, after: i64, who: &str, s: StatusCode| {
            (after != before && [401, 403, 404].contains(&s.as_u16())).then(|| {
                format!(
                    "{method} {template} {who}: refused with {s} yet wrote {} audit rows",
                    after - before
                )
            })
        };
        if !matches!(needs, Public) {
            let token = server.token("admin@example.com", &lacking(*needs)).await;
            let before = audit_rows().await;
            let (s, _) = send(&server.anonymous()).await;
            if s != StatusCode::UNAUTHORIZED {
                failures.push(format!("{method} {template} anonymous: {s}"));
            }
            failures.extend(undocumented(s, "anonymous"));
            let (s, _) = send(&token).await;
            if s != StatusCode::FORBIDDEN {
                failures.push(format!("{method} {template} token lacking {needs:?}: {s}"));
            }
            failures.extend(undocumented(s, "token lacking the scope"));
            failures.extend(unchanged(
                before,
                audit_rows().await,
                "anonymous or lacking",
                s,
            ));
        }
        // Least rights first, so an allowed change cannot hide a later denial; once an allowed
        // caller has deleted the thing, the next one finds it gone.
        let mut deleted = false;
        for (who, client, want) in [
            ("other", &other, expected[3]),
            ("member", &member, expected[2]),
            ("owner", &owner, expected[1]),
            ("admin", &admin, expected[0]),
        ] {
            if *template == "/api/v1/auth/logout" || *template == "/api/v1/me/password" {
                continue; // would end the session the rest of the matrix uses; covered by http.rs
            }
            let before = audit_rows().await;
            let (s, body) = send(client).await;
            failures.extend(unchanged(before, audit_rows().await, who, s));
            failures.extend(undocumented(s, who));
            let ok = want == OK
                && (![401, 403, 404].contains(&s.as_u16())
                    || (deleted && s == StatusCode::NOT_FOUND));
            deleted |= *method == "DELETE" && s.is_success();
            if !(ok || s.as_u16() == want) {
                failures.push(format!(
                    "{method} {template} {who}: {s} (want {}) {body}",
                    if want == OK {
                        "OK".into()
                    } else {
                        want.to_string()
                    }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A token with a write's scope but not `read` gets the write's answer: before, the request
/// was stored and provisioned and the caller got 403 (a retry then found the name taken).
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_write_with_only_its_own_scope_is_answered_and_a_refusal_stores_nothing(db: PgPool) {
    let (app, fleet) = demo_world(db).await;
    let server = TestServer::serve_app(app).await;
    let _fleet = fleet;
    let requester = server.token("dev@example.com", &[Scope::Request]).await;
    let body = json!({"team": "payments", "cluster": "prod-shanghai-1", "name": "payments-api",
                      "node_pool": "general", "preset": "S", "purpose": "scope"});
    let (s, created) = requester
        .post("/api/v1/namespace-requests", body.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["request"]["namespace"], "payments-api");
    let id = created["request"]["id"].as_str().unwrap().to_owned();

    let approver = server.token("admin@example.com", &[Scope::Approve]).await;
    let (s, approved) = approver
        .post(
            &format!("/api/v1/namespace-requests/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{approved}");
    let (s, faults) = approver
        .put(
            "/api/v1/clusters/dev-shanghai-1/simulator/faults",
            json!({"latency_ms": 0, "error_rate": 0.0, "hang": false, "down": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{faults}");

    // A token without `request` is refused, and nothing is stored.
    let reader = server.token("dev@example.com", &[Scope::Read]).await;
    let before = audit_actions(&server.app).await.len();
    let mut other = body.clone();
    other["name"] = json!("payments-web");
    let (s, _) = reader.post("/api/v1/namespace-requests", other).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(audit_actions(&server.app).await.len(), before);
    let stored = sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM namespace_requests WHERE namespace_name = 'payments-web'"
    )
    .fetch_one(&server.app.db)
    .await
    .unwrap();
    assert_eq!(stored, 0);
}
