use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    components::{field_error, form_error, reload_to},
    server::Login as LoginFn,
};

#[component]
pub fn Login() -> impl IntoView {
    let login = ServerAction::<LoginFn>::new();
    let value = login.value();
    Effect::new(move |_| {
        if let Some(Ok(())) = value.get() {
            reload_to("/");
        }
    });
    view! {
        <Title text="Log in"/>
        <section class="card narrow">
            <h1>"Log in to Berth"</h1>
            {form_error(value)}
            <ActionForm action=login>
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required/>
                {field_error(value, "email")}
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required/>
                {field_error(value, "password")}
                <button type="submit" disabled=move || login.pending().get()>"Log in"</button>
            </ActionForm>
        </section>
    }
}
