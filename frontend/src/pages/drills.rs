//! Disaster-recovery drills: the namespace's drill section (start, history, RTO/RPO trend,
//! pass rate) and one drill's page (live steps, evidence, readiness checks), printable.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    api::{Drill, DrillKind, DrillState, Me, Verdict},
    components::{field_error, form_error, when, Authed, ErrorMessage},
    pages::requests::{badge, state_badge, Tone},
    server::{
        get_drill, get_drill_schedule, list_drills, list_fleet_drills, CancelDrill,
        RemoveDrillSchedule, SetDrillSchedule, StartDrill,
    },
};

fn seconds(s: Option<f64>) -> String {
    match s {
        None => "—".into(),
        Some(s) if s < 120.0 => format!("{s:.0} s"),
        Some(s) if s < 7200.0 => format!("{:.1} min", s / 60.0),
        Some(s) => format!("{:.1} h", s / 3600.0),
    }
}

/// RTO and RPO of each finished restore drill against the objectives, oldest first.
#[component]
fn Trend(drills: Vec<Drill>) -> impl IntoView {
    view! {
        <div class="trends">
            <TrendChart drills=drills.clone() rpo=false/>
            <TrendChart drills rpo=true/>
        </div>
    }
}

/// One metric as bars (green within the objective), the objective as a dashed line.
#[component]
fn TrendChart(drills: Vec<Drill>, rpo: bool) -> impl IntoView {
    let metric = if rpo { "RPO" } else { "RTO" };
    let points: Vec<(f64, f64, bool)> = drills
        .iter()
        .rev()
        .filter(|d| d.kind == DrillKind::Restore)
        .filter_map(|d| {
            let (value, objective) = if rpo {
                (d.rpo_seconds?, f64::from(d.rpo_objective_seconds))
            } else {
                (d.rto_seconds?, f64::from(d.rto_objective_seconds))
            };
            Some((value, objective, value <= objective))
        })
        .collect();
    if points.is_empty() {
        return view! { <p class="muted">{format!("No restore drill has measured an {metric} yet.")}</p> }
            .into_any();
    }
    let max = points.iter().map(|p| p.0.max(p.1)).fold(1.0, f64::max);
    let width = 24 * points.len().max(1);
    let label = format!(
        "{metric} of the last {} restore drills against the objective",
        points.len()
    );
    view! {
        <h3 class="small">{format!("{metric} against its objective")}</h3>
        <svg class="trend" viewBox=format!("0 0 {width} 100") role="img" aria-label=label preserveAspectRatio="none">
            {points.iter().enumerate().map(|(i, (rto, objective, passed))| {
                let h = rto / max * 95.0;
                let line = 100.0 - objective / max * 95.0;
                view! {
                    <rect x=(i * 24 + 4).to_string() y=format!("{:.1}", 100.0 - h) width="16" height=format!("{h:.1}")
                        class=if *passed { "pass" } else { "fail" }/>
                    <line x1=(i * 24).to_string() x2=(i * 24 + 24).to_string() y1=format!("{line:.1}") y2=format!("{line:.1}") class="objective"/>
                }
            }).collect_view()}
        </svg>
    }
    .into_any()
}

/// The drill section of a namespace's page.
#[component]
pub fn NamespaceDrills(cluster: String, name: String, csrf: String) -> impl IntoView {
    let start = ServerAction::<StartDrill>::new();
    let set = ServerAction::<SetDrillSchedule>::new();
    let remove = ServerAction::<RemoveDrillSchedule>::new();
    let (c, n) = (cluster.clone(), name.clone());
    let live = crate::live::use_live();
    let drills = Resource::new(
        move || (start.version().get(), live.drills.get()),
        move |_| list_drills(c.clone(), n.clone()),
    );
    let (c2, n2) = (cluster.clone(), name.clone());
    let schedule = Resource::new(
        move || (set.version().get(), remove.version().get()),
        move |_| get_drill_schedule(c2.clone(), n2.clone()),
    );
    let value = start.value();
    let set_value = set.value();
    let (sched_csrf, sched_cluster, sched_name) = (csrf.clone(), cluster.clone(), name.clone());
    let (run_csrf, run_cluster, run_name) = (csrf.clone(), cluster.clone(), name.clone());
    let (rm_csrf, rm_cluster, rm_name) = (csrf.clone(), cluster.clone(), name.clone());
    view! {
        <section class="card">
            <h2>"Disaster-recovery drills"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match drills.await {
                        Ok(list) => {
                            let finished = list.iter().filter(|d| matches!(d.state, DrillState::Passed | DrillState::Failed)).count();
                            let passed = list.iter().filter(|d| d.state == DrillState::Passed).count();
                            let rate = if finished > 0 { format!("{passed} of {finished} finished drills passed ({:.0}%)", passed as f64 * 100.0 / finished as f64) } else { "No finished drill yet.".into() };
                            view! {
                                <p>{rate}</p>
                                <Trend drills=list.clone()/>
                                {(!list.is_empty()).then(|| view! {
                                    <div class="table-wrap" tabindex="0"><table>
                                        <thead><tr><th>"Started"</th><th>"Kind"</th><th>"Target"</th><th>"State"</th><th>"RTO"</th><th>"RPO"</th><th>"Verdict"</th></tr></thead>
                                        <tbody>{list.into_iter().map(|d| view! {
                                            <tr>
                                                <td><A href=format!("/drills/{}", d.id)>{when(d.started_at.unwrap_or(d.created_at))}</A></td>
                                                <td>{d.kind}</td>
                                                <td>{d.target_cluster.clone().unwrap_or_else(|| "—".into())}</td>
                                                <td>{state_badge(d.state)}</td>
                                                <td>{seconds(d.rto_seconds)}</td>
                                                <td>{seconds(d.rpo_seconds)}</td>
                                                <td>{d.verdict_reason.clone().unwrap_or_default()}</td>
                                            </tr>
                                        }).collect_view()}</tbody>
                                    </table></div>
                                })}
                            }.into_any()
                        }
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })}
            </Suspense>
            // The forms only for a namespace that takes drills: its schedule answers for a
            // live namespace only (an unknown or decommissioned one keeps its drills as
            // evidence, and no new one starts).
            <Suspense fallback=|| ()>
                {move || {
                    let (rm_csrf, rm_cluster, rm_name) = (rm_csrf.clone(), rm_cluster.clone(), rm_name.clone());
                    let (sched_csrf, sched_cluster, sched_name) = (sched_csrf.clone(), sched_cluster.clone(), sched_name.clone());
                    let (csrf, cluster, name) = (run_csrf.clone(), run_cluster.clone(), run_name.clone());
                    Suspend::new(async move {
                        let current = match schedule.await {
                            Ok(current) => current,
                            Err(error) if error.code == "not_found" => return view! {
                                <p class="muted" id="drills-closed">"No live namespace of this name here: its drills stay as evidence, and no new one can start."</p>
                            }.into_any(),
                            Err(error) => return view! { <ErrorMessage error/> }.into_any(),
                        };
                        let shown = match current {
                            Some(s) => {
                                view! {
                                    <p>{format!("{} drill on `{}` ({}), target {}; next {}", s.kind, s.cron, s.timezone, s.target, when(s.next_run_at))}
                                        {s.last_outcome.map(|o| format!(" · last: {o}"))}" "
                                        <ActionForm action=remove attr:class="inline">
                                            <input type="hidden" name="csrf" value=rm_csrf/>
                                            <input type="hidden" name="cluster" value=rm_cluster/>
                                            <input type="hidden" name="name" value=rm_name/>
                                            <button type="submit" class="link">"Remove the schedule"</button>
                                        </ActionForm>
                                    </p>
                                }.into_any()
                            }
                            None => view! { <p class="muted">"No schedule."</p> }.into_any(),
                        };
                        view! {
            <h3>"Run a drill"</h3>
            {form_error(value)}
            <ActionForm action=start>
                <input type="hidden" name="csrf" value=csrf/>
                <input type="hidden" name="cluster" value=cluster/>
                <input type="hidden" name="name" value=name/>
                <div class="grid3">
                    <div><label for="drill-kind">"Kind"</label>
                        <select id="drill-kind" name="kind">
                            <option value="restore">"Restore the newest backup into a scratch namespace"</option>
                            <option value="readiness">"Failover-readiness check (reads only)"</option>
                        </select>{field_error(value, "kind")}</div>
                    <div><label for="drill-target">"Where"</label>
                        <select id="drill-target" name="target">
                            <option value="same">"This cluster"</option>
                            <option value="dr_pair">"Its DR pair"</option>
                        </select>{field_error(value, "target")}</div>
                    <div><label for="drill-keep">"Keep the scratch namespace (hours)"</label>
                        <input id="drill-keep" name="keep_hours" type="number" min="0" max="168" value="0"/>{field_error(value, "keep_hours")}</div>
                </div>
                <label class="check"><input type="checkbox" name="create_backup"/>" Take a fresh backup first (restore drills)"</label>
                <button type="submit" id="drill-submit">"Start the drill"</button>
            </ActionForm>
            {move || value.get().and_then(|r| r.ok()).map(|d| view! {
                <p class="ok" role="status">"Drill started. "<A href=format!("/drills/{}", d.id)>"Follow it"</A></p>
            })}
            <h3>"Schedule"</h3>
                            {shown}
            {form_error(set_value)}
            <ActionForm action=set>
                <input type="hidden" name="csrf" value=sched_csrf.clone()/>
                <input type="hidden" name="cluster" value=sched_cluster.clone()/>
                <input type="hidden" name="name" value=sched_name.clone()/>
                <div class="grid3">
                    <div><label for="sched-cron">"Cron (minute hour day month weekday)"</label>
                        <input id="sched-cron" name="cron" placeholder="0 3 * * 1" required/>{field_error(set_value, "cron")}</div>
                    <div><label for="sched-tz">"Time zone"</label>
                        <input id="sched-tz" name="timezone" value="UTC"/>{field_error(set_value, "timezone")}</div>
                    <div><label for="sched-kind">"Scheduled kind"</label>
                        <select id="sched-kind" name="kind"><option value="restore">"restore"</option><option value="readiness">"readiness"</option></select></div>
                    <div><label for="sched-target">"Scheduled target"</label>
                        <select id="sched-target" name="target"><option value="same">"This cluster"</option><option value="dr_pair">"Its DR pair"</option></select>
                        {field_error(set_value, "target")}</div>
                </div>
                <button type="submit" class="secondary">"Save the schedule"</button>
            </ActionForm>
                        }.into_any()
                    })
                }}
            </Suspense>
        </section>
    }
}

#[component]
pub fn DrillPage() -> impl IntoView {
    let trail = vec![
        ("Drills".to_owned(), "/drills".to_owned()),
        ("Drill".to_owned(), String::new()),
    ];
    view! { <Title text="Drill"/><crate::components::Breadcrumbs trail=trail/><Authed view=|me: Me| view! { <DrillView me/> }/> }
}

#[component]
fn DrillView(me: Me) -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let cancel = ServerAction::<CancelDrill>::new();
    let tick = RwSignal::new(0u32);
    let live = crate::live::use_live();
    let drill = Resource::new(
        move || (id(), cancel.version().get(), tick.get(), live.drills.get()),
        |(id, ..)| get_drill(id),
    );
    // Live progress: look again every second while the drill runs.
    Effect::new(move |_| {
        if let Some(Ok(d)) = drill.get() {
            if matches!(d.state, DrillState::Queued | DrillState::Running) {
                set_timeout(
                    move || tick.update(|t| *t += 1),
                    std::time::Duration::from_secs(1),
                );
            }
        }
    });
    let csrf = me.csrf_token.clone().unwrap_or_default();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the drill…"</p> }>
            {move || {
                let csrf = csrf.clone();
                Suspend::new(async move {
                    match drill.await {
                        Ok(d) => view! { <DrillBody drill=d csrf cancel/> }.into_any(),
                        Err(error) if error.code == "not_found" || error.code == "invalid" => view! {
                            <crate::pages::Missing what="drill" message="There is no drill with this id that you may see."/>
                        }.into_any(),
                        Err(error) => view! { <h1>"Drill"</h1><ErrorMessage error/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
fn DrillBody(drill: Drill, csrf: String, cancel: ServerAction<CancelDrill>) -> impl IntoView {
    let d = drill;
    let running = matches!(d.state, DrillState::Queued | DrillState::Running);
    let evidence = format!("/api/v1/drills/{}", d.id);
    view! {
        <h1>{format!("{} drill: ", if d.kind == DrillKind::Restore { "Restore" } else { "Readiness" })}<code>{d.namespace.clone()}</code>" on "{d.cluster.clone()}</h1>
        <p>{state_badge(d.state)}" "<span class="muted">{format!("team {} · step {} · requested by {}", d.team, d.step, d.requested_by.clone().unwrap_or_default())}</span></p>
        {d.verdict_reason.clone().map(|r| view! { <p class=if d.verdict == Some(Verdict::Pass) { "ok" } else { "error" }>{r}</p> })}
        <dl class="facts">
            <dt>"Target cluster"</dt><dd>{d.target_cluster.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"Objectives"</dt><dd>{format!("RTO {} · RPO {}", seconds(Some(d.rto_objective_seconds.into())), seconds(Some(d.rpo_objective_seconds.into())))}</dd>
            <dt>"RTO (start → workloads ready)"</dt><dd>{seconds(d.rto_seconds)}</dd>
            <dt>"Restore duration"</dt><dd>{seconds(d.restore_seconds)}</dd>
            <dt>"RPO (start − backup start)"</dt><dd>{seconds(d.rpo_seconds)}</dd>
            <dt>"Backup"</dt><dd>{d.backup_name.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"Restore / scratch namespace"</dt><dd>{format!("{} / {}", d.restore_name.clone().unwrap_or("—".into()), d.scratch_namespace.clone().unwrap_or("—".into()))}</dd>
            <dt>"Items restored"</dt><dd>{match (d.items_restored, d.items_total) { (Some(a), Some(b)) => format!("{a} of {b}"), _ => "—".into() }}</dd>
            <dt>"Warnings / errors"</dt><dd>{format!("{} / {}", d.warnings.map_or("—".into(), |w| w.to_string()), d.errors.map_or("—".into(), |e| e.to_string()))}</dd>
            <dt>"Started / finished"</dt><dd>{format!("{} / {}", d.started_at.map_or("—".into(), when), d.finished_at.map_or("—".into(), when))}</dd>
        </dl>
        {(!d.checks.is_empty()).then(|| view! {
            <section class="card">
                <h2>"Readiness checks"</h2>
                <div class="table-wrap" tabindex="0"><table>
                    <thead><tr><th>"Check"</th><th>"Result"</th><th>"Detail"</th></tr></thead>
                    <tbody>{d.checks.iter().map(|c| view! {
                        <tr><td>{check_label(&c.name)}</td><td>{if c.ok { badge(Tone::Ok, "holds") } else { badge(Tone::Error, "does not hold") }}</td><td>{c.detail.clone()}</td></tr>
                    }).collect_view()}</tbody>
                </table></div>
            </section>
        })}
        <section class="card">
            <h2>"Steps"</h2>
            <ol class="steps">
                {d.steps.iter().map(|s| view! { <li><strong>{s.step}</strong>" — "{when(s.at)}": "{s.detail.clone()}</li> }).collect_view()}
            </ol>
        </section>
        <p class="no-print"><a href=evidence>"Evidence as JSON"</a>" · "<a href="javascript:window.print()">"Print this page"</a></p>
        {running.then(|| view! {
            <ActionForm action=cancel attr:class="inline no-print">
                <input type="hidden" name="csrf" value=csrf/>
                <input type="hidden" name="id" value=d.id.to_string()/>
                <button type="submit" class="danger" id="drill-cancel">"Cancel the drill"</button>
            </ActionForm>
        })}
    }
}

/// Drills across the fleet (or the caller's teams): pass rate, RTO trend, the latest runs.
#[component]
pub fn FleetDrills() -> impl IntoView {
    view! { <Title text="Drills"/><Authed view=|_me: Me| view! { <FleetDrillList/> }/> }
}

#[component]
fn FleetDrillList() -> impl IntoView {
    let live = crate::live::use_live();
    let drills = Resource::new(move || live.drills.get(), |_| list_fleet_drills());
    view! {
        <h1>"Disaster-recovery drills"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading drills…"</p> }>
            {move || Suspend::new(async move {
                match drills.await {
                    Ok(list) if list.is_empty() => view! { <p class="muted">"No drills yet. Start one from a namespace's page."</p> }.into_any(),
                    Ok(list) => {
                        let finished = list.iter().filter(|d| matches!(d.state, DrillState::Passed | DrillState::Failed)).count();
                        let passed = list.iter().filter(|d| d.state == DrillState::Passed).count();
                        view! {
                            <p>{format!("{passed} of {finished} finished drills passed ({:.0}%).", if finished > 0 { passed as f64 * 100.0 / finished as f64 } else { 0.0 })}</p>
                            <h2>"RTO and RPO of restore drills against their objectives"</h2>
                            <Trend drills=list.clone()/>
                            <div class="table-wrap" tabindex="0"><table>
                                <thead><tr><th>"Started"</th><th>"Namespace"</th><th>"Cluster"</th><th>"Kind"</th><th>"State"</th><th>"RTO"</th><th>"RPO"</th></tr></thead>
                                <tbody>{list.into_iter().map(|d| {
                                    let state = state_badge(d.state);
                                    let ns_href = format!("/namespaces/{}/{}", d.cluster, d.namespace);
                                    view! {
                                    <tr>
                                        <td><A href=format!("/drills/{}", d.id)>{when(d.started_at.unwrap_or(d.created_at))}</A></td>
                                        <td><A href=ns_href>{d.namespace.clone()}</A></td>
                                        <td>{d.cluster.clone()}</td><td>{d.kind}</td>
                                        <td>{state}</td>
                                        <td>{seconds(d.rto_seconds)}</td><td>{seconds(d.rpo_seconds)}</td>
                                    </tr>
                                }}).collect_view()}</tbody>
                            </table></div>
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// What a readiness check asks, in words (the API keeps its identifier).
fn check_label(name: &str) -> String {
    match name {
        "dr_pair" => "The cluster has a DR pair".into(),
        "pool_class" => "The pair has a pool of the same class".into(),
        "headroom" => "That pool has room for the quota".into(),
        "storage_classes" => "The pair has the namespace's storage classes".into(),
        "extended_resources" => "The pair's pool has the GPUs and other devices asked for".into(),
        "pod_disruption_budgets" => "Replicated workloads have disruption budgets".into(),
        "zone_spread" => "Replicated workloads spread over zones".into(),
        "backup_age" => "The newest backup is within the RPO".into(),
        other => other.replace('_', " "),
    }
}
