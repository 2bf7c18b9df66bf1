//! Namespaces: usage against quota per namespace and per team, the fleet quota ledger, and
//! one namespace's page with drift, objects, requests, quota changes and decommissioning.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    api::{
        Amounts, DriftSource, LedgerRow, LimitSpec, Me, Namespace, NamespaceDetail, NamespaceQuery,
        NamespaceSpec, PinVerdict, PinningProof, ProbeKind, QuotaSpec,
    },
    components::{
        field_error, form_error, query, when, Authed, ErrorMessage, ListFilters, Pager, SortHeader,
    },
    pages::{
        fleet::{cores, gib, Bar},
        requests::{state_badge, RequestTable},
    },
    server::{
        get_ledger, get_namespace, list_namespaces, ChangeQuota, DecommissionNamespace,
        ReapplyNamespace,
    },
};

#[component]
pub fn Namespaces() -> impl IntoView {
    view! { <Title text="Namespaces"/><Authed view=|_me: Me| view! { <NamespaceList/> }/> }
}

fn used(ns: &Namespace) -> Amounts {
    ns.usage
        .as_ref()
        .map(|u| u.used_amounts)
        .unwrap_or_default()
}

#[component]
fn NamespaceList() -> impl IntoView {
    // Every filter is in the URL, so a filtered list can be shared and survives a reload.
    let search = query("q");
    let team = query("team");
    let cluster = query("cluster");
    let state = query("state");
    let cursor = query("cursor");
    let sort = query("sort");
    let live = crate::live::use_live();
    // The server sorts, so the order holds across pages.
    let namespaces = Resource::new(
        move || {
            (
                (search(), team(), cluster(), state()),
                (sort(), cursor()),
                live.namespaces.get(),
            )
        },
        |((q, team, cluster, state), (sort, cursor), _)| {
            list_namespaces(NamespaceQuery {
                q,
                team,
                cluster,
                state,
                sort,
                cursor,
                limit: Some(100),
            })
        },
    );
    let ledger = Resource::new(|| (), |_| get_ledger());
    let selected = move |value: &'static str| move || state().as_deref().unwrap_or("") == value;
    view! {
        <h1>"Namespaces"</h1>
        <p><A href="/requests/new" attr:class="button">"Request a namespace"</A></p>
        <ListFilters id="ns" label="Filter namespaces">
            <label for="ns-state">"State"</label>
            <select id="ns-state" name="state">
                <option value="" selected=selected("")>"Live (all but decommissioned)"</option>
                <option value="ready" selected=selected("ready")>"Ready"</option>
                <option value="provisioning" selected=selected("provisioning")>"Provisioning"</option>
                <option value="failed" selected=selected("failed")>"Failed"</option>
                <option value="decommissioning" selected=selected("decommissioning")>"Decommissioning"</option>
                <option value="decommissioned" selected=selected("decommissioned")>"Decommissioned"</option>
            </select>
        </ListFilters>
        <Suspense fallback=|| view! { <p class="muted">"Loading namespaces…"</p> }>
            // A new order is a new page from the server (its headers say which order it is in).
            {move || Suspend::new(async move {
                match namespaces.await {
                    Ok(page) if page.items.is_empty() => view! { <p class="muted">"No namespaces here."</p> }.into_any(),
                    Ok(page) => {
                        let paged = page.next_cursor.is_some() || cursor().is_some();
                        let mut teams: BTreeMap<String, (Amounts, Amounts)> = BTreeMap::new();
                        for n in &page.items {
                            let e = teams.entry(n.team.clone()).or_default();
                            e.0.cpu_millis += n.quota.cpu_millis;
                            e.0.memory_bytes += n.quota.memory_bytes;
                            let u = used(n);
                            e.1.cpu_millis += u.cpu_millis;
                            e.1.memory_bytes += u.memory_bytes;
                        }
                        let shown = page.items.len();
                        let items = page.items;
                        view! {
                            <section class="card">
                                <h2>{if paged { "Per team on this page: used of quota" } else { "Per team: used of quota" }}</h2>
                                {teams.into_iter().map(|(team, (quota, u))| view! {
                                    <div class="pool">
                                        <strong>{team}</strong>
                                        <Bar label="CPU".into() used=u.cpu_millis total=quota.cpu_millis
                                            text=format!("{} of {} requested", cores(u.cpu_millis), cores(quota.cpu_millis))/>
                                        <Bar label="Memory".into() used=u.memory_bytes total=quota.memory_bytes
                                            text=format!("{} of {}", gib(u.memory_bytes), gib(quota.memory_bytes))/>
                                    </div>
                                }).collect_view()}
                            </section>
                            <div class="table-wrap" tabindex="0"><table>
                                <thead><tr>
                                    <SortHeader label="Namespace" column="name"/>
                                    <SortHeader label="Cluster" column="cluster"/>
                                    <SortHeader label="Team" column="team"/>
                                    <SortHeader label="Pool" column="pool"/>
                                    <SortHeader label="State" column="state"/>
                                    <SortHeader label="CPU used / quota" column="cpu"/>
                                    <SortHeader label="Drift" column="drift"/>
                                    <SortHeader label="Pinning" column="pinning"/>
                                </tr></thead>
                                <tbody>{items.into_iter().map(|n| {
                                    let u = used(&n);
                                    let drift = match &n.drift {
                                        None => "not checked".to_owned(),
                                        Some(d) if d.is_empty() => "none".to_owned(),
                                        Some(d) => format!("{} object(s)", d.len()),
                                    };
                                    view! {
                                        <tr>
                                            <td><A href=format!("/namespaces/{}/{}", n.cluster, n.name)>{n.name.clone()}</A></td>
                                            <td>{n.cluster.clone()}</td><td>{n.team.clone()}</td><td>{n.node_pool.clone()}</td>
                                            <td>{state_badge(n.state)}</td>
                                            <td><Bar label="".into() used=u.cpu_millis total=n.quota.cpu_millis
                                                text=format!("{} / {}", cores(u.cpu_millis), cores(n.quota.cpu_millis))/></td>
                                            <td>{drift}</td>
                                            <td>{match &n.pinning {
                                                Some(p) => state_badge(p.verdict).into_any(),
                                                None => view! { <span class="muted">"not proven"</span> }.into_any(),
                                            }}</td>
                                        </tr>
                                    }
                                }).collect_view()}</tbody>
                            </table></div>
                            <Pager next_cursor=page.next_cursor shown/>
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                }
            })}
        </Suspense>
        <h2>"Quota ledger"</h2>
        <p class="muted">"Per team and cluster: quota allocated, usage last read from the clusters, and the allocatable capacity of the pools the namespaces use."</p>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match ledger.await {
                    Ok(rows) => view! { <Ledger rows/> }.into_any(),
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Ledger(rows: Vec<LedgerRow>) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0"><table class="ledger">
            <thead><tr><th>"Team"</th><th>"Cluster"</th><th>"Namespaces"</th><th>"CPU allocated"</th><th>"CPU used"</th><th>"Pool CPU"</th>
                <th>"Memory allocated"</th><th>"Memory used"</th><th>"Pool memory"</th><th>"Storage allocated"</th></tr></thead>
            <tbody>{rows.into_iter().map(|r| view! {
                <tr><td>{r.team}</td><td>{r.cluster}</td><td>{r.namespaces}</td>
                    <td>{cores(r.allocated.cpu_millis)}</td><td>{cores(r.used.cpu_millis)}</td><td>{cores(r.capacity.cpu_millis)}</td>
                    <td>{gib(r.allocated.memory_bytes)}</td><td>{gib(r.used.memory_bytes)}</td><td>{gib(r.capacity.memory_bytes)}</td>
                    <td>{gib(r.allocated.storage_bytes)}</td></tr>
            }).collect_view()}</tbody>
        </table></div>
    }
}

#[component]
pub fn NamespacePage() -> impl IntoView {
    let name = crate::components::param("name");
    let cluster = crate::components::param("cluster");
    let title = move || format!("Namespace {} on {}", name(), cluster());
    let trail = move || {
        vec![
            ("Namespaces".to_owned(), "/namespaces".to_owned()),
            (cluster(), format!("/clusters/{}", cluster())),
            (name(), String::new()),
        ]
    };
    view! { <Title text=title/><crate::components::Breadcrumbs trail=Signal::derive(trail)/><Authed view=|me: Me| view! { <NamespaceView me/> }/> }
}

/// What the person is typing into the namespace's forms. It lives outside the namespace's
/// Suspense, so a live update that renders the namespace again keeps it; a form that was
/// sent starts empty again.
#[derive(Clone, Copy)]
struct Drafts {
    /// The size chosen, `None` while it is the namespace's own.
    preset: RwSignal<Option<String>>,
    confirmed: RwSignal<bool>,
    burst_until: RwSignal<String>,
    quota_purpose: RwSignal<String>,
    decommission_name: RwSignal<String>,
    decommission_purpose: RwSignal<String>,
}

impl Drafts {
    fn new() -> Drafts {
        Drafts {
            preset: RwSignal::new(None),
            confirmed: RwSignal::new(false),
            burst_until: RwSignal::new(String::new()),
            quota_purpose: RwSignal::new(String::new()),
            decommission_name: RwSignal::new(String::new()),
            decommission_purpose: RwSignal::new(String::new()),
        }
    }
}

#[component]
fn NamespaceView(me: Me) -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        params.with(|p| {
            (
                p.get("cluster").unwrap_or_default(),
                p.get("name").unwrap_or_default(),
            )
        })
    };
    let change = ServerAction::<ChangeQuota>::new();
    let decommission = ServerAction::<DecommissionNamespace>::new();
    let reapply = ServerAction::<ReapplyNamespace>::new();
    let tick = RwSignal::new(0u32);
    let live = crate::live::use_live();
    let detail = Resource::new(
        move || {
            (
                key(),
                change.version().get(),
                decommission.version().get(),
                reapply.version().get(),
                tick.get(),
                live.namespaces.get(),
                live.requests.get(),
            )
        },
        |((cluster, name), ..)| get_namespace(cluster, name),
    );
    Effect::new(move |_| {
        if let Some(Ok(d)) = detail.get() {
            if matches!(
                d.namespace.state.as_str(),
                "provisioning" | "decommissioning" | "failed"
            ) {
                set_timeout(
                    move || tick.update(|t| *t += 1),
                    std::time::Duration::from_secs(1),
                );
            }
        }
    });
    let drafts = Drafts::new();
    Effect::new(move |_| {
        if matches!(change.value().get(), Some(Ok(_))) {
            drafts.preset.set(None);
            drafts.confirmed.set(false);
            drafts.burst_until.set(String::new());
            drafts.quota_purpose.set(String::new());
        }
    });
    Effect::new(move |_| {
        if matches!(decommission.value().get(), Some(Ok(_))) {
            drafts.decommission_name.set(String::new());
            drafts.decommission_purpose.set(String::new());
        }
    });
    let csrf = me.csrf_token.clone().unwrap_or_default();
    let (cluster, name) = params.with_untracked(|p| {
        (
            p.get("cluster").unwrap_or_default(),
            p.get("name").unwrap_or_default(),
        )
    });
    let drill_csrf = csrf.clone();
    // The drills section stays outside the namespace's Suspense: its resources hydrate in
    // order only there. It offers new drills only for a live namespace.
    let (drill_cluster, drill_name) = (cluster.clone(), name.clone());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the namespace…"</p> }>
            {move || {
                let csrf = csrf.clone();
                let (cluster, name) = (cluster.clone(), name.clone());
                Suspend::new(async move {
                    match detail.await {
                        Ok(d) => view! { <NamespaceBody detail=d csrf change decommission reapply drafts/> }.into_any(),
                        Err(error) if error.code == "not_found" => view! {
                            <crate::pages::Missing what="namespace" message=format!("There is no namespace {name} on {cluster} that you may see.")/>
                        }.into_any(),
                        Err(error) => view! { <h1>"Namespace"</h1><ErrorMessage error/> }.into_any(),
                    }
                })
            }}
        </Suspense>
        <crate::pages::drills::NamespaceDrills cluster=drill_cluster name=drill_name csrf=drill_csrf/>
    }
}

fn count(map: Option<&BTreeMap<String, String>>, key: &str) -> i64 {
    map.and_then(|m| m.get(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[component]
fn NamespaceBody(
    detail: NamespaceDetail,
    csrf: String,
    change: ServerAction<ChangeQuota>,
    decommission: ServerAction<DecommissionNamespace>,
    reapply: ServerAction<ReapplyNamespace>,
    drafts: Drafts,
) -> impl IntoView {
    let NamespaceDetail {
        namespace: n,
        objects,
        requests,
        can_request,
        presets,
        connect,
    } = detail;
    let u = used(&n);
    let pods_used = count(n.usage.as_ref().map(|u| &u.used), "pods");
    let name_for_check = n.name.clone();
    let change_value = change.value();
    let decom_value = decommission.value();
    let (c1, c2, c3) = (csrf.clone(), csrf.clone(), csrf.clone());
    let (cluster1, cluster2, cluster3) = (n.cluster.clone(), n.cluster.clone(), n.cluster.clone());
    let (name1, name2, name3) = (n.name.clone(), n.name.clone(), n.name.clone());
    let capacity_href = format!("/capacity/{}/{}", n.cluster, n.name);
    let manifests = format!("/api/v1/namespaces/{}/{}/manifests", n.cluster, n.name);
    view! {
        <h1><code>{n.name.clone()}</code>" on "<A href=format!("/clusters/{}", n.cluster)>{n.cluster.clone()}</A></h1>
        <p>{state_badge(n.state)}" "<span class="muted">{format!("team {} · pool {} · {} · since {}", n.team, n.node_pool, n.environment, when(n.created_at))}</span></p>
        <p>"Purpose: "{n.purpose.clone()}</p>
        {n.last_error.clone().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {n.burst_until.map(|t| view! { <p class="warn">"Timed burst: returns to the previous quota at "{when(t)}"."</p> })}
        {n.expires_at.map(|t| view! { <p class="warn">"Sandbox: decommissioned at "{when(t)}"."</p> })}
        {n.held_by.clone().map(|f| view! {
            <p class="warn" role="status">{format!("A change to this namespace is held by freeze {f} until {}.", n.held_until.map(when).unwrap_or_default())}</p>
        })}
        {n.git.clone().map(|g| view! {
            <section class="card" id="git-state">
                <h2>"In Git"</h2>
                <p>"Folder "<code>{g.path.clone()}</code>" of repository "<strong>{g.repository.clone()}</strong></p>
                {g.commit.clone().map(|c| view! { <p>"Commit "<code>{c.chars().take(12).collect::<String>()}</code>" on "<code>{g.branch.clone().unwrap_or_default()}</code>{g.committed_at.map(|t| format!(" at {}", when(t)))}</p> })}
                {g.review_url.clone().map(|u| view! { <p>"Merge request: "<a href=u.clone() rel="noopener">{u.clone()}</a></p> })}
            </section>
        })}
        {n.delivery_status.clone().map(|s| view! { <p class="muted" role="status" id="delivery-status">{s}</p> })}
        {connect.map(|c| {
            let download = format!("{manifests}?download=true");
            view! {
                <section class="card" id="connect">
                    <h2>"How to connect"</h2>
                    <p>{format!("Your team's group {} may edit everything in this namespace.", c.group)}
                       {c.server.as_ref().map(|s| format!(" The cluster's API server: {s}."))}</p>
                    <details>
                        <summary>"A kubeconfig for this namespace"</summary>
                        <pre class="yaml" id="kubeconfig">{c.kubeconfig.clone()}</pre>
                        <p class="muted small">"Save it as a file and run "<code>"KUBECONFIG=<file> kubectl get pods"</code>". With single sign-on it signs you in through the company's provider with kubelogin ("<code>"kubectl oidc-login"</code>")."</p>
                    </details>
                    <p><a href=manifests.clone() target="_blank" rel="noopener">"Berth's objects as YAML"</a>" · "
                       <a href=download download>"Download them"</a></p>
                </section>
            }
        })}
        <section class="card">
            <h2>"Usage against quota"</h2>
            <p class="muted small">"“Used” is what the namespace's pods request, as the cluster's quota controller counts it — what the quota holds back, not what the pods consume. What they consume is on the right-sizing page."</p>
            <p><A href=capacity_href>"Right-sizing and a suggested quota"</A></p>
            {match &n.usage {
                Some(usage) => view! { <p class="muted">"Read from the cluster at "{when(usage.observed_at)}"."</p> }.into_any(),
                None => view! { <p class="muted">"No usage read yet."</p> }.into_any(),
            }}
            <Bar label="CPU requests".into() used=u.cpu_millis total=n.quota.cpu_millis
                text=format!("{} of {}", cores(u.cpu_millis), cores(n.quota.cpu_millis))/>
            <Bar label="Memory requests".into() used=u.memory_bytes total=n.quota.memory_bytes
                text=format!("{} of {}", gib(u.memory_bytes), gib(n.quota.memory_bytes))/>
            <Bar label="Storage".into() used=u.storage_bytes total=n.quota.storage_bytes
                text=format!("{} of {}", gib(u.storage_bytes), gib(n.quota.storage_bytes))/>
            <Bar label="Pods".into() used=pods_used total=n.spec.quota.pods
                text=format!("{pods_used} of {}", n.spec.quota.pods)/>
        </section>
        <section class="card">
            <h2>"Drift"</h2>
            {match (&n.drift, n.drift_checked_at) {
                (None, _) | (_, None) => view! { <p class="muted">"Not checked yet."</p> }.into_any(),
                (Some(d), Some(at)) if d.is_empty() => view! { <p class="ok">"No drift at "{when(at)}"."</p> }.into_any(),
                (Some(d), Some(at)) => view! {
                    <p class="warn">{format!("{} difference(s) found (checked {})", d.len(), when(at))}</p>
                    <ul>{d.iter().map(|i| {
                        let whose = match (i.against, n.git.is_some()) {
                            (DriftSource::Repository, _) => "Git differs from what Berth wants",
                            (DriftSource::Cluster, true) => "the cluster differs from Git",
                            (DriftSource::Cluster, false) => "the cluster differs from what Berth applied",
                        };
                        view! { <li>{i.kind.clone()}" "<code>{i.name.clone()}</code>" — "{whose}": "{i.differences.join(", ")}</li> }
                    }).collect_view()}</ul>
                }.into_any(),
            }}
            {can_request.then(|| view! {
                <ActionForm action=reapply attr:class="inline">
                    <input type="hidden" name="csrf" value=c1/>
                    <input type="hidden" name="cluster" value=cluster1/>
                    <input type="hidden" name="name" value=name1/>
                    <button type="submit">"Re-apply Berth's objects"</button>
                </ActionForm>
            })}
            {move || reapply.value().get().map(|r| match r {
                Ok(_) => view! { <p class="ok" role="status">"Re-apply queued."</p> }.into_any(),
                Err(error) => view! { <ErrorMessage error/> }.into_any(),
            })}
        </section>
        <PinningSection proof=n.pinning.clone() pool=n.node_pool.clone()/>
        <section class="card">
            <h2>"Objects"</h2>
            <div class="table-wrap" tabindex="0"><table>
                <thead><tr><th>"Kind"</th><th>"Name"</th><th>"Outcome"</th><th>"When"</th></tr></thead>
                <tbody>{objects.into_iter().map(|o| view! {
                    <tr><td>{o.kind}</td><td><code>{o.name}</code></td><td>{o.outcome}{o.error.map(|e| format!(": {e}"))}</td><td>{when(o.at)}</td></tr>
                }).collect_view()}</tbody>
            </table></div>
        </section>
        <section class="card">
            <h2>"Requests"</h2>
            <RequestTable items=requests/>
        </section>
        {can_request.then(|| view! {
            <section class="card">
                <h2>"Change the quota"</h2>
                {form_error(change_value)}
                <QuotaChangeForm spec=n.spec.clone() presets csrf=c2 cluster=cluster2 name=name2 change drafts/>
                {move || change_value.get().and_then(|r| r.ok()).map(|d| view! {
                    <p class="ok" role="status">"Quota change "{d.request.state}". "<A href=format!("/requests/{}", d.request.id)>"Follow it"</A></p>
                })}
            </section>
            <section class="card danger-zone">
                <h2>"Decommission"</h2>
                <p>"Deletes the namespace and everything in it once approved. Type "<code>{name_for_check.clone()}</code>" to confirm."</p>
                {form_error(decom_value)}
                <ActionForm action=decommission>
                    <input type="hidden" name="csrf" value=c3/>
                    <input type="hidden" name="cluster" value=cluster3/>
                    <input type="hidden" name="name" value=name3/>
                    <label for="dc-confirm">"Namespace name"</label>
                    <input id="dc-confirm" name="confirm" autocomplete="off" prop:value=drafts.decommission_name
                        on:input=move |ev| drafts.decommission_name.set(event_target_value(&ev))/>
                    {field_error(decom_value, "confirm")}
                    <label for="dc-purpose">"Why"</label>
                    <input id="dc-purpose" name="purpose" required prop:value=drafts.decommission_purpose
                        on:input=move |ev| drafts.decommission_purpose.set(event_target_value(&ev))/>
                    {field_error(decom_value, "purpose")}
                    <button type="submit" class="danger" disabled=move || drafts.decommission_name.get() != name_for_check>"Request decommissioning"</button>
                </ActionForm>
                {move || decom_value.get().and_then(|r| r.ok()).map(|d| view! {
                    <p class="ok" role="status">"Decommission "{d.request.state}". "<A href=format!("/requests/{}", d.request.id)>"Follow it"</A></p>
                })}
            </section>
        })}
    }
}

/// What going from `current` to a preset's `quota` and `limits` takes away: each dimension
/// that shrinks, as people read it ("CPU requests: 8 → 2").
pub fn takes_away(current: &NamespaceSpec, quota: &QuotaSpec, limits: &LimitSpec) -> Vec<String> {
    use berth_kube::quantity::Quantity;
    let mut out = Vec::new();
    let mut less = |what: &str, from: &str, to: &str| {
        if let (Ok(a), Ok(b)) = (Quantity::parse(from.trim()), Quantity::parse(to.trim())) {
            if b < a {
                out.push(format!("{what}: {from} → {to}"));
            }
        }
    };
    let (q, l) = (&current.quota, &current.limits);
    less("CPU requests", &q.requests_cpu, &quota.requests_cpu);
    less("CPU limits", &q.limits_cpu, &quota.limits_cpu);
    less(
        "memory requests",
        &q.requests_memory,
        &quota.requests_memory,
    );
    less("memory limits", &q.limits_memory, &quota.limits_memory);
    less("storage", &q.requests_storage, &quota.requests_storage);
    less("pods", &q.pods.to_string(), &quota.pods.to_string());
    less(
        "services",
        &q.services.to_string(),
        &quota.services.to_string(),
    );
    less(
        "volume claims",
        &q.persistentvolumeclaims.to_string(),
        &quota.persistentvolumeclaims.to_string(),
    );
    for (key, from) in &q.other {
        // An extended resource left out is 0; a count left out is not limited.
        let gpu_like = key.starts_with("requests.") && key.contains('/');
        match quota.other.get(key) {
            Some(to) => less(key, from, to),
            None if gpu_like => less(key, from, "0"),
            None => {}
        }
    }
    less("largest container's CPU", &l.max_cpu, &limits.max_cpu);
    less(
        "largest container's memory",
        &l.max_memory,
        &limits.max_memory,
    );
    less(
        "default CPU limit",
        &l.default_limit_cpu,
        &limits.default_limit_cpu,
    );
    less(
        "default memory limit",
        &l.default_limit_memory,
        &limits.default_limit_memory,
    );
    out
}

/// The quota change form: the namespace's current size preselected (its preset, or "current
/// (custom)"), and a decrease spelled out with a confirmation before it can be sent.
#[component]
fn QuotaChangeForm(
    spec: NamespaceSpec,
    presets: Vec<crate::api::Preset>,
    csrf: String,
    cluster: String,
    name: String,
    change: ServerAction<ChangeQuota>,
    drafts: Drafts,
) -> impl IntoView {
    let change_value = change.value();
    let current = presets
        .iter()
        .find(|p| p.quota == spec.quota && p.limits == spec.limits)
        .map(|p| p.name.clone());
    let chosen = {
        let current = current.clone().unwrap_or_default();
        Signal::derive(move || drafts.preset.get().unwrap_or_else(|| current.clone()))
    };
    let confirmed = drafts.confirmed;
    let loss = {
        let (presets, spec) = (presets.clone(), spec.clone());
        move || {
            let c = chosen.get();
            presets
                .iter()
                .find(|p| p.name == c)
                .map(|p| takes_away(&spec, &p.quota, &p.limits))
                .unwrap_or_default()
        }
    };
    let loss_shown = loss.clone();
    let loss_warn = loss.clone();
    let unchanged = {
        let current = current.clone();
        move || chosen.get().is_empty() || Some(chosen.get()) == current
    };
    let options = presets
        .iter()
        .map(|p| {
            let is_current = current.as_deref() == Some(p.name.as_str());
            let label = if is_current {
                format!("{} (current)", p.name)
            } else {
                p.name.clone()
            };
            let value = p.name.clone();
            view! { <option value=p.name.clone() selected=move || chosen.get() == value>{label}</option> }
        })
        .collect_view();
    view! {
        <ActionForm action=change>
            <input type="hidden" name="csrf" value=csrf/>
            <input type="hidden" name="cluster" value=cluster/>
            <input type="hidden" name="name" value=name/>
            <label for="qc-preset">"New size"</label>
            <select id="qc-preset" name="preset" on:change=move |ev| {
                drafts.preset.set(Some(event_target_value(&ev)));
                confirmed.set(false);
            }>
                {current.is_none().then(|| view! { <option value="" selected=move || chosen.get().is_empty()>"Current quota (custom)"</option> })}
                {options}
            </select>
            {field_error(change_value, "quota")}{field_error(change_value, "preset")}{field_error(change_value, "storage_classes")}
            <div role="alert" class:warn=move || !loss_warn().is_empty()>
                {move || {
                    let taken = loss_shown();
                    (!taken.is_empty()).then(|| view! {
                        <p>"This change takes away:"</p>
                        <ul>{taken.into_iter().map(|t| view! { <li>{t}</li> }).collect_view()}</ul>
                        <label class="check">
                            <input id="qc-confirm" type="checkbox" prop:checked=confirmed on:change=move |ev| confirmed.set(event_target_checked(&ev))/>
                            " I understand this takes capacity away from the namespace"
                        </label>
                    })
                }}
            </div>
            <label for="qc-burst">"Burst until (optional, UTC): Berth reverts by itself"</label>
            <input id="qc-burst" name="burst_until" type="datetime-local" prop:value=drafts.burst_until
                on:input=move |ev| drafts.burst_until.set(event_target_value(&ev))/>
            {field_error(change_value, "burst_until")}
            <label for="qc-purpose">"Why"</label>
            <input id="qc-purpose" name="purpose" required prop:value=drafts.quota_purpose
                on:input=move |ev| drafts.quota_purpose.set(event_target_value(&ev))/>
            {field_error(change_value, "purpose")}
            <button type="submit" disabled=move || unchanged() || (!loss().is_empty() && !confirmed.get())>
                "Request the change"
            </button>
        </ActionForm>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ClassQuota;

    fn spec(cpu: &str, memory: &str, pods: i64, max_cpu: &str) -> NamespaceSpec {
        NamespaceSpec {
            quota: QuotaSpec {
                requests_cpu: cpu.into(),
                requests_memory: memory.into(),
                limits_cpu: "16".into(),
                limits_memory: "32Gi".into(),
                pods,
                services: 10,
                persistentvolumeclaims: 10,
                requests_storage: "200Gi".into(),
                other: Default::default(),
            },
            limits: LimitSpec {
                default_request_cpu: "250m".into(),
                default_request_memory: "256Mi".into(),
                default_limit_cpu: "1".into(),
                default_limit_memory: "1Gi".into(),
                min_cpu: "10m".into(),
                min_memory: "16Mi".into(),
                max_cpu: max_cpu.into(),
                max_memory: "8Gi".into(),
                max_limit_request_ratio_cpu: None,
                max_limit_request_ratio_memory: None,
            },
            storage_classes: Vec::<ClassQuota>::new(),
        }
    }

    #[test]
    fn a_decrease_says_what_it_takes_away() {
        let current = spec("8", "16Gi", 50, "4");
        let next = spec("2", "16384Mi", 20, "4");
        assert_eq!(
            takes_away(&current, &next.quota, &next.limits),
            vec!["CPU requests: 8 → 2", "pods: 50 → 20"],
            "16384Mi is 16Gi: nothing lost there"
        );
        let bigger = spec("16", "32Gi", 50, "8");
        assert!(takes_away(&current, &bigger.quota, &bigger.limits).is_empty());
    }
}

/// What the last proof found: whether this namespace's pods are held on its pool.
#[component]
fn PinningSection(proof: Option<PinningProof>, pool: String) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Node-pool pinning"</h2>
            {match proof {
                None => view! { <p class="muted">"Not proven yet: Berth dry-runs probe pods once the namespace is applied."</p> }.into_any(),
                Some(p) => {
                    let summary = match p.verdict {
                        PinVerdict::Enforced => format!("Pods are held on pool {pool}."),
                        PinVerdict::NotEnforced => format!("Not enforced: pods of this namespace may run on any pool, not only {pool}. The cluster has none of the mechanisms Berth can use (see its page); ask the platform team to enable ValidatingAdmissionPolicy or the PodNodeSelector plugin."),
                        PinVerdict::Inconclusive => "The probes were refused for another reason; the next drift check tries again.".to_owned(),
                        PinVerdict::NotPinnable => format!("Pool {pool} has no node label (the fallback pool), so it cannot be pinned: pods may run on any node."),
                    };
                    let class = if p.verdict == PinVerdict::NotEnforced { "error" } else { "muted" };
                    view! {
                        <p>{state_badge(p.verdict)}" "<span class=class>{summary}</span></p>
                        <p class="muted">{format!("Mechanism: {} · proven {} by server-side dry-run (nothing was created)", p.mechanism, when(p.checked_at))}</p>
                        <ul>{p.probes.into_iter().map(|probe| view! {
                            <li>{probe_label(probe.probe)}": "{state_badge(probe.outcome)}" "<small class="muted">{probe.detail}</small></li>
                        }).collect_view()}</ul>
                    }.into_any()
                }
            }}
        </section>
    }
}

fn probe_label(kind: ProbeKind) -> &'static str {
    match kind {
        ProbeKind::Unpinned => "A pod with no nodeSelector or tolerations",
        ProbeKind::ForeignToleration => "A pod tolerating a taint of no pool",
    }
}
