/* filter.c: see filter.h. */
#define ALLOW_EXPERIMENTAL_API 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pcap/pcap.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_bpf.h>
#include <rte_malloc.h>
#include "filter.h"

struct shim_filter {
	struct rte_bpf *bpf;
	uint64_t (*jit)(void *);
};

static int compile(const char *expr, int linktype, uint32_t snaplen, struct bpf_program *prog,
		   char *err, size_t errlen)
{
	int dlt = linktype == SHIM_LINKTYPE_RAW ? DLT_RAW : DLT_EN10MB;
	pcap_t *p = pcap_open_dead(dlt, (int)snaplen);
	if (p == NULL) {
		snprintf(err, errlen, "libpcap: cannot open a dead handle");
		return -1;
	}
	if (pcap_compile(p, prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(err, errlen, "%s", pcap_geterr(p));
		pcap_close(p);
		return -1;
	}
	pcap_close(p);
	return 0;
}

int shim_filter_check(const char *expr, int linktype, uint32_t snaplen, char *err, size_t errlen)
{
	struct bpf_program prog;
	if (compile(expr, linktype, snaplen, &prog, err, errlen) != 0)
		return -1;
	pcap_freecode(&prog);
	return 0;
}

struct shim_filter *shim_filter_new(const char *expr, int linktype, uint32_t snaplen,
				    int want_jit, char *err, size_t errlen)
{
	struct bpf_program prog;
	if (compile(expr, linktype, snaplen, &prog, err, errlen) != 0)
		return NULL;
	struct rte_bpf_prm *prm = rte_bpf_convert(&prog);
	pcap_freecode(&prog);
	if (prm == NULL) {
		snprintf(err, errlen, "rte_bpf_convert: %s", rte_strerror(rte_errno));
		return NULL;
	}
	struct rte_bpf *bpf = rte_bpf_load(prm);
	rte_free(prm);
	if (bpf == NULL) {
		snprintf(err, errlen, "rte_bpf_load: %s", rte_strerror(rte_errno));
		return NULL;
	}
	struct shim_filter *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		rte_bpf_destroy(bpf);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->bpf = bpf;
	struct rte_bpf_jit jit;
	if (want_jit && rte_bpf_get_jit(bpf, &jit) == 0 && jit.func != NULL)
		f->jit = jit.func;
	return f;
}

int shim_filter_jitted(const struct shim_filter *f)
{
	return f->jit != NULL;
}

uint64_t shim_filter_run(const struct shim_filter *f, struct rte_mbuf *m, uint16_t off,
			 uint16_t len)
{
	uint16_t data_off = m->data_off, data_len = m->data_len;
	uint32_t pkt_len = m->pkt_len;
	m->data_off = data_off + off;
	m->data_len = len;
	m->pkt_len = len;
	uint64_t rc = f->jit != NULL ? f->jit(m) : rte_bpf_exec(f->bpf, m);
	m->data_off = data_off;
	m->data_len = data_len;
	m->pkt_len = pkt_len;
	return rc;
}

void shim_filter_free(struct shim_filter *f)
{
	if (f != NULL) {
		rte_bpf_destroy(f->bpf);
		free(f);
	}
}
