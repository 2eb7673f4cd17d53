/* seccomp_bpf: compiles the sandbox's flat allowlist to classic BPF for the native arch.
 *
 * The program, in the layout libseccomp generated for the same policy (kept so that the
 * filter hermetic loads did not change when libseccomp went, see sandbox.c):
 *
 *   ld arch; jeq NATIVE ? next : ret KILL_THREAD         another ABI: i386 int 0x80, arm32
 *   ld nr                                                 x86_64 only, next three:
 *   jge 0x40000000 ? next : skip 2; jeq -1 ? skip 1 : next; ret KILL_THREAD   x32, bit 30
 *   jeq nr1; jeq nr2; ...; ja +1; ret ACTION              calls with one unconditional rule,
 *                                                         grouped by action, <= 200 a run
 *   jeq nr ? next : skip block                            the others, one block each:
 *     [ld hi; and; jeq ? next : next rule] ld lo; and; jeq ? next : next rule; ret ACTION
 *     ... ret DEFAULT
 *   ret DEFAULT
 *
 * An argument compares all 64 bits: the high word is skipped only when mask and value are 0
 * there (it always matches). nr -1 (a tracer's skipped call) is no x32 call: it falls through
 * to the default, as in libseccomp. Numbers come from the compiling toolchain's
 * <asm/unistd.h> through syscall_names.h, so each arch has its own and lacks what it lacks.
 * Rejected: a binary search over the numbers (the kernel caches the always-allowed calls per
 * number since 5.11, so the linear chain is walked only for the others), a generic BPF
 * assembler (the policy has one comparison per rule).
 * Also here: the count of seccomp filters already on the process (/proc/self/status), which
 * sandbox.c and landlock.c both ask, so that neither calls the other for it.
 */
#include "sandbox/seccomp_bpf.h"
#include "core/util.h"
#include "sandbox/syscall_names.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#define NATIVE_ARCH	AUDIT_ARCH_X86_64
#define NATIVE_NAME	"x86_64"
#define X32_SYSCALL_BIT 0x40000000u
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#define NATIVE_NAME "aarch64"
#else
#define NATIVE_ARCH 0
#define NATIVE_NAME "unsupported"
#endif

#define BAD_ARCH SECCOMP_RET_KILL_THREAD
#define MAX_RUN	 200 /* jeqs sharing one ret: each jump to it stays within 255 */
#define MAX_JUMP 255

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LO_OFF 0
#define HI_OFF 4
#else
#define LO_OFF 4
#define HI_OFF 0
#endif

bool seccomp_bpf_native(void)
{
#ifdef SECCOMP_BPF_NATIVE
	return true;
#else
	return false;
#endif
}

uint32_t seccomp_bpf_arch(void)
{
	return NATIVE_ARCH;
}

const char *seccomp_bpf_arch_name(void)
{
	return NATIVE_NAME;
}

int seccomp_bpf_filters_beyond(int ours)
{
	char line[128];
	FILE *f = fopen("/proc/self/status", "re");
	int mode = -1, n_filters = -1;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Seccomp:", 8) == 0)
			mode = (int)strtol(line + 8, NULL, 10);
		else if (strncmp(line, "Seccomp_filters:", 16) == 0)
			n_filters = (int)strtol(line + 16, NULL, 10);
	}
	fclose(f);
	if (mode < 0)
		return -ENOENT;
	/* Seccomp_filters is there from Linux 5.9; before, mode 2 without ours is one or more. */
	if (n_filters < 0)
		return mode == 2 && !ours ? 1 : 0;
	return n_filters > ours ? n_filters - ours : 0;
}

int seccomp_bpf_nr(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(syscall_names); i++)
		if (syscall_names[i] && strcmp(syscall_names[i], name) == 0)
			return (int)i;
	return -1;
}

const char *seccomp_bpf_name(int nr)
{
	return nr >= 0 && (size_t)nr < ARRAY_LEN(syscall_names) ? syscall_names[nr] : NULL;
}

/* ---- compiling --------------------------------------------------------------------------- */

struct prog {
	struct sock_filter *ins;
	size_t len, cap;
};

static void emit(struct prog *p, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	if (p->len == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 256;
		p->ins = xrealloc(p->ins, p->cap * sizeof(*p->ins));
	}
	p->ins[p->len++] = (struct sock_filter){code, jt, jf, k};
}

static bool unconditional(const struct seccomp_bpf_rule *r)
{
	return r->arg == SECCOMP_BPF_ANY_ARGS;
}

static bool needs_hi(const struct seccomp_bpf_rule *r)
{
	return (r->mask >> 32) != 0 || (r->value >> 32) != 0;
}

/* Instructions of one comparison word: ld, and (unless the mask is all ones), jeq. */
static size_t word_len(uint32_t mask)
{
	return mask == 0xffffffffu ? 2 : 3;
}

static size_t rule_len(const struct seccomp_bpf_rule *r)
{
	if (unconditional(r))
		return 1;
	return (needs_hi(r) ? word_len((uint32_t)(r->mask >> 32)) : 0) +
	       word_len((uint32_t)r->mask) + 1;
}

/* Loads one 32-bit half of the argument, masks it and jumps to skip_to (an index) unless it
 * equals value. */
static void emit_word(struct prog *p, int arg, size_t off, uint32_t mask, uint32_t value,
		      size_t skip_to)
{
	emit(p, BPF_LD | BPF_W | BPF_ABS,
	     (uint32_t)(offsetof(struct seccomp_data, args) + 8 * (size_t)arg + off), 0, 0);
	if (mask != 0xffffffffu)
		emit(p, BPF_ALU | BPF_AND | BPF_K, mask, 0, 0);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, value, 0, (uint8_t)(skip_to - (p->len + 1)));
}

/* The rules of one syscall (idx[0..n)) after its jeq: each rule in turn, then the default. */
static void emit_block(struct prog *p, const struct seccomp_bpf_rule *rules, const size_t *idx,
		       size_t n, uint32_t def)
{
	size_t i, next;

	for (i = 0; i < n; i++) {
		const struct seccomp_bpf_rule *r = &rules[idx[i]];

		if (unconditional(r)) {
			emit(p, BPF_RET | BPF_K, r->action, 0, 0);
			return; /* the rules after it are never reached */
		}
		next = p->len + rule_len(r);
		if (needs_hi(r))
			emit_word(p, r->arg, HI_OFF, (uint32_t)(r->mask >> 32),
				  (uint32_t)(r->value >> 32), next);
		emit_word(p, r->arg, LO_OFF, (uint32_t)r->mask, (uint32_t)r->value, next);
		emit(p, BPF_RET | BPF_K, r->action, 0, 0);
	}
	emit(p, BPF_RET | BPF_K, def, 0, 0);
}

/* Indices of the rules of rules[first].nr, in order; returns how many. */
static size_t rules_of(const struct seccomp_bpf_rule *rules, size_t n, size_t first, size_t *idx)
{
	size_t i, k = 0;

	for (i = first; i < n; i++)
		if (rules[i].nr == rules[first].nr)
			idx[k++] = i;
	return k;
}

/* What each rule is in the program: RUN, a syscall whose only rule is unconditional (it joins
 * a run of jeqs sharing one ret); FIRST, the first rule of a syscall with a block of its own;
 * LATER, a rule in the block of an earlier one. */
enum kind { RUN, FIRST, LATER };

static enum kind *classify(const struct seccomp_bpf_rule *rules, size_t n)
{
	enum kind *kind = xcalloc(n ? n : 1, sizeof(*kind));
	size_t i, j, count;

	for (i = 0; i < n; i++) {
		count = 0;
		kind[i] = FIRST;
		for (j = 0; j < n; j++) {
			if (rules[j].nr != rules[i].nr)
				continue;
			count++;
			if (j < i)
				kind[i] = LATER;
		}
		if (count == 1 && unconditional(&rules[i]))
			kind[i] = RUN;
	}
	return kind;
}

/* Whether rules[i] is the first RUN rule with its action (which emits that action's runs). */
static bool first_of_action(const struct seccomp_bpf_rule *rules, const enum kind *kind, size_t i)
{
	size_t j;

	if (kind[i] != RUN)
		return false;
	for (j = 0; j < i; j++)
		if (kind[j] == RUN && rules[j].action == rules[i].action)
			return false;
	return true;
}

static int check(const struct seccomp_bpf_rule *rules, size_t n, char *err, size_t err_len)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct seccomp_bpf_rule *r = &rules[i];

		if (!seccomp_bpf_name(r->nr)) {
			snprintf(err, err_len, "seccomp rule %zu: no syscall %d on %s", i, r->nr,
				 NATIVE_NAME);
			return -EINVAL;
		}
		if (r->arg != SECCOMP_BPF_ANY_ARGS && (r->arg < 0 || r->arg > 5)) {
			snprintf(err, err_len, "seccomp rule for %s: no argument %d",
				 seccomp_bpf_name(r->nr), r->arg);
			return -EINVAL;
		}
		if (r->arg != SECCOMP_BPF_ANY_ARGS && (r->value & ~r->mask) != 0) {
			snprintf(err, err_len, "seccomp rule for %s: value outside its mask",
				 seccomp_bpf_name(r->nr));
			return -EINVAL;
		}
	}
	return 0;
}

/* The runs of RUN syscalls with this action: jeq..., ja +1, ret action. */
static void emit_runs(struct prog *p, const struct seccomp_bpf_rule *rules, const enum kind *kind,
		      size_t n, uint32_t action)
{
	size_t i = 0, k, c, start;

	while (i < n) {
		start = p->len;
		for (c = 0; i < n && c < MAX_RUN; i++) {
			if (kind[i] != RUN || rules[i].action != action)
				continue;
			emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)rules[i].nr, 0, 0);
			c++;
		}
		if (c == 0)
			return;
		for (k = 0; k < c; k++)
			p->ins[start + k].jt = (uint8_t)(c - k);
		emit(p, BPF_JMP | BPF_JA, 1, 0, 0);
		emit(p, BPF_RET | BPF_K, action, 0, 0);
	}
}

int seccomp_bpf_compile(const struct seccomp_bpf_rule *rules, size_t n, uint32_t def,
			struct sock_fprog *prog, char *err, size_t err_len)
{
	struct prog p = {0};
	size_t i, k, at, *idx;
	enum kind *kind;
	int rc;

	if (!seccomp_bpf_native()) {
		snprintf(err, err_len,
			 "no seccomp filter for this architecture (only x86_64 and "
			 "aarch64)");
		return -EINVAL;
	}
	rc = check(rules, n, err, err_len);
	if (rc < 0)
		return rc;
	idx = xcalloc(n ? n : 1, sizeof(*idx));
	kind = classify(rules, n);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0);
	emit(&p, BPF_RET | BPF_K, BAD_ARCH, 0, 0);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
#ifdef X32_SYSCALL_BIT
	emit(&p, BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 2);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffu, 1, 0);
	emit(&p, BPF_RET | BPF_K, BAD_ARCH, 0, 0);
#endif
	for (i = 0; i < n; i++)
		if (first_of_action(rules, kind, i))
			emit_runs(&p, rules, kind, n, rules[i].action);
	for (i = 0; i < n; i++) {
		if (kind[i] != FIRST)
			continue;
		k = rules_of(rules, n, i, idx);
		at = p.len;
		emit(&p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)rules[i].nr, 0, 0);
		emit_block(&p, rules, idx, k, def);
		if (p.len - at - 1 > MAX_JUMP) {
			snprintf(err, err_len, "seccomp rules for %s: too many for one jump",
				 seccomp_bpf_name(rules[i].nr));
			rc = -EINVAL;
			goto out;
		}
		p.ins[at].jf = (uint8_t)(p.len - at - 1);
	}
	emit(&p, BPF_RET | BPF_K, def, 0, 0);
	if (p.len > BPF_MAXINSNS) {
		snprintf(err, err_len, "seccomp filter of %zu instructions: over %d", p.len,
			 BPF_MAXINSNS);
		rc = -EINVAL;
		goto out;
	}
	prog->len = (unsigned short)p.len;
	prog->filter = p.ins;
	p.ins = NULL;
out:
	free(p.ins);
	free(kind);
	free(idx);
	return rc;
}

/* ---- printing ---------------------------------------------------------------------------- */

static void print_action(FILE *out, uint32_t a)
{
	uint32_t data = a & SECCOMP_RET_DATA;

	switch (a & SECCOMP_RET_ACTION_FULL) {
	case SECCOMP_RET_KILL_PROCESS:
		fputs("KILL_PROCESS", out);
		break;
	case SECCOMP_RET_KILL_THREAD:
		fputs("KILL", out);
		break;
	case SECCOMP_RET_TRAP:
		fputs("TRAP", out);
		break;
	case SECCOMP_RET_ERRNO:
		fprintf(out, "ERRNO(%u)", data);
		break;
	case SECCOMP_RET_TRACE:
		fprintf(out, "TRACE(%u)", data);
		break;
	case SECCOMP_RET_LOG:
		fputs("LOG", out);
		break;
	case SECCOMP_RET_ALLOW:
		fputs("ALLOW", out);
		break;
	default:
		fprintf(out, "0x%08x", a);
	}
}

/* A masked comparison shows its mask in each word, as libseccomp's does (also 0xffffffff: the
 * low word of a 32-bit argument); an equality shows none. */
static void print_word(FILE *out, int depth, const struct seccomp_bpf_rule *r, bool hi)
{
	uint32_t mask = (uint32_t)(hi ? r->mask >> 32 : r->mask);
	uint32_t value = (uint32_t)(hi ? r->value >> 32 : r->value);

	fprintf(out, "%*sif ($a%d.%s", 2 * depth, "", r->arg, hi ? "hi32" : "lo32");
	if (r->mask != UINT64_MAX)
		fprintf(out, " & 0x%08x", mask);
	fprintf(out, " == %u)\n", value);
}

static void print_syscall(FILE *out, const struct seccomp_bpf_rule *rules, const size_t *idx,
			  size_t n)
{
	int nr = rules[idx[0]].nr, depth;
	size_t i;

	fprintf(out, "  # filter for syscall \"%s\" (%d)\n  if ($syscall == %d)\n",
		seccomp_bpf_name(nr), nr, nr);
	for (i = 0; i < n; i++) {
		const struct seccomp_bpf_rule *r = &rules[idx[i]];

		depth = 2;
		if (!unconditional(r)) {
			if (needs_hi(r))
				print_word(out, depth++, r, true);
			print_word(out, depth++, r, false);
		}
		fprintf(out, "%*saction ", 2 * depth, "");
		print_action(out, r->action);
		fputs(";\n", out);
		if (unconditional(r))
			break;
	}
}

void seccomp_bpf_print(const struct seccomp_bpf_rule *rules, size_t n, uint32_t def, FILE *out)
{
	size_t i, j, k, *idx = xcalloc(n ? n : 1, sizeof(*idx));
	enum kind *kind = classify(rules, n);

	fprintf(out,
		"#\n# pseudo filter code start\n#\n# filter for arch %s (%u)\n"
		"if ($arch == %u)\n",
		NATIVE_NAME, (unsigned)NATIVE_ARCH, (unsigned)NATIVE_ARCH);
#ifdef X32_SYSCALL_BIT
	fprintf(out,
		"  # x32 calls (bit 30 set; -1 is a skipped call, not one)\n"
		"  if ($syscall >= %u && $syscall != %u)\n    action ",
		X32_SYSCALL_BIT, 0xffffffffu);
	print_action(out, BAD_ARCH);
	fputs(";\n", out);
#endif
	/* In the program's order: the runs of simple calls by action, then the blocks. */
	for (i = 0; i < n; i++) {
		if (!first_of_action(rules, kind, i))
			continue;
		for (j = i; j < n; j++)
			if (kind[j] == RUN && rules[j].action == rules[i].action)
				print_syscall(out, rules, &j, 1);
	}
	for (i = 0; i < n; i++) {
		if (kind[i] != FIRST)
			continue;
		k = rules_of(rules, n, i, idx);
		print_syscall(out, rules, idx, k);
	}
	fputs("  # default action\n  action ", out);
	print_action(out, def);
	fputs(";\n# invalid architecture action\naction ", out);
	print_action(out, BAD_ARCH);
	fputs(";\n#\n# pseudo filter code end\n#\n", out);
	free(kind);
	free(idx);
}
