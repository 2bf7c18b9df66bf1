use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::Me,
    components::{field_error, form_error, when, ErrorMessage},
    server::{
        list_group_rules, list_users, CreateGroupRule, CreateUser, DeleteGroupRule, SetUserDisabled,
    },
};

#[component]
pub fn Users() -> impl IntoView {
    view! {
        <Title text="Users"/>
        <super::AdminOnly what="manage users" view=|me: Me| view! { <UserAdmin me=me.clone()/><GroupRules me/> }/>
    }
}

#[component]
fn UserAdmin(me: Me) -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let toggle = ServerAction::<SetUserDisabled>::new();
    let users = Resource::new(
        move || (create.version().get(), toggle.version().get()),
        |_| list_users(),
    );
    let value = create.value();
    let csrf = me.csrf_token.clone().unwrap_or_default();
    let list_csrf = csrf.clone();
    view! {
        <h1>"Users"</h1>
        <section class="card">
            <h2>"Create a user"</h2>
            {form_error(value)}
            {move || value.get().and_then(|r| r.ok()).map(|created| view! {
                <div class="secret" role="status">
                    <p>"Hand this one-time password to "{created.user.email}" — it is shown only once:"</p>
                    <code id="one-time-password">{created.one_time_password}</code>
                </div>
            })}
            <ActionForm action=create>
                <input type="hidden" name="csrf" value=csrf.clone()/>
                <label for="user-email">"Email"</label>
                <input id="user-email" name="email" type="email" required/>
                {field_error(value, "email")}
                <label for="user-name">"Display name"</label>
                <input id="user-name" name="display_name" required/>
                {field_error(value, "display_name")}
                <label class="check"><input type="checkbox" name="is_admin"/>" Platform admin"</label>
                <button type="submit">"Create user"</button>
            </ActionForm>
        </section>
        {move || toggle.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorMessage error/> })}
        <Suspense fallback=|| view! { <p class="muted">"Loading users…"</p> }>
            {move || {
                let csrf = list_csrf.clone();
                Suspend::new(async move {
                    match users.await {
                        Ok(list) => view! {
                            <div class="table-wrap" tabindex="0"><table>
                                <thead><tr><th>"Name"</th><th>"Email"</th><th>"Admin"</th><th>"Created"</th><th>"State"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|u| {
                                        let disabled = u.disabled;
                                        let csrf = csrf.clone();
                                        let id = u.id.to_string();
                                        view! {
                                            <tr>
                                                <td>{u.display_name}</td>
                                                <td>{u.email}</td>
                                                <td>{if u.is_admin { "yes" } else { "" }}</td>
                                                <td>{when(u.created_at)}</td>
                                                <td>{if disabled { "disabled" } else { "active" }}</td>
                                                <td>
                                                    <ActionForm action=toggle attr:class="inline">
                                                        <input type="hidden" name="csrf" value=csrf/>
                                                        <input type="hidden" name="user_id" value=id/>
                                                        <input type="hidden" name="disabled" value=if disabled { "false" } else { "true" }/>
                                                        <button type="submit" class=if disabled { "secondary" } else { "danger" }>
                                                            {if disabled { "Enable" } else { "Disable" }}
                                                        </button>
                                                    </ActionForm>
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                        }.into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// The rules that turn the identity provider's groups into team roles and platform admin.
#[component]
fn GroupRules(me: Me) -> impl IntoView {
    let create = ServerAction::<CreateGroupRule>::new();
    let delete = ServerAction::<DeleteGroupRule>::new();
    let rules = Resource::new(
        move || (create.version().get(), delete.version().get()),
        |_| list_group_rules(),
    );
    let value = create.value();
    let csrf = me.csrf_token.clone().unwrap_or_default();
    let list_csrf = csrf.clone();
    view! {
        <section class="card">
            <h2 id="group-rules">"Provider groups"</h2>
            <p class="muted">"With single sign-on, each sign-in gives a person the teams and roles their identity provider groups map to here, and takes away those of groups they left. Memberships added by hand stay."</p>
            {move || delete.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorMessage error/> })}
            <Suspense fallback=|| view! { <p class="muted">"Loading rules…"</p> }>
                {move || {
                    let csrf = list_csrf.clone();
                    Suspend::new(async move {
                        match rules.await {
                            Ok(list) if list.is_empty() => view! { <p class="muted">"No group rules yet."</p> }.into_any(),
                            Ok(list) => view! {
                                <div class="table-wrap" tabindex="0"><table>
                                    <thead><tr><th>"Provider group"</th><th>"Gives"</th><th>"Added"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|rule| {
                                            let gives = match (&rule.team, rule.grant) {
                                                (Some(team), grant) => format!("{} of {team}", grant.as_str()),
                                                (None, _) => "platform admin".to_owned(),
                                            };
                                            let csrf = csrf.clone();
                                            view! {
                                                <tr>
                                                    <td><code>{rule.provider_group}</code></td>
                                                    <td>{gives}</td>
                                                    <td>{when(rule.created_at)}</td>
                                                    <td>
                                                        <ActionForm action=delete attr:class="inline">
                                                            <input type="hidden" name="csrf" value=csrf/>
                                                            <input type="hidden" name="id" value=rule.id.to_string()/>
                                                            <button type="submit" class="danger">"Delete"</button>
                                                        </ActionForm>
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table></div>
                            }.into_any(),
                            Err(error) => view! { <ErrorMessage error/> }.into_any(),
                        }
                    })
                }}
            </Suspense>
            <h3>"Add a rule"</h3>
            {form_error(value)}
            <ActionForm action=create>
                <input type="hidden" name="csrf" value=csrf/>
                <label for="rule-group">"Provider group (as in the ID token's groups claim)"</label>
                <input id="rule-group" name="provider_group" required placeholder="payments-devs"/>
                {field_error(value, "provider_group")}
                <label for="rule-grant">"Gives"</label>
                <select id="rule-grant" name="grant">
                    <option value="member">"member of a team"</option>
                    <option value="owner">"owner of a team"</option>
                    <option value="admin">"platform admin"</option>
                </select>
                <label for="rule-team">"Team (for member and owner)"</label>
                <input id="rule-team" name="team" placeholder="payments"/>
                {field_error(value, "team")}
                <button type="submit">"Add rule"</button>
            </ActionForm>
        </section>
    }
}
