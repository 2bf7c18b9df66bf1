//! What every request passes before any handler or server function sees it:
//!
//! - **Cross-site writes are refused.** A state-changing request (anything but GET, HEAD,
//!   OPTIONS) that a browser marks `Sec-Fetch-Site: cross-site`/`same-site`, or whose
//!   `Origin` is not this server's own, gets 403 — login included, so another site cannot sign
//!   a visitor in to an account of its choosing. Clients that send neither header (curl,
//!   automation with tokens) are not browsers and are let through.
//! - **Control characters are refused where they enter**: in the path, the query, a JSON body
//!   or a form body, with a 422 naming the field (`path`, the query parameter, `team`,
//!   `storage_classes[0].name`). Postgres refuses NUL in text; nothing reaches it.
//! - **A JSON body must be an object**: arrays and scalars are refused as the field `body`.
//!   Fields are never taken by position.

use axum::{
    body::{to_bytes, Body},
    extract::{Request, State},
    http::{header, HeaderMap, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::Value;

use crate::{error::FieldErrors, App, Error};

const CONTROL: &str = "must not contain control characters";

/// Control characters Berth never takes. Tabs and line breaks are fine in free text
/// (a request's purpose) and in JSON; every other C0 control, DEL and the C1 range are not.
fn forbidden_char(c: char, text: bool) -> bool {
    if text && matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    c.is_control()
}

fn has_control(s: &str, text: bool) -> bool {
    s.chars().any(|c| forbidden_char(c, text))
}

/// Control characters in a JSON value: the path of each string that holds one.
fn json_controls(value: &Value, path: &str, out: &mut FieldErrors) {
    match value {
        Value::String(s) if has_control(s, true) => {
            out.insert(
                if path.is_empty() {
                    "body".into()
                } else {
                    path.into()
                },
                CONTROL.into(),
            );
        }
        Value::Object(map) => {
            for (key, v) in map {
                let p = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if has_control(key, false) {
                    out.insert(p.clone(), "is not a field name".into());
                }
                json_controls(v, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                json_controls(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn writes(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a browser says this request comes from another site.
fn cross_site(headers: &HeaderMap) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return (!matches!(site, "same-origin" | "none"))
            .then(|| format!("Sec-Fetch-Site is {site}"));
    }
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    // `null` (a sandboxed frame, a file) is never this server.
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    // The host the browser addressed: a reverse proxy names it in X-Forwarded-Host.
    let own = ["x-forwarded-host", "host"]
        .iter()
        .filter_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()));
    let mut own = own.flat_map(|v| v.split(',').map(str::trim));
    match origin_host {
        Some(o) if own.any(|h| o.eq_ignore_ascii_case(h)) => None,
        _ => Some(format!("Origin {origin} is not this server")),
    }
}

/// The path and query, checked for control characters (decoded as the router decodes them).
fn target_controls(req: &Request) -> FieldErrors {
    let mut out = FieldErrors::new();
    let path = percent_encoding::percent_decode_str(req.uri().path()).decode_utf8_lossy();
    if has_control(&path, false) {
        out.insert("path".into(), CONTROL.into());
    }
    if let Some(query) = req.uri().query() {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if has_control(&key, false) || has_control(&value, false) {
                out.insert(key.into_owned(), CONTROL.into());
            }
        }
    }
    out
}

pub async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    if writes(req.method()) {
        if let Some(why) = cross_site(req.headers()) {
            return Error::forbidden(format!("cross-site request refused: {why}")).into_response();
        }
    }
    let problems = target_controls(&req);
    if !problems.is_empty() {
        return Error::Invalid(problems).into_response();
    }
    if !writes(req.method()) {
        return next.run(req).await;
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let json = content_type.starts_with("application/json");
    let form = content_type.starts_with("application/x-www-form-urlencoded");
    if !json && !form {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, app.config.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return Error::PayloadTooLarge(app.config.max_body_bytes).into_response(),
    };
    let mut problems = FieldErrors::new();
    if json {
        // A syntax error is the handler's to report (400, with the position).
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
            if !value.is_object() {
                problems.insert("body".into(), "must be a JSON object".into());
            }
            json_controls(&value, "", &mut problems);
        }
    } else {
        for (key, value) in form_urlencoded::parse(&bytes) {
            if has_control(&key, false) || has_control(&value, true) {
                problems.insert(key.into_owned(), CONTROL.into());
            }
        }
    }
    if !problems.is_empty() {
        return Error::Invalid(problems).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn controls_are_found_by_field_and_text_keeps_its_line_breaks() {
        let mut out = FieldErrors::new();
        json_controls(
            &json!({"team": "a\u{0}b", "purpose": "line one\nline two\ttab",
                    "storage_classes": [{"name": "gp3"}, {"name": "x\u{7f}"}]}),
            "",
            &mut out,
        );
        assert_eq!(
            out.keys().collect::<Vec<_>>(),
            vec!["storage_classes[1].name", "team"]
        );
    }

    #[test]
    fn browsers_say_where_a_write_comes_from() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "berth.example:3000".parse().unwrap());
        assert!(
            cross_site(&h).is_none(),
            "no browser headers: not a browser"
        );
        h.insert(header::ORIGIN, "http://berth.example:3000".parse().unwrap());
        assert!(cross_site(&h).is_none());
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(cross_site(&h).is_some());
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(
            cross_site(&h).is_none(),
            "Sec-Fetch-Site decides when present"
        );
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(cross_site(&h).is_some());
    }
}
