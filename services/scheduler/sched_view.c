/*  =========================================================================
    sched_view - what the scheduler's views of the monitors share
    =========================================================================
*/

#include "sched_view.h"

zsock_t *
sched_view_subscriber (const char *endpoint, const char *signature)
{
    assert (endpoint && signature);
    zsock_t *socket = zsock_new (ZMQ_SUB);
    assert (socket);
    zsock_set_linger (socket, 0);
    zsock_set_subscribe (socket, signature);
    if (zsock_connect (socket, "%s", endpoint) != 0)
        zsock_destroy (&socket);
    return socket;
}

bool
sched_view_drain (zsock_t *socket, const ofp_protocol_t *protocol, sched_view_apply_fn *apply,
                  void *view)
{
    assert (socket && protocol && apply);
    bool changed = false;
    while (zsock_events (socket) & ZMQ_POLLIN) {
        ofp_msg_t *msg = ofp_msg_recv (protocol, socket);
        if (!msg)
            break;
        changed |= apply (view, msg);
        ofp_msg_destroy (&msg);
    }
    return changed;
}

bool
sched_view_sets_equal (zhashx_t *one, zhashx_t *two)
{
    assert (one && two);
    if (zhashx_size (one) != zhashx_size (two))
        return false;
    for (void *item = zhashx_first (one); item; item = zhashx_next (one))
        if (!zhashx_lookup (two, (const char *) zhashx_cursor (one)))
            return false;
    return true;
}

void
sched_view_set_destroy (void **item)
{
    zhashx_destroy ((zhashx_t **) item);
}

//  --------------------------------------------------------------------------
//  Self test

//  Counts the well-formed messages applied; each changes the view
static bool
s_test_count (void *view, ofp_msg_t *msg)
{
    assert (!ofp_msg_error (msg) && ofp_msg_is (msg, "TRANSITION"));
    (*(size_t *) view)++;
    return true;
}

void
sched_view_test (bool verbose)
{
    (void) verbose;
    printf (" * sched_view: ");
    zhashx_t *one = zhashx_new ();
    zhashx_t *two = zhashx_new ();
    assert (sched_view_sets_equal (one, two));
    zhashx_insert (one, "a", SCHED_VIEW_MEMBER);
    zhashx_insert (one, "b", SCHED_VIEW_MEMBER);
    zhashx_insert (two, "a", SCHED_VIEW_MEMBER);
    assert (!sched_view_sets_equal (one, two) && !sched_view_sets_equal (two, one));
    zhashx_insert (two, "c", SCHED_VIEW_MEMBER);
    assert (!sched_view_sets_equal (one, two));
    zhashx_delete (two, "c");
    zhashx_insert (two, "b", SCHED_VIEW_MEMBER);
    assert (sched_view_sets_equal (one, two));

    //  Sets as values go with their map
    zhashx_t *map = zhashx_new ();
    zhashx_set_destructor (map, sched_view_set_destroy);
    zhashx_insert (map, "one", one);
    zhashx_destroy (&map);
    zhashx_destroy (&two);

    //  A connect that fails gives no subscriber
    assert (sched_view_subscriber ("bogus://", OFP_HEALTH_SIGNATURE) == NULL);

    //  Draining applies what waits, decoded, and says whether it changed the view
    zsock_t *subscriber = sched_view_subscriber ("inproc://sched-view-test", OFP_HEALTH_SIGNATURE);
    zsock_t *publisher = zsock_new_pub ("inproc://sched-view-test");
    assert (subscriber && publisher);
    size_t applied = 0;
    int64_t deadline = zclock_mono () + 5000;
    while (applied == 0 && zclock_mono () < deadline) {
        //  The subscription takes a moment to reach the publisher
        json_t *body = json_pack ("{s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:i, s:s}", "Epoch",
                                  "0123456789abcdef", "Sequence", 1, "Backend", "b1", "State",
                                  "Healthy", "Since", "2025-01-01T00:00:00.000000Z", "Reason",
                                  "", "ConsecutiveSuccesses", 1, "ConsecutiveFailures", 0,
                                  "Previous", "Unknown");
        ofp_msg_t *msg = ofp_msg_new (&ofp_health_protocol, "TRANSITION", NULL, &body);
        ofp_msg_send (&msg, publisher);
        zpoller_t *poller = zpoller_new (subscriber, NULL);
        if (zpoller_wait (poller, 50))
            assert (sched_view_drain (subscriber, &ofp_health_protocol, s_test_count, &applied));
        zpoller_destroy (&poller);
    }
    assert (applied > 0);
    zsock_destroy (&publisher);
    zsock_destroy (&subscriber);
    printf ("OK\n");
}
