//! The web pages: Leptos rendering, server functions and the built site's static files.
//! The server functions reach the service layer through [`PortalService`], the backend's
//! implementation of the frontend's `Portal` trait; it only authenticates and translates.
//!
//! Long because the trait is: one short method per server function, each one call into the
//! service layer. Keeping the impl in one block is what Rust requires of a trait impl.

use std::sync::Arc;

use axum::{
    http::{header, request::Parts, HeaderValue},
    Router,
};
use berth_frontend::{
    api::*,
    app::{shell, App as WebApp},
    portal::{self, Portal},
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{services::ServeDir, set_header::SetResponseHeaderLayer};
use uuid::Uuid;

use crate::{
    audit,
    auth::{self, sessions, Ctx, Intent},
    fleet, gitops, people, teams, tenancy, tokens, App, Error,
};

pub fn pages(app: &App) -> Router<App> {
    let routes = generate_route_list(WebApp);
    let portal: Arc<dyn Portal> = Arc::new(PortalService { app: app.clone() });
    let context = move || provide_context(portal.clone());
    let options = app.leptos.clone();
    let error_options = options.clone();
    Router::new()
        .leptos_routes_with_context(app, routes, context.clone(), move || shell(options.clone()))
        // The site build writes a brotli and a gzip copy of each file; browsers get the
        // smallest they accept (the wasm is a fifth of its size in brotli).
        .nest_service(
            "/pkg",
            tower::ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    header::VARY,
                    HeaderValue::from_static("accept-encoding"),
                ))
                .service(
                    ServeDir::new(app.config.site_root.join("pkg"))
                        .precompressed_br()
                        .precompressed_gzip(),
                ),
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<App, _>(
            context,
            move |_| shell(error_options.clone()),
        ))
}

struct PortalService {
    app: App,
}

/// Answers a failed server function as REST would: the same status and body, and server
/// errors logged.
fn detail(error: Error) -> ErrorDetail {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(error = ?error, "server function failed");
    }
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
    error.detail()
}

impl PortalService {
    async fn reader(&self, req: &Parts) -> portal::Result<Ctx> {
        auth::authenticate(&self.app, req, Intent::Read)
            .await
            .map_err(detail)
    }

    async fn writer(&self, req: &Parts, csrf: &str) -> portal::Result<Ctx> {
        auth::authenticate(&self.app, req, Intent::Write { csrf: Some(csrf) })
            .await
            .map_err(detail)
    }
}

#[async_trait::async_trait]
impl Portal for PortalService {
    async fn me(&self, req: &Parts) -> portal::Result<Option<Me>> {
        // An expired cookie just means "not logged in" to a page.
        let ctx = match auth::authenticate(&self.app, req, Intent::Read).await {
            Ok(ctx) => ctx,
            Err(Error::Unauthenticated(_)) => return Ok(None),
            Err(e) => return Err(detail(e)),
        };
        if ctx.actor.is_none() {
            return Ok(None);
        }
        people::me(&self.app, &ctx).await.map(Some).map_err(detail)
    }

    async fn login(&self, req: &Parts, input: LoginInput) -> portal::Result<String> {
        let meta = auth::RequestMeta::from_parts(req);
        sessions::login(&self.app, meta, input)
            .await
            .map(|logged_in| logged_in.set_cookie)
            .map_err(detail)
    }

    async fn logout(&self, req: &Parts, csrf: &str) -> portal::Result<String> {
        let ctx = self.writer(req, csrf).await?;
        sessions::logout(&self.app, &ctx).await.map_err(detail)
    }

    async fn change_password(
        &self,
        req: &Parts,
        csrf: &str,
        input: PasswordChange,
    ) -> portal::Result<()> {
        let ctx = self.writer(req, csrf).await?;
        sessions::change_password(&self.app, &ctx, input)
            .await
            .map_err(detail)
    }

    async fn teams(&self, req: &Parts) -> portal::Result<Vec<Team>> {
        let ctx = self.reader(req).await?;
        teams::list(&self.app, &ctx).await.map_err(detail)
    }

    async fn team(&self, req: &Parts, name: &str) -> portal::Result<TeamDetail> {
        let ctx = self.reader(req).await?;
        teams::get(&self.app, &ctx, name).await.map_err(detail)
    }

    async fn create_team(&self, req: &Parts, csrf: &str, input: NewTeam) -> portal::Result<Team> {
        let ctx = self.writer(req, csrf).await?;
        teams::create(&self.app, &ctx, input).await.map_err(detail)
    }

    async fn add_member(
        &self,
        req: &Parts,
        csrf: &str,
        team: &str,
        input: NewMember,
    ) -> portal::Result<TeamDetail> {
        let ctx = self.writer(req, csrf).await?;
        teams::add_member(&self.app, &ctx, team, input)
            .await
            .map_err(detail)
    }

    async fn change_role(
        &self,
        req: &Parts,
        csrf: &str,
        team: &str,
        user: Uuid,
        role: TeamRole,
    ) -> portal::Result<TeamDetail> {
        let ctx = self.writer(req, csrf).await?;
        teams::change_role(&self.app, &ctx, team, user, role)
            .await
            .map_err(detail)
    }

    async fn remove_member(
        &self,
        req: &Parts,
        csrf: &str,
        team: &str,
        user: Uuid,
    ) -> portal::Result<TeamDetail> {
        let ctx = self.writer(req, csrf).await?;
        teams::remove_member(&self.app, &ctx, team, user)
            .await
            .map_err(detail)
    }

    async fn users(&self, req: &Parts) -> portal::Result<Vec<User>> {
        let ctx = self.reader(req).await?;
        people::list(&self.app, &ctx).await.map_err(detail)
    }

    async fn create_user(
        &self,
        req: &Parts,
        csrf: &str,
        input: NewUser,
    ) -> portal::Result<CreatedUser> {
        let ctx = self.writer(req, csrf).await?;
        people::create(&self.app, &ctx, input).await.map_err(detail)
    }

    async fn set_user_disabled(
        &self,
        req: &Parts,
        csrf: &str,
        user: Uuid,
        disabled: bool,
    ) -> portal::Result<User> {
        let ctx = self.writer(req, csrf).await?;
        people::set_disabled(&self.app, &ctx, user, disabled)
            .await
            .map_err(detail)
    }

    async fn tokens(&self, req: &Parts) -> portal::Result<Vec<Token>> {
        let ctx = self.reader(req).await?;
        tokens::list(&self.app, &ctx).await.map_err(detail)
    }

    async fn create_token(
        &self,
        req: &Parts,
        csrf: &str,
        input: NewToken,
    ) -> portal::Result<CreatedToken> {
        let ctx = self.writer(req, csrf).await?;
        tokens::create(&self.app, &ctx, input).await.map_err(detail)
    }

    async fn sign_in_options(&self) -> portal::Result<SignInOptions> {
        Ok(crate::auth::sso::options(&self.app))
    }

    async fn group_rules(&self, req: &Parts) -> portal::Result<Vec<GroupRule>> {
        let ctx = self.reader(req).await?;
        crate::group_rules::list(&self.app, &ctx)
            .await
            .map_err(detail)
    }

    async fn create_group_rule(
        &self,
        req: &Parts,
        csrf: &str,
        input: NewGroupRule,
    ) -> portal::Result<GroupRule> {
        let ctx = self.writer(req, csrf).await?;
        crate::group_rules::create(&self.app, &ctx, input)
            .await
            .map_err(detail)
    }

    async fn delete_group_rule(&self, req: &Parts, csrf: &str, id: Uuid) -> portal::Result<()> {
        let ctx = self.writer(req, csrf).await?;
        crate::group_rules::delete(&self.app, &ctx, id)
            .await
            .map_err(detail)
    }

    async fn revoke_token(&self, req: &Parts, csrf: &str, id: Uuid) -> portal::Result<Token> {
        let ctx = self.writer(req, csrf).await?;
        tokens::revoke(&self.app, &ctx, id).await.map_err(detail)
    }

    async fn audit(&self, req: &Parts, query: AuditQuery) -> portal::Result<Page<AuditEvent>> {
        let ctx = self.reader(req).await?;
        audit::list(&self.app, &ctx, &query).await.map_err(detail)
    }

    async fn clusters(&self, req: &Parts) -> portal::Result<Vec<Cluster>> {
        let ctx = self.reader(req).await?;
        fleet::list(&self.app, &ctx).await.map_err(detail)
    }

    async fn cluster(&self, req: &Parts, name: &str) -> portal::Result<ClusterDetail> {
        let ctx = self.reader(req).await?;
        fleet::get(&self.app, &ctx, name).await.map_err(detail)
    }

    async fn register_cluster(
        &self,
        req: &Parts,
        csrf: &str,
        input: NewCluster,
    ) -> portal::Result<Cluster> {
        let ctx = self.writer(req, csrf).await?;
        fleet::create(&self.app, &ctx, input).await.map_err(detail)
    }

    async fn update_cluster(
        &self,
        req: &Parts,
        csrf: &str,
        name: &str,
        input: ClusterUpdate,
    ) -> portal::Result<Cluster> {
        let ctx = self.writer(req, csrf).await?;
        fleet::update(&self.app, &ctx, name, input)
            .await
            .map_err(detail)
    }

    async fn remove_cluster(&self, req: &Parts, csrf: &str, name: &str) -> portal::Result<()> {
        let ctx = self.writer(req, csrf).await?;
        fleet::remove(&self.app, &ctx, name).await.map_err(detail)
    }

    async fn sync_cluster(
        &self,
        req: &Parts,
        csrf: &str,
        name: &str,
    ) -> portal::Result<SyncOutcome> {
        let ctx = self.writer(req, csrf).await?;
        fleet::sync_now(&self.app, &ctx, name).await.map_err(detail)
    }

    async fn sync_fleet(&self, req: &Parts, csrf: &str) -> portal::Result<Vec<SyncOutcome>> {
        let ctx = self.writer(req, csrf).await?;
        fleet::sync_all(&self.app, &ctx).await.map_err(detail)
    }

    async fn set_faults(
        &self,
        req: &Parts,
        csrf: &str,
        name: &str,
        faults: SimulatorFaults,
    ) -> portal::Result<SimulatorFaults> {
        let ctx = self.writer(req, csrf).await?;
        fleet::set_faults(&self.app, &ctx, name, faults)
            .await
            .map_err(detail)
    }

    async fn requests(
        &self,
        req: &Parts,
        query: RequestQuery,
    ) -> portal::Result<Page<NamespaceRequest>> {
        let ctx = self.reader(req).await?;
        tenancy::requests::list(&self.app, &ctx, query)
            .await
            .map_err(detail)
    }

    async fn request(&self, req: &Parts, id: Uuid) -> portal::Result<RequestDetail> {
        let ctx = self.reader(req).await?;
        tenancy::requests::get(&self.app, &ctx, id)
            .await
            .map_err(detail)
    }

    async fn preview_request(
        &self,
        req: &Parts,
        input: NewNamespaceRequest,
    ) -> portal::Result<RequestPreview> {
        let ctx = self.reader(req).await?;
        tenancy::requests::preview(&self.app, &ctx, input)
            .await
            .map_err(detail)
    }

    async fn create_request(
        &self,
        req: &Parts,
        csrf: &str,
        input: NewNamespaceRequest,
    ) -> portal::Result<RequestDetail> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::requests::create(&self.app, &ctx, input)
            .await
            .map_err(detail)
    }

    async fn decide(
        &self,
        req: &Parts,
        csrf: &str,
        id: Uuid,
        decision: DecisionKind,
        reason: Option<String>,
    ) -> portal::Result<RequestDetail> {
        let ctx = self.writer(req, csrf).await?;
        let decision_input = Decision { reason };
        match decision {
            DecisionKind::Approve => {
                tenancy::requests::approve(&self.app, &ctx, id, decision_input).await
            }
            DecisionKind::Reject => {
                tenancy::requests::reject(&self.app, &ctx, id, decision_input).await
            }
            DecisionKind::Cancel => tenancy::requests::cancel(&self.app, &ctx, id).await,
            DecisionKind::Release => {
                let reason = decision_input.reason.unwrap_or_default();
                tenancy::freeze::release(
                    &self.app,
                    &ctx,
                    id,
                    berth_frontend::api::FreezeRelease { reason },
                )
                .await
            }
        }
        .map_err(detail)
    }

    async fn amend(
        &self,
        req: &Parts,
        csrf: &str,
        id: Uuid,
        input: Amendment,
    ) -> portal::Result<RequestDetail> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::requests::amend(&self.app, &ctx, id, input)
            .await
            .map_err(detail)
    }

    async fn namespaces(
        &self,
        req: &Parts,
        query: NamespaceQuery,
    ) -> portal::Result<Page<Namespace>> {
        let ctx = self.reader(req).await?;
        tenancy::namespaces::list(&self.app, &ctx, query)
            .await
            .map_err(detail)
    }

    async fn namespace(
        &self,
        req: &Parts,
        cluster: &str,
        name: &str,
    ) -> portal::Result<NamespaceDetail> {
        let ctx = self.reader(req).await?;
        tenancy::namespaces::get(&self.app, &ctx, cluster, name)
            .await
            .map_err(detail)
    }

    async fn quota_change(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
        input: QuotaChange,
    ) -> portal::Result<RequestDetail> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::requests::quota_change(&self.app, &ctx, cluster, name, input)
            .await
            .map_err(detail)
    }

    async fn decommission(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
        input: Decommission,
    ) -> portal::Result<RequestDetail> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::requests::decommission(&self.app, &ctx, cluster, name, input)
            .await
            .map_err(detail)
    }

    async fn reapply(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
    ) -> portal::Result<NamespaceDetail> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::namespaces::reapply(&self.app, &ctx, cluster, name)
            .await
            .map_err(detail)
    }

    async fn check_namespaces(&self, req: &Parts, csrf: &str, cluster: &str) -> portal::Result<()> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::namespaces::check_now(&self.app, &ctx, cluster)
            .await
            .map_err(detail)
    }

    async fn ledger(&self, req: &Parts) -> portal::Result<Vec<LedgerRow>> {
        let ctx = self.reader(req).await?;
        tenancy::namespaces::ledger(&self.app, &ctx)
            .await
            .map_err(detail)
    }

    async fn out_of_band(&self, req: &Parts) -> portal::Result<Vec<OutOfBand>> {
        let ctx = self.reader(req).await?;
        tenancy::namespaces::out_of_band(&self.app, &ctx)
            .await
            .map_err(detail)
    }

    async fn guardrails(&self, req: &Parts) -> portal::Result<Vec<Guardrails>> {
        let ctx = self.reader(req).await?;
        tenancy::guardrails::list(&self.app, &ctx)
            .await
            .map_err(detail)
    }

    async fn update_guardrails(
        &self,
        req: &Parts,
        csrf: &str,
        environment: &str,
        input: GuardrailsInput,
    ) -> portal::Result<Guardrails> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::guardrails::update(&self.app, &ctx, environment, input)
            .await
            .map_err(detail)
    }

    async fn layer_guardrails(&self, req: &Parts) -> portal::Result<Vec<LayerGuardrails>> {
        let ctx = self.reader(req).await?;
        tenancy::guardrails::list_layers(&self.app, &ctx)
            .await
            .map_err(detail)
    }

    async fn update_layer_guardrails(
        &self,
        req: &Parts,
        csrf: &str,
        layer: &str,
        input: LayerGuardrailsInput,
    ) -> portal::Result<LayerGuardrails> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::guardrails::update_layer(&self.app, &ctx, layer, input)
            .await
            .map_err(detail)
    }

    async fn presets(&self, req: &Parts) -> portal::Result<Vec<Preset>> {
        let ctx = self.reader(req).await?;
        tenancy::settings::presets(&self.app, &ctx)
            .await
            .map_err(detail)
    }

    async fn update_preset(
        &self,
        req: &Parts,
        csrf: &str,
        input: Preset,
    ) -> portal::Result<Preset> {
        let ctx = self.writer(req, csrf).await?;
        let name = input.name.clone();
        tenancy::settings::update_preset(&self.app, &ctx, &name, input)
            .await
            .map_err(detail)
    }

    async fn budgets(&self, req: &Parts, team: &str) -> portal::Result<Vec<Budget>> {
        let ctx = self.reader(req).await?;
        tenancy::settings::budgets(&self.app, &ctx, team)
            .await
            .map_err(detail)
    }

    async fn all_budgets(&self, req: &Parts) -> portal::Result<Vec<Budget>> {
        let ctx = self.reader(req).await?;
        tenancy::settings::all_budgets(&self.app, &ctx)
            .await
            .map_err(detail)
    }

    async fn set_budget(
        &self,
        req: &Parts,
        csrf: &str,
        team: &str,
        input: BudgetInput,
    ) -> portal::Result<Vec<Budget>> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::settings::set_budget(&self.app, &ctx, team, input)
            .await
            .map_err(detail)
    }

    async fn policies(&self, req: &Parts) -> portal::Result<Vec<Policy>> {
        let ctx = self.reader(req).await?;
        tenancy::settings::policies(&self.app, &ctx)
            .await
            .map_err(detail)
    }

    async fn save_policy(
        &self,
        req: &Parts,
        csrf: &str,
        id: Option<Uuid>,
        input: PolicyInput,
    ) -> portal::Result<Policy> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::settings::save_policy(&self.app, &ctx, id, input)
            .await
            .map_err(detail)
    }

    async fn remove_policy(&self, req: &Parts, csrf: &str, id: Uuid) -> portal::Result<()> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::settings::remove_policy(&self.app, &ctx, id)
            .await
            .map_err(detail)
    }

    async fn webhooks(&self, req: &Parts) -> portal::Result<Vec<Webhook>> {
        let ctx = self.reader(req).await?;
        tenancy::settings::webhooks(&self.app, &ctx)
            .await
            .map_err(detail)
    }

    async fn create_webhook(
        &self,
        req: &Parts,
        csrf: &str,
        input: NewWebhook,
    ) -> portal::Result<Webhook> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::settings::create_webhook(&self.app, &ctx, input)
            .await
            .map_err(detail)
    }

    async fn remove_webhook(&self, req: &Parts, csrf: &str, id: Uuid) -> portal::Result<()> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::settings::remove_webhook(&self.app, &ctx, id)
            .await
            .map_err(detail)
    }

    async fn drills(&self, req: &Parts, cluster: &str, name: &str) -> portal::Result<Vec<Drill>> {
        let ctx = self.reader(req).await?;
        crate::drills::history(&self.app, &ctx, cluster, name)
            .await
            .map_err(detail)
    }

    async fn drill(&self, req: &Parts, id: Uuid) -> portal::Result<Drill> {
        let ctx = self.reader(req).await?;
        crate::drills::get(&self.app, &ctx, id)
            .await
            .map_err(detail)
    }

    async fn start_drill(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
        input: NewDrill,
    ) -> portal::Result<Drill> {
        let ctx = self.writer(req, csrf).await?;
        crate::drills::start(&self.app, &ctx, cluster, name, input)
            .await
            .map_err(detail)
    }

    async fn cancel_drill(&self, req: &Parts, csrf: &str, id: Uuid) -> portal::Result<Drill> {
        let ctx = self.writer(req, csrf).await?;
        crate::drills::cancel(&self.app, &ctx, id)
            .await
            .map_err(detail)
    }

    async fn drill_schedule(
        &self,
        req: &Parts,
        cluster: &str,
        name: &str,
    ) -> portal::Result<Option<DrillSchedule>> {
        let ctx = self.reader(req).await?;
        crate::drills::schedule(&self.app, &ctx, cluster, name)
            .await
            .map_err(detail)
    }

    async fn set_drill_schedule(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
        input: DrillScheduleInput,
    ) -> portal::Result<DrillSchedule> {
        let ctx = self.writer(req, csrf).await?;
        crate::drills::set_schedule(&self.app, &ctx, cluster, name, input)
            .await
            .map_err(detail)
    }

    async fn remove_drill_schedule(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
    ) -> portal::Result<()> {
        let ctx = self.writer(req, csrf).await?;
        crate::drills::remove_schedule(&self.app, &ctx, cluster, name)
            .await
            .map_err(detail)
    }

    async fn fleet_drills(&self, req: &Parts) -> portal::Result<Vec<Drill>> {
        let ctx = self.reader(req).await?;
        crate::drills::fleet_history(&self.app, &ctx)
            .await
            .map_err(detail)
    }

    async fn recommendations(
        &self,
        req: &Parts,
        cluster: &str,
        name: &str,
        query: RecommendationQuery,
    ) -> portal::Result<NamespaceRecommendations> {
        let ctx = self.reader(req).await?;
        crate::capacity::recommendations(&self.app, &ctx, cluster, name, query)
            .await
            .map_err(detail)
    }

    async fn team_sizing(&self, req: &Parts, team: &str) -> portal::Result<TeamSizing> {
        let ctx = self.reader(req).await?;
        crate::capacity::team_sizing(&self.app, &ctx, team, RecommendationQuery::default())
            .await
            .map_err(detail)
    }

    async fn cost_report(&self, req: &Parts, team: &str) -> portal::Result<CostReport> {
        let ctx = self.reader(req).await?;
        crate::cost::report(&self.app, &ctx, team, RecommendationQuery::default())
            .await
            .map_err(detail)
    }

    async fn prices(&self, req: &Parts) -> portal::Result<Vec<Price>> {
        let ctx = self.reader(req).await?;
        crate::cost::prices(&self.app, &ctx).await.map_err(detail)
    }

    async fn set_price(&self, req: &Parts, csrf: &str, input: PriceInput) -> portal::Result<Price> {
        let ctx = self.writer(req, csrf).await?;
        crate::cost::set_price(&self.app, &ctx, input)
            .await
            .map_err(detail)
    }

    async fn instance_prices(&self, req: &Parts) -> portal::Result<Vec<InstancePrice>> {
        let ctx = self.reader(req).await?;
        crate::cost::instance_prices(&self.app, &ctx)
            .await
            .map_err(detail)
    }

    async fn set_instance_price(
        &self,
        req: &Parts,
        csrf: &str,
        input: InstancePriceInput,
    ) -> portal::Result<InstancePrice> {
        let ctx = self.writer(req, csrf).await?;
        crate::cost::set_instance_price(&self.app, &ctx, input)
            .await
            .map_err(detail)
    }

    async fn quota_suggestion(
        &self,
        req: &Parts,
        cluster: &str,
        name: &str,
    ) -> portal::Result<QuotaSuggestion> {
        let ctx = self.reader(req).await?;
        crate::capacity::quota_suggestion(&self.app, &ctx, cluster, name)
            .await
            .map_err(detail)
    }

    async fn right_size(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
        input: RightSizeInput,
    ) -> portal::Result<RequestDetail> {
        let ctx = self.writer(req, csrf).await?;
        crate::capacity::request_right_size(&self.app, &ctx, cluster, name, input)
            .await
            .map_err(detail)
    }

    async fn plan(&self, req: &Parts, input: PlanInput) -> portal::Result<PlanOutput> {
        let ctx = self.reader(req).await?;
        crate::capacity::plan(&ctx, &input).map_err(detail)
    }

    async fn headroom(
        &self,
        req: &Parts,
        cluster: &str,
        shape: ShapeQuery,
    ) -> portal::Result<ClusterHeadroom> {
        let ctx = self.reader(req).await?;
        crate::capacity::headroom(&self.app, &ctx, cluster, shape)
            .await
            .map_err(detail)
    }

    async fn git_repositories(&self, req: &Parts) -> portal::Result<Vec<GitRepository>> {
        let ctx = self.reader(req).await?;
        gitops::repositories::list(&self.app, &ctx)
            .await
            .map_err(detail)
    }

    async fn register_git_repository(
        &self,
        req: &Parts,
        csrf: &str,
        input: NewGitRepository,
    ) -> portal::Result<GitRepository> {
        let ctx = self.writer(req, csrf).await?;
        gitops::repositories::create(&self.app, &ctx, input)
            .await
            .map_err(detail)
    }

    async fn remove_git_repository(
        &self,
        req: &Parts,
        csrf: &str,
        name: &str,
    ) -> portal::Result<()> {
        let ctx = self.writer(req, csrf).await?;
        gitops::repositories::remove(&self.app, &ctx, name)
            .await
            .map_err(detail)
    }

    async fn check_git_repository(
        &self,
        req: &Parts,
        csrf: &str,
        name: &str,
    ) -> portal::Result<GitCheck> {
        let ctx = self.writer(req, csrf).await?;
        gitops::repositories::check(&self.app, &ctx, name)
            .await
            .map_err(detail)
    }

    async fn set_delivery(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        input: DeliveryInput,
    ) -> portal::Result<Cluster> {
        let ctx = self.writer(req, csrf).await?;
        gitops::repositories::set_delivery(&self.app, &ctx, cluster, input)
            .await
            .map_err(detail)
    }

    async fn freezes(&self, req: &Parts) -> portal::Result<Vec<FreezeWindow>> {
        let ctx = self.reader(req).await?;
        tenancy::freeze::list(&self.app, &ctx).await.map_err(detail)
    }

    async fn freeze_calendar(
        &self,
        req: &Parts,
        query: FreezeCalendarQuery,
    ) -> portal::Result<FreezeCalendar> {
        let ctx = self.reader(req).await?;
        tenancy::freeze::calendar(&self.app, &ctx, query)
            .await
            .map_err(detail)
    }

    async fn create_freeze(
        &self,
        req: &Parts,
        csrf: &str,
        input: NewFreezeWindow,
    ) -> portal::Result<FreezeWindow> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::freeze::create(&self.app, &ctx, input)
            .await
            .map_err(detail)
    }

    async fn remove_freeze(&self, req: &Parts, csrf: &str, id: Uuid) -> portal::Result<()> {
        let ctx = self.writer(req, csrf).await?;
        tenancy::freeze::remove(&self.app, &ctx, id)
            .await
            .map_err(detail)
    }
}
