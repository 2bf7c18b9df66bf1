use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    api::{Cluster, InventoryState, Me, NodePool, PinMechanism, PolicyEngine},
    components::{field_error, form_error, Authed, ErrorMessage},
    server::{
        get_cluster, list_clusters, RegisterCluster, RemoveCluster, SetClusterDisabled, SetFaults,
        SyncCluster, SyncFleet, UpdateCluster,
    },
};

pub fn cores(millis: i64) -> String {
    let c = millis as f64 / 1000.0;
    if c >= 100.0 {
        format!("{c:.0} cores")
    } else {
        format!("{c:.1} cores")
    }
}

pub fn gib(bytes: i64) -> String {
    format!("{:.0} GiB", bytes as f64 / (1024.0 * 1024.0 * 1024.0))
}

fn age(seconds: Option<i64>) -> String {
    match seconds {
        None => "never synced".into(),
        Some(s) if s < 60 => format!("{s} s ago"),
        Some(s) if s < 3600 => format!("{} min ago", s / 60),
        Some(s) => format!("{} h ago", s / 3600),
    }
}

/// A horizontal bar: `used` of `total`, with the numbers beside it for screen readers.
#[component]
pub fn Bar(label: String, used: i64, total: i64, text: String) -> impl IntoView {
    let pct = if total > 0 {
        (used as f64 / total as f64 * 100.0).min(100.0)
    } else {
        0.0
    };
    let over = total > 0 && used > total;
    view! {
        <div class="bar-row">
            <span class="bar-label">{label}</span>
            <span class="bar" role="img" aria-label=text.clone()>
                <span class=if over { "fill over" } else { "fill" } style=format!("width:{pct:.1}%")></span>
            </span>
            <span class="bar-text">{text}</span>
        </div>
    }
}

fn health(cluster: &Cluster) -> (&'static str, String) {
    match &cluster.inventory {
        _ if cluster.disabled => ("muted", "disabled".into()),
        None => ("muted", "not synced yet".into()),
        Some(i) if i.reachable => ("ok", "reachable".into()),
        Some(i) => (
            "error",
            format!("unreachable: {}", i.last_error.clone().unwrap_or_default()),
        ),
    }
}

#[component]
pub fn Fleet() -> impl IntoView {
    view! { <Title text="Fleet"/><Authed view=|me: Me| view! { <FleetOverview me/> }/> }
}

#[component]
fn FleetOverview(me: Me) -> impl IntoView {
    let register = ServerAction::<RegisterCluster>::new();
    let sync = ServerAction::<SyncFleet>::new();
    let live = crate::live::use_live();
    let clusters = Resource::new(
        move || {
            (
                register.version().get(),
                sync.version().get(),
                live.clusters.get(),
            )
        },
        |_| list_clusters(),
    );
    let csrf = me.csrf_token.clone().unwrap_or_default();
    let value = register.value();
    let is_admin = me.user.is_admin;
    let sync_csrf = csrf.clone();
    view! {
        <h1>"Fleet"</h1>
        {is_admin.then(|| view! {
            <ActionForm action=sync attr:class="inline">
                <input type="hidden" name="csrf" value=sync_csrf/>
                <button type="submit" disabled=move || sync.pending().get()>
                    {move || if sync.pending().get() { "Syncing…" } else { "Sync all clusters now" }}
                </button>
            </ActionForm>
        })}
        {move || sync.value().get().map(|r| match r {
            Ok(outcomes) => {
                let down = outcomes.iter().filter(|o| !o.reachable).count();
                view! { <p class="ok" role="status">{format!("Synced {} clusters; {down} unreachable.", outcomes.len())}</p> }.into_any()
            }
            Err(error) => view! { <ErrorMessage error/> }.into_any(),
        })}
        <Suspense fallback=|| view! { <p class="muted">"Loading the fleet…"</p> }>
            {move || Suspend::new(async move {
                match clusters.await {
                    Ok(list) if list.is_empty() => view! { <p class="muted">"No clusters are registered yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="cards fleet">
                            {list.into_iter().map(|c| view! { <ClusterCard cluster=c/> }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                }
            })}
        </Suspense>
        {is_admin.then(|| view! {
            <section class="card">
                <h2>"Register a cluster"</h2>
                <p class="muted">"Berth reaches it with an API URL, the CA that signs its certificate and a bearer token. "
                    "The connection is tried before anything is stored; the token and CA are sealed and never shown again. "
                    "Kubeconfig-context and in-cluster connections are registered over the REST API."</p>
                {form_error(value)}
                {move || value.get().and_then(|r| r.ok()).map(|c| view! {
                    <p class="ok" role="status">"Cluster "<code>{c.name}</code>" registered."</p>
                })}
                <ActionForm action=register>
                    <input type="hidden" name="csrf" value=csrf.clone()/>
                    <div class="grid2">
                        <div><label for="c-name">"Name"</label><input id="c-name" name="name" required placeholder="prod-frankfurt-1"/>{field_error(value, "name")}</div>
                        <div><label for="c-display">"Display name"</label><input id="c-display" name="display_name" required/>{field_error(value, "display_name")}</div>
                        <div><label for="c-region">"Region"</label><input id="c-region" name="region" required/>{field_error(value, "region")}</div>
                        <div><label for="c-env">"Environment"</label>
                            <select id="c-env" name="environment"><option>"prod"</option><option>"staging"</option><option>"dev"</option></select></div>
                        <div><label for="c-layer">"Layer"</label>
                            <select id="c-layer" name="layer">
                                <option>"online"</option><option>"offline"</option><option>"stateful"</option>
                                <option>"shared-infra"</option><option>"secure"</option>
                            </select></div>
                        <div><label for="c-dr">"DR pair (optional)"</label><input id="c-dr" name="dr_pair"/>{field_error(value, "dr_pair")}</div>
                    </div>
                    <label for="c-url">"API URL"</label>
                    <input id="c-url" name="api_url" required placeholder="https://10.0.0.1:6443"/>
                    {field_error(value, "connection.api_url")}
                    <label for="c-ca">"CA certificate (PEM, optional for http)"</label>
                    <textarea id="c-ca" name="ca_pem" rows="3"></textarea>
                    {field_error(value, "connection.ca_pem")}
                    <label for="c-token">"Bearer token"</label>
                    <input id="c-token" name="token" type="password" autocomplete="off" required/>
                    {field_error(value, "connection.token")}
                    {field_error(value, "connection")}
                    <button type="submit" disabled=move || register.pending().get()>"Register cluster"</button>
                </ActionForm>
            </section>
        })}
    }
}

#[component]
fn ClusterCard(cluster: Cluster) -> impl IntoView {
    let (health_class, health_text) = health(&cluster);
    let href = format!("/clusters/{}", cluster.name);
    let inventory = cluster.inventory.clone();
    let version = inventory
        .as_ref()
        .and_then(|i| i.kubernetes_version.clone())
        .unwrap_or_else(|| "—".into());
    let data_age = age(inventory.as_ref().and_then(|i| i.data_age_seconds));
    let nodes = inventory
        .as_ref()
        .map(|i| format!("{}/{} nodes ready", i.ready_node_count, i.node_count))
        .unwrap_or_default();
    view! {
        <li class="card cluster-card">
            <h2><A href=href>{cluster.display_name.clone()}</A></h2>
            <p class="tags">
                <span class=format!("tag layer-{}", cluster.layer)>{cluster.layer.clone()}</span>
                <span class="tag">{cluster.environment}</span>
                <span class="tag">{cluster.region.clone()}</span>
                {cluster.simulated.then(|| view! { <span class="tag sim">"simulated"</span> })}
                {(cluster.delivery.mode == crate::api::DeliveryMode::Gitops).then(|| view! { <span class="tag gitops" title="delivered through Git">"GitOps"</span> })}
            </p>
            <p class="muted"><code>{cluster.name.clone()}</code>" · "{version}" · "{nodes}</p>
            <p class=health_class>{health_text}</p>
            {not_enforced(inventory.as_ref()).map(|text| view! { <p class="warn" role="alert">{text}</p> })}
            <p class="muted">"Data: "{data_age}</p>
            {cluster.pools.into_iter().map(|p| view! { <PoolBars pool=p/> }).collect_view()}
        </li>
    }
}

/// How the cluster pins namespaces to pools, from what its API server serves.
pub fn pinning_text(inventory: Option<&InventoryState>) -> String {
    let Some(i) = inventory.filter(|i| i.last_success_at.is_some()) else {
        return "not known until the first sync".into();
    };
    match i.pinning {
        PinMechanism::Mutating => format!(
            "MutatingAdmissionPolicy ({}) adds each pool's nodeSelector and tolerations; ValidatingAdmissionPolicy refuses the rest",
            i.mutating_policies.clone().unwrap_or_default()
        ),
        PinMechanism::Validating => "ValidatingAdmissionPolicy refuses pods that do not select their pool (no MutatingAdmissionPolicy served)".into(),
        PinMechanism::Annotations => "namespace annotations only: they hold only where the PodNodeSelector and PodTolerationRestriction plugins run".into(),
        PinMechanism::Kyverno => format!(
            "Kyverno's MutatingPolicy adds each pool's nodeSelector and tolerations; its ValidatingPolicy refuses the rest (policies.kyverno.io/{})",
            i.kyverno_policies.clone().unwrap_or_default()
        ),
    }
}

/// The admin's engine choice, and what it amounts to on this cluster.
pub fn engine_text(cluster: &Cluster) -> String {
    let served = cluster
        .inventory
        .as_ref()
        .and_then(|i| i.kyverno_policies.clone());
    match (cluster.policy_engine, served) {
        (PolicyEngine::Kubernetes, Some(v)) => format!(
            "the API server's own (Kyverno's policies.kyverno.io/{v} is served too: an admin may choose it)"
        ),
        (PolicyEngine::Kubernetes, None) => "the API server's own".into(),
        (PolicyEngine::Kyverno, Some(_)) => "Kyverno".into(),
        (PolicyEngine::Kyverno, None) => {
            "Kyverno chosen, but the cluster serves no Kyverno MutatingPolicy and ValidatingPolicy: the API server's own are used".into()
        }
    }
}

/// The warning for namespaces whose pods can leave their pool, if there are any.
pub fn not_enforced(inventory: Option<&InventoryState>) -> Option<String> {
    inventory
        .map(|i| i.pinning_not_enforced)
        .filter(|n| *n > 0)
        .map(|n| {
            format!(
                "Pool pinning is not enforced on {n} namespace{}: their pods may run on any pool.",
                if n == 1 { "" } else { "s" }
            )
        })
}

#[component]
fn PoolBars(pool: NodePool) -> impl IntoView {
    view! {
        <div class="pool">
            <strong>{pool.name.clone()}</strong>
            <Bar label="CPU".into() used=pool.committed.cpu_millis total=pool.allocatable.cpu_millis
                text=format!("{} of {} committed", cores(pool.committed.cpu_millis), cores(pool.allocatable.cpu_millis))/>
            <Bar label="Memory".into() used=pool.committed.memory_bytes total=pool.allocatable.memory_bytes
                text=format!("{} of {} committed", gib(pool.committed.memory_bytes), gib(pool.allocatable.memory_bytes))/>
            {pool.extended.into_iter().filter(|e| e.allocatable > 0).map(|e| view! {
                <Bar label=e.name.clone() used=e.committed total=e.allocatable
                    text=format!("{} of {} committed", e.committed, e.allocatable)/>
            }).collect_view()}
        </div>
    }
}

#[component]
pub fn ClusterPage() -> impl IntoView {
    let name = crate::components::param("name");
    let title = move || format!("Cluster {}", name());
    let trail = move || {
        vec![
            ("Fleet".to_owned(), "/fleet".to_owned()),
            (name(), String::new()),
        ]
    };
    view! { <Title text=title/><crate::components::Breadcrumbs trail=Signal::derive(trail)/><Authed view=|me: Me| view! { <ClusterDetailView me/> }/> }
}

#[component]
fn ClusterDetailView(me: Me) -> impl IntoView {
    let params = use_params_map();
    let name = move || params.read().get("name").unwrap_or_default();
    let sync = ServerAction::<SyncCluster>::new();
    let toggle = ServerAction::<SetClusterDisabled>::new();
    let remove = ServerAction::<RemoveCluster>::new();
    let faults = ServerAction::<SetFaults>::new();
    let edit = ServerAction::<UpdateCluster>::new();
    let live = crate::live::use_live();
    let detail = Resource::new(
        move || {
            (
                name(),
                sync.version().get(),
                toggle.version().get(),
                edit.version().get(),
                faults.version().get(),
                live.clusters.get(),
            )
        },
        |(name, ..)| get_cluster(name),
    );
    Effect::new(move |_| {
        if let Some(Ok(())) = remove.value().get() {
            crate::components::reload_to("/fleet");
        }
    });
    let csrf = me.csrf_token.clone().unwrap_or_default();
    let is_admin = me.user.is_admin;
    let faults_value = faults.value();
    let edit_value = edit.value();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the cluster…"</p> }>
            {move || {
                let csrf = csrf.clone();
                Suspend::new(async move {
                    let detail = match detail.await {
                        Ok(d) => d,
                        Err(error) => return view! { <ErrorMessage error/> }.into_any(),
                    };
                    let c = detail.cluster;
                    let (health_class, health_text) = health(&c);
                    let inv = c.inventory.clone();
                    let cname = c.name.clone();
                    let disabled = c.disabled;
                    let simulated = c.simulated;
                    let (csrf1, csrf2, csrf3, csrf4, csrf5) = (csrf.clone(), csrf.clone(), csrf.clone(), csrf.clone(), csrf.clone());
                    let (n1, n2, n3, n4, n5) = (cname.clone(), cname.clone(), cname.clone(), cname.clone(), cname.clone());
                    let (e_display, e_region, e_env, e_layer, e_pair, e_engine) = (
                        c.display_name.clone(), c.region.clone(), c.environment, c.layer.clone(),
                        c.dr_pair.clone().unwrap_or_default(), c.policy_engine,
                    );
                    view! {
                        <h1>{c.display_name.clone()}" "<small><code>{cname.clone()}</code></small></h1>
                        <p class="tags">
                            <span class=format!("tag layer-{}", c.layer)>{c.layer.clone()}</span>
                            <span class="tag">{c.environment}</span>
                            <span class="tag">{c.region.clone()}</span>
                            {simulated.then(|| view! { <span class="tag sim">"simulated"</span> })}
                        </p>
                        <dl class="facts">
                            <dt>"Health"</dt><dd class=health_class>{health_text}</dd>
                            <dt>"Kubernetes"</dt><dd>{inv.as_ref().and_then(|i| i.kubernetes_version.clone()).unwrap_or_else(|| "—".into())}</dd>
                            <dt>"Nodes"</dt><dd>{inv.as_ref().map(|i| format!("{} ready of {}", i.ready_node_count, i.node_count)).unwrap_or_default()}</dd>
                            <dt>"Data"</dt><dd>{age(inv.as_ref().and_then(|i| i.data_age_seconds))}</dd>
                            <dt>"Velero"</dt><dd>{if inv.as_ref().is_some_and(|i| i.velero_installed) { "installed" } else { "not installed" }}</dd>
                            <dt>"Pool pinning"</dt><dd>{pinning_text(inv.as_ref())}</dd>
                            <dt>"Policy engine"</dt><dd>{engine_text(&c)}</dd>
                            <dt>"DR pair"</dt><dd>{c.dr_pair.clone().unwrap_or_else(|| "none".into())}</dd>
                            <dt>"Connection"</dt><dd>{c.connection.clone()}</dd>
                        </dl>
                        <crate::pages::gitops::DeliveryCard cluster=c.clone() csrf=csrf.clone() is_admin/>
                        {not_enforced(inv.as_ref()).map(|text| view! {
                            <p class="warn" role="alert">{text}" Open a namespace of this cluster to see what its proof found."</p>
                        })}
                        {is_admin.then(|| view! {
                            <div class="actions-row">
                                <ActionForm action=sync attr:class="inline">
                                    <input type="hidden" name="csrf" value=csrf1/>
                                    <input type="hidden" name="name" value=n1/>
                                    <button type="submit">"Sync now"</button>
                                </ActionForm>
                                <ActionForm action=toggle attr:class="inline">
                                    <input type="hidden" name="csrf" value=csrf2/>
                                    <input type="hidden" name="name" value=n2/>
                                    <input type="hidden" name="disabled" value=if disabled { "false" } else { "true" }/>
                                    <button type="submit" class="secondary">{if disabled { "Enable" } else { "Disable" }}</button>
                                </ActionForm>
                                <ActionForm action=remove attr:class="inline">
                                    <input type="hidden" name="csrf" value=csrf3/>
                                    <input type="hidden" name="name" value=n3/>
                                    <button type="submit" class="danger">"Remove"</button>
                                </ActionForm>
                            </div>
                        })}
                        <h2>"Node pools"</h2>
                        <div class="table-wrap" tabindex="0"><table>
                            <thead><tr><th>"Pool"</th><th>"Nodes"</th><th>"Zones"</th><th>"Instance types"</th><th>"Taints"</th>
                                <th>"Allocatable"</th><th>"Committed"</th><th>"Overcommit"</th></tr></thead>
                            <tbody>
                                {c.pools.iter().map(|p| {
                                    let taints = p.taints.iter().map(|t| format!("{}={}:{}", t.key, t.value.clone().unwrap_or_default(), t.effect)).collect::<Vec<_>>().join(", ");
                                    view! {
                                        <tr>
                                            <td><strong>{p.name.clone()}</strong><br/><small class="muted">{if p.label_key.is_empty() { "no pool label".to_owned() } else { p.label_key.clone() }}</small></td>
                                            <td>{format!("{}/{} ready", p.ready_count, p.node_count)}</td>
                                            <td>{p.zones.join(", ")}</td>
                                            <td>{p.instance_types.join(", ")}</td>
                                            <td>{if taints.is_empty() { "none".to_owned() } else { taints }}</td>
                                            <td>{format!("{}, {}, {} pods", cores(p.allocatable.cpu_millis), gib(p.allocatable.memory_bytes), p.allocatable.pods)}
                                                {p.extended.iter().filter(|e| e.allocatable > 0).map(|e| format!(", {} {}", e.allocatable, e.name)).collect::<String>()}</td>
                                            <td>{format!("{}, {}", cores(p.committed.cpu_millis), gib(p.committed.memory_bytes))}
                                                {p.extended.iter().map(|e| format!(", {} {}", e.committed, e.name)).collect::<String>()}</td>
                                            <td>{format!("{:.0}%", p.overcommit_ratio * 100.0)}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table></div>
                        <h2>"Committed vs allocatable"</h2>
                        <div class="card chart">
                            {c.pools.into_iter().map(|p| view! { <PoolBars pool=p/> }).collect_view()}
                        </div>
                        <h2>"Storage classes"</h2>
                        <div class="table-wrap" tabindex="0"><table>
                            <thead><tr><th>"Name"</th><th>"Provisioner"</th><th>"Parameters"</th><th>"Reclaim"</th><th>"Binding"</th><th>"Expansion"</th></tr></thead>
                            <tbody>
                                {detail.storage_classes.into_iter().map(|s| {
                                    let params = s.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
                                    view! {
                                        <tr>
                                            <td>{s.name}{s.is_default.then(|| view! { " " <span class="tag">"default"</span> })}</td>
                                            <td><code>{s.provisioner}</code></td>
                                            <td>{params}</td>
                                            <td>{s.reclaim_policy}</td>
                                            <td>{s.binding_mode}</td>
                                            <td>{if s.allow_expansion { "yes" } else { "no" }}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table></div>
                        {is_admin.then(|| view! {
                            <details class="card">
                                <summary>"Edit cluster"</summary>
                                {form_error(edit_value)}
                                <ActionForm action=edit>
                                    <input type="hidden" name="csrf" value=csrf5/>
                                    <input type="hidden" name="name" value=n5/>
                                    <div class="grid2">
                                        <div><label for="e-display">"Display name"</label><input id="e-display" name="display_name" value=e_display/>{field_error(edit_value, "display_name")}</div>
                                        <div><label for="e-region">"Region"</label><input id="e-region" name="region" value=e_region/>{field_error(edit_value, "region")}</div>
                                        <div><label for="e-env">"Environment"</label>
                                            <select id="e-env" name="environment">
                                                {["prod", "staging", "dev"].map(|v| view! { <option selected=e_env == v>{v}</option> }).collect_view()}
                                            </select>{field_error(edit_value, "environment")}</div>
                                        <div><label for="e-layer">"Layer"</label>
                                            <select id="e-layer" name="layer">
                                                {["shared-infra", "online", "offline", "stateful", "secure"].map(|v| view! { <option selected=e_layer == v>{v}</option> }).collect_view()}
                                            </select>{field_error(edit_value, "layer")}</div>
                                        <div><label for="e-pair">"DR pair (empty: none)"</label><input id="e-pair" name="dr_pair" value=e_pair/>{field_error(edit_value, "dr_pair")}</div>
                                        <div><label for="e-engine">"Policy engine for pool pinning"</label>
                                            <select id="e-engine" name="policy_engine">
                                                <option value="kubernetes" selected=e_engine == PolicyEngine::Kubernetes>"The API server's admission policies"</option>
                                                <option value="kyverno" selected=e_engine == PolicyEngine::Kyverno>"Kyverno, where the cluster runs it"</option>
                                            </select>{field_error(edit_value, "policy_engine")}</div>
                                    </div>
                                    <button type="submit">"Save changes"</button>
                                </ActionForm>
                            </details>
                        })}
                        {(is_admin && simulated).then(|| view! {
                            <section class="card">
                                <h2>"Simulator faults (demo)"</h2>
                                <p class="muted">"Make this simulated cluster slow, failing or unreachable, and watch the rest of the fleet carry on."</p>
                                {form_error(faults_value)}
                                <ActionForm action=faults>
                                    <input type="hidden" name="csrf" value=csrf4/>
                                    <input type="hidden" name="name" value=n4/>
                                    <div class="grid2">
                                        <div><label for="f-latency">"Added latency (ms)"</label><input id="f-latency" name="latency_ms" type="number" min="0" value="0"/>{field_error(faults_value, "latency_ms")}</div>
                                        <div><label for="f-errors">"Share of 500s (0–1)"</label><input id="f-errors" name="error_rate" value="0"/>{field_error(faults_value, "error_rate")}</div>
                                    </div>
                                    <label class="check"><input type="checkbox" name="hang"/>" Hang until timeout"</label>
                                    <label class="check"><input type="checkbox" name="down"/>" Down (connection refused)"</label>
                                    <button type="submit">"Apply faults"</button>
                                </ActionForm>
                            </section>
                        })}
                    }.into_any()
                })
            }}
        </Suspense>
        {move || sync.value().get().map(|r| match r {
            Ok(o) if o.reachable => view! { <p class="ok" role="status">{format!("Synced: {} nodes in {} pools.", o.node_count, o.pool_count)}</p> }.into_any(),
            Ok(o) => view! { <p class="error" role="alert">{format!("Sync failed: {}", o.error.unwrap_or_default())}</p> }.into_any(),
            Err(error) => view! { <ErrorMessage error/> }.into_any(),
        })}
        {move || toggle.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorMessage error/> })}
        {move || remove.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorMessage error/> })}
    }
}
