/*
 * filter.h: tcpdump-syntax filters compiled by libpcap (pcap_compile), converted to eBPF by
 * DPDK (rte_bpf_convert) and run by rte_bpf (JIT where available, else its interpreter) on a
 * window of an mbuf's data: the inner frame of a decapsulated packet.
 */
#ifndef MIRRORCAP_FILTER_H
#define MIRRORCAP_FILTER_H
#include <stddef.h>
#include <stdint.h>

struct rte_mbuf;
struct shim_filter;

/* Link types the filters are compiled for. */
#define SHIM_LINKTYPE_ETHERNET 1
#define SHIM_LINKTYPE_RAW 101

/* Compiles only (no DPDK needed): 0 if libpcap accepts the expression, else -1 and a
 * message in err. */
int shim_filter_check(const char *expr, int linktype, uint32_t snaplen, char *err, size_t errlen);

/* Compiles, converts and loads a filter (needs the EAL); NULL and a message in err on
 * failure. want_jit = 0 forces the interpreter. */
struct shim_filter *shim_filter_new(const char *expr, int linktype, uint32_t snaplen,
				    int want_jit, char *err, size_t errlen);

/* 1 if the filter runs JIT-compiled code. */
int shim_filter_jitted(const struct shim_filter *f);

/* Runs the filter on bytes [off, off + len) of m's first segment: non-zero keeps the packet.
 * m's data offset and lengths are restored before returning. */
uint64_t shim_filter_run(const struct shim_filter *f, struct rte_mbuf *m, uint16_t off,
			 uint16_t len);

void shim_filter_free(struct shim_filter *f);
#endif
