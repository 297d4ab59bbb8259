/* Headers bindgen reads. Only the items named in build.rs's allowlist are bound. */
#include <rte_config.h>
#include <rte_version.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_timer.h>
#include "shim.h"
#include "filter.h"
