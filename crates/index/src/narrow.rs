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
//! An expression this parser cannot follow at all narrows nothing. The parsing is
//! `tcpdump.rs`.

use crate::tcpdump::{parse, Ast};
use crate::{BlockSet, FlowIndex, Term};

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
        let Some((ast, vlans)) = parse(expr) else {
            return Narrow::All;
        };
        // Terms past a `vlan` narrow only if the match requires that tag (see the module doc).
        let top_vlans = top_conjuncts(&ast)
            .iter()
            .filter(|a| matches!(a, Ast::Prim { vlan: true, .. }))
            .count() as u32;
        let vlan_ok = vlans <= 2 && top_vlans == vlans;
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
            Ast::And(v) => Narrow::And(v.iter().map(|a| a.narrow(vlan_ok)).collect()),
            Ast::Or(v) => Narrow::Or(v.iter().map(|a| a.narrow(vlan_ok)).collect()),
            // A block with X may hold frames without X: a negation never narrows.
            Ast::Not => Narrow::All,
        }
    }
}

fn top_conjuncts(a: &Ast) -> Vec<&Ast> {
    match a {
        Ast::And(v) => v.iter().flat_map(top_conjuncts).collect(),
        other => vec![other],
    }
}
