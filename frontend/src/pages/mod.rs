//! One module per page.

pub mod account;
pub mod audit;
pub mod capacity;
pub mod cost;
pub mod drills;
pub mod fleet;
pub mod gitops;
pub mod login;
pub mod namespaces;
pub mod requests;
pub mod settings;
pub mod teams;
pub mod tokens;
pub mod users;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// What a signed-in user sees on a page that is not theirs: HTTP 403 and no admin form,
/// and nothing of the page is loaded.
#[component]
pub fn Forbidden(#[prop(into)] what: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::FORBIDDEN);
    }
    view! {
        <h1>"Not allowed"</h1>
        <p class="error" role="alert">{format!("Only platform admins {what}.")}</p>
        <p><A href="/">"Back to your teams"</A></p>
    }
}

/// What the page names does not exist (or is not the caller's to see): a real 404.
#[component]
pub fn Missing(#[prop(into)] what: String, #[prop(into)] message: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <h1>{format!("No such {what}")}</h1>
        <p class="error" role="alert">{message}</p>
        <p><A href="/">"Back to your teams"</A></p>
    }
}

/// An admin page: `view` for platform admins, [`Forbidden`] for everyone else.
#[component]
pub fn AdminOnly<F, V>(what: &'static str, view: F) -> impl IntoView
where
    F: Fn(crate::api::Me) -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    view! {
        <crate::components::Authed view=move |me: crate::api::Me| {
            if me.user.is_admin {
                view(me).into_any()
            } else {
                view! { <Forbidden what/> }.into_any()
            }
        }/>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    // The fallback is not a lazy route: it marks the page hydrated itself.
    Effect::new(|_| crate::components::mark_hydrated());
    view! {
        <Title text="Page not found"/>
        <h1>"Page not found"</h1>
        <p><A href="/">"Back to your teams"</A></p>
    }
}
