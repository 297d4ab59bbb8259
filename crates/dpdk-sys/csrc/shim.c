/* shim.c: see shim.h. Each function is one DPDK inline, macro or field access. */
#include <rte_config.h>
#include <rte_version.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include "shim.h"

uint16_t shim_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t shim_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

void shim_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void shim_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n) { rte_pktmbuf_free_bulk(pkts, n); }

struct rte_mbuf *shim_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

uint8_t *shim_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, uint8_t *); }

uint16_t shim_pktmbuf_data_len(const struct rte_mbuf *m) { return rte_pktmbuf_data_len(m); }

uint32_t shim_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }

uint16_t shim_pktmbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }

struct rte_mbuf *shim_pktmbuf_next(const struct rte_mbuf *m) { return m->next; }

char *shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }

char *shim_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }

void shim_mbuf_views(struct rte_mbuf *const *pkts, uint16_t n, struct shim_mbuf_view *out)
{
	for (uint16_t i = 0; i < n; i++) {
		const struct rte_mbuf *m = pkts[i];
		out[i].data = rte_pktmbuf_mtod(m, const uint8_t *);
		out[i].pkt_len = m->pkt_len;
		out[i].data_len = m->data_len;
		out[i].nb_segs = m->nb_segs;
	}
}

unsigned int shim_lcore_id(void) { return rte_lcore_id(); }

uint64_t shim_rdtsc(void) { return rte_rdtsc(); }

uint64_t shim_get_tsc_hz(void) { return rte_get_tsc_hz(); }

int shim_errno(void) { return rte_errno; }

uint16_t shim_mbuf_default_data_room(void) { return RTE_MBUF_DEFAULT_DATAROOM; }

uint16_t shim_pktmbuf_headroom(void) { return RTE_PKTMBUF_HEADROOM; }

unsigned int shim_max_lcore(void) { return RTE_MAX_LCORE; }

uint64_t shim_rss_hf_ip_udp_tcp(void) { return RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP; }

uint64_t shim_eth_rx_offload_scatter(void) { return RTE_ETH_RX_OFFLOAD_SCATTER; }

int shim_eth_link_up(uint16_t port, uint32_t *speed_mbps)
{
	struct rte_eth_link link;
	int ret = rte_eth_link_get_nowait(port, &link);
	if (ret < 0)
		return ret;
	*speed_mbps = link.link_speed;
	return link.link_status == RTE_ETH_LINK_UP;
}

const char *shim_version(void) { return rte_version(); }

int shim_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **pkts, unsigned int n)
{
	return rte_pktmbuf_alloc_bulk(mp, pkts, n);
}

uint8_t *shim_pktmbuf_room(struct rte_mbuf *m, uint16_t *room)
{
	*room = rte_pktmbuf_tailroom(m) + m->data_len;
	return rte_pktmbuf_mtod(m, uint8_t *);
}

void shim_pktmbuf_set_len(struct rte_mbuf *m, uint16_t len)
{
	m->data_len = len;
	m->pkt_len = len;
}
