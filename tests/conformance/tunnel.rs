//! The oracle's tunnel rules: the VXLAN and Geneve headers, what a Geneve payload nests, and
//! the truncation the mirrored frame's IP header reveals (the outer layers are `oracle.rs`).
use super::*;
use mirrorcap_decap::GeneveAws;

impl Oracle<'_> {
    /// A VXLAN header at `p` in a UDP payload ending at `end`: (VNI, reserved bits set).
    pub fn vxlan(&self, p: usize, end: usize) -> Result<(u32, bool), Dropped> {
        if end < p + 8 {
            return reject(TRUNCATED_HEADER, "VXLAN header cut short");
        }
        let vx = self.proto(&["vxlan"], p);
        if self.num(vx, &["vxlan.flag_i", "vxlan.i_bit"]) == 0 {
            return reject(BAD_VXLAN_FLAGS, "VXLAN I flag clear");
        }
        if end - (p + 8) < 14 {
            return reject(
                TRUNCATED_HEADER,
                "mirrored frame shorter than an Ethernet header",
            );
        }
        // Every bit but the I flag and the VNI: the 16 flag bits, the 16 bits after them
        // (tshark: GBP group or reserved), the last reserved byte.
        let flags = self.num(vx, &["vxlan.flags"]);
        let middle = self.num(vx, &["vxlan.gbp", "vxlan.reserved_16"]);
        let last = self.num(vx, &["vxlan.reserved8"]);
        let reserved = flags & !0x0800 != 0 || middle != 0 || last != 0;
        Ok((self.num(vx, &["vxlan.vni"]) as u32, reserved))
    }

    /// A Geneve header at `p` in a UDP payload ending at `end`.
    pub fn geneve(&self, p: usize, end: usize) -> Result<Geneve, Dropped> {
        if end < p + 8 {
            return reject(TRUNCATED_HEADER, "Geneve header cut short");
        }
        let g = self.proto(&["geneve"], p);
        let version = self.num(g, &["geneve.version"]);
        if version != 0 {
            return reject(BAD_GENEVE_HEADER, format!("Geneve version {version}"));
        }
        // The header's own "Length" field (tshark names it like the options' length).
        let opt_len = g
            .fields
            .iter()
            .find(|f| f.name == "geneve.option.length" && f.pos == p)
            .and_then(Field::num)
            .unwrap_or_else(|| self.gap(format!("the Geneve option length at {p}")))
            as usize;
        let area_end = p + 8 + opt_len;
        if end < area_end {
            return reject(TRUNCATED_HEADER, "Geneve option area cut short");
        }
        if self.num(g, &["geneve.flags.oam"]) != 0 {
            return reject(NOT_MIRROR, "Geneve OAM frame");
        }
        // The options must tile the option area exactly.
        let mut at = p + 8;
        let mut options = 0u8;
        let mut aws = GeneveAws::default();
        for opt in g.fields.iter().filter(|f| f.name == "geneve.option") {
            if opt.pos != at || opt.pos + opt.size > area_end {
                return reject(BAD_GENEVE_HEADER, "Geneve option overruns the option area");
            }
            at += opt.size;
            options = options.saturating_add(1);
            // AWS GWLB options, class 0x0108, type byte 1/2/3 (as sent); first valid one wins.
            let raw = hex_bytes(&opt.value);
            if raw.len() >= 4 && raw[0..2] == [0x01, 0x08] {
                let data = &raw[4..];
                match raw[2] {
                    1 if aws.endpoint_id.is_none() => {
                        aws.endpoint_id = data.try_into().ok().map(u64::from_be_bytes)
                    }
                    2 if aws.attachment_id.is_none() => {
                        aws.attachment_id = data.try_into().ok().map(u64::from_be_bytes)
                    }
                    3 if aws.flow_cookie.is_none() => {
                        aws.flow_cookie = data.try_into().ok().map(u32::from_be_bytes)
                    }
                    _ => {}
                }
            }
        }
        if at != area_end {
            return reject(
                BAD_GENEVE_HEADER,
                "Geneve options do not fill the option area",
            );
        }
        let pt = self.num(g, &["geneve.proto_type"]);
        let (inner, min) = match pt {
            0x6558 => (Inner::Eth, 14),
            0x0800 => (Inner::V4, 20),
            0x86dd => (Inner::V6, 40),
            _ => return reject(UNSUPPORTED_PAYLOAD, format!("Geneve protocol {pt:#06x}")),
        };
        if end - area_end < min {
            return reject(
                TRUNCATED_HEADER,
                format!("Geneve payload of {} bytes", end - area_end),
            );
        }
        Ok(Geneve {
            vni: self.num(g, &["geneve.vni"]) as u32,
            options,
            aws,
            inner,
            payload: area_end,
        })
    }

    /// The UDP datagram to a tunnel port that a Geneve payload carries, if it is one (any
    /// failure means the payload is the customer's packet, captured as it is). The payload's
    /// bytes present end at `end`; the Geneve packet's UDP length allows up to `bound`.
    pub fn nested(&self, inner: Inner, q: usize, end: usize, bound: usize) -> Option<Udp> {
        let (ethertype, ip) = match inner {
            Inner::Eth => {
                let l2 = self.l2(q, end).ok()?;
                (l2.ethertype, l2.end)
            }
            Inner::V4 => (0x0800, q),
            Inner::V6 => (0x86dd, q),
        };
        let l3 = self.l3(ethertype, ip, end, bound).ok()?;
        self.udp(l3.udp, l3.end, l3.claimed_end).ok()
    }

    /// Bytes the mirrored frame's IP header claims beyond those present (0 when not IP).
    pub fn truncated_by(&self, inner: Inner, off: usize, end: usize) -> u32 {
        let (ethertype, ip) = match inner {
            Inner::Eth => match self.l2(off, end) {
                Ok(l2) => (l2.ethertype, l2.end),
                Err(_) => return 0,
            },
            Inner::V4 => (0x0800, off),
            Inner::V6 => (0x86dd, off),
        };
        let present = end - ip;
        let claimed = match ethertype {
            0x0800 if present >= 20 => {
                let p = self.proto(&["ip"], ip);
                (self.num(p, &["ip.version"]) == 4).then(|| self.raw(p, "ip.len"))
            }
            0x86dd if present >= 40 => {
                let p = self.proto(&["ipv6"], ip);
                (self.num(p, &["ipv6.version"]) == 6).then(|| 40 + self.raw(p, "ipv6.plen"))
            }
            _ => None,
        };
        claimed.map_or(0, |c| c.saturating_sub(present as u64) as u32)
    }
}
