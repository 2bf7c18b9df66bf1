use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::Me,
    components::{field_error, form_error, when, ErrorMessage},
    server::{list_users, CreateUser, SetUserDisabled},
};

#[component]
pub fn Users() -> impl IntoView {
    view! {
        <Title text="Users"/>
        <super::AdminOnly what="manage users" view=|me: Me| view! { <UserAdmin me/> }/>
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
                            <div class="table-wrap"><table>
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
