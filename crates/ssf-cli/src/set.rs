//! `ssf set ...`: sign, decode and verify SETs.

use std::{process::ExitCode, sync::Arc, time::Duration};

use serde_json::{Map, Value, json};
use ssf_jose::{
    Algorithm, Jwks, JwksSnapshot, KeyStore, SetSigner, SetVerifier, VerifyOptions,
    decode_unverified, sign_with,
};
use ssf_types::{Clock, SystemClock};

use crate::{
    caep::{self, EventFields},
    cli::{DecodeArgs, SetCommand, SignArgs, VerifyArgs},
    input::{
        CmdResult, Context, EXIT_REJECTED, Failure, keys_dir, read_file_or_stdin, read_token,
        usage, with_causes,
    },
    keys::{load_key_file, open_store},
};

/// Largest JWKS document accepted from a URL.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

pub(crate) fn run(cmd: SetCommand) -> CmdResult {
    match cmd {
        SetCommand::Sign(args) => sign(args),
        SetCommand::Decode(args) => decode(args),
        SetCommand::Verify(args) => verify(args),
    }
}

fn sign(args: SignArgs) -> CmdResult {
    let clock = SystemClock;
    let now = clock.now();
    let mut claims = match (&args.claims, &args.event, &args.subject) {
        (Some(file), _, _) => {
            let text = read_file_or_stdin(file)?;
            match serde_json::from_str::<Value>(&text).or_usage(format!("parsing {file}"))? {
                Value::Object(map) => map,
                _ => return Err(usage(format!("{file} must hold a JSON object"))),
            }
        }
        (None, Some(event), Some(subject)) => {
            let fields = EventFields {
                reason_admin: args.reason_admin.clone(),
                reason_user: args.reason_user.clone(),
                initiating_entity: args.initiating_entity,
                event_timestamp: args.event_timestamp.unwrap_or(now.as_secs()),
                fields: args.fields.clone(),
            };
            let (uri, body) = caep::event(event, &fields)?;
            let mut map = Map::new();
            map.insert("sub_id".into(), caep::subject(subject)?);
            map.insert("events".into(), json!({ uri: body }));
            map
        }
        _ => return Err(usage("give --claims FILE, or --event and --subject")),
    };
    if args.claims.is_some()
        && (args.reason_admin.is_some() || args.reason_user.is_some() || !args.fields.is_empty())
    {
        return Err(usage(
            "event flags (--reason-*, --field) only apply with --event",
        ));
    }
    claims.insert("iss".into(), json!(args.iss));
    claims.insert(
        "aud".into(),
        if args.aud.len() == 1 {
            json!(args.aud[0])
        } else {
            json!(args.aud)
        },
    );
    claims.entry("iat").or_insert_with(|| json!(now.as_secs()));
    claims
        .entry("jti")
        .or_insert_with(|| json!(fresh_jti(now.0)));
    if let Some(txn) = &args.txn {
        claims.insert("txn".into(), json!(txn));
    }
    for forbidden in ["sub", "exp"] {
        if claims.contains_key(forbidden) {
            eprintln!(
                "warning: the claims have `{forbidden}`, which SSF forbids; receivers will reject this SET"
            );
        }
    }

    let token = if let Some(path) = &args.key {
        let key = load_key_file(path, args.kid.clone(), args.alg.map(Algorithm::from))?;
        sign_with(&key, &claims).or_runtime("signing")?
    } else {
        let store = open_store(keys_dir(args.dir))?;
        if store.current().is_err() {
            return Err(usage(
                "the key directory has no current key; run `ssf keys generate --dir DIR`",
            ));
        }
        SetSigner::new(Arc::new(store))
            .sign(&claims)
            .or_runtime("signing")?
    };
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

/// A UUIDv7 `jti` from the given time (unique per SET, time-ordered for storage).
fn fresh_jti(now_millis: i64) -> String {
    let millis = u64::try_from(now_millis).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        millis / 1000,
        ((millis % 1000) * 1_000_000) as u32,
    );
    uuid::Uuid::new_v7(ts).simple().to_string()
}

fn decode(args: DecodeArgs) -> CmdResult {
    let token = read_token(&args.token)?;
    let set = decode_unverified(&token).or_usage("decoding the SET")?;
    eprintln!("warning: decoded WITHOUT verifying the signature or any claim; do not trust it");
    let out = json!({"header": set.header, "claims": set.claims});
    println!(
        "{}",
        serde_json::to_string_pretty(&out).or_runtime("printing")?
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(args: VerifyArgs) -> CmdResult {
    let token = read_token(&args.token)?;
    let jwks = load_jwks(&args.jwks)?;
    let keys = JwksSnapshot::new(&jwks);
    for skipped in keys.skipped() {
        eprintln!(
            "warning: JWKS key {} skipped: {}",
            skipped.kid.as_deref().unwrap_or("(no kid)"),
            skipped.reason
        );
    }
    let algs: Vec<Algorithm> = if args.alg.is_empty() {
        vec![Algorithm::Rs256]
    } else {
        args.alg.iter().copied().map(Algorithm::from).collect()
    };
    let mut options = args.aud.iter().skip(1).fold(
        VerifyOptions::new(args.iss.as_str(), args.aud[0].as_str()),
        |o, aud| o.audience(aud.as_str()),
    );
    options = options
        .algorithms(algs)
        .allow_sub(args.allow_sub)
        .allow_exp(args.allow_exp)
        .clock_skew(Duration::from_secs(args.clock_skew));
    if let Some(age) = args.max_age {
        options = options.max_age(Duration::from_secs(age));
    }
    let verifier = SetVerifier::new(options, Arc::new(keys), Arc::new(SystemClock));
    match verifier.verify(&token) {
        Ok(set) => {
            eprintln!(
                "verified: alg {} kid {} jti {}",
                set.alg(),
                set.kid(),
                set.jti()
            );
            println!(
                "{}",
                serde_json::to_string_pretty(&set.claims().to_json()).or_runtime("printing")?
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let code = e
                .set_error_code()
                .map_or_else(|| "none".to_owned(), |c| c.to_string());
            eprintln!("rejected: {} (err: {code})", with_causes(&e));
            Ok(ExitCode::from(EXIT_REJECTED))
        }
    }
}

fn load_jwks(source: &str) -> Result<Jwks, Failure> {
    let bytes = if source.starts_with("https://") || source.starts_with("http://") {
        fetch(source)?
    } else {
        std::fs::read(source).or_usage(format!("reading {source}"))?
    };
    Jwks::from_json(&bytes).or_usage(format!("parsing the JWKS from {source}"))
}

fn fetch(url: &str) -> Result<Vec<u8>, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .or_runtime("starting the HTTP client")?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .or_runtime("building the HTTP client")?;
        let mut response = client
            .get(url)
            .send()
            .await
            .or_runtime(format!("fetching {url}"))?;
        if !response.status().is_success() {
            return Err(Failure::Runtime(anyhow::anyhow!(
                "fetching {url}: HTTP {}",
                response.status()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .or_runtime(format!("reading {url}"))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "the JWKS at {url} is larger than 1 MiB"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    })
}
