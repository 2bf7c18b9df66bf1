use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::Me,
    components::{field_error, form_error, when, Authed, ErrorMessage},
    server::{list_tokens, CreateToken, RevokeToken},
};

#[component]
pub fn Tokens() -> impl IntoView {
    view! { <Title text="API tokens"/><Authed view=|me: Me| view! { <TokenList me/> }/> }
}

#[component]
fn TokenList(me: Me) -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );
    let value = create.value();
    let csrf = me.csrf_token.clone().unwrap_or_default();
    let is_admin = me.user.is_admin;
    let list_csrf = csrf.clone();
    view! {
        <h1>"API tokens"</h1>
        <p class="muted">"Tokens act as you, narrowed to their scopes, over the REST API: "
            <code>"Authorization: Bearer <token>"</code>". See the "<a href="/api/docs">"API reference"</a>"."</p>
        <section class="card">
            <h2>"Create a token"</h2>
            {form_error(value)}
            {move || value.get().and_then(|r| r.ok()).map(|created| view! {
                <div class="secret" role="status">
                    <p>"Copy this token now — it is shown only once:"</p>
                    <code id="new-token-secret">{created.secret}</code>
                </div>
            })}
            <ActionForm action=create>
                <input type="hidden" name="csrf" value=csrf.clone()/>
                <label for="token-name">"Name"</label>
                <input id="token-name" name="name" required placeholder="ci-pipeline"/>
                {field_error(value, "name")}
                <fieldset>
                    <legend>"Scopes"</legend>
                    <label class="check"><input type="checkbox" name="scope_read" checked/>" read"</label>
                    <label class="check"><input type="checkbox" name="scope_request"/>" request"</label>
                    {is_admin.then(|| view! {
                        <label class="check"><input type="checkbox" name="scope_approve"/>" approve"</label>
                    })}
                </fieldset>
                {field_error(value, "scopes")}
                <label for="token-days">"Expires in (days, 1–365)"</label>
                <input id="token-days" name="expires_in_days" type="number" min="1" max="365" value="30" required/>
                {field_error(value, "expires_in_days")}
                <button type="submit">"Create token"</button>
            </ActionForm>
        </section>
        <h2>"Your tokens"</h2>
        <Suspense fallback=|| view! { <p class="muted">"Loading tokens…"</p> }>
            {move || {
                let csrf = list_csrf.clone();
                Suspend::new(async move {
                    match tokens.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No tokens yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap" tabindex="0"><table>
                                <thead><tr><th>"Name"</th><th>"Prefix"</th><th>"Scopes"</th><th>"Expires"</th><th>"Last used"</th><th>"State"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|t| {
                                        let scopes = t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                                        let revoked = t.revoked;
                                        let csrf = csrf.clone();
                                        let id = t.id.to_string();
                                        view! {
                                            <tr>
                                                <td>{t.name}</td>
                                                <td><code>{t.prefix}"…"</code></td>
                                                <td>{scopes}</td>
                                                <td>{when(t.expires_at)}</td>
                                                <td>{t.last_used_at.map(when).unwrap_or_else(|| "never".into())}</td>
                                                <td>{if revoked { "revoked" } else { "active" }}</td>
                                                <td>
                                                    {(!revoked).then(|| view! {
                                                        <ActionForm action=revoke attr:class="inline">
                                                            <input type="hidden" name="csrf" value=csrf.clone()/>
                                                            <input type="hidden" name="id" value=id.clone()/>
                                                            <button type="submit" class="danger">"Revoke"</button>
                                                        </ActionForm>
                                                    })}
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                        }.into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}
