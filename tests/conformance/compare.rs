//! Per packet: the library's decap against the oracle's decision, and each exported record
//! against the oracle's frame and tshark's view of the input.
use super::*;
use mirrorcap_decap::{decap, DecapConfig, InnerKind, TunnelKind};

/// `mirrorcap_decap::decap` on the packet's bytes returns the oracle's decap decision.
pub fn check_library(f: &mut Vec<String>, ctx: &str, bytes: &[u8], cfg: &Config, want: &Decision) {
    let dc = DecapConfig {
        vxlan_ports: cfg.vxlan.clone(),
        geneve_ports: cfg.geneve.clone(),
        max_depth: cfg.max_depth,
    };
    match (decap(bytes, &dc), want) {
        (Err(r), Err(d)) => expect_eq(
            f,
            format!("{ctx}: decap drop reason ({})", d.why),
            r.as_str(),
            d.reason,
        ),
        (Ok(got), Ok(w)) => {
            let m = &got.meta;
            let kind = match w.tunnel {
                Tunnel::Vxlan => TunnelKind::Vxlan,
                Tunnel::Geneve => TunnelKind::Geneve,
            };
            let inner = match w.inner {
                Inner::Eth => InnerKind::Ethernet,
                Inner::V4 => InnerKind::Ipv4,
                Inner::V6 => InnerKind::Ipv6,
            };
            let c = |what: &str| format!("{ctx}: decap {what}");
            expect_eq(f, c("inner_offset"), got.inner_offset, w.offset);
            expect_eq(f, c("inner_len"), got.inner_len, w.len);
            expect_eq(f, c("kind"), m.kind, kind);
            expect_eq(f, c("inner"), m.inner, inner);
            expect_eq(f, c("vni"), m.vni, w.vni);
            expect_eq(f, c("geneve_vni"), m.geneve_vni, w.geneve_vni);
            expect_eq(f, c("depth"), m.depth, w.depth);
            expect_eq(f, c("outer_src"), m.outer_src, w.outer_src);
            expect_eq(f, c("outer_dst"), m.outer_dst, w.outer_dst);
            expect_eq(f, c("outer_src_port"), m.outer_src_port, w.outer_src_port);
            expect_eq(f, c("outer_vlans"), m.outer_vlans, w.outer_vlans);
            expect_eq(
                f,
                c("vxlan_reserved_bits"),
                m.vxlan_reserved_bits,
                w.reserved_bits,
            );
            expect_eq(f, c("geneve_options"), m.geneve_options, w.geneve_options);
            expect_eq(f, c("aws"), m.aws, w.aws);
            expect_eq(f, c("truncated_by"), m.truncated_by, w.truncated_by);
        }
        (Ok(got), Err(d)) => f.push(format!(
            "{ctx}: decap returned a frame at {}+{}, expected drop {} ({})",
            got.inner_offset, got.inner_len, d.reason, d.why
        )),
        (Err(r), Ok(w)) => f.push(format!(
            "{ctx}: decap dropped it ({r}), expected the frame at {}+{} (VNI {})",
            w.offset, w.len, w.vni
        )),
    }
}

/// Design (src/pipeline): a bare IP payload is written behind this 14-byte Ethernet header,
/// destination 02:6d:63:00:00:02, source 02:6d:63:00:00:01, EtherType of the packet.
pub const SYNTH_DST: &str = "02:6d:63:00:00:02";
pub const SYNTH_SRC: &str = "02:6d:63:00:00:01";

pub fn synthetic_header(inner: Inner) -> Vec<u8> {
    let mut h = vec![2, 0x6d, 0x63, 0, 0, 2, 2, 0x6d, 0x63, 0, 0, 1];
    match inner {
        Inner::Eth => return Vec::new(),
        Inner::V4 => h.extend([0x08, 0x00]),
        Inner::V6 => h.extend([0x86, 0xdd]),
    }
    h
}

/// One exported record against the oracle's frame and tshark's view of the input.
pub fn check_exported(
    f: &mut Vec<String>,
    ctx: &str,
    fr: &Frame,
    input: &[u8],
    in_d: &Dissection,
    rec: &Record,
    out_d: &Dissection,
) {
    let mut want = synthetic_header(fr.inner);
    want.extend_from_slice(&input[fr.offset..fr.offset + fr.len]);
    expect_eq(
        f,
        format!("{ctx}: exported length"),
        rec.data.len(),
        want.len(),
    );
    if rec.data != want {
        let at = rec
            .data
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(rec.data.len().min(want.len()));
        f.push(format!(
            "{ctx}: exported bytes differ from the input's bytes {}..{} (first difference at {at})",
            fr.offset,
            fr.offset + fr.len
        ));
    }
    let orig = want.len() + fr.truncated_by as usize;
    expect_eq(f, format!("{ctx}: orig_len"), rec.orig_len as usize, orig);
    expect_eq(f, format!("{ctx}: tshark frame.len"), out_d.len, orig);
    expect_eq(
        f,
        format!("{ctx}: tshark frame.cap_len"),
        out_d.cap_len,
        want.len(),
    );

    // Ethernet header: the input's mirrored frame as tshark dissects it, or the synthetic one.
    let end = fr.offset + fr.len;
    let (src, dst, ty) = match fr.inner {
        Inner::Eth => {
            let e = in_d.proto_at(&["eth"], fr.offset);
            (
                e.and_then(|e| e.show("eth.src")),
                e.and_then(|e| e.show("eth.dst")),
                e.and_then(|e| e.show("eth.type")),
            )
        }
        Inner::V4 => (
            Some(SYNTH_SRC.into()),
            Some(SYNTH_DST.into()),
            Some("0x0800".into()),
        ),
        Inner::V6 => (
            Some(SYNTH_SRC.into()),
            Some(SYNTH_DST.into()),
            Some("0x86dd".into()),
        ),
    };
    let oe = out_d.protos.iter().find(|p| p.name == "eth");
    expect_eq(
        f,
        format!("{ctx}: eth.src"),
        oe.and_then(|e| e.show("eth.src")),
        src,
    );
    expect_eq(
        f,
        format!("{ctx}: eth.dst"),
        oe.and_then(|e| e.show("eth.dst")),
        dst,
    );
    expect_eq(
        f,
        format!("{ctx}: eth.type"),
        oe.and_then(|e| e.show("eth.type")),
        ty,
    );

    // The first IP header of the mirrored frame (none for ARP).
    let addrs = |p: &Proto| {
        let v = if p.name == "ip" { "ip" } else { "ipv6" };
        (p.show(&format!("{v}.src")), p.show(&format!("{v}.dst")))
    };
    let in_ip = in_d
        .protos
        .iter()
        .find(|p| (p.name == "ip" || p.name == "ipv6") && p.pos >= fr.offset && p.pos < end)
        .map(addrs);
    let out_ip = out_d
        .protos
        .iter()
        .find(|p| p.name == "ip" || p.name == "ipv6")
        .map(addrs);
    expect_eq(f, format!("{ctx}: inner IP src/dst"), out_ip, in_ip);
}
