-- wrk script of the bench: POST the JSON body in $BENCH_BODY to the URL's path, with the
-- headers in $BENCH_HEADERS ("Name: value" lines; Portkey's routing headers)
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then wrk.headers[name] = value end
end
