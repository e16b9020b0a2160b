/*  =========================================================================
    ofp_tap - copies of request/reply traffic for the tap (oftap/1), see tap.md
    =========================================================================
*/

#include "ofp_tap.h"

void
ofp_tap_publish (zsock_t *publisher, const char *service, const char *direction, ofp_msg_t *msg)
{
    if (!publisher)
        return;
    assert (service && direction && msg);
    zmsg_t *zmsg = ofp_msg_encode (msg);
    if (ofp_msg_routing_id (msg)) {
        zframe_t *routing_id = zmsg_pop (zmsg);
        zframe_destroy (&routing_id);
    }
    zmsg_pushstr (zmsg, direction);
    zmsg_pushstr (zmsg, service);
    zmsg_pushstr (zmsg, OFP_TAP_SIGNATURE);
    zmsg_send (&zmsg, publisher);
    zmsg_destroy (&zmsg);
}

void
ofp_tap_test (bool verbose)
{
    (void) verbose;
    printf (" * ofp_tap: ");
    zsock_t *pub = zsock_new_pub ("inproc://ofp_tap_test");
    zsock_t *sub = zsock_new_sub ("inproc://ofp_tap_test", "");
    assert (pub && sub);
    static const ofp_command_t commands [] = {{"ASK", true, NULL}, {NULL, false, NULL}};
    static const ofp_protocol_t protocol = {"oftest/1", 1024, commands};
    json_t *body = json_pack ("{s:i}", "N", 1);
    ofp_msg_t *msg = ofp_msg_new (&protocol, "ASK", "q1", &body);
    zframe_t *routing_id = zframe_new ("peer", 4);
    ofp_msg_set_routing_id (msg, routing_id);
    zframe_destroy (&routing_id);
    ofp_tap_publish (NULL, "x", "IN", msg);      //  off: nothing
    ofp_tap_publish (pub, "configd", "IN", msg);
    ofp_msg_destroy (&msg);
    zmsg_t *copy = zmsg_recv (sub);
    assert (copy && zmsg_size (copy) == 7);
    char *frame = zmsg_popstr (copy);
    assert (streq (frame, OFP_TAP_SIGNATURE));
    free (frame);
    frame = zmsg_popstr (copy);
    assert (streq (frame, "configd"));
    free (frame);
    frame = zmsg_popstr (copy);
    assert (streq (frame, "IN"));
    free (frame);
    frame = zmsg_popstr (copy);
    assert (streq (frame, "oftest/1"));
    free (frame);
    zmsg_destroy (&copy);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
    printf ("OK\n");
}
