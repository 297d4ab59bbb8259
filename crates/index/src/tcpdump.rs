//! A parser of libpcap's filter syntax, as much as [`Narrow`](crate::Narrow) needs: the
//! boolean structure (`and`/`or` left to right at equal precedence, `not`, parentheses), the
//! primitives the index can answer turned into terms, everything else recognised only as "a
//! primitive" (arithmetic relations by their operators) so the rest still narrows. It fails
//! (`None`) rather than guess; the caller then narrows nothing.

use crate::narrow::Narrow;
use crate::Term;
use std::net::{IpAddr, Ipv4Addr};

/// The parsed expression: primitives know whether a `vlan` came before them. A run of one
/// connective is one node (`a or b or c ...`: one `Or` of them all), so a long list of hosts
/// is a flat vector, not a tree as deep as the list is long.
pub(crate) enum Ast {
    Prim {
        narrow: Narrow,
        after_vlan: bool,
        vlan: bool,
    },
    And(Vec<Ast>),
    Or(Vec<Ast>),
    Not,
}

/// Deepest nesting followed (parentheses, negations, and each change between `and` and `or`
/// in a run, which libpcap groups left to right): deeper expressions narrow nothing, rather
/// than recursing the stack away (20 000 parentheses overflowed a 2 MiB thread stack before).
const MAX_DEPTH: u32 = 100;

/// The expression's tree and the number of `vlan` keywords in it; `None` when it cannot be
/// followed.
pub(crate) fn parse(expr: &str) -> Option<(Ast, u32)> {
    let toks = tokens(expr)?;
    if toks.is_empty() {
        return None;
    }
    let mut p = Parser {
        toks: &toks,
        pos: 0,
        vlans: 0,
        poisoned: false,
        depth: 0,
    };
    let ast = p.expr().ok()?;
    (p.pos == toks.len()).then_some((ast, p.vlans))
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
    /// Nesting so far (see [`MAX_DEPTH`]).
    depth: u32,
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
        let outer = self.depth;
        let mut acc = self.term()?;
        while let Some(and) = Self::connective(self.peek()) {
            self.pos += 1;
            let rhs = self.term()?;
            acc = match (acc, and) {
                // The same connective again: one more operand (both are associative).
                (Ast::And(mut v), true) => {
                    v.push(rhs);
                    Ast::And(v)
                }
                (Ast::Or(mut v), false) => {
                    v.push(rhs);
                    Ast::Or(v)
                }
                (acc, and) => {
                    self.deeper()?;
                    if and {
                        Ast::And(vec![acc, rhs])
                    } else {
                        Ast::Or(vec![acc, rhs])
                    }
                }
            };
        }
        self.depth = outer;
        Ok(acc)
    }

    fn deeper(&mut self) -> Parse<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(());
        }
        Ok(())
    }

    fn term(&mut self) -> Parse<Ast> {
        if matches!(self.peek(), Some(Tok::Op("!" | "(")))
            || matches!(self.peek(), Some(Tok::Word(w)) if w == "not")
        {
            let outer = self.depth;
            self.deeper()?;
            let t = self.nested_term();
            self.depth = outer;
            return t;
        }
        self.nested_term()
    }

    fn nested_term(&mut self) -> Parse<Ast> {
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
                    net(&id).map_or(Narrow::All, |(a, l)| match a {
                        // libpcap loads only the prefix's 32-bit words of an IPv6 address, so
                        // it matches a copy cut inside the address, which the index (whole
                        // addresses only) does not hold: narrowed by the EtherType alone.
                        IpAddr::V6(_) if l < 128 => Narrow::Term(Term::EtherType(0x86dd)),
                        _ => Narrow::Term(Term::Net(a, l)),
                    })
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
