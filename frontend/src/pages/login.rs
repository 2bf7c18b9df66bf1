use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::{field_error, form_error, reload_to},
    server::{get_sign_in_options, Login as LoginFn},
};

/// What the login page says when single sign-on came back without a session
/// (`/login?sso=<code>`, set by the callback).
fn sso_failure(code: &str) -> &'static str {
    match code {
        "unreachable" => "The identity provider could not be reached. Try again in a minute; platform admins can still sign in with a password below.",
        "denied" => "The identity provider did not sign you in (it refused, or you cancelled).",
        "expired" => "That sign-in expired or was already used. Sign in again.",
        "invalid" => "The identity provider's answer could not be verified. Sign in again; if it keeps happening, tell your platform admins.",
        "no-email" => "Your identity provider account has no email address Berth can use. Ask whoever runs the identity provider to add one.",
        "email-taken" => "A Berth account already uses your email, and the identity provider does not confirm that the address is yours. Ask a platform admin to link the accounts.",
        "disabled" => "Your Berth account is disabled. Ask a platform admin.",
        "off" => "Single sign-on is not set up here.",
        _ => "Single sign-on did not complete. Sign in again.",
    }
}

#[component]
pub fn Login() -> impl IntoView {
    let login = ServerAction::<LoginFn>::new();
    let value = login.value();
    let options = Resource::new(|| (), |_| get_sign_in_options());
    let query = use_query_map();
    let failure = move || query.read().get("sso").map(|code| sso_failure(&code));
    Effect::new(move |_| {
        if let Some(Ok(())) = value.get() {
            reload_to("/");
        }
    });
    let password_form = move |note: Option<&'static str>| {
        view! {
            {note.map(|n| view! { <p class="muted">{n}</p> })}
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
        }
    };
    view! {
        <Title text="Log in"/>
        <section class="card narrow">
            <h1>"Log in to Berth"</h1>
            {move || failure().map(|text| view! { <p class="error" role="alert">{text}</p> })}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let options = options.await.ok();
                    let provider = options.as_ref().and_then(|o| o.provider.clone());
                    let password = options.map(|o| o.password).unwrap_or_else(|| "everyone".into());
                    view! {
                        {provider.map(|name| view! {
                            <a class="button sso" href="/auth/oidc/start" rel="external">"Sign in with "{name}</a>
                        })}
                        {match password.as_str() {
                            "nobody" => view! {
                                <p class="muted">"Password sign-in is switched off here."</p>
                            }.into_any(),
                            "admins" => password_form(Some("Password sign-in is for platform admins (break-glass accounts).")).into_any(),
                            _ => password_form(None).into_any(),
                        }}
                    }
                })}
            </Suspense>
        </section>
    }
}
