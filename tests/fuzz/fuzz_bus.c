/*  fuzz_bus - the bus codecs: ofp_msg_decode of each protocol on arbitrary frames

    Input: a first byte choosing the protocol (its low bits) and whether the
    frames come from a ROUTER (bit 7, a routing id first), then frames, each a
    2-byte little-endian length and its bytes. A message decoded well-formed
    must encode and decode again well-formed, with the same command and body. */

#include "ofp_config.h"
#include "ofp_health.h"
#include "ofp_lease.h"
#include "ofp_models.h"
#include <assert.h>

static const ofp_protocol_t *const s_protocols [] = {
    &ofp_config_protocol, &ofp_lease_protocol, &ofp_health_protocol, &ofp_models_protocol
};
#define S_PROTOCOLS (sizeof s_protocols / sizeof s_protocols [0])

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const ofp_protocol_t *protocol = s_protocols [(data [0] & 0x7f) % S_PROTOCOLS];
    bool routed = (data [0] & 0x80) != 0;
    zmsg_t *zmsg = zmsg_new ();
    size_t at = 1;
    while (at + 2 <= size) {
        size_t length = (size_t) data [at] | (size_t) data [at + 1] << 8;
        at += 2;
        if (length > size - at)
            length = size - at;
        zmsg_addmem (zmsg, data + at, length);
        at += length;
    }
    ofp_msg_t *msg = ofp_msg_decode (protocol, &zmsg, routed);
    assert (msg && !zmsg);
    char *text = ofp_msg_format (msg);
    free (text);
    if (!ofp_msg_error (msg)) {
        zmsg_t *again = ofp_msg_encode (msg);
        ofp_msg_t *copy = ofp_msg_decode (protocol, &again, routed);
        assert (copy && !ofp_msg_error (copy));
        assert (streq (ofp_msg_command (copy), ofp_msg_command (msg)));
        assert (json_equal (ofp_msg_body (copy), ofp_msg_body (msg)));
        ofp_msg_destroy (&copy);
    }
    ofp_msg_destroy (&msg);
    return 0;
}
