//! How many mbufs a worker's pool needs, derived from what holds them at once: the RX ring
//! (every descriptor refilled), the burst the worker is processing, and the pool's per-lcore
//! cache (DPDK lets a cache grow to 1.5× its size before flushing). Only the worker's lcore
//! touches its pool (share-nothing), so one cache counts. Reported at start.
#![forbid(unsafe_code)]

/// One worker pool's sizing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSizing {
    pub rx_desc: u32,
    pub burst: u32,
    pub cache: u32,
    /// Mbufs that can be out of the pool's free list at once.
    pub in_flight: u32,
    /// The pool size in use (`--mbufs`).
    pub mbufs: u32,
    /// Bytes of one mbuf's element (data room plus mbuf header, approximately).
    pub mbuf_bytes: u32,
}

impl PoolSizing {
    pub fn new(rx_desc: u32, burst: u32, cache: u32, mbufs: u32, data_room: u32) -> Self {
        PoolSizing {
            rx_desc,
            burst,
            cache,
            in_flight: rx_desc + burst + cache + cache / 2,
            mbufs,
            mbuf_bytes: data_room + 128 + 64,
        }
    }

    /// Refuses a pool that cannot cover what is in flight (the NIC would run dry of mbufs and
    /// count `rx_nombuf` at any load).
    pub fn check(&self) -> Result<(), String> {
        if self.mbufs < self.in_flight {
            return Err(format!(
                "--mbufs {}: each worker keeps up to {} mbufs in flight ({} RX descriptors + {} burst + {} cache x 1.5): use at least {}",
                self.mbufs, self.in_flight, self.rx_desc, self.burst, self.cache, self.in_flight
            ));
        }
        Ok(())
    }

    /// Bytes of one worker's pool.
    pub fn pool_bytes(&self) -> u64 {
        self.mbufs as u64 * self.mbuf_bytes as u64
    }

    /// The start-up line's numbers.
    pub fn describe(&self) -> String {
        format!(
            "{} mbufs per worker ({:.1} MiB), {} in flight at most ({} RX descriptors + {} burst + {} cache x 1.5), {} spare for net_pcap replay or bursts of traffic",
            self.mbufs,
            self.pool_bytes() as f64 / (1u64 << 20) as f64,
            self.in_flight,
            self.rx_desc,
            self.burst,
            self.cache,
            self.mbufs - self.in_flight.min(self.mbufs)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_counts_descriptors_burst_and_cache() {
        let s = PoolSizing::new(1024, 32, 256, 8191, 9856);
        assert_eq!(s.in_flight, 1024 + 32 + 384);
        assert!(s.check().is_ok());
        assert!(s.describe().contains("1440 in flight"));
        let small = PoolSizing::new(1024, 32, 256, 1023, 9856);
        assert!(small.check().unwrap_err().contains("use at least 1440"));
    }
}
