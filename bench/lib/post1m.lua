-- wrk script for scenario (d): POST /upload with a 1 MiB body on keep-alive connections.
wrk.method = "POST"
wrk.body = string.rep("u", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
