//! Small pieces every page uses: the logged-in gate, error messages, dates.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use time::OffsetDateTime;

use crate::{
    api::{ErrorDetail, Me},
    app::use_me,
};

/// Renders `view` with the caller, or sends an anonymous visitor to the login page.
#[component]
pub fn Authed<F, V>(view: F) -> impl IntoView
where
    F: Fn(Me) -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let me = use_me();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let view = view.clone();
                Suspend::new(async move {
                    match me.await {
                        Ok(Some(me)) => view(me).into_any(),
                        Ok(None) => view! { <Redirect path="/login"/> }.into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
pub fn ErrorMessage(error: ErrorDetail) -> impl IntoView {
    view! { <p class="error" role="alert">{error.message}</p> }
}

/// The message for `field` from the last result of a form, placed next to the field. In the
/// browser the field's control is marked `aria-invalid` and described by the message, so a
/// screen reader says what is wrong where the focus is.
pub fn field_error<T, S>(value: S, field: &'static str) -> impl IntoView
where
    T: Send + Sync + 'static,
    S: With<Value = Option<Result<T, ErrorDetail>>> + Copy + Send + Sync + 'static,
{
    move || {
        value.with(|v| match v {
            Some(Err(e)) => e.field(field).map(|message| {
                let node = NodeRef::<leptos::html::Span>::new();
                #[cfg(feature = "hydrate")]
                {
                    Effect::new(move |_| {
                        if let Some(span) = node.get() {
                            described::tie(&span, field);
                        }
                    });
                    on_cleanup(move || described::untie(field));
                }
                view! { <span node_ref=node class="field-error" id=format!("{field}-error") role="alert">{message.to_owned()}</span> }
            }),
            _ => None,
        })
    }
}

/// Ties a field's message to its control, and moves the focus to the first control in error.
#[cfg(feature = "hydrate")]
mod described {
    use wasm_bindgen::JsCast;

    fn quoted(text: &str) -> String {
        text.replace('\\', "\\\\").replace('"', "\\\"")
    }

    /// The control a message belongs to: the one named like its field in the same form, else
    /// the control just before the message.
    fn control(span: &web_sys::Element, field: &str) -> Option<web_sys::Element> {
        let scope = span
            .closest("form")
            .ok()
            .flatten()
            .or_else(|| span.parent_element())?;
        let named = scope
            .query_selector(&format!("[name=\"{}\"]", quoted(field)))
            .ok()
            .flatten();
        named.or_else(|| {
            let before = span.previous_element_sibling()?;
            matches!(before.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA").then_some(before)
        })
    }

    pub fn tie(span: &web_sys::Element, field: &str) {
        if let Some(control) = control(span, field) {
            let _ = control.set_attribute("aria-invalid", "true");
            let _ = control.set_attribute("aria-describedby", &span.id());
        }
    }

    pub fn untie(field: &str) {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let selector = format!(
            "[aria-describedby=\"{}\"]",
            quoted(&format!("{field}-error"))
        );
        if let Ok(Some(control)) = document.query_selector(&selector) {
            let _ = control.remove_attribute("aria-invalid");
            let _ = control.remove_attribute("aria-describedby");
        }
    }

    /// After a refused submit, the focus goes to the first control in error.
    pub fn focus_first() {
        leptos::prelude::request_animation_frame(|| {
            let first = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.query_selector("[aria-invalid=\"true\"]").ok().flatten())
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
            if let Some(first) = first {
                let _ = first.focus();
            }
        });
    }
}

/// The form-level message of the last result: errors that name no field.
pub fn form_error<T, S>(value: S) -> impl IntoView
where
    T: Send + Sync + 'static,
    S: With<Value = Option<Result<T, ErrorDetail>>> + Copy + Send + Sync + 'static,
{
    move || {
        value.with(|v| match v {
            Some(Err(e)) => {
                let message = if e.fields.is_empty() {
                    e.message.clone()
                } else {
                    #[cfg(feature = "hydrate")]
                    described::focus_first();
                    "Please correct the fields marked below.".to_owned()
                };
                Some(view! { <p class="error" role="alert">{message}</p> })
            }
            _ => None,
        })
    }
}

/// Where a page sits: its parents as links, itself last. `trail` is (label, href) pairs; the
/// last one is the current page.
#[component]
pub fn Breadcrumbs(#[prop(into)] trail: Signal<Vec<(String, String)>>) -> impl IntoView {
    view! {
        <nav aria-label="Breadcrumb" class="crumbs">
            <ol>
                {move || {
                    let trail = trail.get();
                    let last = trail.len().saturating_sub(1);
                    trail
                        .into_iter()
                        .enumerate()
                        .map(|(i, (label, href))| {
                            if i == last {
                                view! { <li aria-current="page">{label}</li> }.into_any()
                            } else {
                                view! { <li><a href=href>{label}</a></li> }.into_any()
                            }
                        })
                        .collect_view()
                }}
            </ol>
        </nav>
    }
}

pub fn when(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// A full page load, so that the session the server set or cleared is read afresh.
pub fn reload_to(path: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// Sets `data-hydrated` on `<body>` once the page is interactive.
pub fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}

/// A route parameter, read reactively: what a page's title is made of.
pub fn param(name: &'static str) -> impl Fn() -> String + Copy + Send + Sync + 'static {
    let params = leptos_router::hooks::use_params_map();
    move || params.with(|p| p.get(name).unwrap_or_default())
}

// --- Lists: search, filters, sorting and paging kept in the URL -------------------------

/// A query parameter, read reactively; blank is absent.
pub fn query(name: &'static str) -> impl Fn() -> Option<String> + Copy + Send + Sync + 'static {
    let map = leptos_router::hooks::use_query_map();
    move || map.with(|q| q.get(name).filter(|v| !v.is_empty()))
}

/// This page with its query changed (read once: links are made afresh with their list).
/// `None` removes a parameter.
fn href_with(changes: &[(&str, Option<String>)]) -> String {
    let mut query = leptos_router::hooks::use_query_map().get_untracked();
    for (name, value) in changes {
        match value {
            Some(v) => query.replace(name.to_string(), v.clone()),
            None => {
                query.remove(name);
            }
        }
    }
    let path = leptos_router::hooks::use_location()
        .pathname
        .get_untracked();
    format!("{path}{}", query.to_query_string())
}

/// The list's order: `sort` names a column, `-column` the reverse.
pub fn sort_order() -> impl Fn() -> Option<(String, bool)> + Copy + Send + Sync + 'static {
    let sort = query("sort");
    move || {
        sort().map(|s| match s.strip_prefix('-') {
            Some(column) => (column.to_owned(), true),
            None => (s, false),
        })
    }
}

/// Sorts `items` by the column the URL names, with `key` giving each row's value for it.
pub fn sort_rows<T, K: Ord>(
    items: &mut [T],
    order: Option<(String, bool)>,
    key: impl Fn(&T, &str) -> K,
) {
    if let Some((column, descending)) = order {
        items.sort_by(|a, b| {
            let ordering = key(a, &column).cmp(&key(b, &column));
            if descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
    }
}

/// A column header that sorts the list by `column`, ascending and then descending; the
/// order is in the URL and announced with `aria-sort`. Made afresh whenever the order
/// changes (the table is rendered again), so it reads the URL once.
#[component]
pub fn SortHeader(label: &'static str, column: &'static str) -> impl IntoView {
    let current = leptos_router::hooks::use_query_map()
        .get_untracked()
        .get("sort")
        .unwrap_or_default();
    let state = if current == column {
        "ascending"
    } else if current.strip_prefix('-') == Some(column) {
        "descending"
    } else {
        "none"
    };
    let next = if state == "ascending" {
        format!("-{column}")
    } else {
        column.to_owned()
    };
    // A new order starts at its first page.
    let href = href_with(&[("sort", Some(next)), ("cursor", None)]);
    let arrow = match state {
        "ascending" => " ▲",
        "descending" => " ▼",
        _ => "",
    };
    view! {
        <th aria-sort=state>
            <a href=href class="sort">{label}<span aria-hidden="true">{arrow}</span></a>
        </th>
    }
}

/// A list's filter bar, a GET form so that it works without script and lands in the URL: the
/// search box (`q`), the team and the cluster (those the caller may see), the list's own
/// choices (`children`), the current order kept, and Filter.
#[component]
pub fn ListFilters(
    /// Prefix of the controls' ids.
    id: &'static str,
    /// What the bar filters, for assistive technology.
    label: &'static str,
    children: Children,
) -> impl IntoView {
    let search = query("q");
    let order = sort_order();
    let search_id = format!("{id}-q");
    let teams = Resource::new(|| (), |_| crate::server::list_teams());
    let clusters = Resource::new(|| (), |_| crate::server::list_clusters());
    // Read once: the selects keep what the visitor picks, and the Form lands it in the URL.
    let (team_q, cluster_q) = (query("team"), query("cluster"));
    // A filter's select: "All", then the names, the URL's value selected (and listed even
    // before the names have loaded, so a shared link shows what it filters by).
    let select = move |field: &'static str, all: &'static str, mut names: Vec<String>| {
        let current = untrack(if field == "team" { team_q } else { cluster_q }).unwrap_or_default();
        if !current.is_empty() && !names.contains(&current) {
            names.push(current.clone());
        }
        view! {
            <select id=format!("{id}-{field}") name=field>
                <option value="" selected=current.is_empty()>{all}</option>
                {names.into_iter().map(|n| {
                    let selected = n == current;
                    let label = n.clone();
                    view! { <option value=n selected=selected>{label}</option> }
                }).collect_view()}
            </select>
        }
    };
    view! {
        <leptos_router::components::Form method="GET" action="" attr:class="filters" attr:role="search" attr:aria-label=label>
            <label for=search_id.clone()>"Search"</label>
            <input id=search_id type="search" name="q" placeholder="namespace, team or cluster" prop:value=move || search().unwrap_or_default()/>
            <label for=format!("{id}-team")>"Filter by team"</label>
            <Suspense fallback=move || select("team", "All teams", Vec::new())>
                {move || Suspend::new(async move {
                    let names = teams.await.map(|t| t.into_iter().map(|t| t.name).collect()).unwrap_or_default();
                    select("team", "All teams", names)
                })}
            </Suspense>
            <label for=format!("{id}-cluster")>"Filter by cluster"</label>
            <Suspense fallback=move || select("cluster", "All clusters", Vec::new())>
                {move || Suspend::new(async move {
                    let names = clusters.await.map(|c| c.into_iter().map(|c| c.name).collect()).unwrap_or_default();
                    select("cluster", "All clusters", names)
                })}
            </Suspense>
            {children()}
            {move || order().map(|(column, descending)| view! {
                <input type="hidden" name="sort" value=if descending { format!("-{column}") } else { column }/>
            })}
            <button type="submit">"Filter"</button>
        </leptos_router::components::Form>
    }
}

/// Paging: back to the first page, and on to the next while there is one.
#[component]
pub fn Pager(next_cursor: Option<String>, shown: usize) -> impl IntoView {
    let on_later_page = query("cursor")().is_some();
    let first = href_with(&[("cursor", None)]);
    let next = next_cursor.map(|c| href_with(&[("cursor", Some(c))]));
    view! {
        <nav class="pager" aria-label="Pages">
            <span class="muted">{format!("{shown} shown")}</span>
            {on_later_page.then(|| view! { <a href=first>"First page"</a> })}
            {next.map(|href| view! { <a href=href rel="next">"Next page"</a> })}
        </nav>
    }
}
