//! A browsable API reference rendered on the server from the OpenAPI document, so it needs
//! no script from elsewhere: operations grouped by tag with a table of contents, the site's
//! stylesheet, and "Try it" on GET operations (a small script of the site, with the
//! caller's own session).

use axum::{
    http::{header, HeaderValue},
    response::{Html, IntoResponse, Response},
};
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

/// An operation's anchor: `get-api-v1-me`.
fn anchor(method: &str, path: &str) -> String {
    let slug: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{method}{}", slug.trim_end_matches('-'))
}

fn operation(method: &str, path: &str, op: &Operation) -> String {
    let mut html = format!(
        "<section class=\"op card\" id=\"{a}\"><h3><span class=\"method {m}\">{M}</span> <code>{p}</code></h3>",
        a = anchor(method, path),
        m = method,
        M = method.to_uppercase(),
        p = escape(path)
    );
    if method == "get" {
        html.push_str(&format!(
            "<form class=\"try\"><label>Try it with your session <input name=\"path\" value=\"{p}\" aria-label=\"Path to GET\"></label>\
             <button type=\"submit\">Send</button><pre class=\"answer\" aria-live=\"polite\"></pre></form>",
            p = escape(path)
        ));
    }
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

/// One tag's operations: (table-of-contents entry, section) each.
struct TagGroup {
    name: String,
    description: String,
    operations: Vec<(String, String)>,
}

pub fn page(spec: &OpenApi) -> Response {
    // Operations by their first tag, in the document's tag order.
    let tags: Vec<(String, String)> = spec
        .tags
        .iter()
        .flatten()
        .map(|t| (t.name.clone(), t.description.clone().unwrap_or_default()))
        .collect();
    let mut by_tag: Vec<TagGroup> = tags
        .iter()
        .map(|(name, description)| TagGroup {
            name: name.clone(),
            description: description.clone(),
            operations: Vec::new(),
        })
        .collect();
    for (path, item) in &spec.paths.paths {
        for (method, op) in [
            ("get", &item.get),
            ("post", &item.post),
            ("put", &item.put),
            ("patch", &item.patch),
            ("delete", &item.delete),
        ] {
            if let Some(op) = op {
                let tag = op
                    .tags
                    .as_ref()
                    .and_then(|t| t.first().cloned())
                    .unwrap_or_else(|| "other".into());
                let html = operation(method, path, op);
                let link = format!(
                    "<li><a href=\"#{}\"><span class=\"method {method}\">{}</span> <code>{}</code></a></li>",
                    anchor(method, path),
                    method.to_uppercase(),
                    escape(path)
                );
                match by_tag.iter_mut().find(|g| g.name == tag) {
                    Some(group) => group.operations.push((link, html)),
                    None => by_tag.push(TagGroup {
                        name: tag,
                        description: String::new(),
                        operations: vec![(link, html)],
                    }),
                }
            }
        }
    }
    let mut toc =
        String::from("<nav class=\"card toc\" aria-label=\"Contents\"><h2>Contents</h2><ul>");
    let mut body = String::new();
    for TagGroup {
        name: tag,
        description,
        operations: ops,
    } in by_tag.iter().filter(|g| !g.operations.is_empty())
    {
        toc.push_str(&format!(
            "<li><a href=\"#tag-{t}\">{t}</a><ul>{}</ul></li>",
            ops.iter().map(|(l, _)| l.as_str()).collect::<String>(),
            t = escape(tag)
        ));
        body.push_str(&format!(
            "<h2 id=\"tag-{t}\">{t}</h2><p class=\"muted\">{d}</p>{}",
            ops.iter().map(|(_, h)| h.as_str()).collect::<String>(),
            t = escape(tag),
            d = escape(description)
        ));
    }
    toc.push_str("<li><a href=\"#schemas\">Schemas</a></li></ul></nav>");
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
    let html = Html(format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Berth API reference</title><link rel="icon" type="image/svg+xml" href="/pkg/berth.svg"><link rel="stylesheet" href="/pkg/berth.css"><script src="/pkg/docs.js" defer></script></head>
<body><header class="topbar"><a class="brand" href="/">Berth</a><nav aria-label="Main"><a href="/">Back to the portal</a><a href="/api/v1/openapi.json">OpenAPI document</a></nav></header>
<main id="main" class="docs"><h1>Berth API reference</h1>
<p>Version {version}. Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI {openapi}).
Authenticate with <code>Authorization: Bearer &lt;token&gt;</code> (create tokens on the <a href="/tokens">tokens page</a>)
or a browser session plus <code>X-CSRF-Token</code> on writes. Errors: <code>{{"error":{{"code","message","fields"}}}}</code>.</p>
{toc}{body}<h2 id="schemas">Schemas</h2>{schemas}</main></body></html>"#,
        version = escape(&spec.info.version),
        openapi = "3.1",
    ));
    // The site's own stylesheet and script only (the API's default policy allows nothing).
    let mut response = html.into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    response
}
