//! Namespace requests: the list, the request wizard with its live preview, and the request
//! page where admins approve, amend or reject and requesters follow progress.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    api::{
        quota_other_errors, quota_other_from_text, quota_other_text, Amounts, CapacityImpact,
        ClassQuota, DrillState, FreezeNotice, LimitSpec, Me, NamespaceRequest, NamespaceSpec,
        NamespaceState, NewNamespaceRequest, PinVerdict, ProbeOutcome, QuotaSpec, RequestDetail,
        RequestKind, RequestPreview, RequestQuery, RequestState, SpecChoice, Word,
    },
    components::{
        field_error, form_error, query, reload_to, sort_order, sort_rows, when, Authed,
        ErrorMessage, ListFilters, Pager, SortHeader,
    },
    pages::fleet::{cores, gib, Bar},
    server::{
        get_cluster, get_request, list_clusters, list_presets, list_requests, list_teams,
        preview_request, AmendRequest, CreateRequest, DecideRequest,
    },
};

pub fn state_badge<S: Toned>(state: S) -> impl IntoView {
    badge(state.tone(), state.as_str())
}

/// A request's state in the words of what it does: a decommission is "deleting", then
/// "deleted"; a quota change "applying", then "applied".
pub fn request_badge(kind: RequestKind, state: RequestState) -> impl IntoView {
    let words = match (kind, state) {
        (RequestKind::Decommission, RequestState::Provisioning) => "deleting",
        (RequestKind::Decommission, RequestState::Ready) => "deleted",
        (RequestKind::QuotaChange, RequestState::Provisioning) => "applying",
        (RequestKind::QuotaChange, RequestState::Ready) => "applied",
        (_, state) => state.as_str(),
    };
    badge(state.tone(), words)
}

/// A badge for what is not a state machine (an object's outcome, a check).
pub fn badge(tone: Tone, text: &str) -> impl IntoView {
    let class = match tone {
        Tone::Ok => "badge ok",
        Tone::Error => "badge error",
        Tone::Waiting => "badge warn",
        Tone::Moving => "badge",
    };
    view! { <span class=class>{text.to_owned()}</span> }
}

/// How a state reads at a glance.
#[derive(Clone, Copy)]
pub enum Tone {
    Ok,
    Error,
    /// Someone has to act.
    Waiting,
    /// On its way, or over without a judgement.
    Moving,
}

/// A state machine's word with its tone, decided once per state.
pub trait Toned: Word {
    fn tone(self) -> Tone;
}

impl Toned for RequestState {
    fn tone(self) -> Tone {
        match self {
            RequestState::Ready => Tone::Ok,
            RequestState::Failed | RequestState::Rejected => Tone::Error,
            RequestState::Pending | RequestState::Held => Tone::Waiting,
            RequestState::Approved | RequestState::Provisioning | RequestState::Cancelled => {
                Tone::Moving
            }
        }
    }
}

impl Toned for NamespaceState {
    fn tone(self) -> Tone {
        match self {
            NamespaceState::Ready => Tone::Ok,
            NamespaceState::Failed => Tone::Error,
            NamespaceState::Provisioning
            | NamespaceState::Decommissioning
            | NamespaceState::Decommissioned => Tone::Moving,
        }
    }
}

impl Toned for DrillState {
    fn tone(self) -> Tone {
        match self {
            DrillState::Passed => Tone::Ok,
            DrillState::Failed => Tone::Error,
            DrillState::Queued | DrillState::Running | DrillState::Cancelled => Tone::Moving,
        }
    }
}

impl Toned for PinVerdict {
    fn tone(self) -> Tone {
        match self {
            PinVerdict::Enforced => Tone::Ok,
            PinVerdict::NotEnforced => Tone::Error,
            PinVerdict::Inconclusive => Tone::Waiting,
            PinVerdict::NotPinnable => Tone::Moving,
        }
    }
}

impl Toned for ProbeOutcome {
    fn tone(self) -> Tone {
        match self {
            ProbeOutcome::Mutated | ProbeOutcome::Refused => Tone::Ok,
            ProbeOutcome::NotEnforced => Tone::Error,
            ProbeOutcome::Inconclusive => Tone::Waiting,
        }
    }
}

fn kind_label(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Create => "new namespace",
        RequestKind::QuotaChange => "quota change",
        RequestKind::Decommission => "decommission",
    }
}

fn kind_title(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Create => "New namespace",
        RequestKind::QuotaChange => "Quota change",
        RequestKind::Decommission => "Decommission",
    }
}

#[component]
pub fn Requests() -> impl IntoView {
    view! { <Title text="Requests"/><Authed view=|me: Me| view! { <RequestList me/> }/> }
}

#[component]
fn RequestList(me: Me) -> impl IntoView {
    // Every filter is in the URL, so a filtered list can be shared and survives a reload.
    let state = query("state");
    let search = query("q");
    let team = query("team");
    let cluster = query("cluster");
    let cursor = query("cursor");
    let sort = query("sort");
    let live = crate::live::use_live();
    let requests = Resource::new(
        move || {
            (
                (state(), search(), team(), cluster()),
                (sort(), cursor()),
                live.requests.get(),
            )
        },
        |((state, q, team, cluster), (sort, cursor), _)| {
            list_requests(RequestQuery {
                state: Some(state.unwrap_or_else(|| "open".into())).filter(|s| s != "all"),
                q,
                team,
                cluster,
                sort,
                cursor,
                limit: Some(50),
                ..Default::default()
            })
        },
    );
    let navigate = leptos_router::hooks::use_navigate();
    let location = leptos_router::hooks::use_location();
    let query_map = leptos_router::hooks::use_query_map();
    // Choosing what to show applies at once (the Filter button does the same without script).
    let show = move |ev: leptos::ev::Event| {
        let mut query = query_map.get_untracked();
        query.replace("state", event_target_value(&ev));
        query.remove("cursor");
        navigate(
            &format!(
                "{}{}",
                location.pathname.get_untracked(),
                query.to_query_string()
            ),
            Default::default(),
        );
    };
    let selected = move |value: &'static str| move || state().as_deref().unwrap_or("open") == value;
    view! {
        <h1>"Namespace requests"</h1>
        <p><A href="/requests/new" attr:class="button">"Request a namespace"</A></p>
        <ListFilters id="req" label="Filter requests">
            <label for="req-filter">"Show"</label>
            <select id="req-filter" name="state" on:change=show>
                <option value="open" selected=selected("open")>"Open (pending, provisioning, failed)"</option>
                <option value="pending" selected=selected("pending")>"Waiting for an admin"</option>
                <option value="all" selected=selected("all")>"All"</option>
                <option value="ready" selected=selected("ready")>"Done"</option>
                <option value="rejected" selected=selected("rejected")>"Rejected"</option>
                <option value="cancelled" selected=selected("cancelled")>"Cancelled"</option>
            </select>
        </ListFilters>
        {me.user.is_admin.then(|| view! { <p class="muted">"As a platform admin you see every team's requests."</p> })}
        <Suspense fallback=|| view! { <p class="muted">"Loading requests…"</p> }>
            {move || Suspend::new(async move {
                match requests.await {
                    Ok(page) if page.items.is_empty() => view! { <p class="muted">"No requests here."</p> }.into_any(),
                    Ok(page) => {
                        let shown = page.items.len();
                        view! {
                            <RequestTable items=page.items sorted=true/>
                            <Pager next_cursor=page.next_cursor shown/>
                        }
                        .into_any()
                    }
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A request's value in a sortable column.
fn request_column(r: &NamespaceRequest, column: &str) -> String {
    match column {
        "cluster" => r.cluster.clone(),
        "team" => r.team.clone(),
        "kind" => kind_label(r.kind).to_owned(),
        "state" => r.state.as_str().to_owned(),
        "requested_by" => r.requested_by.clone().unwrap_or_default(),
        "created" => r.created_at.unix_timestamp_nanos().to_string(),
        _ => r.namespace.clone(),
    }
}

/// Requests newest first, or in the order the column headers choose (a new order renders
/// the table again). `sorted`: the server already ordered them, across pages.
#[component]
pub fn RequestTable(items: Vec<NamespaceRequest>, #[prop(optional)] sorted: bool) -> impl IntoView {
    let order = sort_order();
    move || {
        let mut items = items.clone();
        if !sorted {
            sort_rows(&mut items, order(), request_column);
        }
        view! {
            <div class="table-wrap" tabindex="0">
                <table>
                    <thead><tr>
                        <SortHeader label="Namespace" column="namespace"/>
                        <SortHeader label="Cluster" column="cluster"/>
                        <SortHeader label="Team" column="team"/>
                        <SortHeader label="Kind" column="kind"/>
                        <SortHeader label="State" column="state"/>
                        <SortHeader label="Requested by" column="requested_by"/>
                        <SortHeader label="Created" column="created"/>
                    </tr></thead>
                    <tbody>
                        {items.into_iter().map(|r| view! {
                            <tr>
                                <td><A href=format!("/requests/{}", r.id)>{r.namespace.clone()}</A></td>
                                <td>{r.cluster.clone()}</td>
                                <td>{r.team.clone()}</td>
                                <td>{kind_label(r.kind)}</td>
                                <td>{request_badge(r.kind, r.state)}</td>
                                <td>{r.requested_by.clone().unwrap_or_default()}</td>
                                <td>{when(r.created_at)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
    }
}

// --- The wizard -------------------------------------------------------------------------

type QuotaLens = fn(&mut QuotaSpec) -> &mut String;
type LimitLens = fn(&mut LimitSpec) -> &mut String;

const QUOTA_FIELDS: [(&str, &str, QuotaLens); 5] = [
    ("requests_cpu", "requests.cpu", |q| &mut q.requests_cpu),
    ("requests_memory", "requests.memory", |q| {
        &mut q.requests_memory
    }),
    ("limits_cpu", "limits.cpu", |q| &mut q.limits_cpu),
    ("limits_memory", "limits.memory", |q| &mut q.limits_memory),
    ("requests_storage", "requests.storage", |q| {
        &mut q.requests_storage
    }),
];

const LIMIT_FIELDS: [(&str, &str, LimitLens); 8] = [
    ("default_request_cpu", "default request CPU", |l| {
        &mut l.default_request_cpu
    }),
    ("default_request_memory", "default request memory", |l| {
        &mut l.default_request_memory
    }),
    ("default_limit_cpu", "default limit CPU", |l| {
        &mut l.default_limit_cpu
    }),
    ("default_limit_memory", "default limit memory", |l| {
        &mut l.default_limit_memory
    }),
    ("min_cpu", "min CPU", |l| &mut l.min_cpu),
    ("min_memory", "min memory", |l| &mut l.min_memory),
    ("max_cpu", "max CPU", |l| &mut l.max_cpu),
    ("max_memory", "max memory", |l| &mut l.max_memory),
];

#[derive(Clone, Debug, PartialEq)]
struct ClassChoice {
    name: String,
    chosen: bool,
    storage: String,
    pvcs: i64,
}

#[component]
pub fn NewRequest() -> impl IntoView {
    view! { <Title text="Request a namespace"/><Authed view=|me: Me| view! { <Wizard me/> }/> }
}

#[component]
fn Wizard(me: Me) -> impl IntoView {
    let csrf = me.csrf_token.clone().unwrap_or_default();
    let teams = Resource::new(|| (), |_| list_teams());
    let clusters = Resource::new(|| (), |_| list_clusters());
    let presets = Resource::new(|| (), |_| list_presets());

    let team = RwSignal::new(me.teams.first().map(|t| t.team.clone()).unwrap_or_default());
    let cluster = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let pool = RwSignal::new(String::new());
    let environment = RwSignal::new(String::new());
    let preset = RwSignal::new("M".to_owned());
    let custom = RwSignal::new(false);
    let quota = RwSignal::new(None::<QuotaSpec>);
    let limits = RwSignal::new(None::<LimitSpec>);
    let classes = RwSignal::new(Vec::<ClassChoice>::new());
    let purpose = RwSignal::new(String::new());
    let expires = RwSignal::new(String::new());

    let cluster_detail = Resource::new(
        move || cluster.get(),
        |name| async move {
            if name.is_empty() {
                None
            } else {
                get_cluster(name).await.ok()
            }
        },
    );
    // A new cluster: its storage classes, none chosen, and its pool if it has only one.
    Effect::new(move |_| {
        if let Some(Some(detail)) = cluster_detail.get() {
            if let [only] = detail.cluster.pools.as_slice() {
                pool.set(only.name.clone());
            }
            classes.set(
                detail
                    .storage_classes
                    .iter()
                    .map(|c| ClassChoice {
                        name: c.name.clone(),
                        chosen: false,
                        storage: "20Gi".into(),
                        pvcs: 2,
                    })
                    .collect(),
            );
        }
    });
    // "Customize" starts from the chosen preset's values.
    Effect::new(move |_| {
        if custom.get() && quota.get_untracked().is_none() {
            if let Some(Ok(list)) = presets.get() {
                if let Some(p) = list.iter().find(|p| p.name == preset.get_untracked()) {
                    quota.set(Some(p.quota.clone()));
                    limits.set(Some(p.limits.clone()));
                }
            }
        }
    });

    let input = Memo::new(move |_| NewNamespaceRequest {
        team: team.get(),
        cluster: cluster.get(),
        name: name.get(),
        node_pool: pool.get(),
        environment: Some(environment.get()).filter(|e| !e.is_empty()),
        spec: SpecChoice {
            preset: (!custom.get()).then(|| preset.get()),
            quota: if custom.get() { quota.get() } else { None },
            limits: if custom.get() { limits.get() } else { None },
            storage_classes: Some(
                classes
                    .get()
                    .into_iter()
                    .filter(|c| c.chosen)
                    .map(|c| ClassQuota {
                        name: c.name,
                        storage: c.storage,
                        persistentvolumeclaims: c.pvcs,
                    })
                    .collect(),
            ),
        },
        purpose: purpose.get(),
        expires_at: parse_local(&expires.get()),
    });
    let preview = Resource::new(
        move || input.get(),
        |input| async move {
            if input.cluster.is_empty() || input.team.is_empty() {
                None
            } else {
                preview_request(input).await.ok()
            }
        },
    );
    let create = ServerAction::<CreateRequest>::new();
    let value = create.value();
    Effect::new(move |_| {
        if let Some(Ok(detail)) = value.get() {
            reload_to(&format!("/requests/{}", detail.request.id));
        }
    });
    // A field's error shows once it has been touched (its group: `quota` for every quota
    // field) or a submit was tried, never on a form nobody has filled in yet.
    let touched = RwSignal::new(std::collections::BTreeSet::<&'static str>::new());
    let tried = RwSignal::new(false);
    let touch = move |group: &'static str| {
        touched.update(|t| {
            t.insert(group);
        })
    };
    let shown = move |field: &str| {
        tried.get() || touched.with(|t| t.contains(field.split(['.', '[']).next().unwrap_or(field)))
    };
    // The preview's message for a field, once the field may show one; the hint's element id.
    let preview_hint = move |field: &'static str| {
        preview
            .get()
            .flatten()
            .filter(|_| shown(field))
            .and_then(|p| p.fields.get(field).cloned())
    };
    let hint_element = |field: &str| format!("{}-hint", field.replace('.', "-"));
    let preview_error = move |field: &'static str| {
        move || {
            preview_hint(field)
                .map(|m| view! { <span class="field-error hint" id=hint_element(field)>{m}</span> })
        }
    };
    // A control whose preview hint is showing is marked invalid and described by the hint.
    let hint_id =
        move |field: &'static str| move || preview_hint(field).map(|_| hint_element(field));
    let hint_invalid = move |field: &'static str| move || hint_id(field)().map(|_| "true");
    let submit_csrf = csrf.clone();

    view! {
        <h1>"Request a namespace"</h1>
        <p class="muted">"Every namespace gets a ResourceQuota, a LimitRange, default-deny network policies, "
            "your team's RoleBinding to edit and a deployer service account. The panel shows what will be created "
            "and what it takes from the pool and your budget as you fill in the form."</p>
        <div class="wizard">
            <form class="card" on:submit=move |ev| {
                ev.prevent_default();
                tried.set(true);
                create.dispatch(CreateRequest { csrf: submit_csrf.clone(), input: input.get_untracked() });
            }>
                {form_error(value)}
                <fieldset>
                    <legend>"Where"</legend>
                    <label for="w-team">"Team"</label>
                    <Suspense fallback=|| view! { <select id="w-team" disabled><option>"…"</option></select> }>
                        {move || Suspend::new(async move {
                            let list = teams.await.unwrap_or_default();
                            view! {
                                <select id="w-team" on:change=move |ev| { touch("team"); team.set(event_target_value(&ev)) }>
                                    <option value="">"Choose a team"</option>
                                    {list.into_iter().map(|t| {
                                        let selected = t.name == team.get_untracked();
                                        let label = format!("{} ({})", t.display_name, t.name);
                                        view! { <option value=t.name selected=selected>{label}</option> }
                                    }).collect_view()}
                                </select>
                            }
                        })}
                    </Suspense>
                    {field_error(value, "team")}{preview_error("team")}
                    <label for="w-cluster">"Cluster"</label>
                    <Suspense fallback=|| view! { <select id="w-cluster" disabled><option>"…"</option></select> }>
                        {move || Suspend::new(async move {
                            let list = clusters.await.unwrap_or_default();
                            view! {
                                <select id="w-cluster" on:change=move |ev| { touch("cluster"); cluster.set(event_target_value(&ev)); pool.set(String::new()); }>
                                    <option value="">"Choose a cluster"</option>
                                    {list.into_iter().filter(|c| !c.disabled).map(|c| {
                                        let value = c.name.clone();
                                        view! {
                                            <option value=c.name.clone() selected=move || cluster.get() == value>
                                                {format!("{} — {} · {} · {}", c.name, c.layer, c.environment, c.region)}</option>
                                        }
                                    }).collect_view()}
                                </select>
                            }
                        })}
                    </Suspense>
                    {field_error(value, "cluster")}{preview_error("cluster")}
                    <label for="w-pool">"Node pool"</label>
                    <select id="w-pool" aria-invalid=hint_invalid("node_pool") aria-describedby=hint_id("node_pool") on:change=move |ev| { touch("node_pool"); pool.set(event_target_value(&ev)) }>
                        <option value="">"Choose a pool"</option>
                        {move || cluster_detail.get().flatten().map(|d| d.cluster.pools.into_iter().map(|p| {
                            let free = p.allocatable.cpu_millis - p.committed.cpu_millis;
                            let tainted = if p.taints.is_empty() { "" } else { " · tainted" };
                            let extended: String = p.extended.iter().filter(|e| e.allocatable > 0)
                                .map(|e| format!(" · {} of {} {} free", e.allocatable - e.committed, e.allocatable, e.name)).collect();
                            let value = p.name.clone();
                            view! { <option value=p.name.clone() selected=move || pool.get() == value>{format!("{} ({} free of {}{tainted}{extended})", p.name, cores(free), cores(p.allocatable.cpu_millis))}</option> }
                        }).collect_view())}
                    </select>
                    {field_error(value, "node_pool")}{preview_error("node_pool")}
                    {move || cluster_detail.get().flatten().and_then(|d| {
                        let chosen = pool.get();
                        let p = d.cluster.pools.iter().find(|p| p.name == chosen)?;
                        let note = if p.label_key.is_empty() {
                            format!("Pool {chosen} has no node label (it is the fallback pool), so Berth cannot pin to it: pods of the namespace may run on any node of the cluster.")
                        } else if d.cluster.inventory.as_ref().is_some_and(|i| i.pinning_not_enforced > 0) {
                            format!("This cluster does not enforce pool pinning ({}). Pods may leave pool {chosen}.", crate::pages::fleet::pinning_text(d.cluster.inventory.as_ref()))
                        } else {
                            let needs = if p.taints.is_empty() { String::new() } else {
                                format!(" and tolerate {}", p.taints.iter().map(|t| match &t.value {
                                    Some(v) => format!("{}={v}:{}", t.key, t.effect),
                                    None => format!("{}:{}", t.key, t.effect),
                                }).collect::<Vec<_>>().join(", "))
                            };
                            format!("Pods will select {}={chosen}{needs}: {}.", p.label_key, crate::pages::fleet::pinning_text(d.cluster.inventory.as_ref()))
                        };
                        let class = if p.label_key.is_empty() { "warn" } else { "muted small" };
                        Some(view! { <p class=class role="note">{note}</p> })
                    })}
                    <label for="w-env">"Environment"</label>
                    <select id="w-env" on:change=move |ev| environment.set(event_target_value(&ev))>
                        <option value="">"The cluster's"</option>
                        <option value="dev">"dev"</option>
                        <option value="staging">"staging"</option>
                        <option value="prod">"prod"</option>
                    </select>
                    {field_error(value, "environment")}
                </fieldset>
                <fieldset>
                    <legend>"Name and purpose"</legend>
                    <label for="w-name">"Namespace name"</label>
                    <input id="w-name" autocomplete="off" aria-invalid=hint_invalid("name") aria-describedby=hint_id("name") placeholder=move || format!("{}-api", team.get())
                        prop:value=move || name.get() on:input=move |ev| { touch("name"); name.set(event_target_value(&ev)) }/>
                    <span class="muted small">"Lower-case letters, digits and '-', starting with your team's prefix."</span>
                    {field_error(value, "name")}{preview_error("name")}
                    <label for="w-purpose">"Purpose"</label>
                    <input id="w-purpose" aria-invalid=hint_invalid("purpose") aria-describedby=hint_id("purpose") prop:value=move || purpose.get() on:input=move |ev| { touch("purpose"); purpose.set(event_target_value(&ev)) }/>
                    {field_error(value, "purpose")}{preview_error("purpose")}
                    <label for="w-expires">"Expires (optional, for sandboxes; UTC)"</label>
                    <input id="w-expires" type="datetime-local" aria-invalid=hint_invalid("expires_at") aria-describedby=hint_id("expires_at") on:input=move |ev| { touch("expires_at"); expires.set(event_target_value(&ev)) }/>
                    {field_error(value, "expires_at")}{preview_error("expires_at")}
                </fieldset>
                <fieldset>
                    <legend>"Size"</legend>
                    <div class="presets" role="radiogroup" aria-label="Preset">
                        <Suspense fallback=|| ()>
                            {move || Suspend::new(async move {
                                presets.await.unwrap_or_default().into_iter().map(|p| {
                                    let n = p.name.clone();
                                    let id = format!("w-preset-{}", p.name);
                                    let for_id = id.clone();
                                    view! {
                                        <label class="preset" for=for_id>
                                            <input type="radio" name="preset" id=id value=p.name.clone() checked=p.name == "M"
                                                on:change=move |_| { touch("preset"); preset.set(n.clone()); custom.set(false); quota.set(None); limits.set(None); }/>
                                            <strong>{p.name.clone()}</strong>
                                            <span class="muted small">{format!("{} CPU · {} memory · {} pods", p.quota.requests_cpu, p.quota.requests_memory, p.quota.pods)}</span>
                                        </label>
                                    }
                                }).collect_view()
                            })}
                        </Suspense>
                    </div>
                    {field_error(value, "preset")}{preview_error("preset")}
                    <label class="check"><input type="checkbox" id="w-custom" on:change=move |ev| custom.set(event_target_checked(&ev))/>" Customize quota and limits"</label>
                    <Show when=move || custom.get() && quota.get().is_some()>
                        <div class="grid2">
                            {QUOTA_FIELDS.into_iter().map(|(field, label, lens)| {
                                let key = format!("quota.{field}");
                                let id = format!("w-q-{field}");
                                view! {
                                    <div>
                                        <label for=id.clone()>{label}</label>
                                        <input id=id prop:value=move || quota.get().map(|mut q| lens(&mut q).clone()).unwrap_or_default()
                                            on:input=move |ev| { touch("quota"); quota.update(|q| if let Some(q) = q { *lens(q) = event_target_value(&ev) }) }/>
                                        {move || preview.get().flatten().filter(|_| shown(&key)).and_then(|p| p.fields.get(&key).cloned()).map(|m| view! { <span class="field-error hint">{m}</span> })}
                                    </div>
                                }
                            }).collect_view()}
                            <div>
                                <label for="w-q-pods">"pods"</label>
                                <input id="w-q-pods" type="number" min="0" prop:value=move || quota.get().map(|q| q.pods.to_string()).unwrap_or_default()
                                    on:input=move |ev| { touch("quota"); quota.update(|q| if let Some(q) = q { q.pods = event_target_value(&ev).parse().unwrap_or(-1) }) }/>
                                {preview_error("quota.pods")}
                            </div>
                            <div>
                                <label for="w-q-services">"services"</label>
                                <input id="w-q-services" type="number" min="0" prop:value=move || quota.get().map(|q| q.services.to_string()).unwrap_or_default()
                                    on:input=move |ev| { touch("quota"); quota.update(|q| if let Some(q) = q { q.services = event_target_value(&ev).parse().unwrap_or(-1) }) }/>
                                {preview_error("quota.services")}
                            </div>
                            <div>
                                <label for="w-q-pvcs">"persistentvolumeclaims"</label>
                                <input id="w-q-pvcs" type="number" min="0" prop:value=move || quota.get().map(|q| q.persistentvolumeclaims.to_string()).unwrap_or_default()
                                    on:input=move |ev| { touch("quota"); quota.update(|q| if let Some(q) = q { q.persistentvolumeclaims = event_target_value(&ev).parse().unwrap_or(-1) }) }/>
                                {preview_error("quota.persistentvolumeclaims")}
                            </div>
                            <div class="span2">
                                <label for="w-q-other">"Other quota keys (one key: value per line)"</label>
                                <textarea id="w-q-other" rows="3" placeholder="requests.nvidia.com/gpu: 1\ncount/deployments.apps: 20\nservices.loadbalancers: 1"
                                    prop:value=move || quota.get().map(|q| quota_other_text(&q.other)).unwrap_or_default()
                                    on:change=move |ev| { touch("quota"); quota.update(|q| if let Some(q) = q { q.other = quota_other_from_text(&event_target_value(&ev)) }) }></textarea>
                                <span class="muted small">"Extended resources (GPUs) your pool's nodes advertise, object counts, ephemeral storage. A GPU you do not ask for gets a quota of 0."</span>
                                {move || preview.get().flatten().filter(|_| shown("quota")).map(|p| quota_other_errors(&p.fields).into_iter().map(|m| view! { <span class="field-error hint">{m}</span> }).collect_view())}
                            </div>
                            {LIMIT_FIELDS.into_iter().map(|(field, label, lens)| {
                                let key = format!("limits.{field}");
                                let id = format!("w-l-{field}");
                                view! {
                                    <div>
                                        <label for=id.clone()>{label}</label>
                                        <input id=id prop:value=move || limits.get().map(|mut l| lens(&mut l).clone()).unwrap_or_default()
                                            on:input=move |ev| { touch("limits"); limits.update(|l| if let Some(l) = l { *lens(l) = event_target_value(&ev) }) }/>
                                        {move || preview.get().flatten().filter(|_| shown(&key)).and_then(|p| p.fields.get(&key).cloned()).map(|m| view! { <span class="field-error hint">{m}</span> })}
                                    </div>
                                }
                            }).collect_view()}
                        </div>
                    </Show>
                </fieldset>
                <fieldset>
                    <legend>"Storage classes"</legend>
                    <p class="muted small">"Classes you do not choose get a quota of 0."</p>
                    {move || {
                        let list = classes.get();
                        if list.is_empty() {
                            return view! { <p class="muted">"Choose a cluster to see its storage classes."</p> }.into_any();
                        }
                        list.into_iter().enumerate().map(|(i, c)| {
                            let id = format!("w-class-{}", c.name);
                                    let for_id = id.clone();
                            view! {
                                <div class="class-row">
                                    <label class="check" for=for_id>
                                        <input type="checkbox" id=id checked=c.chosen
                                            on:change=move |ev| { touch("storage_classes"); classes.update(|l| l[i].chosen = event_target_checked(&ev)) }/>
                                        " "{c.name.clone()}
                                    </label>
                                    <input aria-label=format!("{} storage", c.name) value=c.storage.clone() size="6"
                                        on:input=move |ev| { touch("storage_classes"); classes.update(|l| l[i].storage = event_target_value(&ev)) }/>
                                    <input aria-label=format!("{} claims", c.name) type="number" min="0" value=c.pvcs.to_string() size="3"
                                        on:input=move |ev| { touch("storage_classes"); classes.update(|l| l[i].pvcs = event_target_value(&ev).parse().unwrap_or(-1)) }/>
                                    {preview_error_owned(preview, format!("storage_classes[{i}].storage"), shown)}
                                </div>
                            }
                        }).collect_view().into_any()
                    }}
                    {preview_error("storage_classes")}
                </fieldset>
                <button type="submit" id="w-submit" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Submitting…" } else { "Submit request" }}
                </button>
            </form>
            <aside class="card preview" aria-live="polite">
                <h2>"What this request does"</h2>
                {move || match preview.get().flatten() {
                    None => view! { <p class="muted">"Choose a team and a cluster."</p> }.into_any(),
                    Some(p) => view! { <PreviewPanel preview=p cluster pool/> }.into_any(),
                }}
            </aside>
        </div>
    }
}

fn preview_error_owned(
    preview: Resource<Option<RequestPreview>>,
    key: String,
    shown: impl Fn(&str) -> bool + Copy + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        preview
            .get()
            .flatten()
            .filter(|_| shown(&key))
            .and_then(|p| p.fields.get(&key).cloned())
            .map(|m| view! { <span class="field-error hint">{m}</span> })
    }
}

/// `2026-12-01T18:00` from a datetime-local field, as UTC.
fn parse_local(raw: &str) -> Option<time::OffsetDateTime> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let text = if raw.len() == 16 {
        format!("{raw}:00Z")
    } else {
        format!("{raw}Z")
    };
    time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).ok()
}

#[component]
fn PreviewPanel(
    preview: RequestPreview,
    cluster: RwSignal<String>,
    pool: RwSignal<String>,
) -> impl IntoView {
    let problems = preview.fields.len();
    let verdict = if problems > 0 {
        view! { <p class="error">{format!("{problems} field(s) to fix before submitting.")}</p> }
            .into_any()
    } else if preview.auto_approve {
        view! { <p class="ok">"Approved at once by policy “"{preview.matched_policy.clone().unwrap_or_default()}"”."</p> }.into_any()
    } else {
        view! { <p class="warn">"A platform admin will review this request."</p> }.into_any()
    };
    let objects = preview.objects.clone();
    let placement = preview.placement.clone();
    let placement_environment = preview.placement_environment;
    let freezes = preview.freezes.clone();
    view! {
        {verdict}
        <FreezeNotices freezes/>
        {preview.impact.map(|i| view! { <ImpactBars impact=i/> })}
        {(!placement.is_empty()).then(|| view! {
            <h3>"Where it fits best"</h3>
            <p class="muted small">{match &placement_environment {
                Some(e) => format!("Ranked among {e} clusters only: a namespace takes its cluster's environment."),
                None => "Ranked among every cluster; choose a cluster or an environment to rank one environment only.".to_owned(),
            }}</p>
            <div class="table-wrap" tabindex="0"><table class="placement">
                <thead><tr><th>"Cluster · pool"</th><th>"Left after"</th><th>"Pods at the default request that fit now"</th><th></th></tr></thead>
                <tbody>{placement.into_iter().map(|o| {
                    let (c, p) = (o.cluster.clone(), o.pool.clone());
                    let chosen = {
                        let (c, p) = (c.clone(), p.clone());
                        move || cluster.get() == c && pool.get() == p
                    };
                    view! {
                        <tr class:muted=!o.fits>
                            <td>{format!("{} · {}", o.cluster, o.pool)}{o.reason.clone().map(|r| view! { <span class="muted small">" — "{r}</span> })}</td>
                            <td>{format!("{:.0}%", o.headroom_after * 100.0)}</td>
                            <td>{o.default_pods_fit}</td>
                            <td><button type="button" class="link" disabled=chosen
                                on:click=move |_| { cluster.set(c.clone()); pool.set(p.clone()); }>"Use"</button></td>
                        </tr>
                    }
                }).collect_view()}</tbody>
            </table></div>
        })}
        {(!objects.is_empty()).then(|| view! {
            <h3>{format!("{} objects will be applied", objects.len())}</h3>
            <ul class="objects">
                {objects.iter().map(|o| {
                    let kind = o["kind"].as_str().unwrap_or_default().to_owned();
                    let name = o["metadata"]["name"].as_str().unwrap_or_default().to_owned();
                    let text = serde_json::to_string_pretty(o).unwrap_or_default();
                    view! { <li><details><summary>{kind}" "<code>{name}</code></summary><pre>{text}</pre></details></li> }
                }).collect_view()}
            </ul>
        })}
    }
}

/// Pool committed before → after against allocatable, and the team budget before → after.
#[component]
pub fn ImpactBars(impact: CapacityImpact) -> impl IntoView {
    let CapacityImpact {
        pool,
        allocatable: a,
        committed_before: b,
        committed_after: c,
        budget,
        cluster,
        extended,
    } = impact;
    let extended_bars = |list: Vec<crate::api::ExtendedImpact>| {
        list.into_iter()
            .map(|e| {
                let text = if e.limit == 0 && e.after > 0 {
                    format!("{} → {}, and the nodes have none", e.before, e.after)
                } else {
                    format!("{} → {} of {}", e.before, e.after, e.limit)
                };
                view! { <Bar label=e.name.clone() used=e.after total=e.limit text/> }
            })
            .collect_view()
    };
    view! {
        <h3>"Pool "<code>{pool}</code>" on "{cluster}</h3>
        <Bar label="CPU".into() used=c.cpu_millis total=a.cpu_millis
            text=format!("{} → {} of {} committed", cores(b.cpu_millis), cores(c.cpu_millis), cores(a.cpu_millis))/>
        <Bar label="Memory".into() used=c.memory_bytes total=a.memory_bytes
            text=format!("{} → {} of {} committed", gib(b.memory_bytes), gib(c.memory_bytes), gib(a.memory_bytes))/>
        {extended_bars(extended)}
        {match budget {
            None => view! { <p class="muted">"No budget is set for this team."</p> }.into_any(),
            Some(bi) => {
                let Amounts { cpu_millis, memory_bytes, storage_bytes } = bi.limit;
                let left = cpu_millis - bi.used_after.cpu_millis;
                view! {
                    <h3>{format!("Team budget ({})", bi.scope)}</h3>
                    <Bar label="CPU".into() used=bi.used_after.cpu_millis total=cpu_millis
                        text=format!("{} → {} of {}", cores(bi.used_before.cpu_millis), cores(bi.used_after.cpu_millis), cores(cpu_millis))/>
                    <Bar label="Memory".into() used=bi.used_after.memory_bytes total=memory_bytes
                        text=format!("{} → {} of {}", gib(bi.used_before.memory_bytes), gib(bi.used_after.memory_bytes), gib(memory_bytes))/>
                    <Bar label="Storage".into() used=bi.used_after.storage_bytes total=storage_bytes
                        text=format!("{} → {} of {}", gib(bi.used_before.storage_bytes), gib(bi.used_after.storage_bytes), gib(storage_bytes))/>
                    {extended_bars(bi.extended.clone())}
                    {if bi.over_budget {
                        let gpus: String = bi.extended.iter().filter(|e| e.after > e.limit)
                            .map(|e| format!(", {} {}", e.after - e.limit, e.name)).collect();
                        view! { <p class="error" role="alert">{format!("Over budget by {} CPU, {} memory, {} storage{gpus} — only an admin can approve.",
                            cores(bi.overrun.cpu_millis), gib(bi.overrun.memory_bytes), gib(bi.overrun.storage_bytes))}</p> }.into_any()
                    } else {
                        view! { <p class="muted">{format!("{} of CPU budget left after this.", cores(left))}</p> }.into_any()
                    }}
                }.into_any()
            }
        }}
    }
}

// --- One request ------------------------------------------------------------------------

#[component]
pub fn RequestPage() -> impl IntoView {
    let trail = vec![
        ("Requests".to_owned(), "/requests".to_owned()),
        ("Request".to_owned(), String::new()),
    ];
    view! { <Title text="Request"/><crate::components::Breadcrumbs trail=trail/><Authed view=|me: Me| view! { <RequestView me/> }/> }
}

#[component]
fn RequestView(me: Me) -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let decide = ServerAction::<DecideRequest>::new();
    let amend = ServerAction::<AmendRequest>::new();
    let tick = RwSignal::new(0u32);
    let live = crate::live::use_live();
    let detail = Resource::new(
        move || {
            (
                id(),
                decide.version().get(),
                amend.version().get(),
                tick.get(),
                live.requests.get(),
                live.namespaces.get(),
            )
        },
        |(id, ..)| get_request(id),
    );
    // Follow provisioning live: look again every second while the cluster is being written.
    Effect::new(move |_| {
        if let Some(Ok(d)) = detail.get() {
            if matches!(
                d.request.state.as_str(),
                "approved" | "provisioning" | "held" | "failed"
            ) {
                set_timeout(
                    move || tick.update(|t| *t += 1),
                    std::time::Duration::from_secs(1),
                );
            }
        }
    });
    let csrf = me.csrf_token.clone().unwrap_or_default();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the request…"</p> }>
            {move || {
                let csrf = csrf.clone();
                Suspend::new(async move {
                    match detail.await {
                        Ok(d) => view! { <RequestBody detail=d csrf decide amend/> }.into_any(),
                        Err(error) if error.code == "not_found" || error.code == "invalid" => view! {
                            <crate::pages::Missing what="request" message="There is no namespace request with this id that you may see."/>
                        }.into_any(),
                        Err(error) => view! { <h1>"Namespace request"</h1><ErrorMessage error/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

fn spec_rows(spec: &NamespaceSpec) -> Vec<(String, String)> {
    let q = &spec.quota;
    let l = &spec.limits;
    let mut rows = vec![
        ("requests.cpu".into(), q.requests_cpu.clone()),
        ("requests.memory".into(), q.requests_memory.clone()),
        ("limits.cpu".into(), q.limits_cpu.clone()),
        ("limits.memory".into(), q.limits_memory.clone()),
        ("pods".into(), q.pods.to_string()),
        ("services".into(), q.services.to_string()),
        (
            "persistentvolumeclaims".into(),
            q.persistentvolumeclaims.to_string(),
        ),
        ("requests.storage".into(), q.requests_storage.clone()),
    ];
    rows.extend(q.other.iter().map(|(k, v)| (k.clone(), v.clone())));
    rows.extend([
        (
            "container default request".into(),
            format!("{} / {}", l.default_request_cpu, l.default_request_memory),
        ),
        (
            "container default limit".into(),
            format!("{} / {}", l.default_limit_cpu, l.default_limit_memory),
        ),
        (
            "container min".into(),
            format!("{} / {}", l.min_cpu, l.min_memory),
        ),
        (
            "container max".into(),
            format!("{} / {}", l.max_cpu, l.max_memory),
        ),
        (
            "max limit/request ratio".into(),
            format!(
                "{} / {}",
                l.max_limit_request_ratio_cpu.clone().unwrap_or("—".into()),
                l.max_limit_request_ratio_memory
                    .clone()
                    .unwrap_or("—".into())
            ),
        ),
    ]);
    for c in &spec.storage_classes {
        rows.push((
            format!("class {}", c.name),
            format!("{} · {} claims", c.storage, c.persistentvolumeclaims),
        ));
    }
    rows
}

/// The namespace's measured use against its quota when the change was filed: what a
/// usage-aware policy decided on.
#[component]
fn UsageCard(u: crate::api::UsageEvidence) -> impl IntoView {
    let percent = |p: Option<f64>| p.map_or_else(|| "—".to_owned(), |p| format!("{p:.0}%"));
    let cores = u
        .cpu_p95_cores
        .map_or_else(|| "—".to_owned(), |c| format!("{:.0}m", c * 1000.0));
    let memory = u
        .memory_p95_bytes
        .map_or_else(|| "—".to_owned(), |b| format!("{:.0}Mi", b / 1048576.0));
    view! {
        <section class="card" aria-label="Measured usage">
            <h2>"Measured usage"</h2>
            <p class="muted">{format!("The namespace's summed use at p95 over the last {} hours, read from Prometheus when the change was filed, against the quota's requests then.", u.history_hours)}</p>
            {u.error.clone().map(|e| view! { <p class="error">{e}</p> })}
            <div class="table-wrap" tabindex="0"><table>
                <thead><tr><th>"Resource"</th><th>"Used at p95"</th><th>"Quota requests"</th><th>"Share"</th></tr></thead>
                <tbody>
                    <tr><td>"CPU"</td><td>{cores}</td><td>{format!("{}m", u.quota_cpu_millis)}</td><td>{percent(u.cpu_percent)}</td></tr>
                    <tr><td>"Memory"</td><td>{memory}</td><td>{format!("{}Mi", u.quota_memory_bytes / 1048576)}</td><td>{percent(u.memory_percent)}</td></tr>
                </tbody>
            </table></div>
        </section>
    }
}

/// The freezes that hold (or will soon hold) a cluster, as a wizard or a request shows them.
#[component]
pub fn FreezeNotices(freezes: Vec<FreezeNotice>) -> impl IntoView {
    (!freezes.is_empty()).then(|| {
        view! {
            <div class="note warn" role="note" id="freeze-notices">
                <strong>"Change windows on this cluster"</strong>
                <ul>
                    {freezes.into_iter().map(|f| {
                        let text = if f.active {
                            format!("Freeze {} holds changes now, until {}: {}", f.freeze, when(f.ends_at), f.reason)
                        } else {
                            format!("Freeze {} from {} until {}: {}", f.freeze, when(f.starts_at), when(f.ends_at), f.reason)
                        };
                        view! { <li>{text}</li> }
                    }).collect_view()}
                </ul>
                <p class="small">"An approved change waits until the freeze ends; an admin may let one through with a reason."</p>
            </div>
        }
    })
}

#[component]
fn RequestBody(
    detail: RequestDetail,
    csrf: String,
    decide: ServerAction<DecideRequest>,
    amend: ServerAction<AmendRequest>,
) -> impl IntoView {
    let RequestDetail {
        request: r,
        impact,
        objects,
        can_decide,
        can_cancel,
        cluster_pools,
        evidence,
        usage,
        freezes,
        can_release,
    } = detail;
    let requested = spec_rows(&r.requested_spec);
    let applied = spec_rows(&r.spec);
    let amended = r.amended_by.is_some();
    let ns_href = format!("/namespaces/{}/{}", r.cluster, r.namespace);
    let has_namespace = r.kind != RequestKind::Create
        || matches!(
            r.state,
            RequestState::Provisioning
                | RequestState::Held
                | RequestState::Ready
                | RequestState::Failed
        );
    let id = r.id.to_string();
    let decide_value = decide.value();
    let amend_value = amend.value();
    let current_pool = r.node_pool.clone();
    let class_hint = r
        .spec
        .storage_classes
        .iter()
        .map(|c| format!("{}={}/{}", c.name, c.storage, c.persistentvolumeclaims))
        .collect::<Vec<_>>()
        .join(", ");
    let (id2, id3, id4, id5) = (id.clone(), id.clone(), id.clone(), id.clone());
    let (c2, c3, c4, c5) = (csrf.clone(), csrf.clone(), csrf.clone(), csrf.clone());
    let held = r.held_by.clone().map(|f| {
        let until = r.held_until.map(when).unwrap_or_default();
        view! {
            <div class="note warn" role="status" id="held-by">
                <strong>{format!("Held by freeze {f}")}</strong>
                <p>{format!("Approved; Berth makes the change when the freeze ends ({until}).")}</p>
            </div>
        }
    });
    let released = r.freeze_released_by.clone().map(|who| view! {
        <p class="muted">{format!("Let through the freeze by {who}: {}", r.freeze_release_reason.clone().unwrap_or_default())}</p>
    });
    let git = r.git_commit.clone().map(|commit| {
        let branch = r.git_branch.clone().unwrap_or_default();
        view! {
            <section class="card" id="git-delivery">
                <h2>"Delivered through Git"</h2>
                <p>"Commit "<code id="git-commit">{commit.chars().take(12).collect::<String>()}</code>" on "<code>{branch}</code></p>
                {r.git_review_url.clone().map(|u| view! { <p>"Merge request: "<a href=u.clone() rel="noopener">{u.clone()}</a></p> })}
            </section>
        }
    });
    view! {
        <h1>{format!("{}: ", kind_title(r.kind))}<code>{r.namespace.clone()}</code>" on "{r.cluster.clone()}</h1>
        <p>{request_badge(r.kind, r.state)}" "<span class="muted">{format!("team {} · pool {} · {} · requested by {} on {}",
            r.team, r.node_pool, r.environment, r.requested_by.clone().unwrap_or_default(), when(r.created_at))}</span></p>
        {has_namespace.then(|| view! { <p><A href=ns_href>"Open the namespace"</A></p> })}
        <p>"Purpose: "{r.purpose.clone()}</p>
        {r.burst_until.map(|t| view! { <p class="warn">"Timed burst: Berth returns to the previous quota at "{when(t)}"."</p> })}
        {r.expires_at.map(|t| view! { <p class="warn">"Sandbox: decommissioned by Berth at "{when(t)}"."</p> })}
        {r.matched_policy.clone().map(|p| view! { <p class="muted">"Approval policy: “"{p}"”"</p> })}
        {r.decided_by.clone().map(|d| view! { <p class="muted">{format!("Decided by {d}")}{r.decided_at.map(|t| format!(" on {}", when(t)))}</p> })}
        {r.decision_reason.clone().map(|d| view! { <p>"Reason: "{d}</p> })}
        {r.over_budget.then(|| view! { <p class="error">"This request is over the team's budget."</p> })}
        {r.last_error.clone().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {held}
        {released}
        <FreezeNotices freezes/>
        {git}
        {can_release.then(|| view! {
            <section class="card actions">
                <h2>"Let it through the freeze"</h2>
                <ActionForm action=decide>
                    <input type="hidden" name="csrf" value=c5/>
                    <input type="hidden" name="id" value=id5/>
                    <input type="hidden" name="decision" value="release"/>
                    <label for="release-reason">"Why this change cannot wait"</label>
                    <input id="release-reason" name="reason" required/>
                    {field_error(decide_value, "reason")}
                    <button type="submit" id="release-submit" class="danger">"Release from the freeze"</button>
                </ActionForm>
            </section>
        })}
        {amended.then(|| view! {
            <div class="note" role="note">
                <strong>{format!("Amended by {}", r.amended_by.clone().unwrap_or_default())}</strong>
                <p>{r.amendment_note.clone().unwrap_or_default()}</p>
            </div>
        })}
        <section class="card">
            <h2>"Quota and limits"</h2>
            <div class="table-wrap" tabindex="0"><table class="spec">
                <thead><tr><th>"Resource"</th>{amended.then(|| view! { <th>"Requested"</th> })}<th>{if amended { "To apply" } else { "Requested" }}</th></tr></thead>
                <tbody>
                    {applied.into_iter().map(|(k, v)| {
                        let asked = requested.iter().find(|(rk, _)| *rk == k).map(|(_, v)| v.clone()).unwrap_or("—".into());
                        let changed = amended && asked != v;
                        view! { <tr class:changed=changed><td>{k}</td>{amended.then(|| view! { <td>{asked}</td> })}<td>{v}</td></tr> }
                    }).collect_view()}
                </tbody>
            </table></div>
        </section>
        {impact.map(|i| view! { <section class="card"><h2>"Capacity impact"</h2><ImpactBars impact=i/></section> })}
        {evidence.map(|suggestion| view! { <crate::pages::capacity::Evidence suggestion/> })}
        {usage.map(|u| view! { <UsageCard u/> })}
        {(!objects.is_empty()).then(|| view! {
            <section class="card">
                <h2>"Objects"</h2>
                <div class="table-wrap" tabindex="0"><table>
                    <thead><tr><th>"Kind"</th><th>"Name"</th><th>"Outcome"</th><th>"When"</th></tr></thead>
                    <tbody>{objects.into_iter().map(|o| view! {
                        <tr><td>{o.kind}</td><td><code>{o.name}</code></td>
                            <td>{badge(match o.outcome.as_str() { "failed" => Tone::Error, "committed" => Tone::Moving, _ => Tone::Ok }, &o.outcome)}
                                {o.error.map(|e| view! { <span class="error small">" "{e}</span> })}</td>
                            <td>{when(o.at)}</td></tr>
                    }).collect_view()}</tbody>
                </table></div>
            </section>
        })}
        {form_error(decide_value)}
        {can_decide.then(|| view! {
            <section class="card actions">
                <h2>"Decide"</h2>
                <ActionForm action=decide>
                    <input type="hidden" name="csrf" value=c2/>
                    <input type="hidden" name="id" value=id2/>
                    <input type="hidden" name="decision" value="approve"/>
                    <label for="approve-reason">"Note (optional)"</label>
                    <input id="approve-reason" name="reason"/>
                    <button type="submit" id="approve-submit">"Approve"</button>
                </ActionForm>
                <ActionForm action=decide>
                    <input type="hidden" name="csrf" value=c3/>
                    <input type="hidden" name="id" value=id3/>
                    <input type="hidden" name="decision" value="reject"/>
                    <label for="reject-reason">"Reason for rejecting"</label>
                    <input id="reject-reason" name="reason"/>
                    {field_error(decide_value, "reason")}
                    <button type="submit" id="reject-submit" class="danger">"Reject"</button>
                </ActionForm>
                {(r.kind != RequestKind::Decommission).then(|| view! {
                    <h3>"Amend"</h3>
                    {form_error(amend_value)}
                    <ActionForm action=amend>
                        <input type="hidden" name="csrf" value=c4/>
                        <input type="hidden" name="id" value=id4/>
                        <label for="amend-pool">"Node pool"</label>
                        <select id="amend-pool" name="node_pool">
                            <option value="">{format!("Keep {current_pool}")}</option>
                            {cluster_pools.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                        </select>
                        {field_error(amend_value, "node_pool")}
                        <label for="amend-preset">"Preset"</label>
                        <select id="amend-preset" name="preset">
                            <option value="">"Keep the quota"</option>
                            <option>"S"</option><option>"M"</option><option>"L"</option><option>"XL"</option>
                        </select>
                        {field_error(amend_value, "preset")}
                        <label for="amend-classes">"Storage classes (name=size/claims, comma-separated; empty keeps them; none removes all)"</label>
                        <input id="amend-classes" name="storage_classes" placeholder=class_hint/>
                        {field_error(amend_value, "storage_classes")}{field_error(amend_value, "storage_classes[0].name")}
                        {field_error(amend_value, "storage_classes[0].storage")}
                        <label for="amend-note">"Note to the requester"</label>
                        <input id="amend-note" name="note" required/>
                        {field_error(amend_value, "note")}
                        <button type="submit" id="amend-submit" class="secondary">"Amend"</button>
                    </ActionForm>
                    <p class="muted small">"Custom quantities can be amended over the REST API (POST /api/v1/namespace-requests/{id}/amend)."</p>
                })}
            </section>
        })}
        {can_cancel.then(|| view! {
            <ActionForm action=decide attr:class="inline">
                <input type="hidden" name="csrf" value=csrf.clone()/>
                <input type="hidden" name="id" value=id.clone()/>
                <input type="hidden" name="decision" value="cancel"/>
                <button type="submit" id="cancel-submit" class="secondary">"Cancel this request"</button>
            </ActionForm>
        })}
    }
}
