use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    api::{AuditEvent, AuditQuery, Me},
    components::{when, Authed, ErrorMessage},
    server::list_audit,
};

#[component]
pub fn Audit() -> impl IntoView {
    view! { <Title text="Audit trail"/><Authed view=|_me: Me| view! { <AuditTrail/> }/> }
}

/// The filters live in the URL, so a filtered view can be bookmarked and shared.
#[component]
fn AuditTrail() -> impl IntoView {
    let params = use_query_map();
    let query = move || {
        let p = params.read();
        let get = |k: &str| p.get(k).filter(|v| !v.is_empty());
        AuditQuery {
            actor: get("actor"),
            team: get("team"),
            action: get("action"),
            target_type: get("target_type"),
            target_id: get("target_id"),
            namespace: get("namespace"),
            since: get("since").map(rfc3339),
            until: get("until").map(rfc3339),
            limit: get("limit").and_then(|l| l.parse().ok()),
            cursor: get("cursor"),
        }
    };
    let page = Resource::new(query, list_audit);
    let field = move |name: &'static str| params.read().get(name).unwrap_or_default();
    let export = move |format: &str| {
        let q = query();
        let mut url = format!("/api/v1/audit/export?format={format}");
        for (k, v) in [
            ("actor", q.actor),
            ("team", q.team),
            ("action", q.action),
            ("target_type", q.target_type),
            ("target_id", q.target_id),
            ("namespace", q.namespace),
            ("since", q.since),
            ("until", q.until),
        ] {
            if let Some(v) = v {
                url.push_str(&format!("&{k}={}", encode(&v)));
            }
        }
        url
    };
    view! {
        <h1>"Audit trail"</h1>
        <form method="get" action="/audit" class="filters card" aria-label="Filter the audit trail">
            <div><label for="f-actor">"Actor email"</label><input id="f-actor" name="actor" prop:value=move || field("actor")/></div>
            <div><label for="f-team">"Team"</label><input id="f-team" name="team" prop:value=move || field("team")/></div>
            <div><label for="f-action">"Action (or prefix like team.)"</label><input id="f-action" name="action" prop:value=move || field("action")/></div>
            <div><label for="f-target">"Target type"</label>
                <select id="f-target" name="target_type" prop:value=move || field("target_type")>
                    <option value="">"any"</option>
                    {["namespace_request", "namespace", "cluster", "team", "user", "token", "drill", "freeze", "git_repository", "session"]
                        .map(|t| view! { <option value=t>{t.replace('_', " ")}</option> }).collect_view()}
                </select></div>
            <div><label for="f-namespace">"Namespace"</label><input id="f-namespace" name="namespace" prop:value=move || field("namespace")/></div>
            <div><label for="f-since">"Since (UTC)"</label><input id="f-since" name="since" type="datetime-local" prop:value=move || local(field("since"))/></div>
            <div><label for="f-until">"Until (UTC)"</label><input id="f-until" name="until" type="datetime-local" prop:value=move || local(field("until"))/></div>
            <div class="buttons">
                <button type="submit">"Filter"</button>
                <a href=move || export("csv")>"Export CSV"</a>
                <a href=move || export("ndjson")>"Export NDJSON"</a>
            </div>
        </form>
        <Suspense fallback=|| view! { <p class="muted">"Loading events…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) if page.items.is_empty() => view! { <p class="muted">"No events match."</p> }.into_any(),
                    Ok(page) => {
                        let next = page.next_cursor.map(|cursor| {
                            let mut q = query();
                            q.cursor = Some(cursor);
                            let mut url = String::from("/audit?");
                            for (k, v) in [
                                ("actor", q.actor), ("team", q.team), ("action", q.action), ("target_type", q.target_type),
                                ("target_id", q.target_id), ("namespace", q.namespace), ("since", q.since), ("until", q.until),
                                ("cursor", q.cursor),
                            ] {
                                if let Some(v) = v {
                                    url.push_str(&format!("{k}={}&", encode(&v)));
                                }
                            }
                            url
                        });
                        view! {
                            <div class="table-wrap" tabindex="0"><table class="audit">
                                <thead><tr><th>"#"</th><th>"When"</th><th>"Actor"</th><th>"Action"</th><th>"Target"</th><th>"Team"</th><th>"Change"</th></tr></thead>
                                <tbody>
                                    {page.items.into_iter().map(|e| {
                                        let target = target(&e);
                                        let change = changes(e.before.as_ref(), e.after.as_ref());
                                        view! {
                                            <tr>
                                                <td>{e.id}</td>
                                                <td>{when(e.occurred_at)}</td>
                                                <td>{e.actor}</td>
                                                <td><code>{e.action}</code></td>
                                                <td>{target}</td>
                                                <td>{e.team.clone().map(|t| view! { <a href=format!("/teams/{t}")>{t.clone()}</a> })}</td>
                                                <td class="change"><Change lines=change/></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                            {next.map(|href| view! { <p><a href=href>"Older events →"</a></p> })}
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A datetime-local value (`2026-12-07T10:00`, UTC) as RFC 3339; anything else as it is.
fn rfc3339(raw: String) -> String {
    match raw.len() {
        16 if raw.as_bytes()[10] == b'T' => format!("{raw}:00Z"),
        19 if raw.as_bytes()[10] == b'T' => format!("{raw}Z"),
        _ => raw,
    }
}

/// An RFC 3339 time as a datetime-local field shows it.
fn local(raw: String) -> String {
    raw.get(..16).map(str::to_owned).unwrap_or(raw)
}

/// The event's target by name, linked to its page where it has one.
fn target(e: &AuditEvent) -> AnyView {
    let named = |key: &str| {
        e.after
            .as_ref()
            .and_then(|a| a.get(key))
            .or_else(|| e.before.as_ref().and_then(|b| b.get(key)))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let short: String = e.target_id.chars().take(8).collect();
    let id = e.target_id.clone();
    match e.target_type.as_str() {
        "namespace_request" => {
            let text = named("namespace").map_or(format!("request {short}"), |n| format!("request for {n}"));
            view! { <a href=format!("/requests/{id}")>{text}</a> }.into_any()
        }
        "namespace" => match (named("namespace"), named("cluster")) {
            (Some(n), Some(c)) => view! { <a href=format!("/namespaces/{c}/{n}")>{format!("namespace {n}")}</a> }.into_any(),
            (Some(n), None) => view! { <a href=format!("/audit?namespace={}", encode(&n))>{format!("namespace {n}")}</a> }.into_any(),
            _ => view! { <span>{format!("namespace {short}")}</span> }.into_any(),
        },
        "cluster" => view! { <a href=format!("/clusters/{id}")>{format!("cluster {id}")}</a> }.into_any(),
        "team" => view! { <a href=format!("/teams/{id}")>{format!("team {id}")}</a> }.into_any(),
        "drill" => view! { <a href=format!("/drills/{id}")>{format!("drill {short}")}</a> }.into_any(),
        other => view! { <span>{format!("{} {}", other.replace('_', " "), if id.len() > 20 { short } else { id })}</span> }.into_any(),
    }
}

/// One changed value: its path, what it was and what it became.
#[derive(Clone)]
struct Line {
    path: String,
    before: Option<String>,
    after: Option<String>,
}

/// Every leaf of a JSON document by its dotted path.
fn leaves(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&path, v, out);
            }
        }
        Value::Array(a) if !a.is_empty() && a.iter().any(|x| x.is_object()) => {
            for (i, v) in a.iter().enumerate() {
                leaves(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// Before → after, leaf by leaf: what changed, what came, what went.
fn changes(before: Option<&Value>, after: Option<&Value>) -> Vec<Line> {
    let (mut b, mut a) = (BTreeMap::new(), BTreeMap::new());
    if let Some(v) = before {
        leaves("", v, &mut b);
    }
    if let Some(v) = after {
        leaves("", v, &mut a);
    }
    let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| Line {
            path: k.clone(),
            before: b.get(k).cloned(),
            after: a.get(k).cloned(),
        })
        .collect()
}

/// A change as lines: the first few, the rest behind "all N".
#[component]
fn Change(lines: Vec<Line>) -> impl IntoView {
    let line = |l: Line| {
        view! {
            <li>
                <code>{l.path}</code>": "
                {l.before.map(|b| view! { <del>{b}</del> })}
                {l.after.is_some().then_some(" → ")}
                {l.after.map(|a| view! { <ins>{a}</ins> })}
            </li>
        }
    };
    let total = lines.len();
    let mut shown = lines;
    let rest = shown.split_off(total.min(6));
    view! {
        <ul class="diff">{shown.into_iter().map(line).collect_view()}</ul>
        {(!rest.is_empty()).then(|| view! {
            <details><summary>{format!("all {total} changes")}</summary>
                <ul class="diff">{rest.into_iter().map(line).collect_view()}</ul>
            </details>
        })}
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
