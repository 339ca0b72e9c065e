//! The whole role × endpoint matrix, against the real binaries: every route of both APIs'
//! route tables is called by every role that logs in. A role whose scopes allow the route
//! gets past authorization (whatever the handler then says about the made-up ids); every
//! other role gets 403 `FORBIDDEN` naming the missing scope. Nobody is let through by
//! accident, and no route is left out: the tables are what the services enforce.

use ledger_core::access::{Access, Endpoint, LOGIN_ROLES};
use ledger_core::metadata::ActorRole;
use serde_json::{Value, json};
use tests::cluster::Cluster;

const PASSWORD: &str = "Matrix-pass1";

/// A login token for `role`: staff accounts are created by the bootstrap super admin, the
/// operator registers itself.
async fn token_for(cluster: &Cluster, admin: &str, role: ActorRole) -> String {
    if role == ActorRole::SuperAdmin {
        return cluster.admin_token().await;
    }
    let username = format!("m_{}", role.as_str());
    if role == ActorRole::Operator {
        let url = format!("{}/api/v1/auth/operator/register", cluster.command);
        let body = json!({"username": username, "name": "矩阵测试", "phone": "13800138000",
                          "email": "matrix@example.com", "password": PASSWORD});
        cluster.call("POST", &url, None, Some(body)).await.ok();
        return cluster.token("operator", &username, PASSWORD).await;
    }
    let body = json!({"username": username, "name": role.as_str(), "role": role.as_str(),
                      "password": PASSWORD});
    cluster
        .command("POST", "/api/v1/admin/staff", admin, body)
        .await
        .ok();
    cluster.token("staff", &username, PASSWORD).await
}

/// The route with every `{param}` filled with a made-up id (so nothing real is touched).
fn concrete_path(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str(&rest[..open]);
        let name = &rest[open + 1..close];
        if name == "aggregate_type" {
            out.push_str("Operator");
        } else {
            out.push_str(&uuid::Uuid::new_v4().to_string());
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

async fn call(
    cluster: &Cluster,
    base: &str,
    endpoint: &Endpoint,
    token: Option<&str>,
) -> (u16, Value) {
    let url = format!("{base}{}", concrete_path(endpoint.path));
    let body = (endpoint.method != "GET").then(|| json!({}));
    let answer = cluster.call(endpoint.method, &url, token, body).await;
    (answer.status, answer.body)
}

async fn walk(
    cluster: &Cluster,
    base: &str,
    table: &[Endpoint],
    tokens: &[(ActorRole, String)],
) -> Vec<String> {
    let mut failures = Vec::new();
    for endpoint in table {
        if endpoint.access == Access::Public {
            continue;
        }
        // Logging out would end the token the rest of the walk needs: it gets a fresh one.
        let ends_session = endpoint.path == "/api/v1/auth/logout";
        let (status, _) = call(cluster, base, endpoint, None).await;
        if status != 401 {
            failures.push(format!(
                "{} {}: anonymous got {status}, not 401",
                endpoint.method, endpoint.path
            ));
        }
        for (role, token) in tokens {
            let fresh;
            let token = if ends_session {
                fresh = token_again(cluster, *role).await;
                &fresh
            } else {
                token
            };
            let (status, body) = call(cluster, base, endpoint, Some(token)).await;
            let what = format!("{} {} as {}", endpoint.method, endpoint.path, role.as_str());
            if endpoint.access.allows(*role) {
                let refused = status == 401 || body["error_code"] == "FORBIDDEN";
                if refused || status >= 500 {
                    failures.push(format!("{what}: allowed but got {status} {body}"));
                }
            } else {
                let Access::Scope(scope) = endpoint.access else {
                    unreachable!()
                };
                if status != 403
                    || body["error_code"] != "FORBIDDEN"
                    || body["details"]["missing_scope"] != scope.as_str()
                {
                    failures.push(format!("{what}: denied but got {status} {body}"));
                }
            }
        }
    }
    failures
}

async fn token_again(cluster: &Cluster, role: ActorRole) -> String {
    match role {
        ActorRole::SuperAdmin => cluster.admin_token().await,
        ActorRole::Operator => {
            cluster
                .token("operator", &format!("m_{}", role.as_str()), PASSWORD)
                .await
        }
        _ => {
            cluster
                .token("staff", &format!("m_{}", role.as_str()), PASSWORD)
                .await
        }
    }
}

#[tokio::test]
async fn every_role_reaches_exactly_the_endpoints_its_scopes_allow() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let mut tokens = Vec::new();
    for role in LOGIN_ROLES {
        tokens.push((role, token_for(&cluster, &admin, role).await));
    }
    let mut failures = walk(
        &cluster,
        &cluster.command,
        command_api::http::endpoints::ENDPOINTS,
        &tokens,
    )
    .await;
    failures.extend(
        walk(
            &cluster,
            &cluster.query,
            query_api::endpoints::ENDPOINTS,
            &tokens,
        )
        .await,
    );
    assert!(
        failures.is_empty(),
        "{} matrix cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_routed_path_is_in_a_route_table() {
    // A route served but missing from the table would be refused with 500 by the auth layer;
    // a table entry that is not served would answer 404 to everyone. Both show up here.
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    for (base, table) in [
        (&cluster.command, command_api::http::endpoints::ENDPOINTS),
        (&cluster.query, query_api::endpoints::ENDPOINTS),
    ] {
        for endpoint in table.iter().filter(|e| e.access != Access::Public) {
            let (status, body) = call(&cluster, base, endpoint, Some(&admin)).await;
            assert!(
                status != 500,
                "{} {}: {status} {body}",
                endpoint.method,
                endpoint.path
            );
            assert!(
                !body.is_null(),
                "{} {} answered without the JSON envelope ({status}): not routed?",
                endpoint.method,
                endpoint.path
            );
        }
    }
}
