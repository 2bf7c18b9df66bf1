//! The service layer as the server functions see it. Each method receives the request's
//! parts so the backend authenticates exactly as it does for REST; `csrf` is the token the
//! page's form carried.

use http::request::Parts;
use uuid::Uuid;

use crate::api::*;

pub type Result<T> = std::result::Result<T, ErrorDetail>;

#[async_trait::async_trait]
pub trait Portal: Send + Sync + 'static {
    /// The caller, or `None` when nobody is logged in.
    async fn me(&self, req: &Parts) -> Result<Option<Me>>;
    /// Logs in and answers the `Set-Cookie` value.
    async fn login(&self, req: &Parts, input: LoginInput) -> Result<String>;
    /// Logs out and answers the `Set-Cookie` value that clears the cookie.
    async fn logout(&self, req: &Parts, csrf: &str) -> Result<String>;
    async fn change_password(&self, req: &Parts, csrf: &str, input: PasswordChange) -> Result<()>;
    async fn teams(&self, req: &Parts) -> Result<Vec<Team>>;
    async fn team(&self, req: &Parts, name: &str) -> Result<TeamDetail>;
    async fn create_team(&self, req: &Parts, csrf: &str, input: NewTeam) -> Result<Team>;
    async fn add_member(
        &self,
        req: &Parts,
        csrf: &str,
        team: &str,
        input: NewMember,
    ) -> Result<TeamDetail>;
    async fn change_role(
        &self,
        req: &Parts,
        csrf: &str,
        team: &str,
        user: Uuid,
        role: TeamRole,
    ) -> Result<TeamDetail>;
    async fn remove_member(
        &self,
        req: &Parts,
        csrf: &str,
        team: &str,
        user: Uuid,
    ) -> Result<TeamDetail>;
    async fn users(&self, req: &Parts) -> Result<Vec<User>>;
    async fn create_user(&self, req: &Parts, csrf: &str, input: NewUser) -> Result<CreatedUser>;
    async fn set_user_disabled(
        &self,
        req: &Parts,
        csrf: &str,
        user: Uuid,
        disabled: bool,
    ) -> Result<User>;
    async fn sign_in_options(&self) -> Result<SignInOptions>;
    async fn group_rules(&self, req: &Parts) -> Result<Vec<GroupRule>>;
    async fn create_group_rule(
        &self,
        req: &Parts,
        csrf: &str,
        input: NewGroupRule,
    ) -> Result<GroupRule>;
    async fn delete_group_rule(&self, req: &Parts, csrf: &str, id: Uuid) -> Result<()>;
    async fn tokens(&self, req: &Parts) -> Result<Vec<Token>>;
    async fn create_token(&self, req: &Parts, csrf: &str, input: NewToken) -> Result<CreatedToken>;
    async fn revoke_token(&self, req: &Parts, csrf: &str, id: Uuid) -> Result<Token>;
    async fn audit(&self, req: &Parts, query: AuditQuery) -> Result<Page<AuditEvent>>;
    async fn clusters(&self, req: &Parts) -> Result<Vec<Cluster>>;
    async fn cluster(&self, req: &Parts, name: &str) -> Result<ClusterDetail>;
    async fn register_cluster(&self, req: &Parts, csrf: &str, input: NewCluster)
        -> Result<Cluster>;
    async fn update_cluster(
        &self,
        req: &Parts,
        csrf: &str,
        name: &str,
        input: ClusterUpdate,
    ) -> Result<Cluster>;
    async fn remove_cluster(&self, req: &Parts, csrf: &str, name: &str) -> Result<()>;
    async fn sync_cluster(&self, req: &Parts, csrf: &str, name: &str) -> Result<SyncOutcome>;
    async fn sync_fleet(&self, req: &Parts, csrf: &str) -> Result<Vec<SyncOutcome>>;
    async fn set_faults(
        &self,
        req: &Parts,
        csrf: &str,
        name: &str,
        faults: SimulatorFaults,
    ) -> Result<SimulatorFaults>;
    // Tenancy
    async fn requests(&self, req: &Parts, query: RequestQuery) -> Result<Page<NamespaceRequest>>;
    async fn request(&self, req: &Parts, id: Uuid) -> Result<RequestDetail>;
    async fn preview_request(
        &self,
        req: &Parts,
        input: NewNamespaceRequest,
    ) -> Result<RequestPreview>;
    async fn create_request(
        &self,
        req: &Parts,
        csrf: &str,
        input: NewNamespaceRequest,
    ) -> Result<RequestDetail>;
    async fn decide(
        &self,
        req: &Parts,
        csrf: &str,
        id: Uuid,
        decision: DecisionKind,
        reason: Option<String>,
    ) -> Result<RequestDetail>;
    async fn amend(
        &self,
        req: &Parts,
        csrf: &str,
        id: Uuid,
        input: Amendment,
    ) -> Result<RequestDetail>;
    async fn namespaces(&self, req: &Parts, query: NamespaceQuery) -> Result<Page<Namespace>>;
    async fn namespace(&self, req: &Parts, cluster: &str, name: &str) -> Result<NamespaceDetail>;
    async fn quota_change(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
        input: QuotaChange,
    ) -> Result<RequestDetail>;
    async fn decommission(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
        input: Decommission,
    ) -> Result<RequestDetail>;
    async fn reapply(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
    ) -> Result<NamespaceDetail>;
    async fn check_namespaces(&self, req: &Parts, csrf: &str, cluster: &str) -> Result<()>;
    async fn ledger(&self, req: &Parts) -> Result<Vec<LedgerRow>>;
    async fn out_of_band(&self, req: &Parts) -> Result<Vec<OutOfBand>>;
    async fn guardrails(&self, req: &Parts) -> Result<Vec<Guardrails>>;
    async fn update_guardrails(
        &self,
        req: &Parts,
        csrf: &str,
        environment: &str,
        input: GuardrailsInput,
    ) -> Result<Guardrails>;
    async fn layer_guardrails(&self, req: &Parts) -> Result<Vec<LayerGuardrails>>;
    async fn update_layer_guardrails(
        &self,
        req: &Parts,
        csrf: &str,
        layer: &str,
        input: LayerGuardrailsInput,
    ) -> Result<LayerGuardrails>;
    async fn presets(&self, req: &Parts) -> Result<Vec<Preset>>;
    async fn update_preset(&self, req: &Parts, csrf: &str, input: Preset) -> Result<Preset>;
    async fn budgets(&self, req: &Parts, team: &str) -> Result<Vec<Budget>>;
    /// Every team's budgets (admins).
    async fn all_budgets(&self, req: &Parts) -> Result<Vec<Budget>>;
    async fn set_budget(
        &self,
        req: &Parts,
        csrf: &str,
        team: &str,
        input: BudgetInput,
    ) -> Result<Vec<Budget>>;
    async fn policies(&self, req: &Parts) -> Result<Vec<Policy>>;
    async fn save_policy(
        &self,
        req: &Parts,
        csrf: &str,
        id: Option<Uuid>,
        input: PolicyInput,
    ) -> Result<Policy>;
    async fn remove_policy(&self, req: &Parts, csrf: &str, id: Uuid) -> Result<()>;
    async fn webhooks(&self, req: &Parts) -> Result<Vec<Webhook>>;
    async fn create_webhook(&self, req: &Parts, csrf: &str, input: NewWebhook) -> Result<Webhook>;
    async fn remove_webhook(&self, req: &Parts, csrf: &str, id: Uuid) -> Result<()>;
    // Drills
    async fn drills(&self, req: &Parts, cluster: &str, name: &str) -> Result<Vec<Drill>>;
    async fn drill(&self, req: &Parts, id: Uuid) -> Result<Drill>;
    async fn start_drill(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
        input: NewDrill,
    ) -> Result<Drill>;
    async fn cancel_drill(&self, req: &Parts, csrf: &str, id: Uuid) -> Result<Drill>;
    async fn drill_schedule(
        &self,
        req: &Parts,
        cluster: &str,
        name: &str,
    ) -> Result<Option<DrillSchedule>>;
    async fn set_drill_schedule(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
        input: DrillScheduleInput,
    ) -> Result<DrillSchedule>;
    async fn remove_drill_schedule(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
    ) -> Result<()>;
    async fn fleet_drills(&self, req: &Parts) -> Result<Vec<Drill>>;
    // Capacity
    async fn recommendations(
        &self,
        req: &Parts,
        cluster: &str,
        name: &str,
        query: RecommendationQuery,
    ) -> Result<NamespaceRecommendations>;
    async fn team_sizing(&self, req: &Parts, team: &str) -> Result<TeamSizing>;
    async fn cost_report(&self, req: &Parts, team: &str) -> Result<CostReport>;
    async fn prices(&self, req: &Parts) -> Result<Vec<Price>>;
    async fn set_price(&self, req: &Parts, csrf: &str, input: PriceInput) -> Result<Price>;
    async fn instance_prices(&self, req: &Parts) -> Result<Vec<InstancePrice>>;
    async fn set_instance_price(
        &self,
        req: &Parts,
        csrf: &str,
        input: InstancePriceInput,
    ) -> Result<InstancePrice>;
    async fn quota_suggestion(
        &self,
        req: &Parts,
        cluster: &str,
        name: &str,
    ) -> Result<QuotaSuggestion>;
    async fn right_size(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        name: &str,
        input: RightSizeInput,
    ) -> Result<RequestDetail>;
    async fn plan(&self, req: &Parts, input: PlanInput) -> Result<PlanOutput>;
    async fn headroom(
        &self,
        req: &Parts,
        cluster: &str,
        shape: ShapeQuery,
    ) -> Result<ClusterHeadroom>;
    async fn git_repositories(&self, req: &Parts) -> Result<Vec<GitRepository>>;
    async fn register_git_repository(
        &self,
        req: &Parts,
        csrf: &str,
        input: NewGitRepository,
    ) -> Result<GitRepository>;
    async fn remove_git_repository(&self, req: &Parts, csrf: &str, name: &str) -> Result<()>;
    async fn check_git_repository(&self, req: &Parts, csrf: &str, name: &str) -> Result<GitCheck>;
    async fn set_delivery(
        &self,
        req: &Parts,
        csrf: &str,
        cluster: &str,
        input: DeliveryInput,
    ) -> Result<Cluster>;
    async fn freezes(&self, req: &Parts) -> Result<Vec<FreezeWindow>>;
    async fn freeze_calendar(
        &self,
        req: &Parts,
        query: FreezeCalendarQuery,
    ) -> Result<FreezeCalendar>;
    async fn create_freeze(
        &self,
        req: &Parts,
        csrf: &str,
        input: NewFreezeWindow,
    ) -> Result<FreezeWindow>;
    async fn remove_freeze(&self, req: &Parts, csrf: &str, id: Uuid) -> Result<()>;
}
