//! [`Narrow`]: what the index can tell of a tcpdump expression (libpcap syntax), so a query
//! reads only the blocks that may hold a match. libpcap confirms every packet afterwards, so
//! this only has to be *conservative*: for every frame libpcap's filter matches, the blocks
//! `Narrow::blocks` gives must include the frame's block. It may include more.
//!
//! Recognised: `host`, `src/dst host`, `net` (`/len`, `mask`, partial dotted quads), `port`,
//! `src/dst port`, `portrange`, `tcp`/`udp`/`sctp`/`icmp`/`icmp6`, `ip`/`ip6`/`arp`/`rarp`
//! (their EtherTypes), `ip/ip6/ether proto N`, `proto N`, `vlan N`, `and`/`or`/`not`, `&&`,
//! `||`, `!` and parentheses. Everything else narrows nothing ([`Narrow::All`]): a negation
//! (the index is exact per block but a block holding `X` may also hold a frame without it),
//! names libpcap resolves (`port http`, `host gw`), MAC addresses, byte offsets and lengths
//! (`tcp[13] & 2 != 0`, `len > 100`), qualifier-less ids (`host a or b`).
//!
//! libpcap's offset-shifting keywords need care: after `vlan` (and `mpls`, `pppoes`, `geneve`,
//! ...) every *later* primitive of the expression reads past one more header, whatever the
//! parentheses say. The index reads addresses and ports after up to two VLAN tags, so terms
//! after `vlan` narrow only when every `vlan` of the expression is a top-level conjunct (a
//! match has those tags, so libpcap reads where the index read) and there are at most two; any
//! other keyword this parser does not know may shift offsets, so nothing after it narrows.
//! An expression this parser cannot follow at all narrows nothing.

use crate::{BlockSet, FlowIndex, Term};
use std::net::{IpAddr, Ipv4Addr};

/// Which blocks an expression may match in: a tree of index terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Narrow {
    /// Every block: the index cannot tell.
    All,
    Term(Term),
    And(Vec<Narrow>),
    Or(Vec<Narrow>),
}

impl Narrow {
    /// The narrowable part of tcpdump expression `expr` (one libpcap has compiled: a malformed
    /// one narrows nothing here, and libpcap refuses it).
    pub fn from_expr(expr: &str) -> Narrow {
        let Some(toks) = tokens(expr) else {
            return Narrow::All;
        };
        if toks.is_empty() {
            return Narrow::All;
        }
        let mut p = Parser {
            toks: &toks,
            pos: 0,
            vlans: 0,
            poisoned: false,
        };
        let Ok(ast) = p.expr() else {
            return Narrow::All;
        };
        if p.pos != toks.len() {
            return Narrow::All;
        }
        // Terms past a `vlan` narrow only if the match requires that tag (see the module doc).
        let top_vlans = top_conjuncts(&ast)
            .iter()
            .filter(|a| matches!(a, Ast::Prim { vlan: true, .. }))
            .count() as u32;
        let vlan_ok = p.vlans <= 2 && top_vlans == p.vlans;
        ast.narrow(vlan_ok).simplify()
    }

    /// `a AND b`.
    pub fn and(a: Narrow, b: Narrow) -> Narrow {
        Narrow::And(vec![a, b]).simplify()
    }

    /// Whether it excludes anything at all (else the query reads every block).
    pub fn narrows(&self) -> bool {
        *self != Narrow::All
    }

    /// Removes `All` from conjunctions; a disjunction with an `All` is `All`.
    pub fn simplify(self) -> Narrow {
        match self {
            Narrow::And(v) => {
                let mut v: Vec<Narrow> = v
                    .into_iter()
                    .map(Narrow::simplify)
                    .filter(|n| *n != Narrow::All)
                    .collect();
                match v.len() {
                    0 => Narrow::All,
                    1 => v.pop().expect("one"),
                    _ => Narrow::And(v),
                }
            }
            Narrow::Or(v) => {
                let mut v: Vec<Narrow> = v.into_iter().map(Narrow::simplify).collect();
                if v.is_empty() || v.contains(&Narrow::All) {
                    Narrow::All
                } else if v.len() == 1 {
                    v.pop().expect("one")
                } else {
                    Narrow::Or(v)
                }
            }
            n => n,
        }
    }

    /// The blocks of `idx` that may hold a match.
    pub fn blocks(&self, idx: &FlowIndex) -> BlockSet {
        match self {
            Narrow::All => idx.all_blocks(),
            Narrow::Term(t) => idx.blocks_with(*t),
            Narrow::And(v) => v.iter().fold(idx.all_blocks(), |acc, n| {
                if acc.is_empty() {
                    acc
                } else {
                    acc.and(&n.blocks(idx))
                }
            }),
            Narrow::Or(v) => v.iter().fold(BlockSet::none(idx.block_count()), |acc, n| {
                acc.or(&n.blocks(idx))
            }),
        }
    }
}

/// The parsed expression: primitives know whether a `vlan` came before them.
enum Ast {
    Prim {
        narrow: Narrow,
        after_vlan: bool,
        vlan: bool,
    },
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
    Not,
}

impl Ast {
    fn narrow(&self, vlan_ok: bool) -> Narrow {
        match self {
            Ast::Prim {
                narrow, after_vlan, ..
            } => {
                if *after_vlan && !vlan_ok {
                    Narrow::All
                } else {
                    narrow.clone()
                }
            }
            Ast::And(a, b) => Narrow::And(vec![a.narrow(vlan_ok), b.narrow(vlan_ok)]),
            Ast::Or(a, b) => Narrow::Or(vec![a.narrow(vlan_ok), b.narrow(vlan_ok)]),
            // A block with X may hold frames without X: a negation never narrows.
            Ast::Not => Narrow::All,
        }
    }
}

fn top_conjuncts(a: &Ast) -> Vec<&Ast> {
    match a {
        Ast::And(x, y) => {
            let mut v = top_conjuncts(x);
            v.extend(top_conjuncts(y));
            v
        }
        other => vec![other],
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Op(&'static str),
}

const OPS: [&str; 22] = [
    "&&", "||", "!=", "==", "<=", ">=", "<<", ">>", "(", ")", "[", "]", "!", "&", "|", "=", "<",
    ">", "+", "*", "%", "^",
];

fn tokens(s: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Some(out);
        }
        if let Some(op) = OPS.iter().find(|o| rest.starts_with(**o)) {
            out.push(Tok::Op(op));
            rest = &rest[op.len()..];
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "._:/-\\".contains(c)))
            .unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        out.push(Tok::Word(rest[..end].to_string()));
        rest = &rest[end..];
    }
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    /// `vlan` keywords met so far.
    vlans: u32,
    /// A keyword this parser does not know was met: it may shift offsets, so nothing after it
    /// narrows.
    poisoned: bool,
}

type Parse<T> = Result<T, ()>;

fn is_word(t: Option<&Tok>, w: &str) -> bool {
    matches!(t, Some(Tok::Word(x)) if x == w)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn word(&mut self) -> Parse<String> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => {
                self.pos += 1;
                Ok(w.clone())
            }
            _ => Err(()),
        }
    }

    fn connective(t: Option<&Tok>) -> Option<bool> {
        match t {
            Some(Tok::Op("&&")) => Some(true),
            Some(Tok::Op("||")) => Some(false),
            Some(Tok::Word(w)) if w == "and" => Some(true),
            Some(Tok::Word(w)) if w == "or" => Some(false),
            _ => None,
        }
    }

    /// `term (and|or term)*`, left-associative with equal precedence, as libpcap's grammar.
    fn expr(&mut self) -> Parse<Ast> {
        let mut acc = self.term()?;
        while let Some(and) = Self::connective(self.peek()) {
            self.pos += 1;
            let rhs = self.term()?;
            acc = if and {
                Ast::And(Box::new(acc), Box::new(rhs))
            } else {
                Ast::Or(Box::new(acc), Box::new(rhs))
            };
        }
        Ok(acc)
    }

    fn term(&mut self) -> Parse<Ast> {
        match self.peek() {
            Some(Tok::Op("!")) => {
                self.pos += 1;
                self.term()?;
                Ok(Ast::Not)
            }
            Some(Tok::Word(w)) if w == "not" => {
                self.pos += 1;
                self.term()?;
                Ok(Ast::Not)
            }
            Some(Tok::Op("(")) => {
                self.pos += 1;
                let e = self.expr()?;
                if self.peek() != Some(&Tok::Op(")")) {
                    return Err(());
                }
                self.pos += 1;
                Ok(e)
            }
            Some(_) => {
                let after_vlan = self.vlans > 0;
                let poisoned = self.poisoned;
                let (narrow, vlan) = self.primitive()?;
                let narrow = if poisoned { Narrow::All } else { narrow };
                Ok(Ast::Prim {
                    narrow,
                    after_vlan,
                    vlan,
                })
            }
            None => Err(()),
        }
    }

    /// The end of the primitive starting at `pos`: the next connective or unmatched `)` at
    /// depth 0; and whether it is an arithmetic relation (`tcp[13] & 2 != 0`, `len > 100`).
    fn relation_end(&self) -> (usize, bool) {
        let mut depth = 0i32;
        let mut relation = false;
        let mut i = self.pos;
        while let Some(t) = self.toks.get(i) {
            match t {
                Tok::Op("(") | Tok::Op("[") => depth += 1,
                Tok::Op(")") | Tok::Op("]") if depth == 0 => break,
                Tok::Op(")") | Tok::Op("]") => depth -= 1,
                _ if depth == 0 && Self::connective(Some(t)).is_some() => break,
                Tok::Op("!") => {}
                Tok::Op(_) => relation = true,
                Tok::Word(w) if w == "-" => relation = true,
                _ => {}
            }
            i += 1;
        }
        (i, relation)
    }

    /// One primitive: its narrowing, and whether it is a `vlan`.
    fn primitive(&mut self) -> Parse<(Narrow, bool)> {
        let (end, relation) = self.relation_end();
        if relation {
            self.pos = end;
            return Ok((Narrow::All, false));
        }
        let w = self.word()?;
        let n = match w.as_str() {
            "vlan" => {
                self.vlans += 1;
                let n = match self.peek() {
                    Some(Tok::Word(id)) if number(id).is_some() => {
                        let id = number(id).filter(|&v| v < 4096);
                        self.pos += 1;
                        id.map_or(Narrow::All, |v| Narrow::Term(Term::Vlan(v as u16)))
                    }
                    _ => Narrow::All,
                };
                return Ok((n, true));
            }
            "tcp" | "udp" | "sctp" => {
                let p = match w.as_str() {
                    "tcp" => 6,
                    "udp" => 17,
                    _ => 132,
                };
                if self.at_qualifier() {
                    let q = self.qualified(Some(&w))?;
                    Narrow::and(Narrow::Term(Term::Proto(p)), q)
                } else {
                    Narrow::Term(Term::Proto(p))
                }
            }
            "icmp" => Narrow::Term(Term::Proto(1)),
            "icmp6" => Narrow::Term(Term::Proto(58)),
            "ip" | "ip6" | "arp" | "rarp" => {
                let et = match w.as_str() {
                    "ip" => 0x0800,
                    "ip6" => 0x86dd,
                    "arp" => 0x0806,
                    _ => 0x8035,
                };
                if is_word(self.peek(), "proto") && w.starts_with("ip") {
                    self.pos += 1;
                    let p = self.word()?;
                    proto_number(&p).map_or(Narrow::All, |p| Narrow::Term(Term::Proto(p)))
                } else if self.at_qualifier() {
                    let q = self.qualified(Some(&w))?;
                    Narrow::and(Narrow::Term(Term::EtherType(et)), q)
                } else if matches!(self.peek(), Some(Tok::Word(x)) if x.chars().all(|c| c.is_ascii_alphabetic()) && Self::connective(self.peek()).is_none())
                {
                    // `ip multicast`, `ip6 protochain 6`, ...: not known here.
                    self.unknown_rest(end);
                    Narrow::All
                } else {
                    Narrow::Term(Term::EtherType(et))
                }
            }
            "ether" if is_word(self.peek(), "proto") => {
                self.pos += 1;
                let p = self.word()?;
                let et = match p.as_str() {
                    "\\ip" => Some(0x0800),
                    "\\ip6" => Some(0x86dd),
                    "\\arp" => Some(0x0806),
                    "\\rarp" => Some(0x8035),
                    s => number(s).filter(|&v| v <= 0xffff).map(|v| v as u16),
                };
                et.map_or(Narrow::All, |e| Narrow::Term(Term::EtherType(e)))
            }
            "proto" => {
                let p = self.word()?;
                proto_number(&p).map_or(Narrow::All, |p| Narrow::Term(Term::Proto(p)))
            }
            "src" | "dst" | "host" | "net" | "port" | "portrange" => {
                self.pos -= 1;
                self.qualified(None)?
            }
            // Known keywords that narrow nothing but shift no offsets.
            "ether" | "less" | "greater" | "broadcast" | "multicast" | "gateway" | "inbound"
            | "outbound" => {
                self.pos = end;
                Narrow::All
            }
            other => {
                // A bare address or number (`host a or b` carries qualifiers: not narrowed);
                // any other word may be a keyword that shifts offsets.
                if !other.starts_with(|c: char| c.is_ascii_digit()) && !other.contains(':') {
                    self.poisoned = true;
                }
                self.pos = end;
                Narrow::All
            }
        };
        Ok((n, false))
    }

    /// Consumes an unknown tail of a primitive: nothing after it narrows.
    fn unknown_rest(&mut self, end: usize) {
        self.poisoned = true;
        self.pos = end;
    }

    fn at_qualifier(&self) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if matches!(w.as_str(), "src" | "dst" | "host" | "net" | "port" | "portrange"))
    }

    /// `[src|dst|src or dst|src and dst] [host|net|port|portrange] ID` after an optional
    /// protocol qualifier `proto`.
    fn qualified(&mut self, proto: Option<&str>) -> Parse<Narrow> {
        if matches!(self.peek(), Some(Tok::Word(w)) if w == "src" || w == "dst") {
            self.pos += 1;
            // `src or dst` / `src and dst` is one qualifier, not a connective.
            let next = self.toks.get(self.pos + 1);
            if Self::connective(self.peek()).is_some()
                && matches!(next, Some(Tok::Word(w)) if w == "src" || w == "dst")
            {
                self.pos += 2;
            }
        }
        let kind = match self.peek() {
            Some(Tok::Word(w)) if matches!(w.as_str(), "host" | "net" | "port" | "portrange") => {
                let k = w.clone();
                self.pos += 1;
                k
            }
            _ => "host".to_string(),
        };
        let id = self.word()?;
        Ok(match kind.as_str() {
            "host" => match id.parse::<IpAddr>() {
                Ok(a) => Narrow::Term(Term::Host(a)),
                Err(_) => Narrow::All,
            },
            "net" => {
                if is_word(self.peek(), "mask") {
                    self.pos += 1;
                    let m = self.word()?;
                    match (partial_v4(&id), m.parse::<Ipv4Addr>()) {
                        (Some((a, _)), Ok(m)) => {
                            let m = u32::from(m);
                            if m.leading_ones() + m.trailing_zeros() == 32 {
                                Narrow::Term(Term::Net(IpAddr::V4(a), m.leading_ones() as u8))
                            } else {
                                Narrow::All
                            }
                        }
                        _ => Narrow::All,
                    }
                } else {
                    net(&id).map_or(Narrow::All, |(a, l)| Narrow::Term(Term::Net(a, l)))
                }
            }
            "port" => number(&id)
                .filter(|&p| p <= 0xffff)
                .map_or(Narrow::All, |p| Narrow::Term(Term::Port(p as u16))),
            _ => {
                let r = id.split_once('-').and_then(|(a, b)| {
                    let (a, b) = (number(a)?, number(b)?);
                    (a <= 0xffff && b <= 0xffff).then_some((a.min(b) as u16, a.max(b) as u16))
                });
                r.map_or(Narrow::All, |(a, b)| Narrow::Term(Term::PortRange(a, b)))
            }
        })
        .map(|n| {
            // `ether host`/`ether src` hold MAC addresses: not indexed.
            if proto == Some("ether") {
                Narrow::All
            } else {
                n
            }
        })
    }
}

/// A libpcap number: decimal, or 0x hex; a leading 0 (octal to libpcap) is not taken.
fn number(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u32::from_str_radix(h, 16).ok();
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn proto_number(s: &str) -> Option<u8> {
    match s {
        "\\tcp" => Some(6),
        "\\udp" => Some(17),
        "\\icmp" => Some(1),
        "\\sctp" => Some(132),
        s => number(s).filter(|&v| v <= 255).map(|v| v as u8),
    }
}

/// A dotted IPv4 prefix of 1 to 4 parts (`10`, `10.1`, `10.1.2.3`) and its implied length.
fn partial_v4(s: &str) -> Option<(Ipv4Addr, u8)> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut b = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        b[i] = u8::try_from(number(p)?).ok()?;
    }
    Some((Ipv4Addr::from(b), 8 * parts.len() as u8))
}

/// `net` forms: `A/len` (IPv4 partial or IPv6), or a partial IPv4 with its implied length.
fn net(s: &str) -> Option<(IpAddr, u8)> {
    if let Some((a, l)) = s.split_once('/') {
        let l = u8::try_from(number(l)?).ok()?;
        if a.contains(':') {
            return (l <= 128).then_some((a.parse().ok()?, l));
        }
        let (a, _) = partial_v4(a)?;
        return (l <= 32).then_some((IpAddr::V4(a), l));
    }
    let (a, l) = partial_v4(s)?;
    Some((IpAddr::V4(a), l))
}

#[cfg(test)]
mod tests {
    use super::Narrow;
    use super::Narrow::{All, And, Or};

    fn t(x: crate::Term) -> Narrow {
        Narrow::Term(x)
    }

    #[test]
    fn narrows_the_documented_primitives() {
        let h = |s: &str| t(crate::Term::Host(s.parse().unwrap()));
        assert_eq!(Narrow::from_expr("host 10.0.0.1"), h("10.0.0.1"));
        assert_eq!(Narrow::from_expr("src host 10.0.0.1"), h("10.0.0.1"));
        assert_eq!(
            Narrow::from_expr("ip6 dst host ::1"),
            And(vec![t(crate::Term::EtherType(0x86dd)), h("::1")])
        );
        assert_eq!(
            Narrow::from_expr("net 10.1"),
            t(crate::Term::Net("10.1.0.0".parse().unwrap(), 16))
        );
        assert_eq!(
            Narrow::from_expr("net 10.0.0.0 mask 255.0.0.0"),
            t(crate::Term::Net("10.0.0.0".parse().unwrap(), 8))
        );
        assert_eq!(
            Narrow::from_expr("tcp dst port 80 or udp"),
            Or(vec![
                And(vec![t(crate::Term::Proto(6)), t(crate::Term::Port(80))]),
                t(crate::Term::Proto(17))
            ])
        );
        assert_eq!(
            Narrow::from_expr("portrange 2000-1000"),
            t(crate::Term::PortRange(1000, 2000))
        );
        assert_eq!(Narrow::from_expr("ip proto 47"), t(crate::Term::Proto(47)));
        assert_eq!(
            Narrow::from_expr("src or dst port 53"),
            t(crate::Term::Port(53))
        );
        assert_eq!(
            Narrow::from_expr("vlan 7 and host 10.0.0.1"),
            And(vec![t(crate::Term::Vlan(7)), h("10.0.0.1")])
        );
    }

    #[test]
    fn never_narrows_what_it_cannot_follow() {
        for e in [
            "not host 10.0.0.1",
            "! port 53",
            "host 10.0.0.1 or tcp[13] & 2 != 0",
            "port http",
            "ether host 1:2:3:4:5:6",
            "host 10.0.0.1 or 10.0.0.2",
            "len > 100 or port 1",
            "(tcp[13] & 2) != 0",
            "vlan or host 10.0.0.1",
            "vlan and vlan and vlan and host 10.0.0.1",
            "mpls and host 10.0.0.1",
            "port 010",
            "ip multicast or port 1",
        ] {
            assert_eq!(Narrow::from_expr(e), All, "{e}");
        }
        // An offset relation narrows nothing itself, and leaves the rest narrowing.
        assert_eq!(
            Narrow::from_expr("tcp[13] & 2 != 0 and port 80"),
            t(crate::Term::Port(80))
        );
        assert_eq!(
            Narrow::from_expr("not udp and port 80"),
            t(crate::Term::Port(80))
        );
    }
}
