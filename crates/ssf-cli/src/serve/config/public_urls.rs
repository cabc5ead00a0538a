//! No plain-http URL that the server advertises about itself outside development mode
//! (decision D-TX-19): `transmitter.issuer` (the `iss` of every SET and the discovery base),
//! `transmitter.base_url` (the advertised endpoints) and `receiver.public_base_url` (the push
//! URLs given to transmitters) must be `https://` unless their host is loopback (`localhost`,
//! `127.0.0.0/8`, `::1`). Receivers would otherwise fetch keys and send tokens over plain http,
//! which anyone on the path can read or change
//! ([SSF 1.0 §10](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-10)).

use std::net::IpAddr;

use super::{Origin, ServeConfig};
use crate::input::{Failure, usage};

/// Refuses the first plain-http, non-loopback self-advertised URL of `config` (after the
/// defaults were filled in), naming the setting, the value and the fix.
pub(super) fn check(config: &ServeConfig, origin: &Origin<'_>) -> Result<(), Failure> {
    let mut urls: Vec<(&str, &str)> = Vec::new();
    if let Some(tx) = &config.transmitter {
        urls.push(("transmitter.issuer", tx.config.issuer.as_str()));
        if let Some(base) = &tx.config.base_url {
            urls.push(("transmitter.base_url", base.as_str()));
        }
    }
    if let Some(rx) = &config.receiver
        && let Some(base) = &rx.config.public_base_url
    {
        urls.push(("receiver.public_base_url", base.as_str()));
    }
    for (key, value) in urls {
        if is_plain_http_off_loopback(value) {
            return Err(usage(format!(
                "invalid setting `{key}` in {}: {value:?} is plain http on a host that is not \
                 loopback, so receivers and transmitters would trust keys and tokens anyone on \
                 the path can read or change (D-TX-19); use https://... (e.g. \
                 server.tls, or a TLS proxy in front), or run with --dev for local testing",
                origin.of(key)
            )));
        }
    }
    Ok(())
}

/// Whether `value` is an `http://` URL whose host is not loopback. Values that do not parse
/// are left to the other checks.
fn is_plain_http_off_loopback(value: &str) -> bool {
    let Ok(url) = ssf_http::Url::parse(value) else {
        return false;
    };
    if url.scheme() != "http" {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => !ip.is_loopback(),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_str;
    use super::*;

    #[test]
    fn loopback_http_passes_and_other_hosts_need_https_d_tx_19() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.5.0.1",
            "http://localhost:1/x",
            "http://LOCALHOST.",
            "http://[::1]:9",
            "https://idp.example.com",
            "not a url",
        ] {
            assert!(!is_plain_http_off_loopback(ok), "{ok}");
        }
        for bad in [
            "http://idp.example.com",
            "http://10.0.0.1:8080",
            "http://0.0.0.0:80",
            "http://[2001:db8::1]",
            "http://localhost.example.com",
        ] {
            assert!(is_plain_http_off_loopback(bad), "{bad}");
        }
    }

    #[test]
    fn finalize_refuses_plain_http_self_urls_outside_dev_d_tx_19() {
        let mut config =
            load_str("[transmitter]\nissuer = \"http://idp.example.com\"\n", &[]).unwrap();
        let err = config
            .finalize("http://127.0.0.1:1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("transmitter.issuer")
                && err.contains("http://idp.example.com")
                && err.contains("https://")
                && err.contains("--dev"),
            "{err}"
        );
        let mut rx = load_str(
            "[receiver]\npublic_base_url = \"http://rx.example.com\"\n",
            &[],
        )
        .unwrap();
        let err = rx.finalize("http://127.0.0.1:1").unwrap_err().to_string();
        assert!(err.contains("receiver.public_base_url"), "{err}");
        // The default issuer follows a non-loopback listen address.
        let mut listen = load_str("[transmitter]\n", &[]).unwrap();
        let err = listen
            .finalize("http://192.0.2.7:8080")
            .unwrap_err()
            .to_string();
        assert!(err.contains("transmitter.issuer"), "{err}");
        // Development mode allows it.
        let mut dev =
            load_str("[transmitter]\nissuer = \"http://idp.example.com\"\n", &[]).unwrap();
        dev.dev = true;
        dev.finalize("http://127.0.0.1:1").unwrap();
    }
}
