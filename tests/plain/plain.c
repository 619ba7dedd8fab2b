/*
 * plain.c — check bookkeeping, PRNG and buffers of the plain runner (plain.h).
 */
#include "plain.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_passed, g_failed;
static char g_name[256];
static char g_msg[512];
static int g_open, g_bad;

void pt_begin(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_name, sizeof g_name, fmt, ap);
    va_end(ap);
    g_open = 1;
    g_bad = 0;
    g_msg[0] = '\0';
}

int pt_expect(int cond, const char *fmt, ...)
{
    if (cond)
        return 1;
    if (!g_bad) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_msg, sizeof g_msg, fmt, ap);
        va_end(ap);
    }
    g_bad++;
    return 0;
}

int pt_failed(void) { return g_bad != 0; }

void pt_end(void)
{
    if (!g_open)
        return;
    if (g_bad) {
        g_failed++;
        printf("FAIL %s: %s", g_name, g_msg);
        if (g_bad > 1)
            printf(" (and %d more)", g_bad - 1);
        printf("\n");
    } else {
        g_passed++;
        printf("ok   %s\n", g_name);
    }
    fflush(stdout);
    g_open = 0;
}

int pt_summary(void)
{
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}

static uint64_t pt_next(pt_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double pt_uniform(pt_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(pt_next(r) >> 11) * 0x1.0p-53);
}

float pt_uniformf(pt_rng *r, float lo, float hi) { return (float)pt_uniform(r, lo, hi); }

void pt_fill_bits(float *p, size_t n, uint32_t fill)
{
    for (size_t i = 0; i < n; i++)
        memcpy(p + i, &fill, sizeof fill);
}

float *pt_alloc(size_t n, uint32_t fill)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    pt_fill_bits(p, n ? n : 1, fill);
    return p;
}

uint32_t pt_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

int pt_same_bits(float a, float b) { return pt_bits(a) == pt_bits(b); }

int pt_same(float a, float b) { return pt_same_bits(a, b) || (isnan(a) && isnan(b)); }
