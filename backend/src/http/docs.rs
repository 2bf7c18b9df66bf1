//! A browsable API reference rendered on the server from the OpenAPI document, so it needs
//! no script from elsewhere.

use axum::response::Html;
use utoipa::openapi::{path::Operation, OpenApi, RefOr};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn schema_name<T>(schema: &RefOr<T>) -> String {
    match schema {
        RefOr::Ref(r) => r
            .ref_location
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
        RefOr::T(_) => "inline".to_owned(),
    }
}

fn operation(method: &str, path: &str, op: &Operation) -> String {
    let mut html = format!(
        "<section class=\"op\"><h3><span class=\"method {m}\">{M}</span> <code>{p}</code></h3>",
        m = method,
        M = method.to_uppercase(),
        p = escape(path)
    );
    if let Some(summary) = op.summary.as_deref().or(op.description.as_deref()) {
        html.push_str(&format!("<p>{}</p>", escape(summary)));
    }
    if let Some(params) = &op.parameters {
        html.push_str(
            "<table><tr><th>Parameter</th><th>In</th><th>Required</th><th>Description</th></tr>",
        );
        for p in params {
            let location = serde_json::to_value(&p.parameter_in)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            html.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&p.name),
                location.unwrap_or_default(),
                matches!(p.required, utoipa::openapi::Required::True),
                escape(p.description.as_deref().unwrap_or(""))
            ));
        }
        html.push_str("</table>");
    }
    if let Some(body) = &op.request_body {
        for (media, content) in &body.content {
            let schema = content.schema.as_ref().map(schema_name).unwrap_or_default();
            html.push_str(&format!(
                "<p>Body: <code>{}</code> ({})</p>",
                escape(&schema),
                escape(media)
            ));
        }
    }
    html.push_str("<ul class=\"responses\">");
    for (status, response) in &op.responses.responses {
        let (description, schema) = match response {
            RefOr::T(r) => (
                r.description.clone(),
                r.content
                    .values()
                    .next()
                    .and_then(|c| c.schema.as_ref())
                    .map(schema_name),
            ),
            RefOr::Ref(r) => (r.ref_location.clone(), None),
        };
        html.push_str(&format!(
            "<li><code>{}</code> {} {}</li>",
            escape(status),
            escape(&description),
            schema
                .map(|s| format!("<code>{}</code>", escape(&s)))
                .unwrap_or_default()
        ));
    }
    html.push_str("</ul></section>");
    html
}

pub fn page(spec: &OpenApi) -> Html<String> {
    let mut body = String::new();
    for (path, item) in &spec.paths.paths {
        for (method, op) in [
            ("get", &item.get),
            ("post", &item.post),
            ("put", &item.put),
            ("patch", &item.patch),
            ("delete", &item.delete),
        ] {
            if let Some(op) = op {
                body.push_str(&operation(method, path, op));
            }
        }
    }
    let mut schemas = String::new();
    if let Some(components) = &spec.components {
        for (name, schema) in &components.schemas {
            let json = serde_json::to_string_pretty(schema).unwrap_or_default();
            schemas.push_str(&format!(
                "<details id=\"schema-{n}\"><summary><code>{n}</code></summary><pre>{j}</pre></details>",
                n = escape(name),
                j = escape(&json)
            ));
        }
    }
    Html(format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Berth API reference</title><link rel="stylesheet" href="/pkg/berth.css"></head>
<body><main id="main" class="docs"><h1>Berth API reference</h1>
<p>Version {version}. Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI {openapi}).
Authenticate with <code>Authorization: Bearer &lt;token&gt;</code> (create tokens on the <a href="/tokens">tokens page</a>)
or a browser session plus <code>X-CSRF-Token</code> on writes. Errors: <code>{{"error":{{"code","message","fields"}}}}</code>.</p>
{body}<h2>Schemas</h2>{schemas}</main></body></html>"#,
        version = escape(&spec.info.version),
        openapi = "3.1",
    ))
}
