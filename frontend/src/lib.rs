//! Berth's web app (Leptos, rendered on the server and hydrated in the browser).
//!
//! - `api`: the request and response types shared with the REST API;
//! - `portal` (server only): the trait through which server functions reach the backend's
//!   service layer. The backend implements it and hands it in by context, so this crate
//!   never depends on the backend and the dependency runs one way only;
//! - `server`: the server functions, which only translate;
//! - `app` and `pages`: the shell and the pages.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod components;
pub mod live;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod portal;
pub mod routes;
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy routes: the page's chunk is loaded before its part of the body is hydrated.
    leptos::mount::hydrate_lazy(app::App);
}
