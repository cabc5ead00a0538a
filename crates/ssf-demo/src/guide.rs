//! `ssf demo --serve`: the scenario's timeline as commands to paste, one per step.

use std::fmt::Write as _;

use serde_json::Value;
use ssf_transmitter::metadata::paths;

use crate::{
    DemoError, World,
    scenario::{C2148, C9999, KB, RUNBOOK, authzen_request, revoke_event},
    world::{self, RISK_CLIENT},
};

/// What to try by hand against a running world: the URLs, then for every step of the
/// timeline `ssf demo` prints, the command that performs or checks it, each followed by the
/// answer to expect (`# 403 grant_required`: the status, then a word of the body).
///
/// The commands need `curl` (and `jq` for the risk engine's token). The last line is
/// `# Stop everything with Ctrl-C.`
pub fn serve_guide(world: &World) -> Result<String, DemoError> {
    let sid = format!("sess-{}", uuid::Uuid::new_v4().simple());
    let token = world.sign_in_jane(&sid)?;
    let issued_at = world.clock().now().as_secs();
    let console = &world.console.base_url;
    let tx = &world.transmitter_url;
    let helpdesk = world.webhook_url();
    let incidents = world.webhook_url_of(world::INCIDENTS);
    let hook = |url: &str, body: &Value| {
        format!(
            "curl -i {url} -H 'Authorization: Bearer {secret}' -H 'content-type: application/json' \\\n  -d '{body}'",
            secret = world.webhook_secret
        )
    };
    let jane = |method: &str, path: &str| {
        let put = if method == "PUT" {
            " -X PUT -H 'content-type: application/json' -d '{\"notes\": [\"called back\"]}'"
        } else {
            ""
        };
        format!("curl -i{put} -H \"Authorization: Bearer $TOKEN\" {console}{path}")
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Everything runs on loopback until Ctrl-C. Each step of `ssf demo`'s timeline, by hand \
         (after each command, the status and reason to expect):\n\n\
         transmitter (IdP)  {tx}   metadata: {tx}/.well-known/ssf-configuration\n\
         ticket bridge      {bridge}   webhooks: {helpdesk}, {incidents}\n\
         support console    {console}   AuthZEN: {console}/.well-known/authzen-configuration",
        bridge = world.bridge_url,
    );
    if let Some(operator) = &world.operator_console {
        let _ = writeln!(
            out,
            "operator console   {}   admin token: {}",
            operator.url, operator.token
        );
    }
    let mut step = |title: &str, commands: &[(String, &str)]| {
        let _ = writeln!(out, "\n# {title}");
        for (command, expect) in commands {
            if expect.is_empty() {
                let _ = writeln!(out, "{command}");
            } else {
                let _ = writeln!(out, "{command}   # {expect}");
            }
        }
    };
    step(
        &format!("1. Jane signs in: her access token (session {sid}, 1 h)"),
        &[
            (format!("export TOKEN={token}"), ""),
            (jane("GET", "/me"), "200 jane@example.com"),
        ],
    );
    step(
        "2. Jane reads customer C2148 (no case yet)",
        &[(jane("GET", C2148), "403 grant_required")],
    );
    step(
        "3. Jane reads kb:article-42 (her role)",
        &[(jane("GET", KB), "200 allowed_by_role")],
    );
    step(
        "4. A case about C2148 is assigned to Jane (the helpdesk's webhook; each event_id counts once, for 1 h)",
        &[
            (
                hook(
                    &helpdesk,
                    &world.ticket_event("SUP-2148", "assigned", "C2148"),
                ),
                "200 applied",
            ),
            (jane("GET", C2148), "200 allowed_by_grant"),
        ],
    );
    step(
        "5. Jane updates customer C2148",
        &[(jane("PUT", C2148), "200 allowed_by_grant")],
    );
    step(
        "6. Jane reads customer C9999 (not her case)",
        &[(jane("GET", C9999), "403 grant_required")],
    );
    step(
        "7. Jane reads kb:article-42",
        &[(jane("GET", KB), "200 allowed_by_role")],
    );
    step(
        "8. The case is closed: C2148 is denied again",
        &[
            (
                hook(
                    &helpdesk,
                    &world.ticket_event("SUP-2148", "closed", "C2148"),
                ),
                "200 applied",
            ),
            (jane("GET", C2148), "403 grant_required"),
        ],
    );
    step(
        "9. Jane updates customer C2148 after the close",
        &[(jane("PUT", C2148), "403 grant_required")],
    );
    step(
        "10. Jane reads kb:article-42",
        &[(jane("GET", KB), "200 allowed_by_role")],
    );
    step(
        "11. Jane reads runbook:db-failover (no incident)",
        &[(jane("GET", RUNBOOK), "403 no_permission")],
    );
    step(
        "12. A major incident is assigned to Jane: she joins the dynamic group incident-responders",
        &[
            (
                hook(&incidents, &world.incident_event("INC-0042", "assigned")),
                "200 applied",
            ),
            (jane("GET", RUNBOOK), "200 allowed_by_group"),
        ],
    );
    step(
        "13. The incident is resolved: she leaves the group",
        &[
            (
                hook(&incidents, &world.incident_event("INC-0042", "resolved")),
                "200 applied",
            ),
            (jane("GET", RUNBOOK), "403 no_permission"),
        ],
    );
    step(
        "14. The risk engine revokes Jane's session (a CAEP session-revoked through POST /events)",
        &[
            (
                format!(
                    "RISK_TOKEN=$(curl -s -u {RISK_CLIENT}:{secret} -d grant_type=client_credentials {tx}{token_path} | jq -r .access_token)",
                    secret = world.risk_secret,
                    token_path = paths::TOKEN,
                ),
                "",
            ),
            (
                format!(
                    "curl -i {events} -H \"Authorization: Bearer $RISK_TOKEN\" -H 'content-type: application/json' \\\n  -d '{body}'",
                    events = world.events_url(),
                    body = revoke_event(&sid, world.clock().now().as_secs()),
                ),
                "202 jti",
            ),
            (jane("GET", KB), "401 session_revoked"),
        ],
    );
    step(
        "15. The console's AuthZEN PDP on Jane's session and kb:article-42",
        &[(
            format!(
                "curl -i {console}{path} -H 'content-type: application/json' \\\n  -d '{body}'",
                path = ssf_enforce::authzen::EVALUATION_PATH,
                body = authzen_request(world, &sid, issued_at),
            ),
            "200 session_revoked",
        )],
    );
    out.push_str("\n# Stop everything with Ctrl-C.");
    Ok(out)
}
