//! The DNS resolver that keeps the SSRF guard honest after resolution.
//!
//! Checking a host name's addresses before the request and then letting the HTTP stack resolve it
//! again would leave a window for DNS rebinding (first answer public, second private). Here the
//! addresses the connector will dial are the very ones that were checked. svix does the same in
//! its webhook client ("a DNS resolver that produces an error for names that resolve to private
//! IPs").

use std::{io, net::SocketAddr, sync::Arc};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{BlockedAddress, ClientConfig};

/// Resolves with the system resolver, then drops every refused address.
#[derive(Debug)]
pub(super) struct GuardedResolver {
    config: Arc<ClientConfig>,
}

impl GuardedResolver {
    pub(super) fn new(config: Arc<ClientConfig>) -> Self {
        Self { config }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let config = Arc::clone(&self.config);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port on each address.
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if resolved.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{host} resolved to no address"),
                )
                .into());
            }
            let kept = filter_addrs(&host, resolved, &config)?;
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// Keeps the addresses `config` allows. A mixed answer loses its refused members (logged); an
/// answer with nothing left is a [`BlockedAddress`] error naming each refused address.
pub(super) fn filter_addrs(
    host: &str,
    resolved: Vec<SocketAddr>,
    config: &ClientConfig,
) -> Result<Vec<SocketAddr>, BlockedAddress> {
    let mut kept = Vec::with_capacity(resolved.len());
    let mut refused = Vec::new();
    for addr in resolved {
        match config.check_ip(addr.ip()) {
            Ok(()) => kept.push(addr),
            Err(range) => {
                if !refused.iter().any(|&(ip, _)| ip == addr.ip()) {
                    refused.push((addr.ip(), range));
                }
            }
        }
    }
    if kept.is_empty() {
        return Err(BlockedAddress {
            host: host.to_owned(),
            refused,
        });
    }
    if !refused.is_empty() {
        tracing::warn!(
            host,
            refused = ?refused,
            "dropped refused addresses from a DNS answer (SSRF guard)"
        );
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BlockedRange;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|ip| SocketAddr::new(ip.parse().unwrap(), 0))
            .collect()
    }

    // DNS rebinding: a public address next to a private one only gets the public one dialled.
    #[test]
    fn push_20_mixed_answer_keeps_only_allowed_addresses() {
        let kept = filter_addrs(
            "rebind.example",
            addrs(&[
                "10.0.0.1",
                "93.184.215.14",
                "169.254.169.254",
                "::ffff:127.0.0.1",
            ]),
            &ClientConfig::default(),
        )
        .unwrap();
        assert_eq!(kept, addrs(&["93.184.215.14"]));
    }

    #[test]
    fn push_20_all_refused_is_an_error_naming_each() {
        let err = filter_addrs(
            "rebind.example",
            addrs(&["10.0.0.1", "10.0.0.1", "fd00::1"]),
            &ClientConfig::default(),
        )
        .unwrap_err();
        assert_eq!(err.host, "rebind.example");
        assert_eq!(
            err.refused,
            vec![
                ("10.0.0.1".parse().unwrap(), BlockedRange::Private),
                ("fd00::1".parse().unwrap(), BlockedRange::UniqueLocal),
            ]
        );
    }

    #[test]
    fn allow_list_applies_after_resolution() {
        let kept = filter_addrs(
            "localhost",
            addrs(&["127.0.0.1", "::1"]),
            &ClientConfig::dev_loopback(),
        )
        .unwrap();
        assert_eq!(kept.len(), 2);
    }
}
