/*
 * insnprof: a QEMU TCG plugin (API version 1, QEMU 7.2 as Debian 12 ships it) that counts the
 * guest instructions executed in each function: every translation block adds its instruction
 * count to a counter of its own (inline, no callback), and at exit the counters are summed by the
 * symbol of the block's first instruction (qemu-user reads the binary's symbol table) and written
 * as "COUNT SYMBOL" lines, largest first. scripts/bench-arm64 --profile uses it; see there.
 *
 *   qemu-aarch64 -plugin ./insnprof.so,out=FILE ./binary args
 *
 * Debian ships no qemu-plugin.h: the declarations used are restated below from QEMU's public
 * plugin API (check with `nm -D /usr/bin/qemu-aarch64 | grep qemu_plugin`). Counters are plain
 * inline adds: exact for single-threaded guests.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const char *qemu_plugin_insn_symbol(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

EXPORT int qemu_plugin_version = 1;

/* One counter per translated block; blocks are retranslated rarely, so a fixed pool suffices
 * (blocks beyond it are counted under "(pool full)"). */
#define POOL (1 << 20)
struct block { uint64_t count; const char *symbol; };
static struct block *blocks;
static size_t used;
static struct block overflow = { 0, "(pool full)" };
static const char *out_path;

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (n == 0) return;
    struct block *b = used < POOL ? &blocks[used++] : &overflow;
    if (b != &overflow) {
        const char *s = qemu_plugin_insn_symbol(qemu_plugin_tb_get_insn(tb, 0));
        b->symbol = s ? s : "(no symbol)";
    }
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->count, n);
}

static int by_symbol(const void *a, const void *b)
{
    return strcmp(((const struct block *)a)->symbol, ((const struct block *)b)->symbol);
}

static int by_count(const void *a, const void *b)
{
    uint64_t x = ((const struct block *)a)->count, y = ((const struct block *)b)->count;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id; (void)p;
    qsort(blocks, used, sizeof *blocks, by_symbol);
    size_t m = 0;  /* merge runs of one symbol in place */
    for (size_t i = 0; i < used; i++) {
        if (m > 0 && strcmp(blocks[m - 1].symbol, blocks[i].symbol) == 0) blocks[m - 1].count += blocks[i].count;
        else blocks[m++] = blocks[i];
    }
    if (overflow.count) blocks[m++] = overflow;
    qsort(blocks, m, sizeof *blocks, by_count);
    FILE *f = out_path ? fopen(out_path, "w") : stderr;
    if (!f) f = stderr;
    for (size_t i = 0; i < m; i++)
        if (blocks[i].count) fprintf(f, "%llu %s\n", (unsigned long long)blocks[i].count, blocks[i].symbol);
    if (f != stderr) fclose(f);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "out=", 4) == 0) out_path = argv[i] + 4;
        else { fprintf(stderr, "insnprof: unknown argument %s\n", argv[i]); return -1; }
    blocks = calloc(POOL, sizeof *blocks);
    if (!blocks) return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
