# syntax=docker/dockerfile:1
# Pier's image where a registry serves swift:6.3-bookworm (docs/deploy.md, "Building the image"). Where none
# does, scripts/image makes the same image with `docker import`; the two agree on USER, ENTRYPOINT, CMD and
# EXPOSE (a PackagingTests case compares them). HEALTHCHECK is here for `docker run`; deploy/pier-stack.yml
# declares the same check, since an imported image carries none.
FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY . .
# .dockerignore keeps .build*/ and .git out; the whole tree is needed since Package.swift names Tests/ and Fuzz/.
# The flags are scripts/image's: a fully static binary (glibc, Swift runtime and Foundation linked in).
RUN swift build -c release --product pier --static-swift-stdlib -Xswiftc -static-executable \
        -Xswiftc -enforce-exclusivity=unchecked \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/pier" /out/usr/local/bin/pier \
 && strip /out/usr/local/bin/pier
COPY deploy/rootfs/ /out/
# COPY --from keeps owners: /var/lib/pier stays pier's (a new named volume mounted there copies it).
RUN install -d -m 1777 /out/tmp && install -d -m 0700 -o 10001 -g 10001 /out/var/lib/pier

FROM scratch
COPY --from=build /out/ /
USER 10001:10001
EXPOSE 8080 8443 7443
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 CMD ["/usr/local/bin/pier", "health"]
ENTRYPOINT ["/usr/local/bin/pier"]
CMD ["proxy"]
