//! The safe DPDK layer on a real EAL with a `net_pcap` vdev: mempool, port, RX queues handed
//! out once, bursts, scoped lcore launch, and the teardown order (port before pools before
//! EAL) observed through the pool's in-use count. One test function: the EAL can be
//! initialised once per process.
use mirrorcap_dpdk::{
    hugepages_available, launch_workers, Burst, EalBuilder, Mempool, PortBuilder, WorkerLcore,
};
use std::sync::atomic::{AtomicU64, Ordering};

#[test]
fn eal_pool_port_queues_bursts_and_teardown_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    let spec = mirrorcap::gen::GenSpec {
        count: 100,
        vnis: vec![7],
        inner_max: 1500,
        seed: 3,
        ..Default::default()
    };
    let mut f = std::fs::File::create(&input).unwrap();
    mirrorcap::gen::write_pcap(&spec, &mut f).unwrap();
    drop(f);

    let mut b = EalBuilder::new()
        .lcores("0@0,1@0")
        .log_level("4")
        .vdev(format!("net_pcap0,rx_pcap={}", input.display()))
        .vdev(format!(
            "net_pcap1,rx_pcap={},infinite_rx=1",
            input.display()
        ));
    b = if hugepages_available() {
        b.in_memory(true)
    } else {
        b.no_huge(true).memory_mb(256).extra(["--no-shconf"])
    };
    let eal = b.init().expect("EAL init");
    assert!(
        EalBuilder::new().init().is_err(),
        "a second EAL init must be refused"
    );
    assert_eq!(eal.worker_lcores(), vec![1]);
    let ports = eal.port_ids();
    assert_eq!(ports.len(), 2);

    let pool = Mempool::new(&eal, "t_pool", 2047, 32, 2048 + 128, -1).expect("mempool");
    assert_eq!(pool.in_use(), 0);
    {
        let port = PortBuilder::new(ports[0], vec![&pool])
            .rx_desc(256)
            .build()
            .expect("port");
        assert_eq!(port.info().driver, "net_pcap");
        assert_eq!(port.rx_queue_count(), 1);
        let mut queues = port.take_rx_queues();
        assert_eq!(queues.len(), 1);
        assert!(
            port.take_rx_queues().is_empty(),
            "queues are handed out once"
        );

        // A worker lcore drains the queue while borrowing data from this frame.
        let received = AtomicU64::new(0);
        let bytes = AtomicU64::new(0);
        let q = queues.pop().unwrap();
        let jobs = vec![WorkerLcore {
            lcore: 1,
            job: Box::new(|| {
                let mut q = q;
                let mut burst = Burst::new();
                let mut idle = 0;
                while idle < 1_000_000 && received.load(Ordering::Relaxed) < 100 {
                    let n = q.rx(&mut burst);
                    if n == 0 {
                        idle += 1;
                        continue;
                    }
                    for i in 0..n {
                        let p = burst.packet(i);
                        assert_eq!(p.nb_segs, 1);
                        assert_eq!(p.data.len() as u32, p.pkt_len);
                        bytes.fetch_add(p.pkt_len as u64, Ordering::Relaxed);
                    }
                    received.fetch_add(n as u64, Ordering::Relaxed);
                    burst.free_all();
                }
                7
            }),
        }];
        let (ctl, codes) = launch_workers(&eal, jobs, || 5).expect("launch");
        assert_eq!((ctl, codes), (5, vec![7]));
        assert_eq!(received.load(Ordering::Relaxed), 100);
        let want: u64 = {
            let f = std::fs::File::open(&input).unwrap();
            let mut r = pcap_file::pcap::PcapReader::new(f).unwrap();
            let mut n = 0;
            while let Some(p) = r.next_packet() {
                n += p.unwrap().data.len() as u64;
            }
            n
        };
        assert_eq!(bytes.load(Ordering::Relaxed), want);
        let s = port.stats().expect("stats");
        assert_eq!(s.ipackets, 100);
        assert!(port.link().is_some());
        // port drops here: stop + close return every descriptor's mbuf to the pool
    }
    assert_eq!(
        pool.in_use(),
        0,
        "every received mbuf went back to the pool"
    );

    // infinite_rx preloads the file into mbufs of the queue's pool: they are held while the
    // port lives and returned when it is stopped and closed, before the pool is freed.
    let pool1 = Mempool::new(&eal, "t_pool1", 2047, 32, 2048 + 128, -1).expect("mempool");
    {
        let port1 = PortBuilder::new(ports[1], vec![&pool1])
            .build()
            .expect("port 1");
        assert!(pool1.in_use() >= 100, "preloaded mbufs: {}", pool1.in_use());
        drop(port1);
    }
    assert_eq!(
        pool1.in_use(),
        0,
        "closing the port returned its mbufs before the pool goes"
    );
    drop(pool1);
    drop(pool);
    drop(eal);
}
