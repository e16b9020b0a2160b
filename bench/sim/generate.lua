-- wrk script: POST /api/generate; GEN_STREAM and GEN_TOKENS come from the environment
local stream = os.getenv("GEN_STREAM") or "false"
local tokens = os.getenv("GEN_TOKENS") or "1"
wrk.method = "POST"
wrk.path = "/api/generate"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"llama3.2","prompt":"hello","stream":' .. stream ..
           ',"options":{"num_predict":' .. tokens .. '}}'
