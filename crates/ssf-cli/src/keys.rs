//! `ssf keys ...`: generate, publish, list and rotate signing keys.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use ssf_jose::{Algorithm, FileKeyStore, Jwks, KeyPair, KeyState, KeyStore, SigningKey};
use ssf_types::secret::ExposeSecret;
use ssf_types::{KeyId, SystemClock};

use crate::{
    cli::{GenerateArgs, JwksArgs, KeysCommand, RotateArgs, RotateStep},
    input::{CmdResult, Context, Failure, keys_dir, usage, write_private_file},
};

pub(crate) fn run(cmd: KeysCommand) -> CmdResult {
    match cmd {
        KeysCommand::Generate(args) => generate(args),
        KeysCommand::Jwks(args) => jwks(args),
        KeysCommand::List(args) => list(keys_dir(args.dir)),
        KeysCommand::Rotate(args) => rotate(args),
    }
}

/// Opens a key directory with the real clock.
pub(crate) fn open_store(dir: PathBuf) -> Result<FileKeyStore, Failure> {
    let shown = dir.display().to_string();
    FileKeyStore::open(dir, Arc::new(SystemClock))
        .or_runtime(format!("opening key directory {shown}"))
}

/// A PEM private key file, with an optional kid and algorithm.
pub(crate) fn load_key_file(
    path: &PathBuf,
    kid: Option<String>,
    alg: Option<Algorithm>,
) -> Result<KeyPair, Failure> {
    let pem = std::fs::read_to_string(path).or_usage(format!("reading {}", path.display()))?;
    KeyPair::from_pem(&pem, alg, kid.map(KeyId::new))
        .or_usage(format!("loading {}", path.display()))
}

fn generate(args: GenerateArgs) -> CmdResult {
    let alg = Algorithm::from(args.alg);
    let kid = args.kid.clone().map(KeyId::new);
    if let Some(out) = args.out {
        let key = KeyPair::generate(alg, kid).or_runtime("generating the key")?;
        let pem = key.to_pkcs8_pem().or_runtime("encoding the key")?;
        write_private_file(&out, pem.expose_secret(), args.force)?;
        println!("{}", key.kid());
        if args.kid.is_some() {
            eprintln!(
                "note: a key file does not record its kid; pass --kid {} to `ssf set sign --key` \
                 and `ssf keys jwks --key`",
                key.kid()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let dir = keys_dir(args.dir);
    let store = open_store(dir.clone())?;
    let had_current = store.current().is_ok();
    let info = store.stage(alg, kid).or_runtime("adding the key")?;
    if had_current {
        eprintln!(
            "staged as the next key (published, not signing yet); run `ssf keys rotate --dir {} \
             promote` once receivers have refetched the JWKS",
            dir.display()
        );
    } else {
        store.promote().or_runtime("making the key current")?;
        eprintln!("current signing key of {}", dir.display());
    }
    println!("{}", info.kid);
    Ok(ExitCode::SUCCESS)
}

fn jwks(args: JwksArgs) -> CmdResult {
    let jwks = if args.key.is_empty() {
        open_store(keys_dir(args.dir))?
            .jwks()
            .or_runtime("reading the key directory")?
    } else {
        if args.key.len() > 1 && (args.kid.is_some() || args.alg.is_some()) {
            return Err(usage("--kid and --alg apply to a single --key file"));
        }
        let mut keys = Vec::new();
        for path in &args.key {
            let key = load_key_file(path, args.kid.clone(), args.alg.map(Algorithm::from))?;
            keys.push(key.public_jwk());
        }
        Jwks { keys }
    };
    println!("{}", jwks.to_json_pretty().or_runtime("writing the JWKS")?);
    Ok(ExitCode::SUCCESS)
}

fn list(dir: PathBuf) -> CmdResult {
    let store = open_store(dir)?;
    let keys = store.keys().or_runtime("reading the key directory")?;
    if keys.is_empty() {
        eprintln!("no keys; create one with `ssf keys generate --dir DIR`");
    }
    for key in keys {
        println!(
            "{:<8}  {:<6}  {}  since {}ms",
            key.state, key.alg, key.kid, key.state_since.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn rotate(args: RotateArgs) -> CmdResult {
    let store = open_store(keys_dir(args.dir))?;
    match args.step {
        RotateStep::Stage { alg, kid } => {
            let info = store
                .stage(alg.into(), kid.map(KeyId::new))
                .or_usage("stage")?;
            eprintln!("staged {} as next: published, not signing yet", info.kid);
            println!("{}", info.kid);
        }
        RotateStep::Promote => {
            let info = store.promote().or_usage("promote")?;
            eprintln!(
                "{} now signs; the previous key stays published until retired",
                info.kid
            );
            println!("{}", info.kid);
        }
        RotateStep::Retire { kid } => {
            let targets: Vec<KeyId> = match kid {
                Some(kid) => vec![KeyId::new(kid)],
                None => store
                    .keys()
                    .or_runtime("reading the key directory")?
                    .into_iter()
                    .filter(|k| k.state == KeyState::Previous)
                    .map(|k| k.kid)
                    .collect(),
            };
            if targets.is_empty() {
                eprintln!("no previous key to retire");
            }
            for kid in targets {
                store.retire(&kid).or_usage(format!("retire {kid}"))?;
                eprintln!("retired {kid}: removed from the store and the JWKS");
                println!("{kid}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
