//! Demo data, so a newcomer can try every feature right after the run command.

use berth_frontend::api::{NewMember, NewTeam, TeamRole};

use crate::{
    auth::{password::NewPassword, random_secret, Ctx},
    people::{self, DisplayName, Email},
    teams, App, Error, Result,
};

pub const ADMIN_EMAIL: &str = "admin@berth.local";
pub const DEVELOPER_EMAIL: &str = "dev@berth.local";

/// Creates what is missing and says what it did; passwords are printed only when created.
pub async fn seed(app: &App) -> Result<Vec<String>> {
    let system = Ctx::system("demo-seed");
    let mut said = Vec::new();
    match ensure_user(app, &system, ADMIN_EMAIL, "Platform admin", true).await? {
        Some(password) => said.push(format!(
            "first admin: {ADMIN_EMAIL}  one-time password: {password}  (shown once; change it under Account)"
        )),
        None => said.push(format!("admin {ADMIN_EMAIL} exists; reset its password with `berth admin reset-password`")),
    }
    if let Some(password) =
        ensure_user(app, &system, DEVELOPER_EMAIL, "Demo developer", false).await?
    {
        said.push(format!(
            "developer: {DEVELOPER_EMAIL}  one-time password: {password}  (shown once)"
        ));
    }

    // Team creation goes through the service layer, acting as the seeded admin.
    let admin = sqlx::query!(
        "SELECT id, email, display_name, created_at FROM users WHERE email = $1",
        ADMIN_EMAIL
    )
    .fetch_one(&app.db)
    .await?;
    let as_admin = Ctx {
        actor: Some(crate::auth::Actor {
            user_id: admin.id,
            email: admin.email,
            display_name: admin.display_name,
            is_admin: true,
            created_at: admin.created_at,
            teams: Vec::new(),
            credential: crate::auth::Credential::Session {
                id_hash: Vec::new(),
                csrf_token: String::new(),
            },
        }),
        meta: Default::default(),
        system: Some("demo-seed"),
    };
    for (name, display, owner) in [
        ("payments", "Payments", Some(DEVELOPER_EMAIL)),
        ("search", "Search", None),
        ("data-platform", "Data platform", None),
    ] {
        let input = NewTeam {
            name: name.into(),
            display_name: display.into(),
            owner_email: owner.map(Into::into),
        };
        match teams::create(app, &as_admin, input).await {
            Ok(_) => said.push(format!("team {name} created")),
            Err(Error::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let added = teams::add_member(
        app,
        &as_admin,
        "search",
        NewMember {
            email: DEVELOPER_EMAIL.into(),
            role: TeamRole::Member,
        },
    )
    .await;
    match added {
        Ok(_) | Err(Error::Conflict { .. }) => {}
        Err(e) => return Err(e),
    }

    // The simulated demo fleet, when no cluster is configured.
    let budgets = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM team_budgets")
        .fetch_one(&app.db)
        .await?;
    if budgets == 0 {
        let input = berth_frontend::api::BudgetInput {
            cluster: None,
            cpu: "64".into(),
            memory: "256Gi".into(),
            storage: "4Ti".into(),
        };
        crate::tenancy::settings::set_budget(app, &as_admin, "payments", input).await?;
        said.push("budget for payments: 64 CPU, 256Gi memory, 4Ti storage fleet-wide".into());
    }

    let clusters = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM clusters")
        .fetch_one(&app.db)
        .await?;
    if clusters == 0 {
        let fleet = berth_fleet_sim::FleetSpec::demo();
        for spec in &fleet.clusters {
            crate::fleet::register_simulated(app, &as_admin, spec).await?;
        }
        crate::fleet::pair_simulated(app, &fleet).await?;
        said.push(format!(
            "simulated demo fleet registered: {} clusters (they run inside `berth serve`)",
            fleet.clusters.len()
        ));
    }
    Ok(said)
}

/// Creates the user unless one with this email exists; answers the new password.
async fn ensure_user(
    app: &App,
    ctx: &Ctx,
    email: &str,
    name: &str,
    is_admin: bool,
) -> Result<Option<String>> {
    let email = Email::parse("email", email)?;
    let name = DisplayName::parse("name", name)?;
    let exists = sqlx::query_scalar!("SELECT id FROM users WHERE email = $1", email.as_str())
        .fetch_optional(&app.db)
        .await?
        .is_some();
    if exists {
        return Ok(None);
    }
    let password = NewPassword::parse("password", &random_secret())?;
    people::insert(app, ctx, &email, &name, is_admin, &password).await?;
    Ok(Some(password.as_str().to_owned()))
}
