/*
 * status.c — names of the status codes and the per-thread error message.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char g_last_error[512];

ATTN_API const char *attn_status_str(attn_status s)
{
    switch (s) {
    case ATTN_OK: return "ATTN_OK: success";
    case ATTN_ERR_NULL: return "ATTN_ERR_NULL: a required pointer is NULL";
    case ATTN_ERR_SHAPE: return "ATTN_ERR_SHAPE: a dimension is negative or zero where it must not be, or the shapes disagree";
    case ATTN_ERR_STRIDE: return "ATTN_ERR_STRIDE: a stride is negative, stride[3] is not 1, or an output aliases itself";
    case ATTN_ERR_DTYPE: return "ATTN_ERR_DTYPE: unknown dtype, or a dtype this argument cannot take";
    case ATTN_ERR_OVERFLOW: return "ATTN_ERR_OVERFLOW: a size or byte extent overflows 64 bits or the address space";
    case ATTN_ERR_NOMEM: return "ATTN_ERR_NOMEM: out of memory for the workspace (nothing was written)";
    case ATTN_ERR_UNSUPPORTED: return "ATTN_ERR_UNSUPPORTED: not available in this build or on this CPU";
    case ATTN_ERR_ARG: return "ATTN_ERR_ARG: an argument is out of range";
    }
    return "ATTN_ERR_UNKNOWN: not an attn_status value";
}

ATTN_API const char *attn_last_error(void) { return g_last_error; }

attn_status attn_error(attn_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
    va_end(ap);
    return s;
}
