//! The `cidr` operator: IPv4 and IPv6 address blocks.

use std::net::IpAddr;

/// An address block, stored as a masked network so matching is one AND and one compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CidrBlock {
    V4 { network: u32, mask: u32 },
    V6 { network: u128, mask: u128 },
}

impl CidrBlock {
    /// Parses `10.0.0.0/24` or `2001:db8::/32`. Host bits in the address are ignored, as
    /// routers do, rather than refused.
    pub(crate) fn parse(text: &str) -> Result<CidrBlock, String> {
        let bad =
            || format!("cidr {text:?} is not an address block like 10.0.0.0/24 or 2001:db8::/32");
        let (addr, len) = text.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let len: u32 = len.parse().map_err(|_| bad())?;
        match addr {
            IpAddr::V4(v4) => {
                if len > 32 {
                    return Err(format!("cidr {text:?} has a prefix length above 32"));
                }
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                Ok(CidrBlock::V4 {
                    network: u32::from(v4) & mask,
                    mask,
                })
            }
            IpAddr::V6(v6) => {
                if len > 128 {
                    return Err(format!("cidr {text:?} has a prefix length above 128"));
                }
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                Ok(CidrBlock::V6 {
                    network: u128::from(v6) & mask,
                    mask,
                })
            }
        }
    }

    /// Whether `value` is an address of the same family inside the block; anything that does not
    /// parse as an address simply does not match.
    pub(crate) fn contains(&self, value: &str) -> bool {
        match (self, value.parse::<IpAddr>()) {
            (CidrBlock::V4 { network, mask }, Ok(IpAddr::V4(a))) => u32::from(a) & mask == *network,
            (CidrBlock::V6 { network, mask }, Ok(IpAddr::V6(a))) => {
                u128::from(a) & mask == *network
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(block: &str, addr: &str) -> bool {
        CidrBlock::parse(block)
            .map(|b| b.contains(addr))
            .unwrap_or(false)
    }

    #[test]
    fn ipv4() {
        assert!(contains("10.0.0.0/24", "10.0.0.0"));
        assert!(contains("10.0.0.0/24", "10.0.0.255"));
        assert!(!contains("10.0.0.0/24", "10.0.1.0"));
        assert!(contains("10.0.0.7/24", "10.0.0.9"));
        assert!(contains("0.0.0.0/0", "192.168.1.1"));
        assert!(contains("192.168.1.1/32", "192.168.1.1"));
        assert!(!contains("192.168.1.1/32", "192.168.1.2"));
        assert!(!contains("10.0.0.0/24", "not an ip"));
    }

    #[test]
    fn ipv6() {
        assert!(contains("2001:db8::/32", "2001:db8::1"));
        assert!(contains("2001:db8::/32", "2001:0db8:ffff::1"));
        assert!(!contains("2001:db8::/32", "2001:db9::1"));
        assert!(contains("::/0", "::1"));
        assert!(!contains("::/0", "10.0.0.1"));
        assert!(!contains("0.0.0.0/0", "::1"));
    }

    #[test]
    fn invalid_blocks() {
        assert!(CidrBlock::parse("10.0.0.0").is_err());
        assert!(CidrBlock::parse("10.0.0.0/33").is_err());
        assert!(CidrBlock::parse("::/129").is_err());
        assert!(CidrBlock::parse("10.0.0/8").is_err());
        assert!(CidrBlock::parse("10.0.0.0/-1").is_err());
    }
}
