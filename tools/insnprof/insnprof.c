// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * insnprof: a QEMU TCG plugin (plugin API of QEMU 10.0, QEMU_PLUGIN_VERSION 4) that counts how
 * often each kernel translation block executes.
 *
 *   qemu-system-x86_64 ... -plugin insnprof.so,out=FILE
 *
 * At exit it writes FILE: a first line "user N" (every instruction executed below
 * KERNEL_START, summed into one number), then one line "pc ninsns execs" (hex, decimal,
 * decimal) per kernel translation block that ran. A block's instructions are ninsns x execs;
 * tools/insnprof/analyze.py maps the pcs to functions. The count is taken when a block starts
 * (an inline add, no callback), so a block left mid-way by an exception counts whole.
 *
 * Built against include/qemu/qemu-plugin.h of the installed QEMU's source, with its
 * #include <glib.h> removed: the two glib types it names are declared opaque below, which is
 * all the header needs (tools/insnprof/profile.sh fetches and prepares it).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef struct _GArray GArray;
typedef struct _GByteArray GByteArray;
#include "qemu-plugin.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

/* x86_64: the kernel half of the address space (4-level paging, as the test VM runs). */
#define KERNEL_START 0xffff800000000000ull

/*
 * One entry per distinct block: the same pc can start blocks of different lengths (a block
 * retranslated to end at an I/O instruction under -icount), so the key is (pc, ninsns). Open
 * addressing; entries are never removed. The counters are per-vCPU scoreboards, summed at exit.
 */
struct ent {
	uint64_t pc;
	uint32_t n;
	struct qemu_plugin_scoreboard *sb;
};
#define HBITS 20
#define HSIZE (1u << HBITS)
static struct ent *tab;
static uint32_t used;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char out[4096] = "insnprof.txt";
static struct qemu_plugin_scoreboard *user_sb;

/* Called with lock held. NULL once the table is 3/4 full (about 786 000 distinct blocks). */
static struct ent *find(uint64_t pc, uint32_t n)
{
	uint64_t h = (pc ^ (pc >> 17) ^ ((uint64_t)n << 7)) * 0x9E3779B97F4A7C15ull;
	uint32_t i = h >> (64 - HBITS);

	for (;;) {
		struct ent *e = &tab[i];

		if (!e->sb) {
			if (used >= HSIZE / 4 * 3)
				return NULL;
			e->pc = pc;
			e->n = n;
			e->sb = qemu_plugin_scoreboard_new(sizeof(uint64_t));
			used++;
			return e;
		}
		if (e->pc == pc && e->n == n)
			return e;
		i = (i + 1) & (HSIZE - 1);
	}
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	uint64_t pc = qemu_plugin_tb_vaddr(tb);
	uint32_t n = qemu_plugin_tb_n_insns(tb);
	struct ent *e;

	if (pc < KERNEL_START) {
		qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_ADD_U64,
			qemu_plugin_scoreboard_u64(user_sb), n);
		return;
	}
	pthread_mutex_lock(&lock);
	e = find(pc, n);
	pthread_mutex_unlock(&lock);
	if (!e) {
		static bool warned;

		if (!warned)
			fprintf(stderr, "insnprof: block table full, later blocks not counted\n");
		warned = true;
		return;
	}
	qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_ADD_U64,
		qemu_plugin_scoreboard_u64(e->sb), 1);
}

/* Written to FILE.tmp and renamed: a FILE that exists is complete. */
static void at_exit(qemu_plugin_id_t id, void *p)
{
	char tmp[sizeof(out) + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	f = fopen(tmp, "w");
	if (!f) {
		perror(tmp);
		return;
	}
	fprintf(f, "user %" PRIu64 "\n", qemu_plugin_u64_sum(qemu_plugin_scoreboard_u64(user_sb)));
	for (uint32_t i = 0; i < HSIZE; i++) {
		struct ent *e = &tab[i];
		uint64_t c;

		if (!e->sb)
			continue;
		c = qemu_plugin_u64_sum(qemu_plugin_scoreboard_u64(e->sb));
		if (c)
			fprintf(f, "%" PRIx64 " %u %" PRIu64 "\n", e->pc, e->n, c);
	}
	if (fclose(f) || rename(tmp, out))
		perror(out);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4)) {
			snprintf(out, sizeof(out), "%s", argv[i] + 4);
		} else {
			fprintf(stderr, "insnprof: unknown argument '%s' (only out=FILE)\n", argv[i]);
			return -1;
		}
	}
	tab = calloc(HSIZE, sizeof(*tab));
	if (!tab)
		return -1;
	user_sb = qemu_plugin_scoreboard_new(sizeof(uint64_t));
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
