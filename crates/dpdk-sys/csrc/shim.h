/*
 * shim.h: exported wrappers for DPDK static-inline functions, macros and mbuf fields,
 * so Rust never depends on rte_mbuf's layout or on inline code it cannot call.
 * One line of DPDK per function; no logic lives here.
 */
#ifndef MIRRORCAP_SHIM_H
#define MIRRORCAP_SHIM_H
#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

/* What the pipeline reads of one received mbuf, filled for a whole burst in one call. */
struct shim_mbuf_view {
	const uint8_t *data;  /* rte_pktmbuf_mtod(m, const uint8_t *) */
	uint32_t pkt_len;     /* total length over all segments */
	uint16_t data_len;    /* bytes in this (first) segment */
	uint16_t nb_segs;     /* segments in the chain */
};

uint16_t shim_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t shim_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

void shim_pktmbuf_free(struct rte_mbuf *m);
void shim_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n);
struct rte_mbuf *shim_pktmbuf_alloc(struct rte_mempool *mp);
uint8_t *shim_pktmbuf_mtod(struct rte_mbuf *m);
uint16_t shim_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t shim_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t shim_pktmbuf_nb_segs(const struct rte_mbuf *m);
struct rte_mbuf *shim_pktmbuf_next(const struct rte_mbuf *m);
char *shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *shim_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
void shim_mbuf_views(struct rte_mbuf *const *pkts, uint16_t n, struct shim_mbuf_view *out);

unsigned int shim_lcore_id(void);
uint64_t shim_rdtsc(void);
uint64_t shim_get_tsc_hz(void);
int shim_errno(void);

uint16_t shim_mbuf_default_data_room(void);
uint16_t shim_pktmbuf_headroom(void);
unsigned int shim_max_lcore(void);
uint64_t shim_rss_hf_ip_udp_tcp(void);
uint64_t shim_eth_rx_offload_scatter(void);
int shim_eth_link_up(uint16_t port, uint32_t *speed_mbps);
const char *shim_version(void);

/* Transmit: rte_pktmbuf_alloc_bulk (0 on success), the writable room of a fresh mbuf
 * (mtod and tailroom), and setting a single-segment mbuf's data_len and pkt_len. */
int shim_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **pkts, unsigned int n);
uint8_t *shim_pktmbuf_room(struct rte_mbuf *m, uint16_t *room);
void shim_pktmbuf_set_len(struct rte_mbuf *m, uint16_t len);

#endif
