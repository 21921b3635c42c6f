/*  core/zap.c: the parts of troupe's CURVE handling that read input from
    outside: a ZAP request (RFC 27), which carries the connecting peer's
    address and public key, and the text of a key (a key file's line, an
    allow-list entry). Pure functions, no sockets and no system, so that
    the fuzzer (tests/fuzz/fuzz_curve.c) links them alone; core/curve.c
    calls them. The CurveZMQ handshake itself is libzmq's. */
#include "private.h"

/*  Z85's alphabet (ZeroMQ RFC 32). */
static bool
s_z85_char (unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
           || (c >= 'A' && c <= 'Z') || (c && strchr (".-:+=^!/*?&<>()[]{}@%$#", c));
}

int
tp__key_parse (const char *text, size_t len, char z85[41], uint8_t bin[32])
{
    if (!text)
        return TP_EINVAL;
    if (len && text[len - 1] == '\n')
        len--;
    if (len && text[len - 1] == '\r')
        len--;
    if (len != 40)
        return TP_EINVAL;
    char buf[41];
    for (size_t i = 0; i < 40; i++) {
        if (!s_z85_char ((unsigned char) text[i]))
            return TP_EINVAL;
        buf[i] = text[i];
    }
    buf[40] = '\0';
    uint8_t out[32];
    char back[41];
    /* canonical only: Z85 groups past 2^32 would wrap to another key */
    if (!zmq_z85_decode (out, buf) || !zmq_z85_encode (back, out, 32)
        || memcmp (back, buf, 40) != 0)
        return TP_EINVAL;
    if (z85)
        memcpy (z85, buf, 41);
    if (bin)
        memcpy (bin, out, 32);
    return 0;
}

static bool
s_is (const tp__zap_frame *f, const char *s)
{
    size_t n = strlen (s);
    return f->size == n && (n == 0 || memcmp (f->data, s, n) == 0);
}

void
tp__zap_decide (const tp__zap_frame *f, int n, const uint8_t (*allow)[32],
                int nallow, tp__zap_verdict *v)
{
    v->ok = false;
    snprintf (v->addr, sizeof v->addr, "?");
    snprintf (v->key, sizeof v->key, "?");
    /* version, request id, domain, address, routing id, mechanism,
       credentials (CURVE: exactly one, the client's public key) */
    if (n < 7)
        return;
    size_t al = f[3].size < sizeof v->addr - 1 ? f[3].size : sizeof v->addr - 1;
    for (size_t i = 0; i < al; i++) {
        unsigned char c = ((const unsigned char *) f[3].data)[i];
        v->addr[i] = c >= 0x20 && c < 0x7f ? (char) c : '?';
    }
    v->addr[al ? al : 1] = '\0';
    if (f[6].size == 32)
        zmq_z85_encode (v->key, (const uint8_t *) f[6].data, 32);
    if (n != 7 || !s_is (&f[0], "1.0") || !s_is (&f[5], "CURVE")
        || f[6].size != 32)
        return;
    for (int i = 0; i < nallow; i++)
        if (memcmp (allow[i], f[6].data, 32) == 0) {
            v->ok = true;
            return;
        }
}
