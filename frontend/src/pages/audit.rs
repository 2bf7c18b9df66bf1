use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::{AuditQuery, Me},
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
            since: get("since"),
            until: get("until"),
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
            <div><label for="f-target">"Target type"</label><input id="f-target" name="target_type" prop:value=move || field("target_type")/></div>
            <div><label for="f-since">"Since (RFC 3339)"</label><input id="f-since" name="since" placeholder="2026-11-01T00:00:00Z" prop:value=move || field("since")/></div>
            <div><label for="f-until">"Until (RFC 3339)"</label><input id="f-until" name="until" prop:value=move || field("until")/></div>
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
                                ("target_id", q.target_id), ("since", q.since), ("until", q.until), ("cursor", q.cursor),
                            ] {
                                if let Some(v) = v {
                                    url.push_str(&format!("{k}={}&", encode(&v)));
                                }
                            }
                            url
                        });
                        view! {
                            <div class="table-wrap"><table class="audit">
                                <thead><tr><th>"#"</th><th>"When"</th><th>"Actor"</th><th>"Action"</th><th>"Target"</th><th>"Team"</th><th>"Change"</th></tr></thead>
                                <tbody>
                                    {page.items.into_iter().map(|e| {
                                        let change = match (&e.before, &e.after) {
                                            (Some(b), Some(a)) => format!("{b} → {a}"),
                                            (None, Some(a)) => a.to_string(),
                                            (Some(b), None) => format!("{b} → ∅"),
                                            (None, None) => String::new(),
                                        };
                                        view! {
                                            <tr>
                                                <td>{e.id}</td>
                                                <td>{when(e.occurred_at)}</td>
                                                <td>{e.actor}</td>
                                                <td><code>{e.action}</code></td>
                                                <td>{format!("{} {}", e.target_type, e.target_id)}</td>
                                                <td>{e.team.unwrap_or_default()}</td>
                                                <td class="change"><code>{change}</code></td>
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
