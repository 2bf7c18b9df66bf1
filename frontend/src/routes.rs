//! Pages load in groups: each group's code is a chunk of its own (with the chunks it shares
//! with other groups) that the browser fetches when one of its pages is first shown, and
//! that the server names for preloading when it renders one. The shell, the login page and
//! what every page shares stay in the main module. `scripts/build-site` splits it.
//!
//! Groups rather than a chunk per page: a page that needs a hundred small files loads slower
//! than one that needs a few larger ones, and pages of a group are visited together.

use leptos::{lazy, prelude::*};
use leptos_router::LazyRoute;

use crate::pages;

/// Declares the groups: a lazy function per group that renders one of its pages, and a
/// route type per page whose view calls it.
macro_rules! page_groups {
    ($(
        $(#[$doc:meta])*
        $group:ident / $preload:ident {
            $($path:literal $route:ident => $page:path;)*
        }
    )*) => {$(
        $(#[$doc])*
        #[lazy]
        fn $group(route: &'static str) -> AnyView {
            match route {
                $(stringify!($route) => $page().into_any(),)*
                _ => unreachable!("{route} is not in this group"),
            }
        }

        $(
            #[doc = concat!("`", $path, "`")]
            pub struct $route;

            impl LazyRoute for $route {
                fn data() -> Self {
                    Self
                }

                async fn view(_this: Self) -> AnyView {
                    // Effects run once the page's part of the body is hydrated (its chunk
                    // has arrived by then): tests and scripts wait for the mark.
                    Effect::new(|_| crate::components::mark_hydrated());
                    $group(stringify!($route)).await
                }

                async fn preload() {
                    #[cfg(feature = "hydrate")]
                    $preload().await;
                }
            }
        )*
    )*};
}

page_groups! {
    /// The page most visits start on, on its own so that it needs the least.
    home_pages / __preload_home_pages {
        "/" HomeRoute => pages::teams::Home;
    }
    /// A team, its costs, and the developer's tokens and account.
    team_pages / __preload_team_pages {
        "/teams/:name" TeamRoute => pages::teams::TeamPage;
        "/teams/:name/cost" TeamCostRoute => pages::cost::TeamCost;
        "/tokens" TokensRoute => pages::tokens::Tokens;
        "/account" AccountRoute => pages::account::Account;
    }
    /// Requests: the list, the wizard and one request.
    request_pages / __preload_request_pages {
        "/requests" RequestsRoute => pages::requests::Requests;
        "/requests/new" NewRequestRoute => pages::requests::NewRequest;
        "/requests/:id" RequestRoute => pages::requests::RequestPage;
    }
    /// Namespaces: the list and one namespace.
    namespace_pages / __preload_namespace_pages {
        "/namespaces" NamespacesRoute => pages::namespaces::Namespaces;
        "/namespaces/:cluster/:name" NamespaceRoute => pages::namespaces::NamespacePage;
    }
    /// The fleet, its clusters and the drills run on them.
    fleet_pages / __preload_fleet_pages {
        "/fleet" FleetRoute => pages::fleet::Fleet;
        "/clusters/:name" ClusterRoute => pages::fleet::ClusterPage;
        "/drills" DrillsRoute => pages::drills::FleetDrills;
        "/drills/:id" DrillRoute => pages::drills::DrillPage;
    }
    /// Capacity: right-sizing and planning.
    capacity_pages / __preload_capacity_pages {
        "/capacity" CapacityRoute => pages::capacity::Capacity;
        "/capacity/:cluster/:name" NamespaceCapacityRoute => pages::capacity::NamespaceCapacity;
    }
    /// The platform's settings, change windows and the audit trail.
    admin_pages / __preload_admin_pages {
        "/admin/users" UsersRoute => pages::users::Users;
        "/admin/tenancy" TenancyRoute => pages::settings::TenancySettings;
        "/admin/git" GitRoute => pages::gitops::GitRepositories;
        "/freezes" FreezesRoute => pages::gitops::Freezes;
        "/audit" AuditRoute => pages::audit::Audit;
    }
}
