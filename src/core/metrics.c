/* metrics: families hold a linked list of series keyed by their label values. Lookup is a
 * linear scan: hermetic has tens of series per family, not thousands, and a hash table would
 * cost more memory than it saves time. A lookup measures the asked values once and first
 * compares them with the series the family found last (a router request asks most families
 * for the same series as the request before); only when that one differs does it hash them and
 * scan, comparing lengths before bytes, eight at a time (a router request does about a dozen
 * lookups with 64-character key hashes among the values: byte-wise strncmp was 10k
 * instructions of it).
 * Label values are cut to METRICS_MAX_LABEL_BYTES and a
 * family holds at most METRICS_MAX_SERIES series; past that every new combination lands in
 * one overflow series (all values "__overflow__"), so neither memory nor a scrape grows with
 * what clients send. Rendering follows the text format 0.0.4: HELP and TYPE
 * lines, label values escaped (\\, \", \n), histograms as cumulative _bucket/_sum/_count.
 */
#include "core/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double metrics_latency_buckets[] = {
	0.005, 0.00625, 0.0125, 0.025, 0.05, 0.1,  0.5,	 1.0,	1.5,   2.0,   2.5,  3.0,
	3.5,   4.0,	4.5,	5.0,   5.5,  6.0,  6.5,	 7.0,	7.5,   8.0,   8.5,  9.0,
	9.5,   10.0,	15.0,	20.0,  25.0, 30.0, 60.0, 120.0, 180.0, 240.0, 300.0};
const size_t metrics_n_latency_buckets = ARRAY_LEN(metrics_latency_buckets);

struct series {
	struct series *next;
	char **values;
	size_t *lens;  /* strlen of each value */
	uint64_t hash; /* label_hash of the values: most lookups differ here */
	/* A series of another family with the same values, found with this one by
	 * metric_inc_each (values never change, so it stays true); NULL when none */
	struct series *lead;
	double value; /* counter/gauge value, histogram sum */
	double count;
	double *buckets; /* observations in each bound's bucket alone (see metric_observe) */
};

struct metric {
	struct metric *next;
	enum metric_type type;
	char *name;
	char *help;
	char **labels;
	size_t n_labels;
	double *bounds;
	size_t n_bounds;
	struct series *series;
	struct series **tail;
	size_t n_series;
	struct series *overflow;
	struct series *last; /* what the last lookup found, but never overflow (see find_key) */
};

struct collector {
	metrics_collect_cb cb;
	void *arg;
};

struct metrics {
	struct metric *head;
	struct metric **tail;
	struct collector collectors[16];
	size_t n_collectors;
};

struct metrics *metrics_create(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));

	m->tail = &m->head;
	return m;
}

void metrics_destroy(struct metrics *m)
{
	struct metric *f, *fn;
	struct series *s, *sn;
	size_t i;

	if (!m)
		return;
	for (f = m->head; f; f = fn) {
		fn = f->next;
		for (s = f->series; s; s = sn) {
			sn = s->next;
			free(s); /* one block with its values (series_new) */
		}
		for (i = 0; i < f->n_labels; i++)
			free(f->labels[i]);
		free(f->labels);
		free(f->bounds);
		free(f->name);
		free(f->help);
		free(f);
	}
	free(m);
}

static int valid_name(const char *s)
{
	const char *p;

	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (p = s; *p; p++) {
		int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			 (*p >= '0' && *p <= '9') || *p == '_' || *p == ':';
		if (!ok)
			return 0;
	}
	return 1;
}

struct metric *metrics_add(struct metrics *m, enum metric_type type, const char *name,
			   const char *help, const char *const *labels)
{
	struct metric *f;
	size_t n = 0, i;

	for (f = m->head; f; f = f->next) {
		if (strcmp(f->name, name) == 0) {
			fprintf(stderr, "hermetic: metric %s registered twice\n", name);
			abort();
		}
	}
	if (!valid_name(name)) {
		fprintf(stderr, "hermetic: invalid metric name %s\n", name);
		abort();
	}
	while (labels && labels[n])
		n++;
	if (n > METRICS_MAX_LABELS) {
		fprintf(stderr, "hermetic: metric %s has more than %d labels\n", name,
			METRICS_MAX_LABELS);
		abort();
	}
	f = xcalloc(1, sizeof(*f));
	f->type = type;
	f->name = xstrdup(name);
	f->help = xstrdup(help);
	f->n_labels = n;
	f->labels = xcalloc(n ? n : 1, sizeof(char *));
	for (i = 0; i < n; i++)
		f->labels[i] = xstrdup(labels[i]);
	f->tail = &f->series;
	*m->tail = f;
	m->tail = &f->next;
	return f;
}

struct metric *metrics_add_histogram(struct metrics *m, const char *name, const char *help,
				     const char *const *labels, const double *bounds,
				     size_t n_bounds)
{
	struct metric *f = metrics_add(m, METRIC_HISTOGRAM, name, help, labels);

	f->bounds = xcalloc(n_bounds ? n_bounds : 1, sizeof(double));
	memcpy(f->bounds, bounds, n_bounds * sizeof(double));
	f->n_bounds = n_bounds;
	return f;
}

void metrics_on_collect(struct metrics *m, metrics_collect_cb cb, void *arg)
{
	if (m->n_collectors == ARRAY_LEN(m->collectors))
		abort();
	m->collectors[m->n_collectors].cb = cb;
	m->collectors[m->n_collectors].arg = arg;
	m->n_collectors++;
}

static const char *value_or_none(const char *const *values, size_t i)
{
	return values && values[i] ? values[i] : "None";
}

/* The value as stored: NULL -> "None", cut to METRICS_MAX_LABEL_BYTES without splitting a
 * UTF-8 sequence. Returns the length to keep. */
static size_t label_len(const char *v)
{
	/* strlen reads a word at a time (musl and glibc alike): a third of the byte loop's
	 * instructions on a 64-character key hash. strnlen would bound it, but musl's is memchr,
	 * dearer than the byte loop on short labels; the values are C strings the router already
	 * holds whole (a client's model name is within the request's size cap). */
	size_t n = strlen(v);

	if (n <= METRICS_MAX_LABEL_BYTES)
		return n;
	n = METRICS_MAX_LABEL_BYTES;
	while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* A hash of the kept bytes of every value and their lengths, eight bytes a step, so a
 * lookup compares one word per series before any bytes (a request touches a dozen series,
 * some labelled with a 64-character key hash). Not for adversaries: a collision only costs
 * the byte comparison that follows. */
static uint64_t label_hash(const char *const *v, const size_t *lens, size_t n)
{
	const uint64_t k = 0x9E3779B97F4A7C15ULL;
	uint64_t h = 0, w;

	for (size_t i = 0; i < n; i++) {
		size_t j = 0;

		for (; j + 8 <= lens[i]; j += 8) {
			memcpy(&w, v[i] + j, 8);
			h = (h ^ w) * k;
			h ^= h >> 29;
		}
		w = lens[i];
		for (size_t t = 0; j < lens[i]; j++, t += 8)
			w ^= (uint64_t)(unsigned char)v[i][j] << (t + 8);
		h = (h ^ w) * k;
		h ^= h >> 29;
	}
	return h;
}

static bool same_series(const struct metric *f, const struct series *s, const char *const *v,
			const size_t *lens, uint64_t hash)
{
	size_t i;

	if (s->hash != hash)
		return false;
	for (i = 0; i < f->n_labels; i++)
		if (s->lens[i] != lens[i] || !mem_eq(s->values[i], v[i], lens[i]))
			return false;
	return true;
}

/* A series in one block: the struct, the lengths and pointers of its values, the values, then
 * a histogram's buckets. A lookup reads the struct, a length, a pointer and the value's bytes:
 * in one block these are two or three cache lines, where an allocation each (the struct, the
 * two arrays, every value) spread them over as many blocks; a request looks up a dozen series
 * (docs/numbers.md, "The twenty-fifth look"). */
static struct series *series_new(struct metric *f, const char *const *values)
{
	size_t i, n = f->n_labels ? f->n_labels : 1, vlen[METRICS_MAX_LABELS], at, size;
	const char *v[METRICS_MAX_LABELS];
	struct series *s;
	char *p;

	size = sizeof(*s) + n * (sizeof(size_t) + sizeof(char *));
	for (i = 0; i < f->n_labels; i++) {
		v[i] = values ? value_or_none(values, i) : METRICS_OVERFLOW;
		vlen[i] = label_len(v[i]);
		size += vlen[i] + 1;
	}
	at = size = (size + 7) & ~(size_t)7;
	if (f->type == METRIC_HISTOGRAM)
		size += (f->n_bounds ? f->n_bounds : 1) * sizeof(double);
	s = xcalloc(1, size);
	s->lens = (size_t *)(s + 1);
	s->values = (char **)(s->lens + n);
	p = (char *)(s->values + n);
	for (i = 0; i < f->n_labels; i++) {
		s->lens[i] = vlen[i];
		s->values[i] = p;
		memcpy(p, v[i], vlen[i]);
		p += vlen[i] + 1;
	}
	s->hash = label_hash((const char *const *)s->values, s->lens, f->n_labels);
	if (f->type == METRIC_HISTOGRAM)
		s->buckets = (double *)((char *)s + at);
	return s;
}

/* The values of one lookup, measured once; hashed only when the remembered series is not
 * theirs. */
struct key {
	const char *v[METRICS_MAX_LABELS];
	size_t lens[METRICS_MAX_LABELS];
	size_t n;
	uint64_t hash;
	bool hashed;
};

static void key_of(struct key *k, const char *const *values, size_t n)
{
	k->n = n;
	k->hashed = false;
	for (size_t i = 0; i < n; i++) {
		/* A missing value is "None": most label lists end in a few of them. */
		if (values && values[i]) {
			k->v[i] = values[i];
			k->lens[i] = label_len(values[i]);
		} else {
			k->v[i] = "None";
			k->lens[i] = 4;
		}
	}
}

static uint64_t key_hash(struct key *k)
{
	if (!k->hashed) {
		k->hash = label_hash(k->v, k->lens, k->n);
		k->hashed = true;
	}
	return k->hash;
}

/* same_series without the hash: lengths, then bytes. */
static bool same_values(const struct metric *f, const struct series *s, const struct key *k)
{
	for (size_t i = 0; i < f->n_labels; i++)
		if (s->lens[i] != k->lens[i] || !mem_eq(s->values[i], k->v[i], k->lens[i]))
			return false;
	return true;
}

static struct series *scan(struct metric *f, struct key *k, const char *const *values, int create)
{
	uint64_t hash = key_hash(k);
	struct series *s;

	for (s = f->series; s; s = s->next)
		if (same_series(f, s, k->v, k->lens, hash))
			return s;
	if (!create)
		return NULL;
	/* Once full, no series is added before the overflow one: it stays last. */
	if (f->n_series >= METRICS_MAX_SERIES) {
		if (!f->overflow) {
			f->overflow = series_new(f, NULL);
			*f->tail = f->overflow;
			f->tail = &f->overflow->next;
		}
		return f->overflow;
	}
	s = series_new(f, values);
	*f->tail = s;
	f->tail = &s->next;
	f->n_series++;
	return s;
}

/* A router request asks each family for the series it asked for the time before (the same
 * deployment, key and status as the request before): comparing the values with that one
 * skips the hash and the scan. The remembered series is what the scan would answer: series
 * are never freed while the registry lives and the list only grows at its end, so it stays
 * the first with its values; the overflow series is not remembered (asked for its own values
 * while a series a client named so before the cap holds them too, the scan finds that one). */
static struct series *find_key(struct metric *f, struct key *k, const char *const *values,
			       int create)
{
	struct series *s = f->last;

	if (s && same_values(f, s, k))
		return s;
	s = scan(f, k, values, create);
	if (s && s != f->overflow)
		f->last = s;
	return s;
}

static struct series *find(struct metric *f, const char *const *values, int create)
{
	struct key k;

	key_of(&k, values, f->n_labels);
	return find_key(f, &k, values, create);
}

void metric_inc(struct metric *f, const char *const *values, double by)
{
	find(f, values, 1)->value += by;
}

/* The values are measured once, and compared once: with the series the first family finds.
 * Another family's remembered series that was found with that same series before
 * (s->lead) holds the same values, so it is the one asked for. */
void metric_inc_each(struct metric *const *fs, const double *by, size_t n,
		     const char *const *values)
{
	struct series *lead = NULL;
	struct key k;

	for (size_t i = 0; i < n; i++) {
		struct metric *f = fs[i];
		struct series *s = f->last;

		if (i == 0 || f->n_labels != k.n) {
			key_of(&k, values, f->n_labels);
			s = find_key(f, &k, values, 1);
			lead = s != f->overflow ? s : NULL;
		} else if (!lead || !s || s->lead != lead) {
			s = find_key(f, &k, values, 1);
			if (lead && s != f->overflow)
				s->lead = lead;
		}
		s->value += by[i];
	}
}

void metric_set(struct metric *f, const char *const *values, double v)
{
	find(f, values, 1)->value = v;
}

/* Counts v in the first bucket that holds it only (found by halving: a latency histogram has
 * 35 bounds, and a router request observes three); render adds them up. */
void metric_observe(struct metric *f, const char *const *values, double v)
{
	struct series *s = find(f, values, 1);
	size_t lo = 0, hi = f->n_bounds;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v <= f->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo < f->n_bounds) /* NaN and what is above every bound: only +Inf */
		s->buckets[lo] += 1;
	s->value += v;
	s->count += 1;
}

double metric_get(struct metric *f, const char *const *values)
{
	struct series *s = find(f, values, 0);

	if (!s)
		return 0;
	return f->type == METRIC_HISTOGRAM ? s->count : s->value;
}

static void put_escaped(struct buf *out, const char *s, int label)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(out, "\\\\");
		else if (*s == '\n')
			buf_puts(out, "\\n");
		else if (*s == '"' && label)
			buf_puts(out, "\\\"");
		else
			buf_append(out, s, 1);
	}
}

/* The shortest decimal that reads back as the same double (0.1 + 0.2 -> 0.30000000000000004,
 * 5.55 -> 5.55), as Prometheus' own clients print. */
static const char *shortest(double v, char *tmp, size_t len)
{
	int prec;

	for (prec = 1; prec < 17; prec++) {
		snprintf(tmp, len, "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			return tmp;
	}
	snprintf(tmp, len, "%.17g", v);
	return tmp;
}

static void put_number(struct buf *out, double v)
{
	char tmp[32];

	if (isinf(v))
		buf_puts(out, v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		buf_puts(out, "NaN");
	else if (v == (double)(long long)v && fabs(v) < 1e15)
		buf_printf(out, "%lld", (long long)v);
	else
		buf_puts(out, shortest(v, tmp, sizeof(tmp)));
}

/* Writes name{l1="v1",...[,le="x"]} */
static void put_series_name(struct buf *out, const struct metric *f, const struct series *s,
			    const char *suffix, const char *le)
{
	size_t i;

	buf_puts(out, f->name);
	buf_puts(out, suffix);
	if (!f->n_labels && !le)
		return;
	buf_puts(out, "{");
	for (i = 0; i < f->n_labels; i++) {
		buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
		put_escaped(out, s->values[i], 1);
		buf_puts(out, "\"");
	}
	if (le)
		buf_printf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
	buf_puts(out, "}");
}

static void render_histogram(struct buf *out, const struct metric *f, const struct series *s)
{
	char le[64];
	double below = 0; /* buckets hold what falls in them alone; a line counts all up to it */
	size_t i;

	for (i = 0; i < f->n_bounds; i++) {
		below += s->buckets[i];
		snprintf(le, sizeof(le), "%g", f->bounds[i]);
		put_series_name(out, f, s, "_bucket", le);
		buf_puts(out, " ");
		put_number(out, below);
		buf_puts(out, "\n");
	}
	put_series_name(out, f, s, "_bucket", "+Inf");
	buf_puts(out, " ");
	put_number(out, s->count);
	buf_puts(out, "\n");
	put_series_name(out, f, s, "_sum", NULL);
	buf_puts(out, " ");
	put_number(out, s->value);
	buf_puts(out, "\n");
	put_series_name(out, f, s, "_count", NULL);
	buf_puts(out, " ");
	put_number(out, s->count);
	buf_puts(out, "\n");
}

void metrics_render(struct metrics *m, struct buf *out)
{
	static const char *const type_names[] = {"counter", "gauge", "histogram"};
	struct metric *f;
	struct series *s;
	size_t i;

	for (i = 0; i < m->n_collectors; i++)
		m->collectors[i].cb(m, m->collectors[i].arg);
	for (f = m->head; f; f = f->next) {
		/* Text format 0.0.4 keeps a counter's _total in HELP and TYPE (client_golang does).
		 */
		buf_printf(out, "# HELP %s ", f->name);
		put_escaped(out, f->help, 0);
		buf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
		for (s = f->series; s; s = s->next) {
			if (f->type == METRIC_HISTOGRAM) {
				render_histogram(out, f, s);
				continue;
			}
			put_series_name(out, f, s, "", NULL);
			buf_puts(out, " ");
			put_number(out, s->value);
			buf_puts(out, "\n");
		}
	}
}
