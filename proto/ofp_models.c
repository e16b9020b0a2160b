/*  =========================================================================
    ofp_models - codec of the models protocol (ofmodels/1), see models.md
    =========================================================================
*/

#include "ofp_models.h"
#include "ofp_check.h"
#include <ctype.h>

static const char *const s_api_formats [] = {"Ollama", "OpenAI", NULL};
static const char *const s_detail_strings [] = {
    "Format", "Family", "ParameterSize", "QuantizationLevel", "ParentModel", NULL
};

//  body[name] is absent, null, or a string of 0..max bytes
static int
s_check_optional_string (json_t *body, const char *name, size_t max, char *error, size_t size)
{
    if (!ofp_check_present (body, name))
        return 0;
    return ofp_check_string (body, name, 0, max, error, size);
}

//  body[name] is absent, null, or an integer >= 0
static int
s_check_optional_size (json_t *body, const char *name, char *error, size_t size)
{
    if (!ofp_check_present (body, name))
        return 0;
    return ofp_check_int (body, name, 0, INT64_MAX, error, size);
}

//  Details: the known fields are checked, unknown ones pass (newer Ollama versions add some)
static int
s_check_details (json_t *model, char *error, size_t size)
{
    if (ofp_check_type (model, "Details", JSON_OBJECT, error, size) != 0)
        return -1;
    json_t *details = json_object_get (model, "Details");
    char reason [256] = "";
    int rc = 0;
    for (const char *const *name = s_detail_strings; *name && rc == 0; name++)
        rc = s_check_optional_string (details, *name, OFP_MODELS_DETAIL_MAX, reason,
                                      sizeof reason);
    if (rc == 0 && ofp_check_present (details, "Families"))
        rc = ofp_check_strings (details, "Families", OFP_MODELS_FAMILIES_MAX, 0,
                                OFP_MODELS_DETAIL_MAX, reason, sizeof reason);
    if (rc != 0)
        snprintf (error, size, "Details.%s", reason);
    return rc;
}

//  {"Name", "Model", "Digest"?, "Size"?, "ModifiedAt"?, "Details"}
static int
s_check_model (json_t *model, char *error, size_t size)
{
    if (ofp_check_string (model, "Name", 1, OFP_MODELS_NAME_MAX, error, size) != 0
        || ofp_check_string (model, "Model", 0, OFP_MODELS_NAME_MAX, error, size) != 0
        || s_check_optional_string (model, "Digest", OFP_MODELS_DIGEST_MAX, error, size) != 0
        || s_check_optional_size (model, "Size", error, size) != 0
        || s_check_optional_string (model, "ModifiedAt", OFP_MODELS_TIME_MAX, error, size) != 0)
        return -1;
    return s_check_details (model, error, size);
}

//  {"Name", "ExpiresAt"?, "SizeVram"?}
static int
s_check_loaded (json_t *loaded, char *error, size_t size)
{
    if (ofp_check_string (loaded, "Name", 1, OFP_MODELS_NAME_MAX, error, size) != 0
        || s_check_optional_string (loaded, "ExpiresAt", OFP_MODELS_TIME_MAX, error, size) != 0)
        return -1;
    return s_check_optional_size (loaded, "SizeVram", error, size);
}

//  {"Backend", "ApiFormat", "Models", "Loaded", "FetchedUtc"?, "Error"?}
static int
s_check_inventory_record (json_t *inventory, char *error, size_t size)
{
    if (ofp_check_identifier (inventory, "Backend", error, size) != 0
        || ofp_check_enum (inventory, "ApiFormat", s_api_formats, error, size) != 0
        || ofp_check_each (inventory, "Models", OFP_MODELS_MODELS_MAX, s_check_model, error,
                           size) != 0
        || ofp_check_each (inventory, "Loaded", OFP_MODELS_LOADED_MAX, s_check_loaded, error,
                           size) != 0
        || s_check_optional_string (inventory, "Error", OFP_MODELS_ERROR_MAX, error, size) != 0)
        return -1;
    if (ofp_check_present (inventory, "FetchedUtc")
        && ofp_check_timestamp (inventory, "FetchedUtc", error, size) != 0)
        return -1;
    return 0;
}

//  {"Backend", "Model", "Job"?, "Status", "Digest"?, "Completed"?, "Total"?, "Done", "Error"?}
static int
s_check_pull_record (json_t *pull, char *error, size_t size)
{
    if (ofp_check_identifier (pull, "Backend", error, size) != 0
        || ofp_check_string (pull, "Model", 1, OFP_MODELS_NAME_MAX, error, size) != 0
        || ofp_check_string (pull, "Status", 0, OFP_MODELS_STATUS_MAX, error, size) != 0
        || s_check_optional_string (pull, "Digest", OFP_MODELS_DIGEST_MAX, error, size) != 0
        || s_check_optional_size (pull, "Completed", error, size) != 0
        || s_check_optional_size (pull, "Total", error, size) != 0
        || ofp_check_bool (pull, "Done", error, size) != 0
        || s_check_optional_string (pull, "Error", OFP_MODELS_ERROR_MAX, error, size) != 0)
        return -1;
    if (ofp_check_present (pull, "Job") && ofp_check_identifier (pull, "Job", error, size) != 0)
        return -1;
    //  A follower ends its stream on Done: an error on a pull still running would be lost
    if (ofp_check_present (pull, "Error") && !json_is_true (json_object_get (pull, "Done"))) {
        snprintf (error, size, "Error: only when Done is true");
        return -1;
    }
    return 0;
}

//  Published messages are numbered from 1 within an epoch
static int
s_check_epoch_sequence (json_t *body, char *error, size_t size)
{
    return ofp_check_epoch_sequence (body, 1, error, size);
}

//  {"Epoch", "Sequence", ...inventory}
static int
s_check_inventory (json_t *body, char *error, size_t size)
{
    if (s_check_epoch_sequence (body, error, size) != 0)
        return -1;
    return s_check_inventory_record (body, error, size);
}

//  {"Epoch", "Sequence", ...pull}
static int
s_check_pull (json_t *body, char *error, size_t size)
{
    if (s_check_epoch_sequence (body, error, size) != 0)
        return -1;
    return s_check_pull_record (body, error, size);
}

//  {"Epoch", "Sequence", "Inventories": [inventory...], "Pulls": [pull...]}
static int
s_check_state (json_t *body, char *error, size_t size)
{
    if (s_check_epoch_sequence (body, error, size) != 0
        || ofp_check_each (body, "Inventories", OFP_MODELS_RECORDS_MAX, s_check_inventory_record,
                           error, size) != 0)
        return -1;
    return ofp_check_each (body, "Pulls", OFP_MODELS_RECORDS_MAX, s_check_pull_record, error,
                           size);
}

//  {"Frontend", "Model"}
static int
s_check_frontend_model (json_t *body, char *error, size_t size)
{
    if (ofp_check_identifier (body, "Frontend", error, size) != 0)
        return -1;
    return ofp_check_string (body, "Model", 1, OFP_MODELS_NAME_MAX, error, size);
}

//  {"Frontend", "Model", "Backends"?}
static int
s_check_pull_start (json_t *body, char *error, size_t size)
{
    if (s_check_frontend_model (body, error, size) != 0)
        return -1;
    if (ofp_check_present (body, "Backends")
        && ofp_check_identifiers (body, "Backends", OFP_MODELS_BACKENDS_MAX, error, size) != 0)
        return -1;
    return 0;
}

//  {"Job", "Frontend", "Model", "Backends", "Skipped"}
static int
s_check_accepted (json_t *body, char *error, size_t size)
{
    if (ofp_check_identifier (body, "Job", error, size) != 0
        || s_check_frontend_model (body, error, size) != 0
        || ofp_check_identifiers (body, "Backends", OFP_MODELS_BACKENDS_MAX, error, size) != 0)
        return -1;
    return ofp_check_identifiers (body, "Skipped", OFP_MODELS_BACKENDS_MAX, error, size);
}

//  {"Backend", "Status", "Error"?}
static int
s_check_result (json_t *result, char *error, size_t size)
{
    if (ofp_check_identifier (result, "Backend", error, size) != 0)
        return -1;
    //  0: the backend could not be reached
    json_t *status = json_object_get (result, "Status");
    if (!json_is_integer (status)
        || (json_integer_value (status) != 0
            && (json_integer_value (status) < 100 || json_integer_value (status) > 599))) {
        snprintf (error, size, "Status: must be 0 (no answer) or an HTTP status 100 to 599");
        return -1;
    }
    return s_check_optional_string (result, "Error", OFP_MODELS_ERROR_MAX, error, size);
}

//  {"Frontend", "Model", "Results": [result...]}
static int
s_check_deleted (json_t *body, char *error, size_t size)
{
    if (s_check_frontend_model (body, error, size) != 0)
        return -1;
    return ofp_check_each (body, "Results", OFP_MODELS_BACKENDS_MAX, s_check_result, error,
                           size);
}

void
ofp_models_key (char *dest, const char *name)
{
    assert (dest && name);
    const char *slash = strrchr (name, '/');
    bool tagged = strchr (slash ? slash : name, ':') != NULL;
    snprintf (dest, OFP_MODELS_KEY_MAX, "%.*s%s", OFP_MODELS_NAME_MAX, name,
              tagged ? "" : OFP_MODELS_DEFAULT_TAG);
    for (char *c = dest; *c; c++)
        *c = (char) tolower ((unsigned char) *c);
}

static const ofp_command_t s_commands [] = {
    //  Published
    {"INVENTORY", false, s_check_inventory},
    {"PULL", false, s_check_pull},
    {"STATE", false, s_check_state},
    //  Requests
    {"PULL-START", true, s_check_pull_start},
    {"DELETE-MODEL", true, s_check_frontend_model},
    //  Replies
    {"ACCEPTED", true, s_check_accepted},
    {"DELETED", true, s_check_deleted},
    {"ERROR", true, ofp_check_error},
    {NULL, false, NULL}
};

const ofp_protocol_t ofp_models_protocol = {OFP_MODELS_SIGNATURE, OFP_MODELS_MAX_BODY,
                                            s_commands};

//  --------------------------------------------------------------------------
//  Self test

#define S_EPOCH "0123456789abcdef"
#define S_NOW   "2026-11-25T04:10:00.123456Z"

//  Decodes the given frames (NULL leaves a frame out) and checks the verdict:
//  fragment NULL means well-formed, else the error must contain it
static void
s_expect_frames (const char *signature, const char *command, const char *id, const char *body,
                 const char *fragment, bool verbose)
{
    ofp_msg_expect (&ofp_models_protocol, signature, command, id, body, fragment, verbose);
}

//  An INVENTORY as modelsync builds it from /api/tags and /api/ps
static json_t *
s_inventory (void)
{
    return json_pack ("{s:s, s:i, s:s, s:s, s:[{s:s, s:s, s:s, s:I, s:s, s:{s:s, s:s, s:[s], "
                      "s:s, s:s, s:s}}], s:[{s:s, s:s, s:I}], s:s}",
                      "Epoch", S_EPOCH, "Sequence", 4, "Backend", "b1", "ApiFormat", "Ollama",
                      "Models", "Name", "llama3.2:latest", "Model", "llama3.2:latest", "Digest",
                      "a80c4f17acd5", "Size", (json_int_t) 2019393189, "ModifiedAt",
                      "2025-05-04T17:37:44.706015396-07:00", "Details", "Format", "gguf",
                      "Family", "llama", "Families", "llama", "ParameterSize", "3.2B",
                      "QuantizationLevel", "Q4_K_M", "ParentModel", "", "Loaded", "Name",
                      "llama3.2:latest", "ExpiresAt", "2025-05-04T18:37:44.706015396-07:00",
                      "SizeVram", (json_int_t) 2019393189, "FetchedUtc", S_NOW);
}

//  Checks an INVENTORY made of a valid one with one field of its first model
//  (or of the inventory, when model is false) replaced by value (JSON text;
//  NULL removes the field)
static void
s_expect_inventory (bool model, const char *name, const char *value, const char *fragment,
                    bool verbose)
{
    json_t *body = s_inventory ();
    json_t *target = model ? json_array_get (json_object_get (body, "Models"), 0) : body;
    if (value)
        json_object_set_new (target, name, json_loads (value, JSON_DECODE_ANY, NULL));
    else
        json_object_del (target, name);
    char *text = json_dumps (body, JSON_COMPACT);
    if (verbose)
        printf ("  with %s%s = %.40s:\n", model ? "Models[0]." : "", name,
                value ? value : "(absent)");
    s_expect_frames (OFP_MODELS_SIGNATURE, "INVENTORY", NULL, text, fragment, verbose);
    free (text);
    json_decref (body);
}

void
ofp_models_test (bool verbose)
{
    printf (" * ofp_models: ");
    if (verbose)
        printf ("\n");

    //  Model keys: no tag means ":latest", case does not matter, a port is no tag
    char key [OFP_MODELS_KEY_MAX];
    ofp_models_key (key, "llama3");
    assert (streq (key, "llama3:latest"));
    ofp_models_key (key, "Llama3:LATEST");
    assert (streq (key, "llama3:latest"));
    ofp_models_key (key, "llama3:8b");
    assert (streq (key, "llama3:8b"));
    ofp_models_key (key, "registry:5000/x/qwen");
    assert (streq (key, "registry:5000/x/qwen:latest"));
    ofp_models_key (key, "registry:5000/x/qwen:7b");
    assert (streq (key, "registry:5000/x/qwen:7b"));

    //  What modelsync will build survives encode and decode
    json_t *body = s_inventory ();
    ofp_msg_t *msg = ofp_msg_new (&ofp_models_protocol, "INVENTORY", NULL, &body);
    zmsg_t *zmsg = ofp_msg_encode (msg);
    ofp_msg_destroy (&msg);
    msg = ofp_msg_decode (&ofp_models_protocol, &zmsg, false);
    assert (ofp_msg_error (msg) == NULL);
    ofp_msg_destroy (&msg);

    //  INVENTORY: the inventory's fields, then a model's
    s_expect_inventory (false, "Error", "\"HTTP 500\"", NULL, verbose);
    s_expect_inventory (false, "FetchedUtc", "null", NULL, verbose);
    s_expect_inventory (false, "FetchedUtc", "\"yesterday\"", "FetchedUtc", verbose);
    s_expect_inventory (false, "ApiFormat", "\"vLLM\"", "ApiFormat", verbose);
    s_expect_inventory (false, "Models", "{}", "Models", verbose);
    s_expect_inventory (false, "Models", "[\"llama3\"]", "Models[0]: must be an object",
                        verbose);
    s_expect_inventory (false, "Loaded", NULL, "Loaded", verbose);
    s_expect_inventory (false, "Loaded", "[{\"Name\":\"\"}]", "Loaded[0].Name", verbose);
    s_expect_inventory (false, "Loaded", "[{\"Name\":\"m\",\"SizeVram\":-1}]",
                        "Loaded[0].SizeVram", verbose);
    s_expect_inventory (false, "Sequence", "\"4\"", "Sequence", verbose);
    s_expect_inventory (true, "Digest", "null", NULL, verbose);
    s_expect_inventory (true, "Size", NULL, NULL, verbose);
    s_expect_inventory (true, "Name", NULL, "Models[0].Name", verbose);
    s_expect_inventory (true, "Size", "-5", "Models[0].Size", verbose);
    s_expect_inventory (true, "Size", "5.5", "Models[0].Size", verbose);
    s_expect_inventory (true, "Details", "null", "Models[0].Details", verbose);
    s_expect_inventory (true, "Details", "{\"Family\":7}", "Models[0].Details.Family", verbose);
    s_expect_inventory (true, "Details", "{\"Families\":\"llama\"}",
                        "Models[0].Details.Families", verbose);
    s_expect_inventory (true, "Details", "{\"ContextLength\":131072}", NULL, verbose);
    json_t *models = json_array ();
    for (int i = 0; i <= OFP_MODELS_MODELS_MAX; i++)
        json_array_append_new (models, json_pack ("{s:s, s:s, s:{}}", "Name", "m", "Model", "m",
                                                  "Details"));
    char *text = json_dumps (models, JSON_COMPACT);
    json_decref (models);
    s_expect_inventory (false, "Models", text, "Models: must be an array of at most 4096",
                        verbose);
    free (text);

    //  PULL
    const char *head = "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":5,\"Backend\":\"b1\",";
    char pull [512];
    snprintf (pull, sizeof pull, "%s\"Model\":\"llama3\",\"Job\":\"j1\",\"Status\":\"pulling "
              "6a0746a1ec1a\",\"Completed\":241970,\"Total\":2019377376,\"Done\":false}", head);
    s_expect_frames (OFP_MODELS_SIGNATURE, "PULL", NULL, pull, NULL, verbose);
    snprintf (pull, sizeof pull, "%s\"Model\":\"llama3\",\"Status\":\"pulling manifest\","
              "\"Done\":true,\"Error\":\"pull model manifest: file does not exist\"}", head);
    s_expect_frames (OFP_MODELS_SIGNATURE, "PULL", NULL, pull, NULL, verbose);
    snprintf (pull, sizeof pull, "%s\"Model\":\"llama3\",\"Status\":\"pulling manifest\","
              "\"Done\":false,\"Error\":\"oops\"}", head);
    s_expect_frames (OFP_MODELS_SIGNATURE, "PULL", NULL, pull, "Error: only when Done", verbose);
    snprintf (pull, sizeof pull, "%s\"Model\":\"llama3\",\"Status\":\"x\",\"Done\":\"no\"}",
              head);
    s_expect_frames (OFP_MODELS_SIGNATURE, "PULL", NULL, pull, "Done", verbose);
    snprintf (pull, sizeof pull, "%s\"Model\":\"\",\"Status\":\"x\",\"Done\":true}", head);
    s_expect_frames (OFP_MODELS_SIGNATURE, "PULL", NULL, pull, "Model", verbose);
    snprintf (pull, sizeof pull, "%s\"Model\":\"m\",\"Status\":\"x\",\"Done\":true,"
              "\"Completed\":-1}", head);
    s_expect_frames (OFP_MODELS_SIGNATURE, "PULL", NULL, pull, "Completed", verbose);
    snprintf (pull, sizeof pull, "%s\"Model\":\"m\",\"Status\":\"x\",\"Done\":true,"
              "\"Job\":\"j 1\"}", head);
    s_expect_frames (OFP_MODELS_SIGNATURE, "PULL", NULL, pull, "Job", verbose);

    //  STATE
    s_expect_frames (OFP_MODELS_SIGNATURE, "STATE", NULL,
                     "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":6,\"Inventories\":[],\"Pulls\":[]}",
                     NULL, verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "STATE", NULL,
                     "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":6,\"Inventories\":[{\"Backend\":"
                     "\"b1\",\"ApiFormat\":\"OpenAI\",\"Models\":[],\"Loaded\":[]}],"
                     "\"Pulls\":[{\"Backend\":\"b2\",\"Model\":\"m\",\"Status\":\"success\"}]}",
                     "Pulls[0].Done", verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "STATE", NULL,
                     "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":6,\"Pulls\":[]}", "Inventories",
                     verbose);

    //  Requests and replies
    s_expect_frames (OFP_MODELS_SIGNATURE, "PULL-START", "9",
                     "{\"Frontend\":\"f1\",\"Model\":\"llama3\"}", NULL, verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "PULL-START", "9",
                     "{\"Frontend\":\"f1\",\"Model\":\"llama3\",\"Backends\":[\"b1\",\"b1\"]}",
                     "listed twice", verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "PULL-START", "9", "{\"Frontend\":\"f1\"}", "Model",
                     verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "PULL-START", NULL, "{\"Frontend\":\"f1\"}",
                     "missing body", verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "ACCEPTED", "9",
                     "{\"Job\":\"j1\",\"Frontend\":\"f1\",\"Model\":\"llama3\",\"Backends\":"
                     "[\"b1\"],\"Skipped\":[\"b2\"]}", NULL, verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "ACCEPTED", "9",
                     "{\"Job\":\"j1\",\"Frontend\":\"f1\",\"Model\":\"llama3\",\"Backends\":"
                     "[\"b1\"]}", "Skipped", verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "DELETE-MODEL", "10",
                     "{\"Frontend\":\"f1\",\"Model\":\"llama3:latest\"}", NULL, verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "DELETED", "10",
                     "{\"Frontend\":\"f1\",\"Model\":\"m\",\"Results\":[{\"Backend\":\"b1\","
                     "\"Status\":200},{\"Backend\":\"b2\",\"Status\":0,\"Error\":\"refused\"}]}",
                     NULL, verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "DELETED", "10",
                     "{\"Frontend\":\"f1\",\"Model\":\"m\",\"Results\":[{\"Backend\":\"b1\","
                     "\"Status\":42}]}", "Results[0].Status", verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "ERROR", "10",
                     "{\"Status\":409,\"Error\":\"NoOllamaBackend\",\"Message\":\"\"}", NULL,
                     verbose);

    //  Frames: signature, command, body, JSON, size
    s_expect_frames ("ofhealth/1", "STATE", NULL, "{}", "signature", verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, NULL, NULL, NULL, "command", verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "DELETE", "1", "{}", "unknown command", verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "DELETE-MODEL", "1", "{\"Frontend\":}",
                     "not valid JSON", verbose);
    s_expect_frames (OFP_MODELS_SIGNATURE, "DELETE-MODEL", "1", "[]", "JSON object", verbose);
    zmsg = zmsg_new ();
    zmsg_addstr (zmsg, OFP_MODELS_SIGNATURE);
    zmsg_addstr (zmsg, "DELETE-MODEL");
    zmsg_addstr (zmsg, "1");
    zmsg_addstr (zmsg, "{\"Frontend\":\"f1\",\"Model\":\"m\"}");
    zmsg_addstr (zmsg, "{}");
    msg = ofp_msg_decode (&ofp_models_protocol, &zmsg, false);
    assert (ofp_msg_error (msg) && strstr (ofp_msg_error (msg), "extra frames"));
    ofp_msg_destroy (&msg);
    size_t big_size = OFP_MODELS_MAX_BODY + 1;
    char *big = (char *) malloc (big_size + 1);
    memset (big, ' ', big_size);
    big [0] = '{';
    big [big_size - 1] = '}';
    big [big_size] = 0;
    s_expect_frames (OFP_MODELS_SIGNATURE, "STATE", NULL, big, "over the limit", verbose);
    free (big);

    printf ("OK\n");
}
