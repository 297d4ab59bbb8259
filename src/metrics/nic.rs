//! The NIC's counters as metrics: `rte_eth_stats` as one family each, every xstat as
//! `mirrorcap_nic_xstat{name}`, and on ENA the five AWS allowance counters as
//! `mirrorcap_ena_allowance_exceeded_total{allowance}`. Fed by the control core's 1 Hz poll.
#![forbid(unsafe_code)]

/// ENA's allowance xstats (their names in DPDK's `net_ena` PMD) and the `allowance` label each
/// becomes: packets the instance queued or dropped because AWS shaped its traffic.
pub const ENA_ALLOWANCES: [(&str, &str); 5] = [
    ("bw_in_allowance_exceeded", "bw_in"),
    ("bw_out_allowance_exceeded", "bw_out"),
    ("pps_allowance_exceeded", "pps"),
    ("conntrack_allowance_exceeded", "conntrack"),
    ("linklocal_allowance_exceeded", "linklocal"),
];

/// The `allowance` label of an ENA xstat, or `None` for any other xstat.
pub fn ena_allowance(xstat: &str) -> Option<&'static str> {
    ENA_ALLOWANCES
        .iter()
        .find(|(name, _)| *name == xstat)
        .map(|(_, label)| *label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_exactly_the_five_ena_allowance_xstats() {
        assert_eq!(ena_allowance("bw_in_allowance_exceeded"), Some("bw_in"));
        assert_eq!(ena_allowance("bw_out_allowance_exceeded"), Some("bw_out"));
        assert_eq!(ena_allowance("pps_allowance_exceeded"), Some("pps"));
        assert_eq!(
            ena_allowance("conntrack_allowance_exceeded"),
            Some("conntrack")
        );
        assert_eq!(
            ena_allowance("linklocal_allowance_exceeded"),
            Some("linklocal")
        );
        // Other ENA xstats (and look-alikes) stay plain xstats.
        for other in [
            "conntrack_allowance_available",
            "rx_q0_packets",
            "wd_expired",
            "bw_in_allowance",
            "BW_IN_ALLOWANCE_EXCEEDED",
            "",
        ] {
            assert_eq!(ena_allowance(other), None, "{other}");
        }
    }
}
