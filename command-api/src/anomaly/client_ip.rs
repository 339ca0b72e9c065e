//! Which address a request comes from. The peer address, unless the peer is a configured
//! trusted proxy: then the nearest address of `X-Forwarded-For` that is not itself a
//! trusted proxy (walking from the right, since only what the proxies appended is
//! trustworthy; anything further left was written by the client).

use std::net::IpAddr;

use super::networks::Networks;

/// Most `X-Forwarded-For` entries looked at: a longer chain is not walked any further.
const FORWARDED_HOPS_MAX: usize = 16;

/// The client's address, as text (empty when the peer is unknown).
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: Option<&str>, proxies: &Networks) -> String {
    let Some(peer) = peer else {
        return String::new();
    };
    if proxies.is_empty() || !proxies.contains(peer) {
        return peer.to_string();
    }
    let mut client = peer;
    for hop in forwarded_for
        .unwrap_or("")
        .rsplit(',')
        .take(FORWARDED_HOPS_MAX)
        .map(str::trim)
    {
        let Ok(hop) = hop.parse::<IpAddr>() else {
            break; // garbage: keep the last address a trusted proxy vouched for
        };
        client = hop;
        if !proxies.contains(hop) {
            break;
        }
    }
    client.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let none = Networks::default();
        let proxies = Networks::parse("10.0.0.0/8").unwrap();
        let xff = Some("198.51.100.9");
        assert_eq!(client_ip(ip("10.0.0.1"), xff, &none), "10.0.0.1");
        assert_eq!(client_ip(ip("192.0.2.1"), xff, &proxies), "192.0.2.1");
        assert_eq!(client_ip(ip("10.0.0.1"), xff, &proxies), "198.51.100.9");
        assert_eq!(client_ip(ip("10.0.0.1"), None, &proxies), "10.0.0.1");
        assert_eq!(client_ip(None, xff, &proxies), "");
    }

    #[test]
    fn a_spoofed_left_entry_is_not_believed() {
        let proxies = Networks::parse("10.0.0.0/8").unwrap();
        let xff = Some("1.1.1.1, 198.51.100.9, 10.0.0.2");
        assert_eq!(client_ip(ip("10.0.0.1"), xff, &proxies), "198.51.100.9");
        let garbage = Some("198.51.100.9, nonsense");
        assert_eq!(client_ip(ip("10.0.0.1"), garbage, &proxies), "10.0.0.1");
    }
}
