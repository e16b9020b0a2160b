-- wrk script of the bench: POST the JSON body in $BENCH_BODY to the URL's path
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
