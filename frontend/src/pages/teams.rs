use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    api::{Me, TeamRole},
    components::{field_error, form_error, when, Authed, ErrorMessage},
    server::{get_team, list_teams, AddMember, ChangeRole, CreateTeam, RemoveMember},
};

/// The home page: a developer's namespaces first, then their teams; admins see every team
/// and can create one.
#[component]
pub fn Home() -> impl IntoView {
    view! { <Title text="Home"/><Authed view=|me: Me| view! {
        {(!me.user.is_admin).then(|| view! { <MyNamespaces/> })}
        <TeamList me/>
    }/> }
}

/// The namespaces of the caller's teams, kept live: where a developer starts.
#[component]
fn MyNamespaces() -> impl IntoView {
    let live = crate::live::use_live();
    let namespaces = Resource::new(
        move || live.namespaces.get(),
        |_| crate::server::my_namespaces(),
    );
    view! {
        <h1>"Your namespaces"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading namespaces…"</p> }>
            {move || Suspend::new(async move {
                match namespaces.await {
                    Ok(items) if items.is_empty() => view! {
                        <p class="muted" id="no-namespaces">"None yet. "<A href="/requests/new">"Request a namespace"</A>" for your team."</p>
                    }.into_any(),
                    Ok(items) => view! {
                        <div class="table-wrap" tabindex="0"><table id="my-namespaces">
                            <thead><tr><th>"Namespace"</th><th>"Cluster"</th><th>"Team"</th><th>"State"</th><th>"Quota"</th></tr></thead>
                            <tbody>{items.into_iter().map(|n| view! {
                                <tr>
                                    <td><A href=format!("/namespaces/{}/{}", n.cluster, n.name)><code>{n.name.clone()}</code></A></td>
                                    <td>{n.cluster.clone()}</td>
                                    <td>{n.team.clone()}</td>
                                    <td>{crate::pages::requests::state_badge(n.state)}</td>
                                    <td>{format!("{} · {}", crate::pages::fleet::cores(n.quota.cpu_millis), crate::pages::fleet::gib(n.quota.memory_bytes))}</td>
                                </tr>
                            }).collect_view()}</tbody>
                        </table></div>
                        <p><A href="/requests/new">"Request another namespace"</A></p>
                    }.into_any(),
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// For admins: clusters where the pinning proof found namespaces whose pods can leave
/// their pool. A warning at the top of the dashboard, not a footnote on a cluster page.
#[component]
fn PinningWarnings() -> impl IntoView {
    let clusters = Resource::new(|| (), |_| crate::server::list_clusters());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let bad: Vec<(String, String)> = clusters
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|c| {
                        crate::pages::fleet::not_enforced(c.inventory.as_ref()).map(|text| (c.name, text))
                    })
                    .collect();
                (!bad.is_empty()).then(|| view! {
                    <section class="card warn-card" role="alert">
                        <h2>"Node-pool pinning is not enforced"</h2>
                        <ul>{bad.into_iter().map(|(name, text)| view! {
                            <li><A href=format!("/clusters/{name}")><code>{name.clone()}</code></A>": "{text}</li>
                        }).collect_view()}</ul>
                    </section>
                })
            })}
        </Suspense>
    }
}

#[component]
fn TeamList(me: Me) -> impl IntoView {
    let create = ServerAction::<CreateTeam>::new();
    let teams = Resource::new(move || create.version().get(), |_| list_teams());
    let value = create.value();
    let csrf = me.csrf_token.clone().unwrap_or_default();
    view! {
        {me.user.is_admin.then(|| view! { <PinningWarnings/> })}
        {if me.user.is_admin { view! { <h1>"All teams"</h1> }.into_any() } else { view! { <h2>"Your teams"</h2> }.into_any() }}
        <Suspense fallback=|| view! { <p class="muted">"Loading teams…"</p> }>
            {move || Suspend::new(async move {
                match teams.await {
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted">"You are not in a team yet. Ask a team owner or a platform admin to add you. If you sign in with single sign-on, a platform admin can map your identity provider group to your team (Users → Provider groups); it applies at your next sign-in."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <ul class="cards">
                            {list.into_iter().map(|t| {
                                let href = format!("/teams/{}", t.name);
                                let role = t.my_role.map(|r| r.as_str()).unwrap_or("admin view");
                                view! {
                                    <li class="card">
                                        <h2><A href=href>{t.display_name}</A></h2>
                                        <p class="muted"><code>{t.name}</code>" · "{t.member_count}" members · "{role}</p>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                }
            })}
        </Suspense>
        {me.user.is_admin.then(|| view! {
            <section class="card">
                <h2>"Create a team"</h2>
                {form_error(value)}
                {move || value.get().and_then(|r| r.ok()).map(|t| view! {
                    <p class="ok" role="status">"Team "<code>{t.name}</code>" created."</p>
                })}
                <ActionForm action=create>
                    <input type="hidden" name="csrf" value=csrf.clone()/>
                    <label for="team-name">"Name (namespace prefix)"</label>
                    <input id="team-name" name="name" required placeholder="payments"/>
                    {field_error(value, "name")}
                    <label for="team-display">"Display name"</label>
                    <input id="team-display" name="display_name" required placeholder="Payments"/>
                    {field_error(value, "display_name")}
                    <label for="team-owner">"First owner's email (optional)"</label>
                    <input id="team-owner" name="owner_email" type="email"/>
                    {field_error(value, "owner_email")}
                    <button type="submit">"Create team"</button>
                </ActionForm>
            </section>
        })}
    }
}

#[component]
pub fn TeamPage() -> impl IntoView {
    let name = crate::components::param("name");
    let title = move || format!("Team {}", name());
    let trail = move || {
        vec![
            ("Teams".to_owned(), "/".to_owned()),
            (name(), String::new()),
        ]
    };
    view! { <Title text=title/><crate::components::Breadcrumbs trail=Signal::derive(trail)/><Authed view=|me: Me| view! { <TeamDetailView me/> }/> }
}

#[component]
fn TeamDetailView(me: Me) -> impl IntoView {
    let params = use_params_map();
    let name = move || params.read().get("name").unwrap_or_default();
    let add = ServerAction::<AddMember>::new();
    let change = ServerAction::<ChangeRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let team = Resource::new(
        move || {
            (
                name(),
                add.version().get(),
                change.version().get(),
                remove.version().get(),
            )
        },
        |(name, ..)| get_team(name),
    );
    let namespaces = Resource::new(name, |team| {
        crate::server::list_namespaces(crate::api::NamespaceQuery {
            team: Some(team),
            limit: Some(500),
            ..Default::default()
        })
    });
    let budgets = Resource::new(name, crate::server::list_budgets);
    let csrf = me.csrf_token.clone().unwrap_or_default();
    let add_value = add.value();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading team…"</p> }>
            {move || {
                let csrf = csrf.clone();
                Suspend::new(async move {
                    let detail = match team.await {
                        Ok(detail) => detail,
                        Err(error) => return view! { <ErrorMessage error/> }.into_any(),
                    };
                    let team_name = detail.team.name.clone();
                    let can_manage = detail.can_manage;
                    let rows = detail.members.into_iter().map(|m| {
                        let other = match m.role { TeamRole::Owner => "member", TeamRole::Member => "owner" };
                        let (csrf_a, csrf_b, team_a, team_b) = (csrf.clone(), csrf.clone(), team_name.clone(), team_name.clone());
                        let (id_a, id_b) = (m.user_id.to_string(), m.user_id.to_string());
                        view! {
                            <tr>
                                <td>{m.display_name}</td>
                                <td>{m.email}</td>
                                <td>{m.role.as_str()}</td>
                                <td>{when(m.added_at)}</td>
                                <td class="actions">
                                    {can_manage.then(|| view! {
                                        <ActionForm action=change attr:class="inline">
                                            <input type="hidden" name="csrf" value=csrf_a.clone()/>
                                            <input type="hidden" name="team" value=team_a.clone()/>
                                            <input type="hidden" name="user_id" value=id_a.clone()/>
                                            <input type="hidden" name="role" value=other/>
                                            <button type="submit" class="secondary">{format!("Make {other}")}</button>
                                        </ActionForm>
                                        <ActionForm action=remove attr:class="inline">
                                            <input type="hidden" name="csrf" value=csrf_b.clone()/>
                                            <input type="hidden" name="team" value=team_b.clone()/>
                                            <input type="hidden" name="user_id" value=id_b.clone()/>
                                            <button type="submit" class="danger">"Remove"</button>
                                        </ActionForm>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view();
                    view! {
                        <h1>{detail.team.display_name}" "<small><code>{detail.team.name.clone()}</code></small></h1>
                        <p class="muted">"Namespaces of this team start with "<code>{format!("{}-", detail.team.name)}</code>". "
                            <A href=format!("/teams/{}/cost", detail.team.name)>"Cost report"</A></p>
                        <h2>"Members"</h2>
                        <div class="table-wrap" tabindex="0">
                            <table>
                                <thead><tr><th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Added"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                        </div>
                        {can_manage.then(|| view! {
                            <section class="card">
                                <h2>"Add a member"</h2>
                                {form_error(add_value)}
                                <ActionForm action=add>
                                    <input type="hidden" name="csrf" value=csrf.clone()/>
                                    <input type="hidden" name="team" value=team_name.clone()/>
                                    <label for="member-email">"Email"</label>
                                    <input id="member-email" name="email" type="email" required/>
                                    {field_error(add_value, "email")}
                                    <label for="member-role">"Role"</label>
                                    <select id="member-role" name="role">
                                        <option value="member">"member"</option>
                                        <option value="owner">"owner"</option>
                                    </select>
                                    <button type="submit">"Add member"</button>
                                </ActionForm>
                            </section>
                        })}
                    }.into_any()
                })
            }}
        </Suspense>
        {move || change.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorMessage error/> })}
        {move || remove.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorMessage error/> })}
        <TeamTenancy namespaces budgets/>
    }
}

/// The team's namespaces with usage against quota, and its budgets.
#[component]
fn TeamTenancy(
    namespaces: Resource<Result<crate::api::Page<crate::api::Namespace>, crate::api::ErrorDetail>>,
    budgets: Resource<Result<Vec<crate::api::Budget>, crate::api::ErrorDetail>>,
) -> impl IntoView {
    use crate::pages::fleet::{cores, gib, Bar};
    view! {
        <section class="card">
            <h2>"Namespaces"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match namespaces.await {
                        Ok(page) if page.items.is_empty() => view! {
                            <p class="muted">"No namespaces yet. "<A href="/requests/new">"Request one"</A></p>
                        }.into_any(),
                        Ok(page) => page.items.into_iter().map(|n| {
                            let used = n.usage.as_ref().map(|u| u.used_amounts).unwrap_or_default();
                            view! {
                                <div class="pool">
                                    <A href=format!("/namespaces/{}/{}", n.cluster, n.name)>{format!("{} on {}", n.name, n.cluster)}</A>
                                    " "{crate::pages::requests::state_badge(n.state)}
                                    <Bar label="CPU".into() used=used.cpu_millis total=n.quota.cpu_millis
                                        text=format!("{} of {} requested", cores(used.cpu_millis), cores(n.quota.cpu_millis))/>
                                    <Bar label="Memory".into() used=used.memory_bytes total=n.quota.memory_bytes
                                        text=format!("{} of {}", gib(used.memory_bytes), gib(n.quota.memory_bytes))/>
                                </div>
                            }
                        }).collect_view().into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })}
            </Suspense>
            <h3>"Budgets"</h3>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match budgets.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No budget is set for this team."</p> }.into_any(),
                        Ok(list) => list.into_iter().map(|b| view! {
                            <div class="pool">
                                <strong>{b.cluster.unwrap_or_else(|| "Whole fleet".into())}</strong>
                                <Bar label="CPU".into() used=b.used.cpu_millis total=b.limit.cpu_millis
                                    text=format!("{} of {} committed", cores(b.used.cpu_millis), cores(b.limit.cpu_millis))/>
                                <Bar label="Memory".into() used=b.used.memory_bytes total=b.limit.memory_bytes
                                    text=format!("{} of {}", gib(b.used.memory_bytes), gib(b.limit.memory_bytes))/>
                                <Bar label="Storage".into() used=b.used.storage_bytes total=b.limit.storage_bytes
                                    text=format!("{} of {}", gib(b.used.storage_bytes), gib(b.limit.storage_bytes))/>
                            </div>
                        }).collect_view().into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
