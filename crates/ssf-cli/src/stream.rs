//! `ssf stream ...`: a client for any SSF transmitter's stream management API
//! ([SSF 1.0 §8.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1)),
//! through `ssf-receiver`'s discovery and [`StreamClient`]. Every operation prints JSON.

use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Value, json};
use ssf_receiver::stream_client::{CreateOutcome, StatusOutcome, StreamClient, UpdateOutcome};
use ssf_types::{
    EventTypeUri, ParseMode, StreamConfiguration, StreamId, StreamStatus, SubjectId,
    stream::{AuthorizationHeader, Delivery, PollDelivery, PushDelivery},
};

use crate::{
    caep,
    cli::{Connection, StatusArg, StreamCommand, StreamProps},
    input::{CmdResult, Context, Failure, usage},
    remote::{clock, http_client, runtime, token_source},
};

/// The scopes stream management needs.
const MANAGE_SCOPE: &str = "ssf.manage ssf.read";

/// Runs `ssf stream ...`.
pub(crate) fn run(cmd: StreamCommand) -> CmdResult {
    runtime()?.block_on(stream(cmd))
}

/// Discovers the transmitter of `conn` and makes a client for it with `scope`.
pub(crate) async fn connect(conn: &Connection, scope: &str) -> Result<StreamClient, Failure> {
    let http = http_client(&conn.issuer)?;
    let tokens = token_source(&http, &conn.auth, &conn.issuer, scope).await?;
    Ok(StreamClient::connect(http, &conn.issuer, tokens, conn.legacy, clock()).await?)
}

async fn stream(cmd: StreamCommand) -> CmdResult {
    let client = connect(cmd.connection(), MANAGE_SCOPE).await?;
    let out = match cmd {
        StreamCommand::Create(args) => {
            let config = props(&args.props, None)?;
            if config.delivery.is_none() {
                return Err(usage("give --push URL or --poll"));
            }
            match client.create(&config).await? {
                CreateOutcome::Created(config) => to_json(&*config)?,
                _ => {
                    return Err(Failure::Refused(anyhow::anyhow!(
                        "create stream failed: HTTP 409 Conflict: the transmitter keeps one \
                         stream per receiver and yours exists; `ssf stream list` shows it"
                    )));
                }
            }
        }
        StreamCommand::Get(args) => to_json(&client.get(&id(&args.stream_id)).await?)?,
        StreamCommand::List(_) => to_json(&client.list().await?)?,
        StreamCommand::Update(args) => {
            let patch = props(&args.props, Some(&args.stream_id))?;
            if patch.events_requested.is_none()
                && patch.delivery.is_none()
                && patch.description.is_none()
            {
                return Err(usage(
                    "nothing to update: give --event, --push/--poll or --description",
                ));
            }
            updated(client.update(&patch).await?, &args.stream_id)?
        }
        StreamCommand::Replace(args) => {
            let config = props(&args.props, Some(&args.stream_id))?;
            updated(client.replace(&config).await?, &args.stream_id)?
        }
        StreamCommand::Delete(args) => {
            client.delete(&id(&args.stream_id)).await?;
            json!({ "stream_id": args.stream_id, "deleted": true })
        }
        StreamCommand::Status(args) => to_json(&client.status(&id(&args.stream_id)).await?)?,
        StreamCommand::SetStatus(args) => {
            let status = match args.status {
                StatusArg::Enabled => StreamStatus::Enabled,
                StatusArg::Paused => StreamStatus::Paused,
                StatusArg::Disabled => StreamStatus::Disabled,
            };
            match client
                .set_status(&id(&args.stream_id), status.clone(), args.reason.clone())
                .await?
            {
                StatusOutcome::Updated(answer) => to_json(&answer)?,
                _ => {
                    eprintln!("202 Accepted: the transmitter has not decided yet");
                    json!({ "stream_id": args.stream_id, "status": status.as_str(), "accepted": true })
                }
            }
        }
        StreamCommand::Verify(args) => {
            client
                .verify(&id(&args.stream_id), args.state.clone())
                .await?;
            eprintln!("verification requested: the event arrives on the stream (see `ssf tail`)");
            json!({ "stream_id": args.stream_id, "verification_requested": true, "state": args.state })
        }
        StreamCommand::AddSubject(args) => {
            let subject = subject(&args.subject)?;
            client
                .add_subject(&id(&args.stream_id), subject.clone(), args.verified)
                .await?;
            json!({ "stream_id": args.stream_id, "added": subject.to_json() })
        }
        StreamCommand::RemoveSubject(args) => {
            if args.verified.is_some() {
                return Err(usage("--verified only applies to add-subject"));
            }
            let subject = subject(&args.subject)?;
            client
                .remove_subject(&id(&args.stream_id), subject.clone())
                .await?;
            json!({ "stream_id": args.stream_id, "removed": subject.to_json() })
        }
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&out).or_runtime("printing")?
    );
    Ok(ExitCode::SUCCESS)
}

fn id(value: &str) -> StreamId {
    StreamId::new(value)
}

fn to_json(value: &impl Serialize) -> Result<Value, Failure> {
    serde_json::to_value(value).or_runtime("printing")
}

fn updated(outcome: UpdateOutcome, stream_id: &str) -> Result<Value, Failure> {
    match outcome {
        UpdateOutcome::Updated(config) => to_json(&*config),
        _ => {
            eprintln!(
                "202 Accepted: the transmitter applies the change later; read it with `ssf stream get`"
            );
            Ok(json!({ "stream_id": stream_id, "accepted": true }))
        }
    }
}

/// A subject from `FORMAT:VALUE` or JSON, checked like a transmitter checks it.
fn subject(spec: &str) -> Result<SubjectId, Failure> {
    let value = caep::subject(spec)?;
    SubjectId::from_json(&value, ParseMode::Strict).or_usage(format!("--subject {spec}"))
}

/// The receiver-supplied properties of the flags, for `stream_id` when given.
fn props(props: &StreamProps, stream_id: Option<&str>) -> Result<StreamConfiguration, Failure> {
    let mut config = StreamConfiguration::new();
    config.stream_id = stream_id.map(id);
    if !props.events.is_empty() {
        let events = props
            .events
            .iter()
            .map(|e| caep::event_uri(e).map(EventTypeUri::new))
            .collect::<Result<Vec<_>, _>>()?;
        config.events_requested = Some(events);
    }
    config.delivery = match (&props.push, props.poll) {
        (Some(url), _) => {
            let mut push = PushDelivery::new(url.clone());
            if let Some(header) = &props.push_auth {
                push = push.with_authorization(AuthorizationHeader::new(header.clone()));
            }
            Some(Delivery::Push(push))
        }
        (None, true) => Some(Delivery::Poll(PollDelivery::new(None))),
        (None, false) => None,
    };
    config.description.clone_from(&props.description);
    Ok(config)
}
