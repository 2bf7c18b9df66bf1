//! Capacity: a namespace's right-sizing table (sortable, filterable, a usage chart per
//! container), its suggested quota with a prefilled quota change, the team roll-up, the
//! replica planner and pool headroom. Choices live in the URL so views can be shared.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};

use crate::{
    api::{
        ClusterHeadroom, ContainerRecommendation, Me, NamespaceRecommendations, QuotaSuggestion,
        Strategy, TeamSizing,
    },
    components::{field_error, form_error, when, Authed, ErrorMessage},
    pages::fleet::{cores, gib},
    server::{
        get_headroom, get_quota_suggestion, get_recommendations, get_team_sizing, list_clusters,
        list_teams, PlanCapacity, RightSizeQuota,
    },
};

const MIB: f64 = 1024.0 * 1024.0;

fn millis_text(m: Option<i64>) -> String {
    m.map_or("—".into(), |m| format!("{m}m"))
}

fn bytes_text(b: Option<i64>) -> String {
    b.map_or("—".into(), |b| format!("{:.0}Mi", b as f64 / MIB))
}

fn signed(v: Option<i64>, unit: &str, scale: f64) -> String {
    match v {
        None => "—".into(),
        Some(v) => format!(
            "{}{:.0}{unit}",
            if v > 0 { "+" } else { "" },
            v as f64 / scale
        ),
    }
}

/// Usage from the median to the 99th percentile as a bar, the maximum as a tick, the current
/// request in red and the recommendation in green, on one scale whose axis is labelled in
/// `unit` at 0, half and the top.
#[component]
fn UsageChart(
    label: String,
    unit: &'static str,
    p50: Option<f64>,
    p99: Option<f64>,
    max: Option<f64>,
    request: Option<f64>,
    recommended: Option<f64>,
) -> impl IntoView {
    let top = [p99, max, request, recommended]
        .into_iter()
        .flatten()
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1;
    let x = move |v: f64| v / top * 200.0;
    let described = format!(
        "{label} in {unit}, axis 0 to {top:.0}: median {:.0}, p99 {:.0}, max {:.0}, request {}, recommended {}",
        p50.unwrap_or(0.0),
        p99.unwrap_or(0.0),
        max.unwrap_or(0.0),
        request.map_or("none".into(), |r| format!("{r:.0}")),
        recommended.map_or("none".into(), |r| format!("{r:.0}")),
    );
    let ticks = [(0.0, "start"), (0.5, "middle"), (1.0, "end")];
    view! {
        <svg class="usage-chart" viewBox="0 0 200 32" role="img" aria-label=described>
            <rect x="0" y="5" width="200" height="6" class="track"/>
            {p50.zip(p99).map(|(a, b)| view! {
                <rect x=format!("{:.1}", x(a)) y="3" width=format!("{:.1}", (x(b) - x(a)).max(1.0)) height="10" class="spread"/>
            })}
            {max.map(|m| view! { <rect x=format!("{:.1}", x(m)) y="1" width="1.5" height="14" class="peak"/> })}
            {request.map(|r| view! { <rect x=format!("{:.1}", x(r)) y="0" width="2" height="16" class="request"/> })}
            {recommended.map(|r| view! { <rect x=format!("{:.1}", x(r)) y="0" width="2" height="16" class="recommended"/> })}
            <line x1="0" x2="200" y1="18" y2="18" class="axis"/>
            {ticks.map(|(at, anchor)| view! {
                <line x1=format!("{:.1}", at * 199.0 + 0.5) x2=format!("{:.1}", at * 199.0 + 0.5) y1="18" y2="21" class="axis"/>
                <text x=format!("{:.1}", at * 200.0) y="30" text-anchor=anchor class="tick">{format!("{:.0}{unit}", at * top)}</text>
            })}
        </svg>
    }
}

#[derive(Clone, Copy, PartialEq)]
enum SortBy {
    Workload,
    CpuDelta,
    MemoryDelta,
}

#[component]
fn RecommendationTable(r: NamespaceRecommendations) -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let sort = RwSignal::new(SortBy::CpuDelta);
    let rows = StoredValue::new(r.containers);
    let shown = move || {
        let needle = filter.get().to_lowercase();
        let mut rows: Vec<ContainerRecommendation> = rows
            .get_value()
            .into_iter()
            .filter(|c| {
                needle.is_empty()
                    || format!("{} {} {}", c.workload_kind, c.workload, c.container)
                        .to_lowercase()
                        .contains(&needle)
            })
            .collect();
        match sort.get() {
            SortBy::Workload => {
                rows.sort_by(|a, b| (&a.workload, &a.container).cmp(&(&b.workload, &b.container)))
            }
            SortBy::CpuDelta => rows.sort_by_key(|c| c.cpu_delta_millis.unwrap_or(0)),
            SortBy::MemoryDelta => rows.sort_by_key(|c| c.memory_delta_bytes.unwrap_or(0)),
        }
        rows
    };
    let header = move |label: &'static str, by: SortBy| {
        view! {
            <th aria-sort=move || if sort.get() == by { "ascending" } else { "none" }>
                <button type="button" class="link" on:click=move |_| sort.set(by)>{label}</button>
            </th>
        }
    };
    view! {
        <label for="rec-filter">"Filter by workload or container"</label>
        <input id="rec-filter" placeholder="checkout" on:input=move |ev| filter.set(event_target_value(&ev)) prop:value=filter/>
        <div class="table-wrap" tabindex="0"><table class="recommendations">
            <thead><tr>
                {header("Workload", SortBy::Workload)}
                <th>"Container"</th><th>"Pods"</th>
                <th>"CPU request now → recommended"</th>{header("Δ CPU", SortBy::CpuDelta)}
                <th>"Memory request now → recommended"</th>{header("Δ memory", SortBy::MemoryDelta)}
                <th>"CPU usage (millicores)"</th><th>"Memory usage (MiB)"</th>
            </tr></thead>
            <tbody>
                <For each=shown key=|c| (c.workload_kind.clone(), c.workload.clone(), c.container.clone()) let:c>
                    <tr>
                        <td>{c.workload_kind.clone()}" "<code>{c.workload.clone()}</code>
                            {c.hpa.clone().map(|h| view! { <span class="badge">"HPA "{h}</span> })}</td>
                        <td><code>{c.container.clone()}</code></td>
                        <td>{format!("{} running / {} seen", c.replicas, c.pods_seen)}</td>
                        <td>{millis_text(c.current.cpu_request_millis)}" → "<strong>{millis_text(c.recommended.cpu_request_millis)}</strong>
                            {c.cpu_bounds_millis.map(|(l, u)| view! { <span class="muted small">{format!(" ({l}m–{u}m)")}</span> })}
                            {c.cpu_info.clone().map(|i| view! { <span class="muted small">" "{i}</span> })}</td>
                        <td class:saving=c.cpu_delta_millis.is_some_and(|d| d < 0)>{signed(c.cpu_delta_millis, "m", 1.0)}</td>
                        <td>{bytes_text(c.current.memory_request_bytes)}" → "<strong>{bytes_text(c.recommended.memory_request_bytes)}</strong>
                            {c.recommended.memory_limit_bytes.map(|l| view! { <span class="muted small">{format!(" (limit {:.0}Mi)", l as f64 / MIB)}</span> })}
                            {c.memory_info.clone().map(|i| view! { <span class="muted small">" "{i}</span> })}</td>
                        <td class:saving=c.memory_delta_bytes.is_some_and(|d| d < 0)>{signed(c.memory_delta_bytes, "Mi", MIB)}</td>
                        <td><UsageChart label="CPU".into() unit="m" p50=c.usage.cpu_p50 p99=c.usage.cpu_p99 max=c.usage.cpu_max
                            request=c.current.cpu_request_millis.map(|m| m as f64)
                            recommended=c.recommended.cpu_request_millis.map(|m| m as f64)/></td>
                        <td><UsageChart label="Memory".into() unit="Mi" p50=c.usage.memory_p50.map(|b| b / MIB) p99=c.usage.memory_max.map(|b| b / MIB)
                            max=c.usage.memory_max.map(|b| b / MIB)
                            request=c.current.memory_request_bytes.map(|b| b as f64 / MIB)
                            recommended=c.recommended.memory_request_bytes.map(|b| b as f64 / MIB)/></td>
                    </tr>
                </For>
            </tbody>
        </table></div>
        <p class="muted small">"Charts: grey bar median to p99 (memory: median to peak), dark tick the peak, red the request now, green the recommendation."</p>
    }
}

#[component]
fn Savings(r: NamespaceRecommendations) -> impl IntoView {
    let t = r.totals;
    let cpu = t.current_cpu_cores - t.recommended_cpu_cores;
    let mem = t.current_memory_gib - t.recommended_memory_gib;
    let tone = if cpu >= 0.0 && mem >= 0.0 {
        "ok"
    } else {
        "warn"
    };
    view! {
        <section class="card savings" aria-label="Savings">
            <h2>"Summary"</h2>
            <p>{format!("Requests over running replicas: {:.2} → {:.2} cores, {:.2} → {:.2} GiB.",
                t.current_cpu_cores, t.recommended_cpu_cores, t.current_memory_gib, t.recommended_memory_gib)}</p>
            <p class=tone>
                {format!("{} {:.2} cores and {} {:.2} GiB.",
                    if cpu >= 0.0 { "Frees" } else { "Needs" }, cpu.abs(),
                    if mem >= 0.0 { "frees" } else { "needs" }, mem.abs())}
            </p>
            <p class="muted small">{format!("{} strategy, {} h of history at {} s steps, {} Prometheus queries, read {}.",
                r.strategy.as_str(), r.history_hours, r.step_seconds, r.queries, when(r.generated_at))}</p>
        </section>
    }
}

/// A suggested quota and how it was reached; also what an approver sees on the request.
#[component]
pub fn Evidence(suggestion: QuotaSuggestion) -> impl IntoView {
    let s = suggestion;
    let rows = [
        (
            "requests.cpu",
            s.current.requests_cpu.clone(),
            s.suggested.requests_cpu.clone(),
        ),
        (
            "requests.memory",
            s.current.requests_memory.clone(),
            s.suggested.requests_memory.clone(),
        ),
        (
            "limits.cpu",
            s.current.limits_cpu.clone(),
            s.suggested.limits_cpu.clone(),
        ),
        (
            "limits.memory",
            s.current.limits_memory.clone(),
            s.suggested.limits_memory.clone(),
        ),
    ];
    view! {
        <section class="card evidence" aria-label="Capacity evidence">
            <h2>"Capacity evidence"</h2>
            <div class="table-wrap" tabindex="0"><table>
                <thead><tr><th>"Quota"</th><th>"Now"</th><th>"Suggested"</th></tr></thead>
                <tbody>{rows.into_iter().map(|(k, now, new)| {
                    let changed = now != new;
                    view! { <tr class:changed=changed><td>{k}</td><td>{now}</td><td>{new}</td></tr> }
                }).collect_view()}</tbody>
            </table></div>
            {s.used.map(|u| view! { <p>{format!("ResourceQuota used: {} CPU requests, {} memory requests.", cores(u.cpu_millis), gib(u.memory_bytes))}</p> })}
            <ul>{s.reasoning.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}</ul>
            <p class="muted small">{format!("Gathered {} ({} strategy, {} h).", when(s.generated_at), s.strategy.as_str(), s.history_hours)}</p>
        </section>
    }
}

#[component]
fn RightSizeForm(s: QuotaSuggestion, csrf: String) -> impl IntoView {
    let action = ServerAction::<RightSizeQuota>::new();
    let value = action.value();
    let purpose = format!(
        "Right-size to measured usage ({} h, {} strategy)",
        s.history_hours,
        s.strategy.as_str()
    );
    view! {
        <section class="card">
            <h2>"Request this quota"</h2>
            <p class="muted">"Prefilled from the suggestion; change anything before sending. The approver sees the evidence above."</p>
            {form_error(value)}
            <ActionForm action=action>
                <input type="hidden" name="csrf" value=csrf/>
                <input type="hidden" name="cluster" value=s.cluster.clone()/>
                <input type="hidden" name="name" value=s.namespace.clone()/>
                <div class="grid4">
                    <div><label for="rs-rc">"requests.cpu"</label><input id="rs-rc" name="requests_cpu" value=s.suggested.requests_cpu.clone()/></div>
                    <div><label for="rs-rm">"requests.memory"</label><input id="rs-rm" name="requests_memory" value=s.suggested.requests_memory.clone()/></div>
                    <div><label for="rs-lc">"limits.cpu"</label><input id="rs-lc" name="limits_cpu" value=s.suggested.limits_cpu.clone()/></div>
                    <div><label for="rs-lm">"limits.memory"</label><input id="rs-lm" name="limits_memory" value=s.suggested.limits_memory.clone()/></div>
                </div>
                {field_error(value, "quota.requests_cpu")}{field_error(value, "quota.requests_memory")}
                {field_error(value, "quota.limits_cpu")}{field_error(value, "quota.limits_memory")}{field_error(value, "quota")}
                <label for="rs-purpose">"Why"</label>
                <input id="rs-purpose" name="purpose" value=purpose required/>
                {field_error(value, "purpose")}
                <button type="submit">"Request the right-sized quota"</button>
            </ActionForm>
            {move || value.get().and_then(|r| r.ok()).map(|d| view! {
                <p class="ok" role="status">"Quota change "{d.request.state}". "<A href=format!("/requests/{}", d.request.id)>"Follow it"</A></p>
            })}
        </section>
    }
}

/// `/capacity/:cluster/:name`: one namespace's right-sizing.
#[component]
pub fn NamespaceCapacity() -> impl IntoView {
    let name = crate::components::param("name");
    let cluster = crate::components::param("cluster");
    let title = move || format!("Capacity of {} on {}", name(), cluster());
    view! { <Title text=title/><Authed view=|me: Me| view! { <NamespaceCapacityView me/> }/> }
}

#[component]
fn NamespaceCapacityView(me: Me) -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || {
        let p = params.read();
        let q = query.read();
        let strategy = match q.get("strategy").as_deref() {
            Some("decaying") => Strategy::Decaying,
            _ => Strategy::Simple,
        };
        (
            p.get("cluster").unwrap_or_default(),
            p.get("name").unwrap_or_default(),
            strategy,
            q.get("allow_hpa").is_some_and(|v| v == "true"),
            q.get("use_oomkill").is_some_and(|v| v == "true"),
        )
    };
    let recs = Resource::new(key, |(c, n, s, h, o)| get_recommendations(c, n, s, h, o));
    let suggestion = Resource::new(
        move || {
            let (c, n, ..) = key();
            (c, n)
        },
        |(c, n)| get_quota_suggestion(c, n),
    );
    let csrf = me.csrf_token.clone().unwrap_or_default();
    let (cluster, name, ..) = key();
    let strategy = move || key().2.as_str();
    let allow = move || key().3;
    let oom = move || key().4;
    view! {
        <h1>"Right-sizing "<code>{name.clone()}</code>" on "{cluster.clone()}</h1>
        <p><A href=format!("/namespaces/{cluster}/{name}")>"Back to the namespace"</A></p>
        <form method="get" class="filters card" aria-label="Recommendation settings">
            <div><label for="strategy">"Strategy"</label>
                <select id="strategy" name="strategy">
                    <option value="simple" selected=move || strategy() == "simple">"simple (KRR defaults)"</option>
                    <option value="decaying" selected=move || strategy() == "decaying">"decaying (VPA histograms)"</option>
                </select></div>
            <div><label><input type="checkbox" name="allow_hpa" value="true" checked=allow/>" Recommend where an HPA scales on the resource"</label></div>
            <div><label><input type="checkbox" name="use_oomkill" value="true" checked=oom/>" After an OOM kill, at least the memory limit + 25% (simple)"</label></div>
            <div class="buttons"><button type="submit">"Show"</button></div>
        </form>
        <Suspense fallback=|| view! { <p class="muted">"Asking Prometheus…"</p> }>
            {move || Suspend::new(async move {
                match recs.await {
                    Ok(r) if r.containers.is_empty() => view! {
                        <p class="muted">"Prometheus has no container usage for this namespace over the history."</p>
                    }.into_any(),
                    Ok(r) => view! { <Savings r=r.clone()/><RecommendationTable r/> }.into_any(),
                    Err(error) => view! {
                        <div class="card"><h2>"Prometheus did not answer"</h2><ErrorMessage error/>
                        <p class="muted">"The rest of Berth keeps working; recommendations return when Prometheus does."</p></div>
                    }.into_any(),
                }
            })}
        </Suspense>
        <Suspense fallback=|| ()>
            {move || {
                let csrf = csrf.clone();
                Suspend::new(async move {
                    suggestion.await.ok().map(|s| view! { <Evidence suggestion=s.clone()/><RightSizeForm s csrf/> })
                })
            }}
        </Suspense>
    }
}

#[component]
fn TeamTable(t: TeamSizing) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0"><table>
            <thead><tr><th>"Namespace"</th><th>"Containers"</th><th>"CPU now → recommended"</th><th>"Memory now → recommended"</th></tr></thead>
            <tbody>
                {t.namespaces.into_iter().map(|n| view! {
                    <tr>
                        <td><A href=format!("/capacity/{}/{}", n.cluster, n.namespace)><code>{n.namespace.clone()}</code></A>" on "{n.cluster.clone()}</td>
                        {match n.error {
                            Some(e) => view! { <td colspan="3" class="error small">{e}</td> }.into_any(),
                            None => view! {
                                <td>{n.containers}</td>
                                <td>{format!("{:.2} → {:.2} cores", n.totals.current_cpu_cores, n.totals.recommended_cpu_cores)}</td>
                                <td>{format!("{:.2} → {:.2} GiB", n.totals.current_memory_gib, n.totals.recommended_memory_gib)}</td>
                            }.into_any(),
                        }}
                    </tr>
                }).collect_view()}
                <tr class="total"><td>"Team total"</td><td></td>
                    <td>{format!("{:.2} → {:.2} cores", t.totals.current_cpu_cores, t.totals.recommended_cpu_cores)}</td>
                    <td>{format!("{:.2} → {:.2} GiB", t.totals.current_memory_gib, t.totals.recommended_memory_gib)}</td></tr>
            </tbody>
        </table></div>
    }
}

#[component]
fn HeadroomChart(h: ClusterHeadroom) -> impl IntoView {
    let top = h.pools.iter().map(|p| p.fits).max().unwrap_or(0).max(1) as f64;
    view! {
        <p class="muted">{format!("{}: pods of {}m CPU and {:.0}Mi memory that fit now, per pool.", h.cluster, h.shape_cpu_millis, h.shape_memory_bytes as f64 / MIB)}
            {h.observed_at.map(|t| format!(" Nodes read {}.", when(t)))}</p>
        <div class="table-wrap" tabindex="0"><table class="headroom">
            <thead><tr><th>"Pool"</th><th>"Nodes"</th><th>"Fit now"</th><th>"Free CPU / memory"</th><th>"Stranded CPU / memory"</th></tr></thead>
            <tbody>{h.pools.into_iter().map(|p| view! {
                <tr>
                    <td>{p.pool.clone()}</td><td>{p.nodes}</td>
                    <td><span class="bar" role="img" aria-label=format!("{} pods fit", p.fits)>
                        <span class="fill" style=format!("width:{:.1}%", p.fits as f64 / top * 100.0)></span></span>" "{p.fits}</td>
                    <td>{format!("{} / {}", cores(p.free.cpu_millis), gib(p.free.memory_bytes))}</td>
                    <td>{format!("{} / {}", cores(p.stranded.cpu_millis), gib(p.stranded.memory_bytes))}</td>
                </tr>
            }).collect_view()}</tbody>
        </table></div>
    }
}

#[component]
fn Planner() -> impl IntoView {
    let action = ServerAction::<PlanCapacity>::new();
    let value = action.value();
    let input = move |id: &'static str, label: &'static str, default: &'static str| {
        view! {
            <div><label for=format!("plan-{id}")>{label}</label>
                <input id=format!("plan-{id}") name=id value=default inputmode="decimal"/>
                {field_error(value, id)}</div>
        }
    };
    view! {
        <section class="card" aria-label="Replica planner">
            <h2>"Replica and HPA planner"</h2>
            <p class="muted">"target replicas = peak ÷ pod capacity × safety factor; reserve nodes = peak increment × (pod start-up + node ready) ÷ node capacity."</p>
            {form_error(value)}
            <ActionForm action=action>
                <div class="grid4">
                    {input("peak_traffic", "Peak traffic (req/s)", "12000")}
                    {input("baseline_traffic", "Off-peak traffic (req/s)", "2000")}
                    {input("pod_capacity", "One pod serves (req/s)", "400")}
                    {input("safety_factor", "Safety factor (≥ 1)", "1.5")}
                    {input("pod_startup_seconds", "Pod start-up (s)", "45")}
                    {input("node_ready_seconds", "Node ready (s)", "120")}
                    {input("pods_per_node", "Pods per node", "8")}
                    {input("peak_increment", "Traffic climb at peak (req/s per s)", "50")}
                </div>
                <label for="plan-event_at">"Event start (optional, UTC): plan a pre-scale"</label>
                <input id="plan-event_at" name="event_at" type="datetime-local"/>
                {field_error(value, "event_at")}
                <button type="submit">"Plan"</button>
            </ActionForm>
            {move || value.get().and_then(|r| r.ok()).map(|p| view! {
                <dl class="plan" role="status">
                    <dt>"Target replicas"</dt><dd>{p.target_replicas}</dd>
                    <dt>"HPA"</dt><dd>{format!("min {} · max {} · target utilization {}%", p.hpa_min_replicas, p.hpa_max_replicas, p.hpa_target_utilization_percent)}</dd>
                    <dt>"Cluster reserve"</dt><dd>{format!("{:.2} nodes → keep {} spare (scale-up {:.0} s, node capacity {:.0} req/s)",
                        p.reserve_nodes, p.reserve_nodes_rounded, p.scale_up_seconds, p.node_capacity)}</dd>
                    {p.pre_scale.into_iter().map(|s| view! { <dt>{when(s.at)}</dt><dd>{format!("min replicas {}: {}", s.min_replicas, s.note)}</dd> }).collect_view()}
                </dl>
            })}
        </section>
    }
}

/// `/capacity`: the team roll-up, the planner and pool headroom.
#[component]
pub fn Capacity() -> impl IntoView {
    view! { <Title text="Capacity"/><Authed view=|me: Me| view! { <CapacityView me/> }/> }
}

#[component]
fn CapacityView(me: Me) -> impl IntoView {
    let query = use_query_map();
    let first_team = me.teams.first().map(|t| t.team.clone()).unwrap_or_default();
    let first_team = StoredValue::new(first_team);
    let team = move || {
        query
            .read()
            .get("team")
            .unwrap_or_else(|| first_team.get_value())
    };
    let shape = move || {
        let q = query.read();
        (
            q.get("cluster").unwrap_or_default(),
            q.get("cpu").unwrap_or_else(|| "500m".into()),
            q.get("memory").unwrap_or_else(|| "1Gi".into()),
        )
    };
    let teams = Resource::new(|| (), |_| list_teams());
    let clusters = Resource::new(|| (), |_| list_clusters());
    // Admins belong to no team: they start with the first team there is; headroom starts with
    // the first cluster. Each resource is one server call (several awaits in a fetcher broke
    // hydration on some loads).
    let sizing = Resource::new(team, get_team_sizing);
    let headroom = Resource::new(shape, |(c, cpu, mem)| get_headroom(c, cpu, mem));
    let field =
        move |k: &'static str, d: &'static str| query.read().get(k).unwrap_or_else(|| d.to_owned());
    view! {
        <h1>"Capacity"</h1>
        <section class="card">
            <h2>"Team right-sizing"</h2>
            <form method="get" class="inline" aria-label="Choose a team">
                <label for="cap-team">"Team"</label>
                <Suspense fallback=|| view! { <select id="cap-team" disabled><option>"Loading the teams…"</option></select> }>
                    {move || Suspend::new(async move {
                        let current = team();
                        let names: Vec<String> = teams.await.map(|t| t.into_iter().map(|t| t.name).collect()).unwrap_or_default();
                        view! {
                            <select id="cap-team" name="team">
                                {names.into_iter().map(|n| { let sel = n == current; view! { <option selected=sel>{n}</option> } }).collect_view()}
                            </select>
                        }
                    })}
                </Suspense>
                <button type="submit">"Show"</button>
            </form>
            <Suspense fallback=|| view! { <p class="muted">"Asking Prometheus for every namespace…"</p> }>
                {move || Suspend::new(async move {
                    match sizing.await {
                        Ok(Some(t)) if t.namespaces.is_empty() => view! { <p class="muted">"This team has no namespaces yet."</p> }.into_any(),
                        Ok(Some(t)) => view! { <TeamTable t/> }.into_any(),
                        Ok(None) => view! { <p class="muted">"There are no teams yet."</p> }.into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <Planner/>
        <section class="card" aria-label="Pool headroom">
            <h2>"Pool headroom"</h2>
            <form method="get" class="filters" aria-label="Pod shape">
                <div><label for="hr-cluster">"Cluster"</label>
                    <Suspense fallback=|| view! { <select id="hr-cluster" disabled><option>"Loading the clusters…"</option></select> }>
                        {move || Suspend::new(async move {
                            let current = shape().0;
                            let names: Vec<String> = clusters.await.map(|c| c.into_iter().map(|c| c.name).collect()).unwrap_or_default();
                            view! {
                                <select id="hr-cluster" name="cluster">
                                    {names.into_iter().map(|n| { let sel = n == current; view! { <option selected=sel>{n}</option> } }).collect_view()}
                                </select>
                            }
                        })}
                    </Suspense></div>
                <div><label for="hr-cpu">"Pod CPU request"</label><input id="hr-cpu" name="cpu" prop:value=move || field("cpu", "500m")/></div>
                <div><label for="hr-memory">"Pod memory request"</label><input id="hr-memory" name="memory" prop:value=move || field("memory", "1Gi")/></div>
                <input type="hidden" name="team" prop:value=team/>
                <div class="buttons"><button type="submit">"Show headroom"</button></div>
            </form>
            <Suspense fallback=|| view! { <p class="muted">"Reading nodes…"</p> }>
                {move || Suspend::new(async move {
                    match headroom.await {
                        Ok(Some(h)) => view! { <HeadroomChart h/> }.into_any(),
                        Ok(None) => view! { <p class="muted">"There are no clusters yet."</p> }.into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
