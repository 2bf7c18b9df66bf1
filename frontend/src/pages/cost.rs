//! A team's cost per month: what its quotas commit, what its pods request and what they would
//! after right-sizing, per namespace, as a chart, a table and a CSV; admins set the prices.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    api::{CostReport, Me, NamespaceCost, Price},
    components::{field_error, form_error, Authed, ErrorMessage},
    server::{
        get_cost_report, list_clusters, list_instance_prices, list_prices, SetInstancePrice,
        SetPrice,
    },
};

fn money(currency: &str, v: Option<f64>) -> String {
    match v {
        Some(v) => format!("{v:.2} {currency}"),
        None => "no price".into(),
    }
}

#[component]
pub fn TeamCost() -> impl IntoView {
    let name = crate::components::param("name");
    let title = move || format!("Cost of team {}", name());
    view! { <Title text=title/><Authed view=|me: Me| view! { <CostView me/> }/> }
}

#[component]
fn CostView(me: Me) -> impl IntoView {
    let params = use_params_map();
    let team = move || params.with(|p| p.get("name").unwrap_or_default());
    let set = ServerAction::<SetPrice>::new();
    let set_instance = ServerAction::<SetInstancePrice>::new();
    let report = Resource::new(
        move || (team(), set.version().get(), set_instance.version().get()),
        |(team, ..)| get_cost_report(team),
    );
    let is_admin = me.user.is_admin;
    let csrf = me.csrf_token.clone().unwrap_or_default();
    view! {
        <p class="crumbs"><A href=move || format!("/teams/{}", team())>{move || format!("Team {}", team())}</A>" › Cost"</p>
        <h1>{move || format!("Cost of {}", team())}</h1>
        <Suspense fallback=|| view! { <p class="muted">"Reading quotas, prices and usage…"</p> }>
            {move || Suspend::new(async move {
                match report.await {
                    Ok(r) => view! { <Report report=r/> }.into_any(),
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                }
            })}
        </Suspense>
        <Prices is_admin csrf=csrf.clone() set team=Signal::derive(team)/>
        <InstancePrices is_admin csrf set=set_instance team=Signal::derive(team)/>
    }
}

#[component]
fn Report(report: CostReport) -> impl IntoView {
    let cur = report.currency.clone();
    let t = report.totals.clone();
    let csv = format!("/api/v1/teams/{}/cost.csv", report.team);
    let unpriced = (t.unpriced > 0).then(|| {
        view! { <p class="warn" role="note">{format!(
            "{} namespace{} on pools without a price are left out of the totals: an admin sets a price below.",
            t.unpriced, if t.unpriced == 1 { "" } else { "s" })}</p> }
    });
    view! {
        <p class="muted">{format!(
            "Per month ({} h) at the platform's prices, in {cur}. Committed: what the quotas hold for the team (CPU, memory and GPUs). \
             Requested: what the running pods request. After right-sizing: their requests at the {} strategy's recommendation.",
            report.hours_per_month, report.strategy.as_str())}</p>
        <div class="cards">
            <div class="card stat"><span class="muted small">"Committed"</span><strong>{money(&cur, Some(t.committed_cost))}</strong></div>
            <div class="card stat"><span class="muted small">"Requested by pods"</span><strong>{money(&cur, Some(t.requested_cost))}</strong></div>
            <div class="card stat"><span class="muted small">"After right-sizing"</span><strong>{money(&cur, Some(t.recommended_cost))}</strong></div>
            <div class="card stat"><span class="muted small">"Right-sizing would save"</span><strong>{money(&cur, Some(t.savings))}</strong></div>
        </div>
        {unpriced}
        <p><a href=csv download>"Download CSV"</a></p>
        <CostChart namespaces=report.namespaces.clone() currency=cur.clone()/>
        <div class="table-wrap" tabindex="0"><table>
            <thead><tr><th>"Namespace"</th><th>"Cluster · pool"</th><th>"Committed"</th><th>"Requested"</th>
                <th>"After right-sizing"</th><th>"Savings"</th><th>"Price"</th></tr></thead>
            <tbody>
                {report.namespaces.into_iter().map(|n| {
                    let gpus: String = n.committed_extended.iter().map(|(k, v)| format!(", {v} {k}")).collect();
                    let cur = cur.clone();
                    view! {
                        <tr>
                            <td><A href=format!("/namespaces/{}/{}", n.cluster, n.namespace)>{n.namespace.clone()}</A>
                                {n.error.clone().map(|e| view! { <br/><small class="error">{format!("usage unavailable: {e}")}</small> })}</td>
                            <td>{format!("{} · {}", n.cluster, n.pool)}</td>
                            <td>{money(&cur, n.committed_cost)}<br/><small class="muted">{format!("{:.1} cores, {:.1} GiB{gpus}", n.committed_cpu_cores, n.committed_memory_gib)}</small></td>
                            <td>{money(&cur, n.requested_cost)}<br/><small class="muted">{format!("{:.2} cores, {:.2} GiB", n.requested_cpu_cores, n.requested_memory_gib)}</small></td>
                            <td>{money(&cur, n.recommended_cost)}<br/><small class="muted">{format!("{:.2} cores, {:.2} GiB", n.recommended_cpu_cores, n.recommended_memory_gib)}</small></td>
                            <td>{money(&cur, n.savings)}</td>
                            <td>{match n.price_from.as_deref() {
                                    Some("pool") => "the pool's",
                                    Some("instance") => "its instance type's",
                                    Some(_) => "the fleet default",
                                    None => "none set",
                                }}
                                {n.cpu_core_hour.zip(n.memory_gib_hour).map(|(c, m)| view! {
                                    <br/><small class="muted">{format!("{c:.4}/core-h, {m:.4}/GiB-h")}</small>
                                })}
                                {n.price_note.clone().map(|note| view! { <br/><small class="muted">{note}</small> })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table></div>
    }
}

/// Committed, requested and after right-sizing per namespace, as horizontal bars on one
/// axis in the currency, with its ticks labelled.
#[component]
fn CostChart(namespaces: Vec<NamespaceCost>, currency: String) -> impl IntoView {
    let priced: Vec<NamespaceCost> = namespaces
        .into_iter()
        .filter(|n| n.committed_cost.is_some())
        .collect();
    if priced.is_empty() {
        return view! { <p class="muted">"Nothing priced to chart yet."</p> }.into_any();
    }
    let max = priced
        .iter()
        .flat_map(|n| [n.committed_cost, n.requested_cost, n.recommended_cost])
        .flatten()
        .fold(0.0_f64, f64::max)
        .max(0.01);
    let (left, width, row) = (170.0, 460.0, 46.0);
    let height = priced.len() as f64 * row + 34.0;
    let x = move |v: f64| left + v / max * width;
    let series = [
        ("committed", "#3b6ea8"),
        ("requested", "#c9892b"),
        ("after right-sizing", "#3c8d5a"),
    ];
    let label = format!(
        "Monthly cost per namespace in {currency}: committed, requested and after right-sizing"
    );
    view! {
        <figure class="card chart">
            <svg viewBox=format!("0 0 {} {height}", left + width + 20.0) role="img" aria-label=label>
                {(0..=4).map(|i| {
                    let v = max * i as f64 / 4.0;
                    view! {
                        <line x1=x(v) x2=x(v) y1="0" y2=height - 24.0 stroke="#d5dbe3"/>
                        <text x=x(v) y=height - 8.0 font-size="11" text-anchor="middle">{format!("{v:.0}")}</text>
                    }
                }).collect_view()}
                {priced.iter().enumerate().map(|(i, n)| {
                    let y = i as f64 * row + 4.0;
                    let bars = [n.committed_cost, n.requested_cost, n.recommended_cost];
                    view! {
                        <text x=left - 8.0 y=y + 20.0 font-size="12" text-anchor="end">{n.namespace.clone()}</text>
                        {bars.into_iter().zip(series).enumerate().map(|(j, (v, (name, color)))| {
                            let v = v.unwrap_or(0.0);
                            view! {
                                <rect x=left y=y + j as f64 * 12.0 width=(x(v) - left).max(0.5) height="10" fill=color>
                                    <title>{format!("{}: {name} {v:.2}", n.namespace)}</title>
                                </rect>
                            }
                        }).collect_view()}
                    }
                }).collect_view()}
            </svg>
            <figcaption class="legend small">
                {series.into_iter().map(|(name, color)| view! {
                    <span><span class="swatch" style=format!("background:{color}")></span>{name}</span>
                }).collect_view()}
                <span class="muted">{format!("{currency} per month")}</span>
            </figcaption>
        </figure>
    }
    .into_any()
}

/// The prices in force; admins set the fleet's default or a pool's.
#[component]
fn Prices(
    is_admin: bool,
    csrf: String,
    set: ServerAction<SetPrice>,
    team: Signal<String>,
) -> impl IntoView {
    let prices = Resource::new(move || set.version().get(), |_| list_prices());
    let clusters = Resource::new(|| (), |_| list_clusters());
    let value = set.value();
    let scope_of = |p: &Price| match (&p.cluster, &p.pool) {
        (Some(c), Some(pool)) => format!("{c} · {pool}"),
        _ => "fleet default".to_owned(),
    };
    view! {
        <section class="card">
            <h2>"Prices"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match prices.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No prices are set yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap" tabindex="0"><table>
                                <thead><tr><th>"For"</th><th>"CPU core-hour"</th><th>"Memory GiB-hour"</th><th>"Extended resources"</th></tr></thead>
                                <tbody>{list.into_iter().map(|p| view! {
                                    <tr><td>{scope_of(&p)}</td><td>{format!("{}", p.cpu_core_hour)}</td><td>{format!("{}", p.memory_gib_hour)}</td>
                                        <td>{if p.extended_hour.is_empty() { "—".to_owned() } else {
                                            p.extended_hour.iter().map(|(k, v)| format!("{k} {v}/h")).collect::<Vec<_>>().join(", ") }}</td></tr>
                                }).collect_view()}</tbody>
                            </table></div>
                        }.into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })}
            </Suspense>
            {is_admin.then(move || view! {
                {form_error(value)}
                {move || value.get().and_then(|r| r.ok()).map(|p| view! { <p class="ok" role="status">{format!("Price for {} saved.", scope_of(&p))}</p> })}
                <ActionForm action=set>
                    <input type="hidden" name="csrf" value=csrf/>
                    <input type="hidden" name="back" value=move || format!("/teams/{}/cost", team.get())/>
                    <div class="grid3">
                        <div><label for="price-scope">"For"</label>
                            <Suspense fallback=|| ()>{move || Suspend::new(async move {
                                let list = clusters.await.unwrap_or_default();
                                view! {
                                    <select id="price-scope" name="scope">
                                        <option value="">"The fleet's default"</option>
                                        {list.into_iter().flat_map(|c| c.pools.into_iter().map(move |p| {
                                            let v = format!("{}/{}", c.name, p.name);
                                            view! { <option value=v.clone()>{format!("{} · {}", c.name, p.name)}</option> }
                                        })).collect_view()}
                                    </select>
                                }
                            })}</Suspense>
                            {move || value.with(|v| v.as_ref().and_then(|r| r.as_ref().err())
                                .and_then(|e| e.fields.get("pool").or(e.fields.get("cluster")).cloned())
                                .map(|m| view! { <span class="field-error">{m}</span> }))}</div>
                        <div><label for="price-cpu">"CPU core-hour"</label><input id="price-cpu" name="cpu_core_hour" placeholder="0.0316" required/>
                            {move || value.with(|v| v.as_ref().and_then(|r| r.as_ref().err()).and_then(|e| e.fields.get("cpu_core_hour").cloned())
                                .map(|m| view! { <span class="field-error">{m}</span> }))}</div>
                        <div><label for="price-memory">"Memory GiB-hour"</label><input id="price-memory" name="memory_gib_hour" placeholder="0.0042" required/>
                            {move || value.with(|v| v.as_ref().and_then(|r| r.as_ref().err()).and_then(|e| e.fields.get("memory_gib_hour").cloned())
                                .map(|m| view! { <span class="field-error">{m}</span> }))}</div>
                        <div class="span2"><label for="price-extended">"Extended resources (optional, one resource: price per hour per line)"</label>
                            <textarea id="price-extended" name="extended_hour" rows="2" placeholder="nvidia.com/gpu: 2.5"></textarea>
                            {move || value.with(|v| v.as_ref().and_then(|r| r.as_ref().err()).map(|e| e.fields.iter()
                                .filter(|(f, _)| f.starts_with("extended_hour"))
                                .map(|(f, m)| view! { <span class="field-error">{format!("{}: {m}", f.trim_start_matches("extended_hour[").trim_end_matches(']'))}</span> })
                                .collect_view()))}</div>
                    </div>
                    <button type="submit">"Set price"</button>
                </ActionForm>
            })}
        </section>
    }
}

/// Prices per instance type, for pools without a price of their own; admins set them.
#[component]
fn InstancePrices(
    is_admin: bool,
    csrf: String,
    set: ServerAction<SetInstancePrice>,
    team: Signal<String>,
) -> impl IntoView {
    let prices = Resource::new(move || set.version().get(), |_| list_instance_prices());
    let value = set.value();
    view! {
        <section class="card">
            <h2>"Prices per instance type"</h2>
            <p class="muted small">"A pool without a price of its own whose nodes are all one instance type (node.kubernetes.io/instance-type) \
                is priced from its type's hourly price, spot or on-demand as the provider's labels say (EKS, Karpenter, GKE, AKS, lifecycle), \
                split between the node's allocatable cores and memory in OpenCost's default ratio. A row for the cluster's region wins over one for any region."</p>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match prices.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No instance prices are set yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap" tabindex="0"><table>
                                <thead><tr><th>"Instance type"</th><th>"Capacity"</th><th>"Region"</th><th>"Per hour"</th></tr></thead>
                                <tbody>{list.into_iter().map(|p| view! {
                                    <tr><td><code>{p.instance_type}</code></td><td>{p.capacity.as_str().replace('_', "-")}</td>
                                        <td>{p.region.unwrap_or_else(|| "any".into())}</td><td>{format!("{}", p.hour_price)}</td></tr>
                                }).collect_view()}</tbody>
                            </table></div>
                        }.into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })}
            </Suspense>
            {is_admin.then(move || view! {
                {form_error(value)}
                {move || value.get().and_then(|r| r.ok()).map(|p| view! {
                    <p class="ok" role="status">{format!("Price for {} saved.", p.instance_type)}</p>
                })}
                <ActionForm action=set>
                    <input type="hidden" name="csrf" value=csrf/>
                    <input type="hidden" name="back" value=move || format!("/teams/{}/cost", team.get())/>
                    <div class="grid3">
                        <div><label for="instance-type">"Instance type"</label>
                            <input id="instance-type" name="instance_type" placeholder="m6i.2xlarge" required/>
                            {field_error(value, "instance_type")}</div>
                        <div><label for="instance-capacity">"Capacity"</label>
                            <select id="instance-capacity" name="capacity">
                                <option value="on_demand">"on-demand"</option>
                                <option value="spot">"spot"</option>
                            </select>{field_error(value, "capacity")}</div>
                        <div><label for="instance-region">"Region (empty: any)"</label>
                            <input id="instance-region" name="region" placeholder="cn-east-2"/>
                            {field_error(value, "region")}</div>
                        <div><label for="instance-price">"Instance price per hour"</label>
                            <input id="instance-price" name="hour_price" placeholder="0.384" required/>
                            {field_error(value, "hour_price")}</div>
                    </div>
                    <button type="submit">"Set instance price"</button>
                </ActionForm>
            })}
        </section>
    }
}
