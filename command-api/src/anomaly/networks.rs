//! A list of IP networks in CIDR form (`10.0.0.0/8`, `2001:db8::/32`, or a bare address),
//! parsed and matched by `ipnet`.

use std::net::IpAddr;

use ipnet::IpNet;

/// One entry: a network, or a bare address (a network of one).
fn parse_network(text: &str) -> Result<IpNet, String> {
    let bad = || format!("`{text}` is not an IP address or CIDR network");
    if text.contains('/') {
        // `trunc`: a base with host bits set (10.1.2.3/16) means its network.
        text.parse::<IpNet>()
            .map(|net| net.trunc())
            .map_err(|_| bad())
    } else {
        text.parse::<IpAddr>().map(IpNet::from).map_err(|_| bad())
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a dual-stack socket reports) is the
/// IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[derive(Debug, Clone, Default)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// A comma-separated list; empty entries are skipped.
    pub fn parse(text: &str) -> Result<Networks, String> {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_network)
            .collect::<Result<_, _>>()
            .map(Networks)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|network| network.contains(&ip))
    }

    /// Like [`Networks::contains`] for an address in text; text that is no address is in none.
    pub fn contains_text(&self, ip: &str) -> bool {
        !self.0.is_empty() && ip.parse().is_ok_and(|ip| self.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_by_prefix_in_both_families() {
        let nets = Networks::parse(" 10.1.0.0/16, 203.0.113.7 ,2001:db8::/32,").unwrap();
        assert!(nets.contains_text("10.1.200.3"));
        assert!(!nets.contains_text("10.2.0.1"));
        assert!(nets.contains_text("203.0.113.7"));
        assert!(!nets.contains_text("203.0.113.8"));
        assert!(nets.contains_text("2001:db8::1"));
        assert!(!nets.contains_text("2001:db9::1"));
        assert!(nets.contains_text("::ffff:10.1.0.9"), "IPv4-mapped IPv6");
        assert!(!nets.contains_text("not an ip"));
        assert!(
            Networks::parse("0.0.0.0/0")
                .unwrap()
                .contains_text("8.8.8.8")
        );
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in ["10.0.0.0/33", "10.0.0/8", "::/129", "x"] {
            assert!(Networks::parse(bad).is_err(), "{bad}");
        }
    }
}
