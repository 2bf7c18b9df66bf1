//! Platform admins' tenancy settings: presets, team budgets, approval policies, webhooks,
//! and namespaces found on clusters that Berth does not know.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{quota_other_errors, quota_other_text, Me, Preset},
    components::{field_error, form_error, ErrorMessage},
    pages::fleet::{cores, gib},
    server::{
        get_out_of_band, list_all_budgets, list_clusters, list_guardrails, list_layer_guardrails,
        list_policies, list_presets, list_teams, list_webhooks, CheckNamespaces, CreateWebhook,
        RemovePolicy, RemoveWebhook, SavePolicy, SetBudget, UpdateGuardrails,
        UpdateLayerGuardrails, UpdatePreset,
    },
};

#[component]
pub fn TenancySettings() -> impl IntoView {
    view! {
        <Title text="Tenancy settings"/>
        <super::AdminOnly what="manage tenancy settings" view=|me: Me| view! { <Settings me/> }/>
    }
}

#[component]
fn Settings(me: Me) -> impl IntoView {
    let csrf = me.csrf_token.clone().unwrap_or_default();
    view! {
        <h1>"Tenancy settings"</h1>
        <GuardrailSettings csrf=csrf.clone()/>
        <LayerGuardrailSettings csrf=csrf.clone()/>
        <Presets csrf=csrf.clone()/>
        <Budgets csrf=csrf.clone()/>
        <Policies csrf=csrf.clone()/>
        <Webhooks csrf=csrf.clone()/>
        <OutOfBand csrf/>
    }
}

/// The guardrails of each environment: selects for the Pod Security levels and the
/// standards' modes. Saving one re-applies every namespace of that environment.
#[component]
fn GuardrailSettings(csrf: String) -> impl IntoView {
    let update = ServerAction::<UpdateGuardrails>::new();
    let guardrails = Resource::new(move || update.version().get(), |_| list_guardrails());
    let value = update.value();
    // The environment whose form was submitted last: its errors show under its fields only.
    let editing = RwSignal::new(String::new());
    view! {
        <section class="card">
            <h2>"Guardrails"</h2>
            <p class="muted">"Per environment: the Pod Security Admission levels written on each namespace, and what the API server does with workloads that break Berth's standards (ValidatingAdmissionPolicies on clusters that serve them). Saving re-applies every namespace of the environment."</p>
            {form_error(value)}
            {move || value.get().and_then(|r| r.ok()).map(|g| view! { <p class="ok" role="status">"Guardrails for "{g.environment}" saved; its namespaces are being re-applied."</p> })}
            <Suspense fallback=|| ()>
                {move || {
                    let csrf = csrf.clone();
                    Suspend::new(async move {
                        match guardrails.await {
                            Ok(list) => list.into_iter().map(|g| {
                                let env = g.environment.as_str();
                                let csrf = csrf.clone();
                                let levels = [
                                    ("pod_security_enforce", "Pod Security: enforce", g.pod_security_enforce.as_str()),
                                    ("pod_security_warn", "Pod Security: warn", g.pod_security_warn.as_str()),
                                    ("pod_security_audit", "Pod Security: audit", g.pod_security_audit.as_str()),
                                ];
                                let modes = [
                                    ("require_resources", "Requests and limits set", g.require_resources.as_str()),
                                    ("require_probes", "Readiness and liveness probes", g.require_probes.as_str()),
                                    ("forbid_latest", "No :latest or untagged images", g.forbid_latest.as_str()),
                                    ("forbid_privileged", "No privileged containers", g.forbid_privileged.as_str()),
                                ];
                                let select = move |field: &'static str, label: &'static str, current: &'static str, choices: &'static [&'static str]| {
                                    let id = format!("guardrail-{env}-{field}");
                                    view! {
                                        <div>
                                            <label for=id.clone()>{label}</label>
                                            <select id=id name=field>
                                                {choices.iter().map(|c| view! { <option value=*c selected=*c == current>{*c}</option> }).collect_view()}
                                            </select>
                                            {move || value.get().filter(|_| editing.get() == env).and_then(|r| r.err()).and_then(|e| e.fields.get(field).cloned())
                                                .map(|m| view! { <span class="field-error">{m}</span> })}
                                        </div>
                                    }
                                };
                                view! {
                                    <h3>{format!("Environment {env}")}</h3>
                                    <div on:submit=move |_| editing.set(env.to_owned())>
                                    <ActionForm action=update>
                                        <input type="hidden" name="csrf" value=csrf/>
                                        <input type="hidden" name="environment" value=env/>
                                        <div class="grid3">
                                            {levels.into_iter().map(|(f, l, c)| select(f, l, c, &["privileged", "baseline", "restricted"])).collect_view()}
                                            {modes.into_iter().map(|(f, l, c)| select(f, l, c, &["off", "warn", "audit", "deny"])).collect_view()}
                                        </div>
                                        <button type="submit">{format!("Save {env}")}</button>
                                    </ActionForm>
                                    </div>
                                }
                            }).collect_view().into_any(),
                            Err(error) => view! { <ErrorMessage error/> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

/// What each cluster layer adds to its environment's guardrails (the stricter of the two
/// wins), and its default PriorityClass. Saving one re-applies the namespaces on its clusters.
#[component]
fn LayerGuardrailSettings(csrf: String) -> impl IntoView {
    let update = ServerAction::<UpdateLayerGuardrails>::new();
    let layers = Resource::new(move || update.version().get(), |_| list_layer_guardrails());
    let value = update.value();
    let editing = RwSignal::new(String::new());
    view! {
        <section class="card">
            <h2>"Guardrails per layer"</h2>
            <p class="muted">"A namespace gets, rule by rule, the stricter of its environment's guardrails and its cluster layer's: a layer can tighten, never loosen (privileged and off add nothing). A default PriorityClass is written on the layer's clusters and given to every pod that names none, where the cluster serves MutatingAdmissionPolicy; elsewhere pods must name it themselves. Its value can never change in Kubernetes: give a new value a new name."</p>
            {form_error(value)}
            {move || value.get().and_then(|r| r.ok()).map(|l| view! { <p class="ok" role="status">"Guardrails for layer "{l.layer}" saved; the namespaces on its clusters are being re-applied."</p> })}
            <Suspense fallback=|| ()>
                {move || {
                    let csrf = csrf.clone();
                    Suspend::new(async move {
                        match layers.await {
                            Ok(list) => list.into_iter().map(|l| {
                                let layer = l.layer.clone();
                                let csrf = csrf.clone();
                                let error = move |layer: String, field: &'static str| {
                                    move || value.get().filter(|_| editing.get() == layer).and_then(|r| r.err()).and_then(|e| e.fields.get(field).cloned())
                                        .map(|m| view! { <span class="field-error">{m}</span> })
                                };
                                let levels = [
                                    ("pod_security_enforce", "Pod Security: enforce", l.pod_security_enforce.as_str()),
                                    ("pod_security_warn", "Pod Security: warn", l.pod_security_warn.as_str()),
                                    ("pod_security_audit", "Pod Security: audit", l.pod_security_audit.as_str()),
                                ];
                                let modes = [
                                    ("require_resources", "Requests and limits set", l.require_resources.as_str()),
                                    ("require_probes", "Readiness and liveness probes", l.require_probes.as_str()),
                                    ("forbid_latest", "No :latest or untagged images", l.forbid_latest.as_str()),
                                    ("forbid_privileged", "No privileged containers", l.forbid_privileged.as_str()),
                                ];
                                let select = {
                                    let layer = layer.clone();
                                    move |field: &'static str, label: &'static str, current: &'static str, choices: &'static [&'static str]| {
                                        let id = format!("layer-{layer}-{field}");
                                        view! {
                                            <div>
                                                <label for=id.clone()>{label}</label>
                                                <select id=id name=field>
                                                    {choices.iter().map(|c| view! { <option value=*c selected=*c == current>{*c}</option> }).collect_view()}
                                                </select>
                                                {error(layer.clone(), field)}
                                            </div>
                                        }
                                    }
                                };
                                let submitted = layer.clone();
                                view! {
                                    <h3>{format!("Layer {layer}")}</h3>
                                    <div on:submit=move |_| editing.set(submitted.clone())>
                                    <ActionForm action=update>
                                        <input type="hidden" name="csrf" value=csrf/>
                                        <input type="hidden" name="layer" value=layer.clone()/>
                                        <div class="grid3">
                                            {levels.into_iter().map(|(f, lb, c)| select(f, lb, c, &["privileged", "baseline", "restricted"])).collect_view()}
                                            {modes.into_iter().map(|(f, lb, c)| select(f, lb, c, &["off", "warn", "audit", "deny"])).collect_view()}
                                            <div>
                                                <label for=format!("layer-{layer}-priority_class")>"Default PriorityClass"</label>
                                                <input id=format!("layer-{layer}-priority_class") name="priority_class" placeholder="none" value=l.priority_class.clone().unwrap_or_default()/>
                                                {error(layer.clone(), "priority_class")}
                                            </div>
                                            <div>
                                                <label for=format!("layer-{layer}-priority_value")>"Its value"</label>
                                                <input id=format!("layer-{layer}-priority_value") name="priority_value" inputmode="numeric" placeholder="e.g. 100000" value=l.priority_value.map(|v| v.to_string()).unwrap_or_default()/>
                                                {error(layer.clone(), "priority_value")}
                                            </div>
                                        </div>
                                        <button type="submit">{format!("Save {layer}")}</button>
                                    </ActionForm>
                                    </div>
                                }
                            }).collect_view().into_any(),
                            Err(error) => view! { <ErrorMessage error/> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

const PRESET_FIELDS: [(&str, &str); 18] = [
    ("requests_cpu", "requests.cpu"),
    ("requests_memory", "requests.memory"),
    ("limits_cpu", "limits.cpu"),
    ("limits_memory", "limits.memory"),
    ("pods", "pods"),
    ("services", "services"),
    ("persistentvolumeclaims", "persistentvolumeclaims"),
    ("requests_storage", "requests.storage"),
    ("default_request_cpu", "default request CPU"),
    ("default_request_memory", "default request memory"),
    ("default_limit_cpu", "default limit CPU"),
    ("default_limit_memory", "default limit memory"),
    ("min_cpu", "min CPU"),
    ("min_memory", "min memory"),
    ("max_cpu", "max CPU"),
    ("max_memory", "max memory"),
    ("max_limit_request_ratio_cpu", "max limit/request CPU"),
    ("max_limit_request_ratio_memory", "max limit/request memory"),
];

fn preset_value(p: &Preset, field: &str) -> String {
    let (q, l) = (&p.quota, &p.limits);
    match field {
        "requests_cpu" => q.requests_cpu.clone(),
        "requests_memory" => q.requests_memory.clone(),
        "limits_cpu" => q.limits_cpu.clone(),
        "limits_memory" => q.limits_memory.clone(),
        "pods" => q.pods.to_string(),
        "services" => q.services.to_string(),
        "persistentvolumeclaims" => q.persistentvolumeclaims.to_string(),
        "requests_storage" => q.requests_storage.clone(),
        "default_request_cpu" => l.default_request_cpu.clone(),
        "default_request_memory" => l.default_request_memory.clone(),
        "default_limit_cpu" => l.default_limit_cpu.clone(),
        "default_limit_memory" => l.default_limit_memory.clone(),
        "min_cpu" => l.min_cpu.clone(),
        "min_memory" => l.min_memory.clone(),
        "max_cpu" => l.max_cpu.clone(),
        "max_memory" => l.max_memory.clone(),
        "max_limit_request_ratio_cpu" => l.max_limit_request_ratio_cpu.clone().unwrap_or_default(),
        _ => l.max_limit_request_ratio_memory.clone().unwrap_or_default(),
    }
}

fn error_key(field: &str) -> String {
    let quota = [
        "requests_cpu",
        "requests_memory",
        "limits_cpu",
        "limits_memory",
        "pods",
        "services",
        "persistentvolumeclaims",
        "requests_storage",
    ];
    if quota.contains(&field) {
        format!("quota.{field}")
    } else {
        format!("limits.{field}")
    }
}

#[component]
fn Presets(csrf: String) -> impl IntoView {
    let update = ServerAction::<UpdatePreset>::new();
    let presets = Resource::new(move || update.version().get(), |_| list_presets());
    let value = update.value();
    // The preset whose form was submitted last: its errors show under its fields only.
    let editing = RwSignal::new(String::new());
    view! {
        <section class="card">
            <h2>"Presets"</h2>
            <p class="muted">"What S, M, L and XL give a namespace. Changing a preset affects new requests; existing namespaces keep their quota."</p>
            {form_error(value)}
            {move || value.get().and_then(|r| r.ok()).map(|p| view! { <p class="ok" role="status">"Preset "{p.name}" saved."</p> })}
            <Suspense fallback=|| ()>
                {move || {
                    let csrf = csrf.clone();
                    Suspend::new(async move {
                        match presets.await {
                            Ok(list) => list.into_iter().map(|p| {
                                let csrf = csrf.clone();
                                let this = p.name.clone();
                                view! {
                                    <details class="preset-edit" on:submit=move |_| editing.set(this.clone())>
                                        <summary><strong>{p.name.clone()}</strong>" — "{format!("{} CPU, {} memory, {} pods, {} storage",
                                            p.quota.requests_cpu, p.quota.requests_memory, p.quota.pods, p.quota.requests_storage)}
                                            {p.quota.other.iter().map(|(k, v)| format!(", {k} {v}")).collect::<String>()}</summary>
                                        <ActionForm action=update>
                                            <input type="hidden" name="csrf" value=csrf/>
                                            <input type="hidden" name="name" value=p.name.clone()/>
                                            <div class="grid3">
                                                {PRESET_FIELDS.into_iter().map(|(field, label)| {
                                                    let id = format!("preset-{}-{field}", p.name);
                                                    let key = error_key(field);
                                                    let mine = p.name.clone();
                                                    view! {
                                                        <div>
                                                            <label for=id.clone()>{label}</label>
                                                            <input id=id name=field value=preset_value(&p, field)/>
                                                            {move || value.get().filter(|_| editing.get() == mine).and_then(|r| r.err()).and_then(|e| e.fields.get(&key).cloned())
                                                                .map(|m| view! { <span class="field-error">{m}</span> })}
                                                        </div>
                                                    }
                                                }).collect_view()}
                                            </div>
                                            {
                                                let id = format!("preset-{}-other", p.name);
                                                let mine = p.name.clone();
                                                view! {
                                                    <label for=id.clone()>"Other quota keys (one key: value per line)"</label>
                                                    <textarea id=id name="other" rows="3" placeholder="requests.nvidia.com/gpu: 1\ncount/deployments.apps: 20\nservices.loadbalancers: 1"
                                                        >{quota_other_text(&p.quota.other)}</textarea>
                                                    {move || value.get().filter(|_| editing.get() == mine).and_then(|r| r.err())
                                                        .map(|e| quota_other_errors(&e.fields).into_iter().map(|m| view! { <span class="field-error">{m}</span> }).collect_view())}
                                                }
                                            }
                                            <button type="submit">{format!("Save {}", p.name)}</button>
                                        </ActionForm>
                                    </details>
                                }
                            }).collect_view().into_any(),
                            Err(error) => view! { <ErrorMessage error/> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn Budgets(csrf: String) -> impl IntoView {
    let set = ServerAction::<SetBudget>::new();
    let teams = Resource::new(|| (), |_| list_teams());
    let clusters = Resource::new(|| (), |_| list_clusters());
    // One server function per resource. A fetcher that awaited one call per team made the
    // browser resolve this resource to an error on some loads, where the server had rendered
    // the table, and hydration panicked (1–4 loads in 20; none in 40 since).
    let budgets = Resource::new(move || set.version().get(), |_| list_all_budgets());
    let value = set.value();
    view! {
        <section class="card">
            <h2>"Team budgets"</h2>
            <p class="muted">"A ceiling on the sum of a team's quotas, for the whole fleet or one cluster. Requests over budget are never auto-approved and show the overrun to the approver."</p>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match budgets.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No budgets yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap" tabindex="0"><table>
                                <thead><tr><th>"Team"</th><th>"Scope"</th><th>"CPU"</th><th>"Memory"</th><th>"Storage"</th><th>"Extended resources"</th></tr></thead>
                                <tbody>{list.into_iter().map(|b| view! {
                                    <tr><td>{b.team}</td><td>{b.cluster.unwrap_or_else(|| "fleet".into())}</td>
                                        <td>{format!("{} of {}", cores(b.used.cpu_millis), cores(b.limit.cpu_millis))}</td>
                                        <td>{format!("{} of {}", gib(b.used.memory_bytes), gib(b.limit.memory_bytes))}</td>
                                        <td>{format!("{} of {}", gib(b.used.storage_bytes), gib(b.limit.storage_bytes))}</td>
                                        <td>{if b.extended.is_empty() { "—".to_owned() } else {
                                            b.extended.iter().map(|e| format!("{} {} of {}", e.name, e.after, e.limit)).collect::<Vec<_>>().join(", ") }}</td></tr>
                                }).collect_view()}</tbody>
                            </table></div>
                        }.into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })}
            </Suspense>
            {form_error(value)}
            <ActionForm action=set>
                <input type="hidden" name="csrf" value=csrf/>
                <div class="grid3">
                    <div><label for="b-team">"Team"</label>
                        <Suspense fallback=|| ()>{move || Suspend::new(async move {
                            let names: Vec<String> = teams.await.unwrap_or_default().into_iter().map(|t| t.name).collect();
                            view! { <select id="b-team" name="team">{names.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}</select> }
                        })}</Suspense></div>
                    <div><label for="b-cluster">"Scope"</label>
                        <Suspense fallback=|| ()>{move || Suspend::new(async move {
                            let names: Vec<String> = clusters.await.unwrap_or_default().into_iter().map(|c| c.name).collect();
                            view! { <select id="b-cluster" name="cluster"><option value="">"Whole fleet"</option>
                                {names.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}</select> }
                        })}</Suspense>{field_error(value, "cluster")}</div>
                    <div><label for="b-cpu">"CPU"</label><input id="b-cpu" name="cpu" placeholder="64" required/>{field_error(value, "cpu")}</div>
                    <div><label for="b-memory">"Memory"</label><input id="b-memory" name="memory" placeholder="256Gi" required/>{field_error(value, "memory")}</div>
                    <div><label for="b-storage">"Storage"</label><input id="b-storage" name="storage" placeholder="2Ti" required/>{field_error(value, "storage")}</div>
                    <div class="span2"><label for="b-extended">"Extended resources (optional, one resource: count per line)"</label>
                        <textarea id="b-extended" name="extended" rows="2" placeholder="nvidia.com/gpu: 16"></textarea>
                        {move || value.with(|v| v.as_ref().and_then(|r| r.as_ref().err()).map(|e| e.fields.iter()
                            .filter(|(f, _)| f.starts_with("extended"))
                            .map(|(f, m)| view! { <span class="field-error">{format!("{}: {m}", f.trim_start_matches("extended[").trim_end_matches(']'))}</span> })
                            .collect_view()))}</div>
                </div>
                <button type="submit">"Set budget"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn Policies(csrf: String) -> impl IntoView {
    let save = ServerAction::<SavePolicy>::new();
    let remove = ServerAction::<RemovePolicy>::new();
    let policies = Resource::new(
        move || (save.version().get(), remove.version().get()),
        |_| list_policies(),
    );
    let value = save.value();
    let remove_csrf = csrf.clone();
    view! {
        <section class="card">
            <h2>"Approval policies"</h2>
            <p class="muted">"Evaluated in order; the first whose conditions all hold decides. No match: an admin decides."</p>
            <Suspense fallback=|| ()>
                {move || {
                    let remove_csrf = remove_csrf.clone();
                    Suspend::new(async move {
                        match policies.await {
                            Ok(list) => view! {
                                <div class="table-wrap" tabindex="0"><table>
                                    <thead><tr><th>"#"</th><th>"Name"</th><th>"Kinds"</th><th>"Environments"</th><th>"Up to"</th><th>"Budget"</th><th>"Decreases only"</th><th>"Usage at p95"</th><th>"Preset steps"</th><th>"Action"</th><th></th></tr></thead>
                                    <tbody>{list.into_iter().map(|p| {
                                        let c = p.conditions.clone();
                                        let csrf = remove_csrf.clone();
                                        view! {
                                            <tr class:muted=!p.enabled>
                                                <td>{p.position}</td><td>{p.name.clone()}{(!p.enabled).then_some(" (disabled)")}</td>
                                                <td>{if c.kinds.is_empty() { "any".into() } else { c.kinds.join(", ") }}</td>
                                                <td>{if c.environments.is_empty() { "any".into() } else { c.environments.join(", ") }}</td>
                                                <td>{c.max_preset.unwrap_or_else(|| "—".into())}</td>
                                                <td>{if c.within_budget { "within" } else { "—" }}</td>
                                                <td>{if c.decrease_only { "yes" } else { "—" }}</td>
                                                <td>{c.min_usage_percent.map_or_else(|| "—".into(), |p| format!("≥ {p}% of quota"))}</td>
                                                <td>{c.max_preset_steps.map_or_else(|| "—".into(), |n| format!("≤ {n}"))}</td>
                                                <td>{p.action.clone()}</td>
                                                <td><ActionForm action=remove attr:class="inline">
                                                    <input type="hidden" name="csrf" value=csrf/>
                                                    <input type="hidden" name="id" value=p.id.to_string()/>
                                                    <button type="submit" class="link">"Remove"</button>
                                                </ActionForm></td>
                                            </tr>
                                        }
                                    }).collect_view()}</tbody>
                                </table></div>
                            }.into_any(),
                            Err(error) => view! { <ErrorMessage error/> }.into_any(),
                        }
                    })
                }}
            </Suspense>
            <h3>"Add a policy"</h3>
            {form_error(value)}
            <ActionForm action=save>
                <input type="hidden" name="csrf" value=csrf/>
                <div class="grid3">
                    <div><label for="p-name">"Name"</label><input id="p-name" name="name" required/>{field_error(value, "name")}</div>
                    <div><label for="p-position">"Position"</label><input id="p-position" name="position" type="number" value="10"/>{field_error(value, "position")}</div>
                    <div><label for="p-kinds">"Kinds (comma-separated; empty: any)"</label><input id="p-kinds" name="kinds" placeholder="create, quota_change"/>{field_error(value, "conditions.kinds")}</div>
                    <div><label for="p-envs">"Environments (empty: any)"</label><input id="p-envs" name="environments" placeholder="dev, staging"/>{field_error(value, "conditions.environments")}</div>
                    <div><label for="p-max">"Not above preset"</label>
                        <select id="p-max" name="max_preset"><option value="">"any size"</option><option>"S"</option><option>"M"</option><option>"L"</option><option>"XL"</option></select></div>
                    <div><label for="p-usage">"CPU or memory use at p95 at least (% of quota; quota changes)"</label><input id="p-usage" name="min_usage_percent" inputmode="numeric" placeholder="e.g. 80"/>{field_error(value, "conditions.min_usage_percent")}</div>
                    <div><label for="p-steps">"At most preset steps up (quota changes)"</label><input id="p-steps" name="max_preset_steps" inputmode="numeric" placeholder="e.g. 1"/>{field_error(value, "conditions.max_preset_steps")}</div>
                    <div><label for="p-action">"Then"</label>
                        <select id="p-action" name="action"><option value="approve">"approve"</option><option value="manual">"send to an admin"</option></select>{field_error(value, "action")}</div>
                </div>
                <label class="check"><input type="checkbox" name="within_budget" checked/>" Only within budget"</label>
                <label class="check"><input type="checkbox" name="decrease_only"/>" Only quota decreases"</label>
                <label class="check"><input type="checkbox" name="enabled" checked/>" Enabled"</label>
                <button type="submit">"Add policy"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn Webhooks(csrf: String) -> impl IntoView {
    let create = ServerAction::<CreateWebhook>::new();
    let remove = ServerAction::<RemoveWebhook>::new();
    let hooks = Resource::new(
        move || (create.version().get(), remove.version().get()),
        |_| list_webhooks(),
    );
    let value = create.value();
    let remove_csrf = csrf.clone();
    view! {
        <section class="card">
            <h2>"Webhooks"</h2>
            <p class="muted">"A JSON POST for each request event, signed with "<code>"X-Berth-Signature: sha256=<HMAC-SHA256 of the body>"</code>
                ", retried with backoff. Delivery never holds up a request."</p>
            <Suspense fallback=|| ()>
                {move || {
                    let remove_csrf = remove_csrf.clone();
                    Suspend::new(async move {
                        match hooks.await {
                            Ok(list) => list.into_iter().map(|h| {
                                let csrf = remove_csrf.clone();
                                view! {
                                    <p><code>{h.url.clone()}</code>" — "{h.events.join(", ")}" "
                                        <ActionForm action=remove attr:class="inline">
                                            <input type="hidden" name="csrf" value=csrf/>
                                            <input type="hidden" name="id" value=h.id.to_string()/>
                                            <button type="submit" class="link">"Remove"</button>
                                        </ActionForm></p>
                                }
                            }).collect_view().into_any(),
                            Err(error) => view! { <ErrorMessage error/> }.into_any(),
                        }
                    })
                }}
            </Suspense>
            {form_error(value)}
            <ActionForm action=create>
                <input type="hidden" name="csrf" value=csrf/>
                <label for="h-url">"URL"</label><input id="h-url" name="url" required placeholder="https://chat.example.com/hooks/berth"/>{field_error(value, "url")}
                <label for="h-secret">"Signing secret (16+ characters; never shown again)"</label>
                <input id="h-secret" name="secret" type="password" autocomplete="off" required/>{field_error(value, "secret")}
                <label for="h-events">"Events"</label>
                <input id="h-events" name="events" value="request.created, request.approved, request.rejected, request.provisioned, request.failed"/>
                {field_error(value, "events")}
                <button type="submit">"Add webhook"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn OutOfBand(csrf: String) -> impl IntoView {
    let check = ServerAction::<CheckNamespaces>::new();
    let found = Resource::new(move || check.version().get(), |_| get_out_of_band());
    let clusters = Resource::new(|| (), |_| list_clusters());
    view! {
        <section class="card">
            <h2>"Out-of-band namespaces"</h2>
            <p class="muted">"Namespaces labelled app.kubernetes.io/managed-by=berth that Berth has no record of, as the last usage and drift check found them."</p>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match found.await {
                        Ok(list) if list.is_empty() => view! { <p class="ok">"None found."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul>{list.into_iter().map(|o| view! {
                                <li><code>{o.namespace}</code>" on "{o.cluster}{o.team_label.map(|t| format!(" (labelled team {t})"))}</li>
                            }).collect_view()}</ul>
                        }.into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })}
            </Suspense>
            <ActionForm action=check attr:class="inline">
                <input type="hidden" name="csrf" value=csrf/>
                <label for="oob-cluster">"Check a cluster now"</label>
                <Suspense fallback=|| ()>{move || Suspend::new(async move {
                    let names: Vec<String> = clusters.await.unwrap_or_default().into_iter().map(|c| c.name).collect();
                    view! { <select id="oob-cluster" name="cluster">{names.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}</select> }
                })}</Suspense>
                <button type="submit">"Check usage and drift"</button>
            </ActionForm>
            {move || check.value().get().map(|r| match r {
                Ok(()) => view! { <p class="ok" role="status">"Checked."</p> }.into_any(),
                Err(error) => view! { <ErrorMessage error/> }.into_any(),
            })}
        </section>
    }
}
