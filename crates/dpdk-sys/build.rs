//! Finds the system DPDK with pkg-config, binds a narrow allowlist with bindgen and compiles
//! the C shim with the same cflags. A machine without DPDK gets one clear error.
use std::env;
use std::path::PathBuf;

const MISSING: &str = "mirrorcap needs DPDK's development files, found through pkg-config \
(libdpdk.pc). On Debian/Ubuntu: `apt-get install libdpdk-dev pkg-config libclang-dev clang` \
(Debian 12 ships DPDK 22.11, Debian 13 ships 24.11), or run scripts/setup.sh. If DPDK is \
installed elsewhere, set PKG_CONFIG_PATH to the folder holding libdpdk.pc.";

/// Functions bound from DPDK's headers (exported symbols only; inlines go through the shim).
const FUNCTIONS: &[&str] = &[
    "rte_eal_init",
    "rte_eal_cleanup",
    "rte_eal_remote_launch",
    "rte_eal_wait_lcore",
    "rte_lcore_count",
    "rte_get_main_lcore",
    "rte_get_next_lcore",
    "rte_lcore_to_socket_id",
    "rte_socket_id",
    "rte_strerror",
    "rte_pktmbuf_pool_create",
    "rte_mempool_free",
    "rte_mempool_avail_count",
    "rte_mempool_in_use_count",
    "rte_eth_dev_count_avail",
    "rte_eth_find_next",
    "rte_eth_dev_is_valid_port",
    "rte_eth_dev_info_get",
    "rte_eth_dev_configure",
    "rte_eth_rx_queue_setup",
    "rte_eth_tx_queue_setup",
    "rte_eth_dev_start",
    "rte_eth_dev_stop",
    "rte_eth_dev_close",
    "rte_eth_dev_set_mtu",
    "rte_eth_dev_get_mtu",
    "rte_eth_dev_adjust_nb_rx_tx_desc",
    "rte_eth_dev_socket_id",
    "rte_eth_dev_get_name_by_port",
    "rte_eth_stats_get",
    "rte_eth_xstats_get_names",
    "rte_eth_xstats_get",
    "rte_eth_promiscuous_enable",
    "rte_eth_dev_reset",
    "rte_eth_dev_callback_register",
    "rte_eth_dev_callback_unregister",
    "rte_timer_subsystem_init",
    "rte_timer_subsystem_finalize",
    "rte_timer_manage",
    "shim_.*",
];

/// Types bound with their layout (only what the safe layer fills or reads).
const TYPES: &[&str] = &[
    "rte_eth_conf",
    "rte_eth_dev_info",
    "rte_eth_rxconf",
    "rte_eth_txconf",
    "rte_eth_stats",
    "rte_eth_xstat",
    "rte_eth_xstat_name",
    "rte_eth_rx_mq_mode",
    "rte_eth_tx_mq_mode",
    "rte_eth_event_type",
    "shim_mbuf_view",
    "lcore_function_t",
];

/// Types kept opaque: Rust only ever holds pointers to them.
const OPAQUE: &[&str] = &["rte_mbuf", "rte_mempool", "rte_device", "rte_eth_rxseg.*"];

fn main() {
    println!("cargo:rerun-if-changed=csrc/shim.c");
    println!("cargo:rerun-if-changed=csrc/shim.h");
    println!("cargo:rerun-if-changed=csrc/filter.c");
    println!("cargo:rerun-if-changed=csrc/filter.h");
    println!("cargo:rerun-if-changed=csrc/wrapper.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let lib = match pkg_config::Config::new()
        .cargo_metadata(true)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!("error: {MISSING}\n(pkg-config said: {e})");
            std::process::exit(1);
        }
    };
    // Expose the version to dependents (mirrorcap's build.rs turns it into cfg flags).
    println!("cargo:version={}", lib.version);

    // The same flags for cc and bindgen: include paths, defines and `-include rte_config.h`.
    let mut cflags: Vec<String> = Vec::new();
    for p in &lib.include_paths {
        cflags.push(format!("-I{}", p.display()));
    }
    for (k, v) in &lib.defines {
        match v {
            Some(v) => cflags.push(format!("-D{k}={v}")),
            None => cflags.push(format!("-D{k}")),
        }
    }
    // The pkg-config crate keeps no "other" cflags (-include rte_config.h, -march): ask the tool.
    let raw =
        std::process::Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
            .args(["--cflags-only-other", "libdpdk"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
    let mut words = raw.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-include" {
            if let Some(f) = words.next() {
                cflags.push("-include".into());
                cflags.push(f.into());
            }
        } else if w.starts_with("-D") || w.starts_with("-m") {
            cflags.push(w.into());
        }
    }

    let mut build = cc::Build::new();
    build
        .file("csrc/shim.c")
        .file("csrc/filter.c")
        .include("csrc")
        .opt_level(3)
        .warnings(true);
    for f in &cflags {
        build.flag(f);
    }
    build.compile("mirrorcap_dpdk_shim");
    // Filters are compiled by libpcap (which DPDK's net_pcap links too).
    println!("cargo:rustc-link-lib=pcap");

    let mut b = bindgen::Builder::default()
        .header("csrc/wrapper.h")
        .clang_arg("-Icsrc")
        .clang_args(cflags.iter())
        .allowlist_recursively(true)
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for f in FUNCTIONS {
        b = b.allowlist_function(f);
    }
    for t in TYPES {
        b = b.allowlist_type(t);
    }
    for t in OPAQUE {
        b = b.opaque_type(t);
    }
    let bindings = b
        .allowlist_var("RTE_MAX_ETHPORTS")
        .allowlist_var("RTE_ETH_NAME_MAX_LEN")
        .allowlist_var("RTE_ETH_XSTATS_NAME_SIZE")
        .allowlist_var("RTE_VER_.*")
        .allowlist_var("SHIM_LINKTYPE_.*")
        .generate()
        .unwrap_or_else(|e| panic!("bindgen failed on DPDK's headers ({e}). {MISSING}"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");
}
