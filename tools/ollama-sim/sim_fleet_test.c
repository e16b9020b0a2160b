/*  =========================================================================
    sim_fleet_test - self-test of the fleet file parser, with malformed input
    =========================================================================
*/

#include "sim_cli.h"
#include "sim_fleet.h"
#include <assert.h>
#include <stdio.h>
#include <string.h>

static void
s_expect_error (const char *text, const char *fragment)
{
    char error [SIM_ERROR_MAX] = "";
    sim_fleet_t *fleet = sim_fleet_new_from_text (text, error, sizeof error);
    if (fleet || !strstr (error, fragment)) {
        fprintf (stderr, "fleet %s: expected error with '%s', got '%s'\n", text, fragment, error);
        assert (false);
    }
}

void
sim_fleet_test (void)
{
    char error [SIM_ERROR_MAX];
    sim_fleet_t *fleet = sim_fleet_new_from_text (
        "{\"control_port\":0,\"seed\":7,\"defaults\":{\"parallel\":2,\"decode_rate\":0},"
        "\"registry\":[\"qwen2.5:0.5b\"],"
        "\"backends\":[{\"name\":\"a\",\"models\":[\"Llama3.2\",{\"name\":\"bge\","
        "\"embedding\":true,\"embedding_length\":1024,\"loaded\":true}],"
        "\"faults\":{\"drop_after_tokens\":3}},"
        "{\"name\":\"b\",\"api\":\"openai\",\"parallel\":8,\"keep_alive\":\"10m\","
        "\"stamp_chunks\":true}]}",
        error, sizeof error);
    assert (fleet);
    assert (sim_fleet_size (fleet) == 2);
    sim_backend_config_t *a = sim_fleet_backend (fleet, 0), *b = sim_fleet_backend (fleet, 1);
    assert (strcmp (a->name, "a") == 0 && a->parallel == 2 && a->decode_rate == 0);
    assert (a->seed == 7 && a->model_count == 2);
    assert (strcmp (a->models [0].name, "llama3.2:latest") == 0);
    assert (strlen (a->models [0].digest) == SIM_DIGEST_HEX);
    assert (a->models [1].embedding && a->models [1].loaded);
    assert (a->models [1].embedding_length == 1024);
    assert (a->faults.drop_after_tokens == 3 && a->faults.error_after_tokens == -1);
    assert (b->api == SIM_API_OPENAI && b->parallel == 8 && b->keep_alive_ms == 600000);
    assert (b->model_count == 0 && sim_fleet_backend (fleet, 2) == NULL);
    assert (b->stamp_chunks && !a->stamp_chunks);
    assert (sim_fleet_registry_find (fleet, "qwen2.5:0.5b"));
    assert (sim_fleet_registry_find (fleet, "bge:latest"));
    assert (!sim_fleet_registry_find (fleet, "nothing:latest"));

    //  Run-time changes: applied whole or not at all
    json_t *change = json_loads ("{\"decode_rate\":5,\"faults\":{\"hang\":true}}", 0, NULL);
    assert (sim_fleet_apply_backend (a, change, false, error, sizeof error) == 0);
    assert (a->decode_rate == 5 && a->faults.hang);
    json_decref (change);
    change = json_loads ("{\"decode_rate\":7,\"parallel\":0}", 0, NULL);
    assert (sim_fleet_apply_backend (a, change, false, error, sizeof error) == -1);
    assert (a->decode_rate == 5 && a->parallel == 2);
    json_decref (change);
    change = json_loads ("{\"models\":[]}", 0, NULL);
    assert (sim_fleet_apply_backend (a, change, false, error, sizeof error) == -1);
    json_decref (change);
    //  TLS: a certificate and its key, together, at start only
    change = json_loads ("{\"tls_cert\":\"c.pem\"}", 0, NULL);
    assert (sim_fleet_apply_backend (a, change, true, error, sizeof error) == -1);
    assert (strstr (error, "go together") && *a->tls_cert == 0);
    json_decref (change);
    change = json_loads ("{\"tls_cert\":\"c.pem\",\"tls_key\":\"k.pem\"}", 0, NULL);
    assert (sim_fleet_apply_backend (a, change, false, error, sizeof error) == -1);
    assert (strstr (error, "cannot be changed at run time"));
    assert (sim_fleet_apply_backend (a, change, true, error, sizeof error) == 0);
    assert (strcmp (a->tls_cert, "c.pem") == 0 && strcmp (a->tls_key, "k.pem") == 0);
    json_decref (change);
    sim_fleet_destroy (&fleet);
    sim_fleet_destroy (&fleet);
    assert (fleet == NULL);

    //  Malformed input never crashes and says what is wrong
    s_expect_error ("", "line");
    s_expect_error ("{", "line");
    s_expect_error ("[]", "JSON object");
    s_expect_error ("{}", "'backends'");
    s_expect_error ("{\"backends\":[]}", "'backends'");
    s_expect_error ("{\"backends\":{}}", "'backends'");
    s_expect_error ("{\"backends\":[1]}", "JSON object");
    s_expect_error ("{\"backends\":[{}],\"extra\":1}", "unknown fleet key");
    s_expect_error ("{\"backends\":[{\"prot\":1}]}", "unknown backend key 'prot'");
    s_expect_error ("{\"backends\":[{\"port\":70000}]}", "'port'");
    s_expect_error ("{\"backends\":[{\"port\":\"x\"}]}", "'port'");
    s_expect_error ("{\"backends\":[{\"parallel\":0}]}", "'parallel'");
    s_expect_error ("{\"backends\":[{\"decode_rate\":-1}]}", "'decode_rate'");
    s_expect_error ("{\"backends\":[{\"api\":\"grpc\"}]}", "'api'");
    s_expect_error ("{\"backends\":[{\"keep_alive\":\"5 minutes\"}]}", "'keep_alive'");
    s_expect_error ("{\"backends\":[{\"faults\":[]}]}", "'faults'");
    s_expect_error ("{\"backends\":[{\"faults\":{\"explode\":true}}]}", "unknown fault");
    s_expect_error ("{\"backends\":[{\"faults\":{\"hang\":1}}]}", "'hang'");
    s_expect_error ("{\"backends\":[{\"models\":{}}]}", "'models'");
    s_expect_error ("{\"backends\":[{\"models\":[{}]}]}", "'name'");
    s_expect_error ("{\"backends\":[{\"models\":[{\"name\":\"\"}]}]}", "'name'");
    s_expect_error ("{\"backends\":[{\"models\":[{\"name\":\"x:\"}]}]}", "'name'");
    s_expect_error ("{\"backends\":[{\"models\":[{\"name\":\"x\",\"size\":-1}]}]}", "'size'");
    s_expect_error ("{\"backends\":[{\"models\":[{\"name\":\"x\",\"digest\":\"abc\"}]}]}",
                    "'digest'");
    s_expect_error ("{\"backends\":[{\"models\":[{\"name\":\"x\",\"colour\":1}]}]}",
                    "unknown model key");
    s_expect_error ("{\"backends\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", "duplicate");
    s_expect_error ("{\"defaults\":{\"parallel\":-3},\"backends\":[{}]}", "defaults");
    s_expect_error ("{\"registry\":[5],\"backends\":[{}]}", "registry");
    s_expect_error ("{\"time_scale\":0,\"backends\":[{}]}", "'time_scale'");
    s_expect_error ("{\"backends\":[{\"time_scale\":5000}]}", "'time_scale'");
    s_expect_error ("{\"backends\":[{\"load_rate\":-1}]}", "'load_rate'");
    s_expect_error ("{\"backends\":[{\"unload_ms\":-1}]}", "'unload_ms'");
    s_expect_error ("{\"backends\":[{\"cache_ram_tokens\":1e12}]}", "'cache_ram_tokens'");
    s_expect_error ("{\"backends\":[{\"cache_restore_rate\":\"fast\"}]}", "'cache_restore_rate'");
    s_expect_error ("{\"backends\":[{\"models\":[{\"name\":\"x\",\"load_ms\":-5}]}]}", "'load_ms'");

    //  The time scale of the fleet reaches every backend and scales times and rates
    fleet = sim_fleet_new_from_text ("{\"time_scale\":4,\"backends\":[{\"load_rate\":1e9,"
                                     "\"unload_ms\":200,\"cache_ram_tokens\":100}]}",
                                     error, sizeof error);
    assert (fleet);
    const sim_backend_config_t *scaled = sim_fleet_backend (fleet, 0);
    assert (scaled->time_scale == 4 && scaled->load_rate == 1e9 && scaled->unload_ms == 200);
    assert (scaled->cache_ram_tokens == 100);
    assert (sim_fleet_scaled_ns (scaled, 200) == 50 * 1000000LL);
    assert (sim_fleet_scaled_rate (scaled, 100) == 400);
    sim_fleet_destroy (&fleet);
    assert (!sim_fleet_new_from_file ("/nonexistent/fleet.json", error, sizeof error));

    //  Names: tag defaults to latest, case-insensitive, registry host kept
    char name [SIM_NAME_MAX];
    assert (sim_fleet_normalise ("Llama3.2", name, sizeof name) == 0);
    assert (strcmp (name, "llama3.2:latest") == 0);
    assert (sim_fleet_normalise ("host:5000/ns/m", name, sizeof name) == 0);
    assert (strcmp (name, "host:5000/ns/m:latest") == 0);
    assert (sim_fleet_normalise ("", name, sizeof name) == -1);
    assert (sim_fleet_normalise (NULL, name, sizeof name) == -1);

    //  The demo fleet and the flag-built fleet parse
    fleet = sim_fleet_new_from_text (sim_cli_demo_fleet (), error, sizeof error);
    assert (fleet && sim_fleet_size (fleet) == 3);
    sim_fleet_destroy (&fleet);
    json_t *simple = json_pack ("{sisi}", "port", 20000, "parallel", 3);
    fleet = sim_fleet_new_simple (simple, 3, error, sizeof error);
    assert (fleet && sim_fleet_backend (fleet, 2)->port == 20002);
    assert (strcmp (sim_fleet_backend (fleet, 1)->name, "sim-1") == 0);
    sim_fleet_destroy (&fleet);
    assert (!sim_fleet_new_simple (simple, 0, error, sizeof error));
    json_decref (simple);
}
