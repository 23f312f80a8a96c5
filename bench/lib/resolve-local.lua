-- wrk script of scenario (h): connect to 127.0.0.1 whatever host the URL names, so that the URL can carry
-- the benchmark host name, which wrk sends as the TLS SNI, without that name having to resolve.
function wrk.resolve(host, service)
   wrk.addrs = wrk.lookup("127.0.0.1", service)
end
