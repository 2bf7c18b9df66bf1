//! Live updates in the browser: one `EventSource` on `/api/v1/events` per page load, once
//! someone is signed in. Each kind of change bumps a counter; a page's resources read the
//! counters of what they show, so they refetch when it changes — an approval made in
//! another browser shows without a reload. A stream that opens (or reconnects, or fell
//! behind) bumps every counter: whatever was missed is read again.

use leptos::prelude::*;

/// One counter per kind of change.
#[derive(Clone, Copy)]
pub struct Live {
    pub requests: RwSignal<u64>,
    pub namespaces: RwSignal<u64>,
    pub drills: RwSignal<u64>,
    pub clusters: RwSignal<u64>,
    connected: RwSignal<bool>,
}

impl Live {
    /// Made once by the shell and handed to every page by context.
    pub fn provide() -> Live {
        let live = Live {
            requests: RwSignal::new(0),
            namespaces: RwSignal::new(0),
            drills: RwSignal::new(0),
            clusters: RwSignal::new(0),
            connected: RwSignal::new(false),
        };
        provide_context(live);
        live
    }

    #[cfg(feature = "hydrate")]
    fn bump_all(self) {
        for s in [self.requests, self.namespaces, self.drills, self.clusters] {
            s.update(|n| *n += 1);
        }
    }

    /// Opens the stream, once, in the browser (the server renders without one) — a moment
    /// after the page has hydrated: a change that refetched a resource while its part of the
    /// page was still hydrating would no longer match the server's HTML.
    pub fn connect(self) {
        if self.connected.get_untracked() {
            return;
        }
        self.connected.set(true);
        #[cfg(feature = "hydrate")]
        set_timeout(move || open(self), std::time::Duration::from_secs(1));
    }
}

/// The page's counters (a fresh, silent set outside the shell, as in a lone component).
pub fn use_live() -> Live {
    use_context::<Live>().unwrap_or_else(Live::provide)
}

#[cfg(feature = "hydrate")]
thread_local! {
    /// The page's stream, kept so that logging out can close it first.
    static SOURCE: std::cell::RefCell<Option<web_sys::EventSource>> = const { std::cell::RefCell::new(None) };
    /// Set by `close`: the page is logging out, and no stream may open any more.
    static CLOSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Closes the stream: on logging out, before the session ends, so that the browser does not
/// reconnect with a session that is gone (a 401 in the console). A stream still waiting to
/// open (`connect` opens it a moment after hydration) never opens.
pub fn close() {
    #[cfg(feature = "hydrate")]
    {
        CLOSED.with(|c| c.set(true));
        SOURCE.with(|s| {
            if let Some(source) = s.borrow_mut().take() {
                source.close();
            }
        });
    }
}

#[cfg(feature = "hydrate")]
fn open(live: Live) {
    use wasm_bindgen::{closure::Closure, JsCast};
    if CLOSED.with(|c| c.get()) {
        return;
    }
    let Ok(source) = web_sys::EventSource::new("/api/v1/events") else {
        return;
    };
    let listen = |kind: &str, on: Box<dyn Fn()>| {
        let callback = Closure::<dyn Fn(web_sys::Event)>::new(move |_| on());
        let _ = source.add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref());
        // The stream lives as long as the page.
        callback.forget();
    };
    for (kind, signal) in [
        ("request", live.requests),
        ("namespace", live.namespaces),
        ("drill", live.drills),
        ("cluster", live.clusters),
    ] {
        listen(kind, Box::new(move || signal.update(|n| *n += 1)));
    }
    listen("lagged", Box::new(move || live.bump_all()));
    // Whatever changed between the page's render and this open (or while the connection
    // was lost) is read again; `data-live` tells tests the page is listening.
    listen(
        "open",
        Box::new(move || {
            live.bump_all();
            if let Some(body) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.body())
            {
                let _ = body.set_attribute("data-live", "open");
            }
        }),
    );
    SOURCE.with(|s| *s.borrow_mut() = Some(source));
}
