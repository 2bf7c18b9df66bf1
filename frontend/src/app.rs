//! The shell: document, navigation, routes, and the `me` resource every page reads.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    path, Lazy, SsrMode,
};

use crate::{
    api::{ErrorDetail, Me},
    pages, routes,
    server::{get_me, Logout},
};

/// Pages allow scripts from the site and the hydration scripts carrying this response's nonce,
/// wasm compilation, styles from the site (inline `style` attributes only for bar widths), and
/// nothing framed, embedded or posted elsewhere.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    let (Some(response), Some(nonce)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        leptos::nonce::use_nonce(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The caller, loaded once per page load; pages read it through [`use_me`].
pub type MeResource = Resource<Result<Option<Me>, ErrorDetail>>;

pub fn use_me() -> MeResource {
    expect_context::<MeResource>()
}

/// The admin's inbox in the navigation: how many requests wait for a decision, kept live.
/// Fetched in the browser only (a local resource): the server renders nothing here, so the
/// navigation hydrates the same on every page whoever is signed in.
#[component]
fn Inbox() -> impl IntoView {
    let live = crate::live::use_live();
    let pending = LocalResource::new(move || {
        live.requests.track();
        crate::server::pending_count()
    });
    move || {
        pending
            .get()
            .and_then(|r| r.ok())
            .filter(|n| *n > 0)
            .map(|n| {
                let text = if n >= 100 { "99+".to_owned() } else { n.to_string() };
                view! { <span class="count" id="inbox-count" title="requests waiting for a decision">{text}</span> }
            })
    }
}

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" type="image/svg+xml" href="/pkg/berth.svg"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let me: MeResource = Resource::new(|| (), |_| get_me());
    provide_context(me);
    // Live updates once someone is signed in (the stream answers 401 to nobody).
    let live = crate::live::Live::provide();
    let routing = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(Some(_))) = me.get() {
            live.connect();
        }
    });

    view! {
        <Stylesheet id="berth" href="/pkg/berth.css"/>
        <Title formatter=|page: String| if page.is_empty() { "Berth".to_owned() } else { format!("{page} — Berth") }/>
        // While a page's chunk is on its way the current page stays, with a note that the
        // next one is loading.
        <Router set_is_routing=routing>
            <a class="skip" href="#main">"Skip to content"</a>
            <p class="routing" aria-live="polite">
                {move || routing.get().then_some("Loading the page…")}
            </p>
            <Nav/>
            <main id="main" tabindex="-1">
                <Routes fallback=|| view! { <pages::NotFound/> }>
                    <Route path=path!("/") view={Lazy::<routes::HomeRoute>::new()}/>
                    // The first page of someone new: in the main module, no chunk to wait for.
                    <Route path=path!("/login") view=LoginPage/>
                    <Route path=path!("/teams/:name") view={Lazy::<routes::TeamRoute>::new()}/>
                    <Route path=path!("/teams/:name/cost") view={Lazy::<routes::TeamCostRoute>::new()}/>
                    <Route path=path!("/fleet") view={Lazy::<routes::FleetRoute>::new()}/>
                    <Route path=path!("/clusters/:name") view={Lazy::<routes::ClusterRoute>::new()}/>
                    <Route path=path!("/tokens") view={Lazy::<routes::TokensRoute>::new()}/>
                    <Route path=path!("/audit") view={Lazy::<routes::AuditRoute>::new()}/>
                    <Route path=path!("/account") view={Lazy::<routes::AccountRoute>::new()}/>
                    // Rendered whole before the first byte, so a developer's 403 is the status.
                    <Route path=path!("/admin/users") view={Lazy::<routes::UsersRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin/tenancy") view={Lazy::<routes::TenancyRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin/git") view={Lazy::<routes::GitRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/freezes") view={Lazy::<routes::FreezesRoute>::new()}/>
                    <Route path=path!("/requests") view={Lazy::<routes::RequestsRoute>::new()}/>
                    <Route path=path!("/requests/new") view={Lazy::<routes::NewRequestRoute>::new()}/>
                    <Route path=path!("/requests/:id") view={Lazy::<routes::RequestRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/namespaces") view={Lazy::<routes::NamespacesRoute>::new()}/>
                    <Route path=path!("/namespaces/:cluster/:name") view={Lazy::<routes::NamespaceRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/drills") view={Lazy::<routes::DrillsRoute>::new()}/>
                    <Route path=path!("/capacity") view={Lazy::<routes::CapacityRoute>::new()}/>
                    <Route path=path!("/capacity/:cluster/:name") view={Lazy::<routes::NamespaceCapacityRoute>::new()}/>
                    <Route path=path!("/drills/:id") view={Lazy::<routes::DrillRoute>::new()} ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// The login page, marking itself hydrated as the lazy pages do.
#[component]
fn LoginPage() -> impl IntoView {
    Effect::new(|_| crate::components::mark_hydrated());
    view! { <pages::login::Login/> }
}

#[component]
fn Nav() -> impl IntoView {
    let me = use_me();
    let logout = ServerAction::<Logout>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            crate::components::reload_to("/login");
        }
    });
    // The phone menu folds again once a link in it is followed.
    let fold_menu = move |_| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            if let Some(input) = document()
                .get_element_by_id("menu-toggle")
                .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
            {
                input.set_checked(false);
            }
        }
    };
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">"Berth"</A>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(me)) => {
                            let csrf = me.csrf_token.clone().unwrap_or_default();
                            view! {
                                // A menu button on a phone (a checkbox and its label: no script needed).
                                <input type="checkbox" id="menu-toggle" class="menu-toggle" aria-controls="main-nav"/>
                                <label for="menu-toggle" class="menu-button">"Menu"</label>
                                <nav aria-label="Main" id="main-nav" on:click=fold_menu>
                                    <A href="/">"Teams"</A>
                                    <A href="/requests">"Requests"{me.user.is_admin.then(|| view! { <Inbox/> })}</A>
                                    <A href="/namespaces">"Namespaces"</A>
                                    <A href="/drills">"Drills"</A>
                                    <A href="/capacity">"Capacity"</A>
                                    <A href="/fleet">"Fleet"</A>
                                    <A href="/freezes">"Freezes"</A>
                                    <A href="/tokens">"Tokens"</A>
                                    <A href="/audit">"Audit"</A>
                                    <Show when=move || me.user.is_admin>
                                        <A href="/admin/users">"Users"</A>
                                        <A href="/admin/tenancy">"Tenancy"</A>
                                        <A href="/admin/git">"Git"</A>
                                    </Show>
                                    <A href="/account">"Account"</A>
                                </nav>
                                <ActionForm action=logout attr:class="logout">
                                    <input type="hidden" name="csrf" value=csrf/>
                                    <button type="submit" class="link" on:click=|_| crate::live::close()>"Log out"</button>
                                </ActionForm>
                            }
                                .into_any()
                        }
                        _ => ().into_any(),
                    }
                })}
            </Suspense>
        </header>
    }
}
