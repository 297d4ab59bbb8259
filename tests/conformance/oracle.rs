//! The oracle: the decap rules of DESIGN.md §1 / crates/decap walked over tshark's dissection of
//! a packet, never over mirrorcap's parsers.
use super::*;
use mirrorcap_decap::GeneveAws;
use std::net::IpAddr;

impl Oracle<'_> {
    /// tshark did not dissect something the rules need: the oracle cannot decide.
    pub fn gap(&self, what: String) -> ! {
        panic!(
            "oracle: {}: tshark's dissection lacks {what}; extend the oracle",
            self.ctx
        )
    }

    pub fn proto(&self, names: &[&str], pos: usize) -> &Proto {
        self.d
            .proto_at(names, pos)
            .unwrap_or_else(|| self.gap(format!("a {names:?} layer at byte {pos}")))
    }

    pub fn num(&self, p: &Proto, names: &[&str]) -> u64 {
        names
            .iter()
            .find_map(|n| p.num(n))
            .unwrap_or_else(|| self.gap(format!("{names:?} in {} at {}", p.name, p.pos)))
    }

    /// A field as sent on the wire (its raw bytes), where tshark's shown value is interpreted.
    pub fn raw(&self, p: &Proto, name: &str) -> u64 {
        p.field(name)
            .map(|f| hex_bytes(&f.value))
            .filter(|b| !b.is_empty() && b.len() <= 8)
            .map(|b| b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x)))
            .unwrap_or_else(|| self.gap(format!("the raw value of {name} at {}", p.pos)))
    }

    pub fn addr(&self, p: &Proto, name: &str) -> IpAddr {
        p.show(name)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| self.gap(format!("{name} at {}", p.pos)))
    }

    /// The pipeline's decision: a frame that does not fit one mbuf never reaches decap.
    pub fn pipeline(&self, decap: Decision) -> Decision {
        // Design: tshark has no notion of mbufs; mirrorcap drops a multi-segment packet as
        // oversize_frame before decap (a 9001-MTU ENI never delivers one).
        if self.d.cap_len > ONE_MBUF {
            return reject(
                OVERSIZE_FRAME,
                format!("{} bytes > one mbuf ({ONE_MBUF})", self.d.cap_len),
            );
        }
        decap
    }

    /// The decap decision for the whole received frame.
    pub fn decap(&self) -> Decision {
        let cap = self.d.cap_len;
        let l2 = self.l2(0, cap)?;
        // Nothing encloses the received frame: any IP length beyond it is a cut.
        let l3 = self.l3(l2.ethertype, l2.end, cap, usize::MAX)?;
        let mut udp = self.udp(l3.udp, l3.end, l3.claimed_end)?;
        let outer_src_port = udp.src_port;
        let mut depth = 0u8;
        let mut outer_geneve: Option<(u32, u8, GeneveAws)> = None;
        loop {
            if depth >= self.cfg.max_depth {
                return reject(
                    TUNNEL_TOO_DEEP,
                    format!("more than {} tunnel headers", self.cfg.max_depth),
                );
            }
            depth += 1;
            let (offset, inner, tunnel, vni, reserved_bits) = match udp.tunnel {
                // Design: VXLAN ends the walk; its payload is the mirrored frame even when
                // that frame is itself VXLAN (tshark goes on decoding VXLAN in VXLAN).
                Tunnel::Vxlan => {
                    let (vni, reserved) = self.vxlan(udp.payload, udp.end)?;
                    (udp.payload + 8, Inner::Eth, Tunnel::Vxlan, vni, reserved)
                }
                Tunnel::Geneve => {
                    let g = self.geneve(udp.payload, udp.end)?;
                    outer_geneve.get_or_insert((g.vni, g.options, g.aws));
                    // Design: a Geneve payload that is an IP/UDP datagram to a tunnel port (GWLB:
                    // Geneve → IPv4 → UDP 4789 → VXLAN) is decapsulated further.
                    if let Some(next) = self.nested(g.inner, g.payload, udp.end, udp.claimed_end) {
                        udp = next;
                        continue;
                    }
                    (g.payload, g.inner, Tunnel::Geneve, g.vni, false)
                }
            };
            let (geneve_vni, geneve_options, aws) = match outer_geneve {
                Some((v, o, a)) => (Some(v), o, a),
                None => (None, 0, GeneveAws::default()),
            };
            return Ok(Frame {
                offset,
                len: udp.end - offset,
                inner,
                tunnel,
                vni,
                geneve_vni,
                depth,
                reserved_bits,
                // Design: a frame cut after its headers (a snaplen capture) lacks what the
                // innermost UDP length claims beyond the bytes present; AWS truncation shows in
                // the mirrored frame's own IP length; the larger shortfall is the truncation.
                truncated_by: ((udp.claimed_end - udp.end) as u32)
                    .max(self.truncated_by(inner, offset, udp.end)),
                outer_src: l3.src,
                outer_dst: l3.dst,
                outer_src_port,
                outer_vlans: l2.tags,
                geneve_options,
                aws,
            });
        }
    }

    /// Ethernet and up to two VLAN tags at `off`, within `end`.
    pub fn l2(&self, off: usize, end: usize) -> Result<L2, Dropped> {
        if end < off + 14 {
            return reject(TRUNCATED_HEADER, "Ethernet header cut short");
        }
        let eth = self.proto(&["eth"], off);
        let mut ethertype = self.num(eth, &["eth.type", "eth.len"]);
        let mut cur = off + 14;
        let mut tags = 0u8;
        while TPIDS.contains(&ethertype) {
            if tags == 2 {
                return reject(NOT_MIRROR, "a third VLAN tag");
            }
            if end < cur + 4 {
                return reject(TRUNCATED_HEADER, "VLAN tag cut short");
            }
            let tag = self.proto(&["vlan", "ieee8021ad"], cur);
            ethertype = self.num(tag, &["vlan.etype", "vlan.len", "ieee8021ah.etype"]);
            tags += 1;
            cur += 4;
        }
        Ok(L2 {
            ethertype,
            tags,
            end: cur,
        })
    }

    /// An IPv4/IPv6 header at `off` that must carry an unfragmented UDP datagram, with bytes
    /// present up to `end` and an enclosing length that allows up to `bound`.
    pub fn l3(&self, ethertype: u64, off: usize, end: usize, bound: usize) -> Result<L3, Dropped> {
        let present = end - off;
        match ethertype {
            0x0800 => {
                if present < 20 {
                    return reject(TRUNCATED_HEADER, "IPv4 header cut short");
                }
                let ip = self.proto(&["ip"], off);
                let version = self.num(ip, &["ip.version"]);
                let hl = self.num(ip, &["ip.hdr_len"]) as usize;
                if version != 4 || hl < 20 {
                    return reject(BAD_IP_HEADER, format!("IPv4 version {version} IHL {hl}"));
                }
                if present < hl {
                    return reject(TRUNCATED_HEADER, "IPv4 options cut short");
                }
                // Design: the total length as sent; tshark shows the captured length instead of
                // a 0 ("presumed TSO"), mirrorcap takes 0 for what it is: below IHL, a bad header.
                let tl = self.raw(ip, "ip.len") as usize;
                // Design: a total length beyond the bytes present is a frame cut after its
                // headers (a snaplen capture, replayed): decap goes on with the bytes present.
                // Beyond what the enclosing length allows, it is a bad header.
                if tl < hl || off.saturating_add(tl) > bound {
                    return reject(
                        BAD_IP_HEADER,
                        format!("IPv4 total length {tl} with {present} bytes present"),
                    );
                }
                if self.num(ip, &["ip.flags.mf"]) != 0 || self.num(ip, &["ip.frag_offset"]) != 0 {
                    return reject(OUTER_FRAGMENT, "IPv4 fragment");
                }
                let proto = self.num(ip, &["ip.proto"]);
                if proto != 17 {
                    return reject(NOT_MIRROR, format!("IPv4 protocol {proto}, not UDP"));
                }
                Ok(L3 {
                    src: self.addr(ip, "ip.src"),
                    dst: self.addr(ip, "ip.dst"),
                    udp: off + hl,
                    end: (off + tl).min(end),
                    claimed_end: off + tl,
                })
            }
            0x86dd => {
                if present < 40 {
                    return reject(TRUNCATED_HEADER, "IPv6 header cut short");
                }
                let ip = self.proto(&["ipv6"], off);
                let version = self.num(ip, &["ipv6.version"]);
                let plen = self.raw(ip, "ipv6.plen") as usize;
                // Design: as for IPv4, a payload length beyond the bytes present is a cut.
                if version != 6 || (off + 40).saturating_add(plen) > bound {
                    return reject(
                        BAD_IP_HEADER,
                        format!("IPv6 version {version}, payload length {plen} with {present} bytes present"),
                    );
                }
                // Design: payload length 0 (jumbogram, or BIG TCP/GSO captured before
                // segmentation) is a bad header; tshark assumes TSO and dissects on.
                if plen == 0 {
                    return reject(BAD_IP_HEADER, "IPv6 payload length 0");
                }
                let claimed_end = off + 40 + plen;
                let ip_end = claimed_end.min(end);
                let mut next = self.num(ip, &["ipv6.nxt"]);
                let mut cur = off + 40;
                let mut walked = 0;
                loop {
                    match next {
                        17 => {
                            return Ok(L3 {
                                src: self.addr(ip, "ipv6.src"),
                                dst: self.addr(ip, "ipv6.dst"),
                                udp: cur,
                                end: ip_end,
                                claimed_end,
                            })
                        }
                        44 => return reject(OUTER_FRAGMENT, "IPv6 fragment header"),
                        0 | 43 | 60 => {
                            if walked == 8 {
                                return reject(NOT_MIRROR, "more than 8 IPv6 extension headers");
                            }
                            walked += 1;
                            if ip_end < cur + 8 {
                                return reject(TRUNCATED_HEADER, "IPv6 extension header cut short");
                            }
                            let ext =
                                self.proto(&["ipv6.hopopts", "ipv6.routing", "ipv6.dstopts"], cur);
                            let len = self.num(ext, &[&format!("{}.len_oct", ext.name)]) as usize;
                            if ip_end < cur + len {
                                return reject(TRUNCATED_HEADER, "IPv6 extension header cut short");
                            }
                            next = self.num(ext, &[&format!("{}.nxt", ext.name)]);
                            cur += len;
                        }
                        n => return reject(NOT_MIRROR, format!("IPv6 next header {n}, not UDP")),
                    }
                }
            }
            t => reject(NOT_MIRROR, format!("EtherType {t:#06x}, not IP")),
        }
    }

    /// A UDP header at `off` in an IP payload whose bytes present end at `end` and whose IP
    /// length says it ends at `claimed_end`.
    pub fn udp(&self, off: usize, end: usize, claimed_end: usize) -> Result<Udp, Dropped> {
        if end < off + 8 {
            return reject(TRUNCATED_HEADER, "UDP header cut short");
        }
        let u = self.proto(&["udp"], off);
        // Design: only the destination port selects the tunnel (tshark also tries the source
        // port and heuristics).
        let port = self.num(u, &["udp.dstport"]) as u16;
        let tunnel = if self.cfg.vxlan.contains(&port) {
            Tunnel::Vxlan
        } else if self.cfg.geneve.contains(&port) {
            Tunnel::Geneve
        } else {
            return reject(NOT_MIRROR, format!("UDP to port {port}"));
        };
        let len = self.num(u, &["udp.length"]) as usize;
        if len < 8 || off + len > claimed_end {
            return reject(
                BAD_UDP_LENGTH,
                format!(
                    "UDP length {len} with {} bytes in the IP payload",
                    end - off
                ),
            );
        }
        Ok(Udp {
            src_port: self.num(u, &["udp.srcport"]) as u16,
            tunnel,
            payload: off + 8,
            end: (off + len).min(end),
            claimed_end: off + len,
        })
    }
}
