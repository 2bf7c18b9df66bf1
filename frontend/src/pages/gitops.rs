//! GitOps delivery and change windows: the Git repositories admins register, a cluster's
//! delivery card, and the freeze calendar everyone can read.

use leptos::prelude::*;
use leptos_meta::Title;
use time::OffsetDateTime;

use crate::{
    api::{Cluster, DeliveryMode, FreezeOccurrence, Me},
    components::{field_error, form_error, when, Authed, ErrorMessage},
    server::{
        get_freeze_calendar, list_freezes, list_git_repositories, CheckGitRepository, CreateFreeze,
        RegisterGitRepository, RemoveFreeze, RemoveGitRepository, SetClusterDelivery,
    },
};

#[component]
pub fn GitRepositories() -> impl IntoView {
    view! {
        <Title text="Git repositories"/>
        <super::AdminOnly what="manage Git repositories" view=|me: Me| view! { <RepositoryAdmin me/> }/>
    }
}

#[component]
fn RepositoryAdmin(me: Me) -> impl IntoView {
    let register = ServerAction::<RegisterGitRepository>::new();
    let remove = ServerAction::<RemoveGitRepository>::new();
    let check = ServerAction::<CheckGitRepository>::new();
    let list = Resource::new(
        move || (register.version().get(), remove.version().get()),
        |_| list_git_repositories(),
    );
    let value = register.value();
    let csrf = me.csrf_token.clone().unwrap_or_default();
    let list_csrf = csrf.clone();
    view! {
        <h1>"Git repositories"</h1>
        <p class="muted">"Clusters that Argo CD or Flux own get their namespaces as commits to one of these. Choose a cluster's delivery on its page."</p>
        {move || remove.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorMessage error/> })}
        {move || check.value().get().map(|r| match r {
            Ok(c) if c.reachable => view! { <p class="ok" role="status" id="git-check">{format!("{} answers: {}", c.repository,
                c.head.map(|h| format!("its branch is at {}", &h[..h.len().min(12)])).unwrap_or_else(|| c.error.clone().unwrap_or_default()))}</p> }.into_any(),
            Ok(c) => view! { <p class="error" role="alert" id="git-check">{format!("{} cannot be reached: {}", c.repository, c.error.unwrap_or_default())}</p> }.into_any(),
            Err(error) => view! { <ErrorMessage error/> }.into_any(),
        })}
        <Suspense fallback=|| view! { <p class="muted">"Loading repositories…"</p> }>
            {move || {
                let csrf = list_csrf.clone();
                Suspend::new(async move {
                    match list.await {
                        Ok(repos) if repos.is_empty() => view! { <p class="muted">"No repository yet."</p> }.into_any(),
                        Ok(repos) => view! {
                            <div class="table-wrap" tabindex="0"><table id="git-repositories">
                                <thead><tr><th>"Name"</th><th>"URL"</th><th>"Branch"</th><th>"Authentication"</th><th>"Merge requests"</th><th>"Clusters"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                                <tbody>{repos.into_iter().map(|r| {
                                    let (c1, c2) = (csrf.clone(), csrf.clone());
                                    let (n1, n2) = (r.name.clone(), r.name.clone());
                                    view! {
                                        <tr>
                                            <td><strong>{r.name.clone()}</strong></td>
                                            <td><code>{r.url.clone()}</code></td>
                                            <td>{r.branch.clone()}</td>
                                            <td>{r.auth.as_str()}{r.username.clone().map(|u| format!(" as {u}"))}</td>
                                            <td>{r.forge.map(|f| format!("{f} · {}", r.forge_project.clone().unwrap_or_default())).unwrap_or_else(|| "branch only".into())}</td>
                                            <td>{if r.clusters.is_empty() { "none".to_owned() } else { r.clusters.join(", ") }}</td>
                                            <td>
                                                <ActionForm action=check attr:class="inline">
                                                    <input type="hidden" name="csrf" value=c1/>
                                                    <input type="hidden" name="name" value=n1/>
                                                    <button type="submit" class="secondary">"Check"</button>
                                                </ActionForm>
                                                <ActionForm action=remove attr:class="inline">
                                                    <input type="hidden" name="csrf" value=c2/>
                                                    <input type="hidden" name="name" value=n2/>
                                                    <button type="submit" class="danger">"Remove"</button>
                                                </ActionForm>
                                            </td>
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
        <section class="card">
            <h2>"Register a repository"</h2>
            {form_error(value)}
            <ActionForm action=register>
                <input type="hidden" name="csrf" value=csrf/>
                <div class="grid2">
                    <div><label for="git-name">"Name"</label><input id="git-name" name="name" required placeholder="platform-gitops"/>{field_error(value, "name")}</div>
                    <div><label for="git-url">"URL"</label><input id="git-url" name="url" required placeholder="https://git.example.com/platform/gitops.git or git@host:platform/gitops.git"/>{field_error(value, "url")}</div>
                    <div><label for="git-branch">"Branch Argo CD or Flux follows"</label><input id="git-branch" name="branch" placeholder="main"/>{field_error(value, "branch")}</div>
                    <div><label for="git-auth">"Authentication"</label>
                        <select id="git-auth" name="auth">
                            <option value="basic">"HTTPS: user and token"</option>
                            <option value="ssh_key">"SSH: private key"</option>
                            <option value="none">"None"</option>
                        </select>{field_error(value, "auth")}</div>
                    <div><label for="git-user">"User name (HTTPS)"</label><input id="git-user" name="username" autocomplete="off"/>{field_error(value, "username")}</div>
                    <div><label for="git-secret">"Token, password or private key (never shown again)"</label><textarea id="git-secret" name="secret" rows="2" autocomplete="off"></textarea>{field_error(value, "secret")}</div>
                    <div><label for="git-ca">"CA certificate of the host (PEM, if private)"</label><textarea id="git-ca" name="ca_pem" rows="2"></textarea>{field_error(value, "ca_pem")}</div>
                    <div><label for="git-known">"SSH host keys (ssh-keyscan output)"</label><textarea id="git-known" name="known_hosts" rows="2"></textarea>{field_error(value, "known_hosts")}</div>
                </div>
                <details>
                    <summary>"Merge requests for clusters that deliver through review"</summary>
                    <div class="grid2">
                        <div><label for="git-forge">"Host"</label>
                            <select id="git-forge" name="forge">
                                <option value="">"None: push a branch only"</option>
                                <option value="github">"GitHub"</option>
                                <option value="gitlab">"GitLab"</option>
                                <option value="gitea">"Gitea"</option>
                            </select>{field_error(value, "forge")}</div>
                        <div><label for="git-api">"API URL"</label><input id="git-api" name="forge_api_url" placeholder="https://api.github.com"/>{field_error(value, "forge_api_url")}</div>
                        <div><label for="git-project">"Project (owner/repo)"</label><input id="git-project" name="forge_project"/>{field_error(value, "forge_project")}</div>
                        <div><label for="git-token">"API token (never shown again)"</label><input id="git-token" name="forge_token" type="password" autocomplete="off"/>{field_error(value, "forge_token")}</div>
                    </div>
                </details>
                <button type="submit" id="git-register">"Register"</button>
            </ActionForm>
        </section>
    }
}

/// How a cluster gets its namespaces, and (admins) a form to change it.
#[component]
pub fn DeliveryCard(cluster: Cluster, csrf: String, is_admin: bool) -> impl IntoView {
    let set = ServerAction::<SetClusterDelivery>::new();
    let value = set.value();
    let d = cluster.delivery.clone();
    let gitops = d.mode == DeliveryMode::Gitops;
    let name = cluster.name.clone();
    let saved = move || value.get().and_then(|r| r.ok()).map(|c| c.delivery);
    view! {
        <section class="card" id="delivery">
            <h2>"Delivery"</h2>
            {move || {
                let d = saved().unwrap_or_else(|| d.clone());
                match d.mode {
                    DeliveryMode::Direct => view! { <p id="delivery-mode">"Direct: Berth applies each namespace's objects server-side."</p> }.into_any(),
                    DeliveryMode::Gitops => view! {
                        <p id="delivery-mode">{format!("GitOps: Berth commits to {} at {}{}; Argo CD or Flux applies it, and a request is ready once the cluster has what was committed.",
                            d.repository.clone().unwrap_or_default(), d.path.clone().unwrap_or_default(),
                            if d.review { ", each change as a branch for review" } else { "" })}</p>
                        <p class="muted small">{format!("Shared policies: {}", d.shared_path.clone().unwrap_or_default())}</p>
                    }.into_any(),
                }
            }}
            {is_admin.then(|| view! {
                <details>
                    <summary>"Change delivery"</summary>
                    {form_error(value)}
                    <ActionForm action=set>
                        <input type="hidden" name="csrf" value=csrf/>
                        <input type="hidden" name="name" value=name/>
                        <div class="grid2">
                            <div><label for="d-mode">"Mode"</label>
                                <select id="d-mode" name="mode">
                                    <option value="direct" selected=!gitops>"Direct (server-side apply)"</option>
                                    <option value="gitops" selected=gitops>"GitOps (commit to Git)"</option>
                                </select>{field_error(value, "mode")}</div>
                            <div><label for="d-repo">"Repository"</label><input id="d-repo" name="repository" value=cluster.delivery.repository.clone().unwrap_or_default()/>{field_error(value, "repository")}</div>
                            <div><label for="d-path">"Namespace folder"</label><input id="d-path" name="path" value=cluster.delivery.path.clone().unwrap_or_default() placeholder="clusters/{cluster}/namespaces/{namespace}"/>{field_error(value, "path")}</div>
                            <div><label for="d-shared">"Shared policies folder"</label><input id="d-shared" name="shared_path" value=cluster.delivery.shared_path.clone().unwrap_or_default() placeholder="clusters/{cluster}/berth-shared"/>{field_error(value, "shared_path")}</div>
                        </div>
                        <label class="check"><input type="checkbox" name="review" checked=cluster.delivery.review/>" Each change as a branch for review (a merge request where the repository has its host's API)"</label>
                        <button type="submit" id="delivery-submit">"Save delivery"</button>
                    </ActionForm>
                </details>
            })}
        </section>
    }
}

#[component]
pub fn Freezes() -> impl IntoView {
    view! {
        <Title text="Change windows"/>
        <Authed view=|me: Me| view! { <FreezeCalendarView me/> }/>
    }
}

/// The day an instant falls on (UTC), and the days from `from` for `days`.
fn day(t: OffsetDateTime) -> time::Date {
    t.date()
}

#[component]
fn FreezeCalendarView(me: Me) -> impl IntoView {
    let create = ServerAction::<CreateFreeze>::new();
    let remove = ServerAction::<RemoveFreeze>::new();
    let windows = Resource::new(
        move || (create.version().get(), remove.version().get()),
        |_| list_freezes(),
    );
    let calendar = Resource::new(
        move || (create.version().get(), remove.version().get()),
        |_| get_freeze_calendar(28),
    );
    let value = create.value();
    let csrf = me.csrf_token.clone().unwrap_or_default();
    let list_csrf = csrf.clone();
    let is_admin = me.user.is_admin;
    view! {
        <h1>"Change windows"</h1>
        <p class="muted">"While a freeze holds a cluster, approved changes to it wait and go ahead when it ends. Requests can still be filed and decided. Times are UTC."</p>
        {move || remove.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorMessage error/> })}
        <section class="card">
            <h2>"The next four weeks"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading the calendar…"</p> }>
                {move || Suspend::new(async move {
                    match calendar.await {
                        Ok(c) => view! { <Month from=c.from entries=c.entries/> }.into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading windows…"</p> }>
            {move || {
                let csrf = list_csrf.clone();
                Suspend::new(async move {
                    match windows.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted" id="no-freezes">"No change window is defined."</p> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap" tabindex="0"><table id="freezes">
                                <thead><tr><th>"Freeze"</th><th>"Holds"</th><th>"When"</th><th>"Next"</th><th>"Reason"</th>{is_admin.then(|| view! { <th><span class="sr-only">"Actions"</span></th> })}</tr></thead>
                                <tbody>{list.into_iter().map(|w| {
                                    let holds = {
                                        let mut parts: Vec<String> = w.environments.iter().map(|e| format!("every {e} cluster")).collect();
                                        parts.extend(w.clusters.iter().cloned());
                                        if parts.is_empty() { "the whole fleet".to_owned() } else { parts.join(", ") }
                                    };
                                    let schedule = match (&w.schedule, w.starts_at, w.ends_at) {
                                        (Some(s), _, _) => format!("cron {s} ({}), {} h each", w.timezone.clone().unwrap_or_default(),
                                            w.duration_minutes.unwrap_or(0) as f64 / 60.0),
                                        (None, Some(a), Some(b)) => format!("{} – {}", when(a), when(b)),
                                        _ => String::new(),
                                    };
                                    let next = w.next.as_ref().map(|n| format!("{} – {}", when(n.starts_at), when(n.ends_at))).unwrap_or_else(|| "over".into());
                                    let (csrf, id) = (csrf.clone(), w.id.to_string());
                                    view! {
                                        <tr>
                                            <td><strong>{w.name.clone()}</strong></td>
                                            <td>{holds}</td>
                                            <td>{schedule}</td>
                                            <td>{next}</td>
                                            <td>{w.reason.clone()}</td>
                                            {is_admin.then(|| view! {
                                                <td><ActionForm action=remove attr:class="inline">
                                                    <input type="hidden" name="csrf" value=csrf/>
                                                    <input type="hidden" name="id" value=id/>
                                                    <button type="submit" class="danger">"Remove"</button>
                                                </ActionForm></td>
                                            })}
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
        {is_admin.then(|| view! {
            <section class="card">
                <h2>"Add a change window"</h2>
                {form_error(value)}
                <ActionForm action=create>
                    <input type="hidden" name="csrf" value=csrf/>
                    <div class="grid2">
                        <div><label for="fz-name">"Name"</label><input id="fz-name" name="name" required placeholder="flash sale"/>{field_error(value, "name")}</div>
                        <div><label for="fz-reason">"Reason"</label><input id="fz-reason" name="reason" required placeholder="11.11: no changes to prod"/>{field_error(value, "reason")}</div>
                    </div>
                    <fieldset>
                        <legend>"Holds (neither: the whole fleet)"</legend>
                        <label class="check"><input type="checkbox" name="env_prod"/>" every prod cluster"</label>
                        <label class="check"><input type="checkbox" name="env_staging"/>" every staging cluster"</label>
                        <label class="check"><input type="checkbox" name="env_dev"/>" every dev cluster"</label>
                        <label for="fz-clusters">"and these clusters (comma-separated)"</label>
                        <input id="fz-clusters" name="clusters"/>
                        {field_error(value, "environments[0]")}{field_error(value, "clusters[0]")}
                    </fieldset>
                    <fieldset>
                        <legend>"When"</legend>
                        <label class="check"><input type="radio" name="when" value="dated" checked/>" From … until …"</label>
                        <div class="grid2">
                            <div><label for="fz-start">"Starts (UTC)"</label><input id="fz-start" name="starts_at" type="datetime-local" step="1"/>{field_error(value, "starts_at")}</div>
                            <div><label for="fz-end">"Ends (UTC)"</label><input id="fz-end" name="ends_at" type="datetime-local" step="1"/>{field_error(value, "ends_at")}</div>
                        </div>
                        <label class="check"><input type="radio" name="when" value="recurring"/>" Every … for …"</label>
                        <div class="grid2">
                            <div><label for="fz-cron">"Starts at (cron: minute hour day month weekday)"</label><input id="fz-cron" name="schedule" placeholder="0 18 * * 5"/>{field_error(value, "schedule")}</div>
                            <div><label for="fz-hours">"Lasts (hours)"</label><input id="fz-hours" name="duration_hours" inputmode="decimal" placeholder="60"/>{field_error(value, "duration_minutes")}</div>
                            <div><label for="fz-tz">"Time zone"</label><input id="fz-tz" name="timezone" placeholder="UTC"/>{field_error(value, "timezone")}</div>
                        </div>
                    </fieldset>
                    <button type="submit" id="freeze-submit">"Add the window"</button>
                </ActionForm>
            </section>
        })}
    }
}

/// Four weeks, a row per week, each day with the freezes that touch it.
#[component]
fn Month(from: OffsetDateTime, entries: Vec<FreezeOccurrence>) -> impl IntoView {
    let first = day(from);
    // Start on the Monday of the first week.
    let start = first - time::Duration::days(first.weekday().number_days_from_monday() as i64);
    let weeks: Vec<Vec<time::Date>> = (0..5)
        .map(|w| {
            (0..7)
                .map(|d| start + time::Duration::days(w * 7 + d))
                .collect()
        })
        .collect();
    let last = first + time::Duration::days(28);
    view! {
        <div class="table-wrap" tabindex="0"><table class="calendar" id="freeze-calendar">
            <thead><tr>{["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].map(|d| view! { <th>{d}</th> }).collect_view()}</tr></thead>
            <tbody>{weeks.into_iter().filter(|w| w[0] < last).map(|week| view! {
                <tr>{week.into_iter().map(|d| {
                    let touching: Vec<&FreezeOccurrence> = entries.iter()
                        .filter(|e| day(e.starts_at) <= d && (day(e.ends_at) > d || (day(e.ends_at) == d && e.ends_at.time() > time::Time::MIDNIGHT)))
                        .collect();
                    let outside = d < first || d >= last;
                    let names: Vec<String> = touching.iter().map(|e| e.freeze.clone()).collect();
                    let frozen = !names.is_empty();
                    view! {
                        <td class:frozen=frozen class:muted=outside>
                            <span class="day">{format!("{} {}", d.day(), &d.month().to_string()[..3])}</span>
                            {names.into_iter().map(|n| view! { <span class="tag freeze">{n}</span> }).collect_view()}
                        </td>
                    }
                }).collect_view()}</tr>
            }).collect_view()}</tbody>
        </table></div>
    }
}
