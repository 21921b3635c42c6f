/*  tools/json.c: JSON text to msgpack (see json.h). */
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p;
    char *err;
    size_t errlen;
    int depth;
} s_js;

static int
s_fail (s_js *j, const char *fmt, ...)
{
    if (j->err && j->errlen && !j->err[0]) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (j->err, j->errlen, fmt, ap);
        va_end (ap);
    }
    return -1;
}

static void
s_ws (s_js *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

static int s_value (s_js *j, msgpack_packer *pk);

static int
s_hex4 (const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned) (c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned) (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned) (c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t
s_utf8 (unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char) (0xC0 | (cp >> 6));
        out[1] = (char) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char) (0xE0 | (cp >> 12));
        out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char) (0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char) (0xF0 | (cp >> 18));
    out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char) (0x80 | (cp & 0x3F));
    return 4;
}

/*  Reads a string at j->p (on the opening quote) into a malloc'd buffer. */
static int
s_string (s_js *j, char **out, size_t *outlen)
{
    const char *p = j->p + 1;
    size_t cap = 64, len = 0;
    char *buf = malloc (cap);
    if (!buf)
        return s_fail (j, "out of memory");
    for (;;) {
        if (len + 4 >= cap) {
            cap *= 2;
            char *nb = realloc (buf, cap);
            if (!nb) {
                free (buf);
                return s_fail (j, "out of memory");
            }
            buf = nb;
        }
        unsigned char c = (unsigned char) *p;
        if (c == '"')
            break;
        if (c == '\0' || c < 0x20) {
            free (buf);
            return s_fail (j, "unterminated string or control character");
        }
        if (c != '\\') {
            buf[len++] = (char) c;
            p++;
            continue;
        }
        p++;
        unsigned cp;
        switch (*p) {
        case '"': buf[len++] = '"'; break;
        case '\\': buf[len++] = '\\'; break;
        case '/': buf[len++] = '/'; break;
        case 'b': buf[len++] = '\b'; break;
        case 'f': buf[len++] = '\f'; break;
        case 'n': buf[len++] = '\n'; break;
        case 'r': buf[len++] = '\r'; break;
        case 't': buf[len++] = '\t'; break;
        case 'u':
            if (s_hex4 (p + 1, &cp)) {
                free (buf);
                return s_fail (j, "bad \\u escape");
            }
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p[1] != '\\' || p[2] != 'u' || s_hex4 (p + 3, &lo)
                    || lo < 0xDC00 || lo > 0xDFFF) {
                    free (buf);
                    return s_fail (j, "unpaired surrogate");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                free (buf);
                return s_fail (j, "unpaired surrogate");
            }
            len += s_utf8 (cp, buf + len);
            break;
        default:
            free (buf);
            return s_fail (j, "bad escape");
        }
        p++;
    }
    j->p = p + 1;
    *out = buf;
    *outlen = len;
    return 0;
}

static int
s_number (s_js *j, msgpack_packer *pk)
{
    const char *start = j->p, *p = j->p;
    bool is_float = false;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return s_fail (j, "bad number");
    if (*p == '.') {
        is_float = true;
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return s_fail (j, "bad number");
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        is_float = true;
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return s_fail (j, "bad number");
        while (*p >= '0' && *p <= '9')
            p++;
    }
    j->p = p;
    if (!is_float) {
        errno = 0;
        if (*start == '-') {
            long long v = strtoll (start, NULL, 10);
            if (errno == 0)
                return msgpack_pack_int64 (pk, v);
        }
        else {
            unsigned long long v = strtoull (start, NULL, 10);
            if (errno == 0)
                return msgpack_pack_uint64 (pk, v);
        }
    }
    return msgpack_pack_double (pk, strtod (start, NULL));
}

static int
s_value (s_js *j, msgpack_packer *pk)
{
    if (++j->depth > 64)
        return s_fail (j, "nested too deeply");
    s_ws (j);
    int rc = 0;
    char c = *j->p;
    if (c == '"') {
        char *s;
        size_t n;
        if (s_string (j, &s, &n))
            return -1;
        rc = msgpack_pack_str (pk, n) || msgpack_pack_str_body (pk, s, n);
        free (s);
    }
    else if (c == '[' || c == '{') {
        /* count the elements with a dry run into a null packer */
        bool obj = c == '{';
        s_js dry = *j;
        msgpack_packer nul;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init (&sb);
        msgpack_packer_init (&nul, &sb, msgpack_sbuffer_write);
        size_t n = 0;
        dry.p++;
        s_ws (&dry);
        if (*dry.p != (obj ? '}' : ']'))
            for (;;) {
                if (obj) {
                    s_ws (&dry);
                    char *k;
                    size_t kl;
                    if (*dry.p != '"' || s_string (&dry, &k, &kl)) {
                        msgpack_sbuffer_destroy (&sb);
                        return s_fail (j, "object key must be a string");
                    }
                    free (k);
                    s_ws (&dry);
                    if (*dry.p++ != ':') {
                        msgpack_sbuffer_destroy (&sb);
                        return s_fail (j, "expected ':'");
                    }
                }
                if (s_value (&dry, &nul)) {
                    msgpack_sbuffer_destroy (&sb);
                    return -1;
                }
                n++;
                s_ws (&dry);
                if (*dry.p == ',') {
                    dry.p++;
                    continue;
                }
                if (*dry.p == (obj ? '}' : ']'))
                    break;
                msgpack_sbuffer_destroy (&sb);
                return s_fail (j, "expected ',' or closing bracket");
            }
        msgpack_sbuffer_destroy (&sb);
        rc = obj ? msgpack_pack_map (pk, n) : msgpack_pack_array (pk, n);
        j->p++;
        for (size_t i = 0; i < n && rc == 0; i++) {
            s_ws (j);
            if (obj) {
                char *k;
                size_t kl;
                s_string (j, &k, &kl);
                rc = msgpack_pack_str (pk, kl) || msgpack_pack_str_body (pk, k, kl);
                free (k);
                s_ws (j);
                j->p++; /* ':' */
            }
            if (rc == 0 && s_value (j, pk))
                return -1;
            s_ws (j);
            if (*j->p == ',')
                j->p++;
        }
        s_ws (j);
        j->p++; /* closing bracket */
    }
    else if (strncmp (j->p, "true", 4) == 0) {
        j->p += 4;
        rc = msgpack_pack_true (pk);
    }
    else if (strncmp (j->p, "false", 5) == 0) {
        j->p += 5;
        rc = msgpack_pack_false (pk);
    }
    else if (strncmp (j->p, "null", 4) == 0) {
        j->p += 4;
        rc = msgpack_pack_nil (pk);
    }
    else if (c == '-' || (c >= '0' && c <= '9')) {
        if (s_number (j, pk))
            return -1;
    }
    else
        return s_fail (j, "unexpected character '%c'", c ? c : '?');
    j->depth--;
    return rc ? s_fail (j, "msgpack packing failed") : 0;
}

int
json_to_msgpack (const char *text, msgpack_packer *pk, char *err,
                 size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    s_js j = {text, err, errlen, 0};
    if (s_value (&j, pk))
        return -1;
    s_ws (&j);
    if (*j.p)
        return s_fail (&j, "trailing characters after the JSON value");
    return 0;
}
