//! Test-only frame builder for plain VPC-mirroring VXLAN: writes outer Ethernet / IPv4 / UDP /
//! VXLAN / inner frame byte by byte, independently of the views, so tests do not check the
//! parsers against themselves. Every field is a knob ([`FrameSpec`]), for the single-layer
//! edge cases; layered stacks (VLAN, IPv6, Geneve, nesting) come from `test_encap`.

/// Byte used for Ethernet padding after the IPv4 total length.
pub const PAD: u8 = 0xEE;

/// Every knob of a test frame; `Default` is a good VPC-mirroring-style VXLAN frame.
#[derive(Clone, Debug)]
pub struct FrameSpec {
    pub ethertype: u16,
    pub ip_version: u8,
    /// IPv4 header length in 32-bit words; options (IHL > 5) are filled with NOP (1).
    pub ihl: u8,
    pub dscp_ecn: u8,
    /// Overrides the computed IPv4 total length.
    pub tot_len: Option<u16>,
    pub ident: u16,
    pub flags_frag: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub src_port: u16,
    pub dst_port: u16,
    /// Overrides the computed UDP length.
    pub udp_len: Option<u16>,
    pub udp_checksum: u16,
    pub vxlan_flags: u8,
    pub vni: u32,
    /// Length of the encapsulated frame (a 14-byte Ethernet header then a byte pattern;
    /// shorter values give a cut header).
    pub inner_len: usize,
    /// Bytes of [`PAD`] appended after the IPv4 packet.
    pub padding: usize,
}

impl Default for FrameSpec {
    fn default() -> Self {
        FrameSpec {
            ethertype: 0x0800,
            ip_version: 4,
            ihl: 5,
            dscp_ecn: 0,
            tot_len: None,
            ident: 0,
            flags_frag: 0,
            ttl: 255,
            protocol: 17,
            src: [10, 0, 1, 23],
            dst: [10, 0, 2, 200],
            src_port: 40_123,
            dst_port: 4789,
            udp_len: None,
            udp_checksum: 0,
            vxlan_flags: 0x08,
            vni: 0x00AB_CDEF,
            inner_len: 98,
            padding: 0,
        }
    }
}

/// A built frame and where its inner frame lies.
#[derive(Clone, Debug)]
pub struct Built {
    pub bytes: Vec<u8>,
    pub inner_offset: usize,
    pub inner_len: usize,
}

impl Built {
    pub fn inner(&self) -> &[u8] {
        &self.bytes[self.inner_offset..self.inner_offset + self.inner_len]
    }
}

fn push16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}

/// The encapsulated frame: inner Ethernet header (IPv4) then a recognisable pattern.
pub fn inner_frame(len: usize) -> Vec<u8> {
    let mut f = vec![0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    f.extend_from_slice(&[0x02, 0x66, 0x77, 0x88, 0x99, 0xAA]);
    push16(&mut f, 0x0800);
    f.extend((0..len.saturating_sub(14)).map(|i| (i * 7 + 3) as u8));
    f.truncate(len);
    f
}

impl FrameSpec {
    pub fn build(&self) -> Built {
        let mut f = vec![0x0A, 0x00, 0x00, 0x00, 0x00, 0x01];
        f.extend_from_slice(&[0x0A, 0x00, 0x00, 0x00, 0x00, 0x02]);
        push16(&mut f, self.ethertype);

        let hlen = usize::from(self.ihl) * 4;
        let inner = inner_frame(self.inner_len);
        let udp_total = 8 + 8 + inner.len();
        let ip_total = hlen.max(20) + udp_total;

        let ip_start = f.len();
        f.push((self.ip_version << 4) | (self.ihl & 0x0F));
        f.push(self.dscp_ecn);
        push16(
            &mut f,
            self.tot_len
                .unwrap_or(u16::try_from(ip_total).expect("tot_len fits")),
        );
        push16(&mut f, self.ident);
        push16(&mut f, self.flags_frag);
        f.push(self.ttl);
        f.push(self.protocol);
        push16(&mut f, 0); // checksum, filled below
        f.extend_from_slice(&self.src);
        f.extend_from_slice(&self.dst);
        f.resize(ip_start + hlen.max(20), 0x01);
        let mut sum: u32 = f[ip_start..]
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        let csum = !(sum as u16);
        f[ip_start + 10..ip_start + 12].copy_from_slice(&csum.to_be_bytes());

        push16(&mut f, self.src_port);
        push16(&mut f, self.dst_port);
        push16(
            &mut f,
            self.udp_len
                .unwrap_or(u16::try_from(udp_total).expect("udp len fits")),
        );
        push16(&mut f, self.udp_checksum);

        let v = self.vni.to_be_bytes();
        f.extend_from_slice(&[self.vxlan_flags, 0, 0, 0, v[1], v[2], v[3], 0]);
        let inner_offset = f.len();
        f.extend_from_slice(&inner);
        f.resize(f.len() + self.padding, PAD);
        Built {
            bytes: f,
            inner_offset,
            inner_len: inner.len(),
        }
    }
}
