//! Raw FFI to the system DPDK: the allowlisted part of its API as bindgen sees it, plus the
//! `shim_*` functions (csrc/shim.c) for static-inline functions, macros and mbuf fields.
//! No logic lives here; `mirrorcap-dpdk` (crates/dpdk) is the safe layer.
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code
)]
#![allow(clippy::all, clippy::undocumented_unsafe_blocks)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
