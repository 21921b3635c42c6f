/*  core/wire.c: encode and decode node envelopes (see wire.h). */
#include "wire.h"

static const char *const s_kind_names[] = {
    "?",       "HELLO",  "USER", "MONITOR",   "DEMONITOR",    "DOWN",
    "LINK",    "UNLINK", "EXIT", "STOP",      "LOOKUP",       "LOOKUP_REPLY",
    "HEARTBEAT", "DRAIN", "DRAIN_ACK"};

const char *
tp__wire_kind_name (uint32_t kind)
{
    return kind >= 1 && kind <= TP__WIRE_KIND_MAX ? s_kind_names[kind] : "?";
}

bool
tp__wire_node_name_ok (const char *name, size_t len)
{
    if (!name || len == 0 || len > TP_NODE_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static int
s_buf_write (void *data, const char *buf, size_t len)
{
    msgpack_sbuffer *sb = data;
    return msgpack_sbuffer_write (sb, buf, len);
}

int
tp__wire_encode (const tp__env *e, uint8_t **buf, size_t *len)
{
    if (!e || e->kind < 1 || e->kind > TP__WIRE_KIND_MAX
        || !tp__wire_node_name_ok (e->from_node, e->from_node_len)
        || (e->flags & ~(uint32_t) (TP__WIRE_F_REQUEST | TP__WIRE_F_REPLY))
        || (!e->body && e->body_len))
        return TP_EINVAL;
    if (e->body_len > TP_MSG_MAX_BODY)
        return TP_ETOOBIG;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, s_buf_write);
    int rc = msgpack_pack_array (&pk, 11);
    rc |= msgpack_pack_uint32 (&pk, TP__WIRE_VERSION);
    rc |= msgpack_pack_uint32 (&pk, e->kind);
    rc |= msgpack_pack_uint32 (&pk, e->to_index);
    rc |= msgpack_pack_uint32 (&pk, e->to_gen);
    rc |= msgpack_pack_str (&pk, e->from_node_len);
    rc |= msgpack_pack_str_body (&pk, e->from_node, e->from_node_len);
    rc |= msgpack_pack_uint32 (&pk, e->from_index);
    rc |= msgpack_pack_uint32 (&pk, e->from_gen);
    rc |= msgpack_pack_uint64 (&pk, e->tag);
    rc |= msgpack_pack_uint64 (&pk, e->corr);
    rc |= msgpack_pack_uint32 (&pk, e->flags);
    rc |= msgpack_pack_bin (&pk, e->body_len);
    if (e->body_len)
        rc |= msgpack_pack_bin_body (&pk, e->body, e->body_len);
    if (rc || sb.size > TP__WIRE_MAX_FRAME) {
        msgpack_sbuffer_destroy (&sb);
        return rc ? TP_EINVAL : TP_ETOOBIG;
    }
    /* hand the sbuffer's memory over: it was allocated with malloc */
    *buf = (uint8_t *) sb.data;
    *len = sb.size;
    return 0;
}

int
tp__wire_decode (const void *frame, size_t len, tp__env *out)
{
    if (!frame || !out)
        return TP_EPROTO;
    if (len > TP__WIRE_MAX_FRAME)
        return TP_ETOOBIG;
    const uint8_t *p = frame;
    /* Another protocol version may have another shape: look at the first
       element before insisting on ours. */
    if (len >= 2 && (p[0] & 0xf0) == 0x90 && p[1] <= 0x7f
        && p[1] != TP__WIRE_VERSION)
        return TP_ENOTSUP;
    unsigned version, kind, to_index, to_gen, from_index, from_gen, flags;
    const char *node;
    size_t node_len, body_len;
    const void *body;
    uint64_t tag, corr;
    int rc = tp_unpack_raw (frame, len, "[uuuusuuUUux]", &version, &kind,
                            &to_index, &to_gen, &node, &node_len, &from_index,
                            &from_gen, &tag, &corr, &flags, &body, &body_len);
    if (rc)
        return TP_EPROTO;
    if (version != TP__WIRE_VERSION)
        return TP_ENOTSUP;
    if (kind < 1 || kind > TP__WIRE_KIND_MAX
        || !tp__wire_node_name_ok (node, node_len)
        || (flags & ~(unsigned) (TP__WIRE_F_REQUEST | TP__WIRE_F_REPLY)))
        return TP_EPROTO;
    out->kind = kind;
    out->to_index = to_index;
    out->to_gen = to_gen;
    out->from_node = node;
    out->from_node_len = node_len;
    out->from_index = from_index;
    out->from_gen = from_gen;
    out->tag = tag;
    out->corr = corr;
    out->flags = flags;
    out->body = body;
    out->body_len = body_len;
    return 0;
}
