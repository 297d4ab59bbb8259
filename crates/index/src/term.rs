//! What a query asks the index for ([`Term`]), and the dictionary's key ([`Key`]): a kind and a
//! value up to 128 bits, ordered by kind then value, so each kind is one contiguous run of the
//! sorted dictionary and an address prefix (`net`) is one contiguous range of it.

use std::net::IpAddr;

/// One thing to look up. Directionless: `Host` and `Port` match source or destination (a
/// tcpdump `src host` is narrowed by `Host`, then confirmed by libpcap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Term {
    /// Records of this mirror session VNI (the record's metadata word).
    Vni(u32),
    /// Records that came without a tunnel (metadata session id 255).
    Untagged,
    /// An EtherType of the inner frame: the one at offset 12 and each one after a VLAN tag
    /// (so `0x8100` finds tagged frames, `0x0800` IPv4 behind tags too; ARP is `0x0806`).
    EtherType(u16),
    /// A VLAN ID of one of the inner frame's first two tags.
    Vlan(u16),
    /// An IP protocol / IPv6 next header (the first one, and the upper layer's after
    /// extension headers: 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, 132 SCTP, 44 fragment, ...).
    Proto(u8),
    /// An IPv4 or IPv6 address, source or destination (ARP sender and target included, as
    /// tcpdump's `host` does).
    Host(IpAddr),
    /// Every address within `addr/prefix` (bits past the prefix are ignored; a prefix past
    /// the address length is taken as the whole address).
    Net(IpAddr, u8),
    /// A TCP, UDP or SCTP port, source or destination (first fragments only, as libpcap).
    Port(u16),
    /// Every port from the first to the second, inclusive (tcpdump's `portrange`; empty when
    /// the first is larger).
    PortRange(u16, u16),
}

/// The dictionary's kinds, in dictionary order; the numbers are the format's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    Vni = 1,
    Untagged = 2,
    EtherType = 3,
    Vlan = 4,
    Proto = 5,
    Ipv4 = 6,
    Ipv6 = 7,
    Port = 8,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Vni,
        Kind::Untagged,
        Kind::EtherType,
        Kind::Vlan,
        Kind::Proto,
        Kind::Ipv4,
        Kind::Ipv6,
        Kind::Port,
    ];

    pub fn from_u8(b: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u8 == b)
    }

    /// Largest value a key of this kind may have.
    pub fn max_value(self) -> u128 {
        match self {
            Kind::Vni => 0x00ff_ffff,
            Kind::Untagged => 0,
            Kind::EtherType | Kind::Port => 0xffff,
            Kind::Vlan => 0x0fff,
            Kind::Proto => 0xff,
            Kind::Ipv4 => u128::from(u32::MAX),
            Kind::Ipv6 => u128::MAX,
        }
    }
}

/// One dictionary key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub kind: Kind,
    pub val: u128,
}

impl Key {
    pub fn new(kind: Kind, val: u128) -> Key {
        Key { kind, val }
    }

    pub fn addr(a: IpAddr) -> Key {
        match a {
            IpAddr::V4(a) => Key::new(Kind::Ipv4, u128::from(u32::from(a))),
            IpAddr::V6(a) => Key::new(Kind::Ipv6, u128::from(a)),
        }
    }

    /// The term this key answers.
    pub fn term(self) -> Term {
        match self.kind {
            Kind::Vni => Term::Vni(self.val as u32),
            Kind::Untagged => Term::Untagged,
            Kind::EtherType => Term::EtherType(self.val as u16),
            Kind::Vlan => Term::Vlan(self.val as u16),
            Kind::Proto => Term::Proto(self.val as u8),
            Kind::Ipv4 => Term::Host(IpAddr::V4((self.val as u32).into())),
            Kind::Ipv6 => Term::Host(IpAddr::V6(self.val.into())),
            Kind::Port => Term::Port(self.val as u16),
        }
    }
}

impl Term {
    /// The inclusive range of keys this term matches (one key but for `Net`). A value outside
    /// its kind's range (a VNI past 24 bits, a VLAN ID past 12) matches no key.
    pub(crate) fn key_range(self) -> (Key, Key) {
        let one = |k: Key| (k, k);
        match self {
            Term::Vni(v) => one(Key::new(Kind::Vni, v.into())),
            Term::Untagged => one(Key::new(Kind::Untagged, 0)),
            Term::EtherType(t) => one(Key::new(Kind::EtherType, t.into())),
            Term::Vlan(v) => one(Key::new(Kind::Vlan, v.into())),
            Term::Proto(p) => one(Key::new(Kind::Proto, p.into())),
            Term::Host(a) => one(Key::addr(a)),
            Term::Port(p) => one(Key::new(Kind::Port, p.into())),
            Term::PortRange(lo, hi) => (
                Key::new(Kind::Port, lo.into()),
                Key::new(Kind::Port, hi.into()),
            ),
            Term::Net(a, prefix) => {
                let k = Key::addr(a);
                let bits: u32 = if k.kind == Kind::Ipv4 { 32 } else { 128 };
                let host_bits = bits - u32::from(prefix).min(bits);
                let mask = if host_bits == 0 {
                    0
                } else {
                    u128::MAX >> (128 - host_bits)
                };
                (
                    Key::new(k.kind, k.val & !mask),
                    Key::new(k.kind, k.val | mask),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_keys_name_their_terms() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_u8(k as u8), Some(k));
        }
        assert_eq!(Kind::from_u8(0), None);
        assert_eq!(Kind::from_u8(9), None);
        for t in [
            Term::Vni(7),
            Term::Untagged,
            Term::EtherType(0x0806),
            Term::Vlan(100),
            Term::Proto(6),
            Term::Host("10.1.2.3".parse().unwrap()),
            Term::Host("fd00::1".parse().unwrap()),
            Term::Port(443),
        ] {
            let (lo, hi) = t.key_range();
            assert_eq!(lo, hi);
            assert_eq!(lo.term(), t);
        }
    }

    #[test]
    fn nets_are_ranges() {
        let r = Term::Net("10.1.2.3".parse().unwrap(), 16).key_range();
        assert_eq!(r.0.term(), Term::Host("10.1.0.0".parse().unwrap()));
        assert_eq!(r.1.term(), Term::Host("10.1.255.255".parse().unwrap()));
        let r = Term::Net("10.1.2.3".parse().unwrap(), 0).key_range();
        assert_eq!((r.0.val, r.1.val), (0, u32::MAX.into()));
        let r = Term::Net("10.1.2.3".parse().unwrap(), 40).key_range();
        assert_eq!(r.0, r.1);
        let r = Term::Net("fd00:1::5".parse().unwrap(), 32).key_range();
        assert_eq!(r.0.term(), Term::Host("fd00:1::".parse().unwrap()));
        assert_eq!(
            r.1.term(),
            Term::Host("fd00:1:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap())
        );
        let r = Term::Net("fd00::".parse().unwrap(), 0).key_range();
        assert_eq!((r.0.val, r.1.val), (0, u128::MAX));
    }
}
