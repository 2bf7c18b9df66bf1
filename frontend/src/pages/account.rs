use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    components::{field_error, form_error, Authed},
    server::ChangePassword,
};

#[component]
pub fn Account() -> impl IntoView {
    view! {
        <Title text="Your account"/>
        <Authed view=|me| {
            let change = ServerAction::<ChangePassword>::new();
            let value = change.value();
            let csrf = me.csrf_token.clone().unwrap_or_default();
            view! {
                <h1>"Your account"</h1>
                <dl class="facts">
                    <dt>"Name"</dt><dd>{me.user.display_name.clone()}</dd>
                    <dt>"Email"</dt><dd>{me.user.email.clone()}</dd>
                    <dt>"Platform admin"</dt><dd>{if me.user.is_admin { "yes" } else { "no" }}</dd>
                </dl>
                <section class="card">
                    <h2>"Change password"</h2>
                    <p class="muted">"Your other sessions end when you change it."</p>
                    {form_error(value)}
                    {move || matches!(value.get(), Some(Ok(()))).then(|| view! { <p class="ok" role="status">"Password changed."</p> })}
                    <ActionForm action=change>
                        <input type="hidden" name="csrf" value=csrf/>
                        <label for="current_password">"Current password"</label>
                        <input id="current_password" name="current_password" type="password" autocomplete="current-password" required/>
                        {field_error(value, "current_password")}
                        <label for="new_password">"New password (at least 12 characters)"</label>
                        <input id="new_password" name="new_password" type="password" autocomplete="new-password" required minlength="12"/>
                        {field_error(value, "new_password")}
                        <button type="submit">"Change password"</button>
                    </ActionForm>
                </section>
            }
        }/>
    }
}
