//! One module per page.

pub mod account;
pub mod audit;
pub mod capacity;
pub mod cost;
pub mod drills;
pub mod fleet;
pub mod login;
pub mod namespaces;
pub mod requests;
pub mod settings;
pub mod teams;
pub mod tokens;
pub mod users;

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <h1>"Page not found"</h1>
        <p><A href="/">"Back to your teams"</A></p>
    }
}
