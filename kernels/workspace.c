/*
 * workspace.c — per-call workspace with a one-block cache per calling thread.
 * Decoding calls one shape over and over; keeping the calling thread's last
 * block (when it is at most ATTN_WS_KEEP bytes) makes every call after the
 * first allocation-free. The block is thread-local (no shared state, no
 * locks) and freed by a pthread key destructor when the thread exits.
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

#define ATTN_WS_KEEP ((size_t)64 << 20)

static _Thread_local struct {
    void *p;
    size_t n;
    int busy;
} tl_ws;

static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void free_block(void *p) { attn_free(p); }
static void make_key(void) { (void)pthread_key_create(&g_key, free_block); }

void *attn_ws_get(size_t n)
{
    if (!tl_ws.busy && tl_ws.p && tl_ws.n >= n) {
        tl_ws.busy = 1;
        return tl_ws.p;
    }
    void *p = attn_alloc(n);
    if (!p || tl_ws.busy || n > ATTN_WS_KEEP)
        return p;
    /* keep the new block instead of the old, smaller one */
    pthread_once(&g_key_once, make_key);
    attn_free(tl_ws.p);
    tl_ws.p = p;
    tl_ws.n = n;
    tl_ws.busy = 1;
    (void)pthread_setspecific(g_key, p);
    return p;
}

void attn_ws_put(void *p)
{
    if (p && p == tl_ws.p)
        tl_ws.busy = 0;
    else
        attn_free(p);
}
