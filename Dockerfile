# clusteropt-agent image. Build it with `npm run image` (scripts/image/build.sh), or with
# BuildKit directly: `DOCKER_BUILDKIT=1 docker build --build-arg VERSION=... .` Two stages:
#  build   - Node 24 on Debian bookworm: `npm ci` (compiles better-sqlite3 for this Node when
#            no prebuilt binary matches), then `node scripts/bundle.ts`: the CLI as minified
#            ES modules, dist/cli.mjs and the chunks it imports on demand (esbuild; the AWS
#            SDK is one, loaded only on AWS) with their source maps, the kubectl plugin as
#            dist/kubectl-clusteropt.mjs, and better-sqlite3 (the one external package) under
#            dist/node_modules/; smoke test of dist/ alone.
#  runtime - distroless Node 24 (Debian 12, same glibc as the build stage, so the compiled
#            better-sqlite3 addon loads), no shell or package manager, user nonroot (65532).
# A bundle rather than node_modules: V8 keeps the source of every module it loads, and one
# minified file of the reachable code costs tens of MiB less RSS than the packages as
# published (docs/benchmarks-scale.md, "Bundle"); no sources, tests or package.json ship.
# Pin the bases by digest for production builds, e.g.
#   --build-arg NODE_IMAGE=node:24.21.0-bookworm-slim@sha256:...
# No `# syntax=` line: BuildKit would pull that frontend image from a registry; the built-in
# frontend (Docker 20.10+) has everything used here, secret mounts included.
# A TLS-inspecting proxy between the build and the npm registry: give its CA bundle as the
# build secret `npm_ca` (`--secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt`). It is
# mounted for `npm ci` alone and never written to a layer of either stage.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${NODE_IMAGE} AS build
# Toolchain for node-gyp, used when better-sqlite3 has no prebuilt binary for this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm_ca,required=false \
    if [ -s /run/secrets/npm_ca ]; then \
      export NPM_CONFIG_CAFILE=/run/secrets/npm_ca NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; \
    fi \
 && npm ci --no-audit --no-fund
COPY scripts/bundle.ts scripts/source-map-filter.ts ./scripts/
COPY src ./src
RUN node scripts/bundle.ts \
 && rm -rf node_modules src \
 # Smoke test of dist/ on its own: the CLI starts, its contract is the committed one, the
 # kubectl plugin (package.json's second bin) starts, and the native SQLite addon loads
 # from dist/node_modules.
 && node dist/cli.mjs --version \
 && node dist/cli.mjs run --help > /dev/null \
 && node dist/cli.mjs openapi --check \
 && node dist/kubectl-clusteropt.mjs --help > /dev/null \
 && cd dist && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

FROM ${RUNTIME_IMAGE}
# package.json's version and the git commit; scripts/image/build.sh passes both.
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="clusteropt-agent" \
      org.opencontainers.image.description="In-cluster agent of the clusteropt cost-optimisation platform" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# `clusteropt-agent --version` and the clusteropt_agent_build_info metric report it.
ENV CLUSTEROPT_BUILD_REVISION=${REVISION}
WORKDIR /app
COPY --from=build /app/dist ./dist
ENV NODE_ENV=production
# glibc gives every thread that mallocs its own arena (up to 8 per core); V8's compiler and
# GC threads then strand freed memory in arenas of their own. With two, the agent's RSS at
# 5,000 nodes was ~20 MiB lower in a back-to-back run (docs/inventory.md, Measured).
ENV MALLOC_ARENA_MAX=2
# Blocks of 32 KiB and more are mmap'ed, so freeing them returns them to the kernel: V8's
# parser and compiler zones and I/O buffers otherwise stay in glibc's main arena once freed
# (at 5,000 nodes the arena held 87-111 MiB; with this 10-15 MiB). docs/benchmarks-scale.md.
ENV MALLOC_MMAP_THRESHOLD_=32768
# Numeric, so Kubernetes can verify runAsNonRoot. The root filesystem may be read-only:
# the agent writes only to its state dir (a volume) and /tmp (mount an emptyDir).
USER 65532:65532
VOLUME ["/var/lib/clusteropt-agent"]
EXPOSE 8080
# `run` is the default command; the same image also runs the reference control plane
# (`control-plane serve ...`), which the kind e2e script uses.
# --max-semi-space-size=2 (MiB): V8 otherwise lets each young-generation semi-space grow to
# 64 MiB when allocation is heavy (listing 5,000 Nodes, parsing DescribeInstances XML) and
# keeps those 128 MiB resident afterwards; at 2 MiB the agent's RSS after sync at 5,000
# nodes was ~125 MiB lower (419 -> 294 MiB back to back) for more, cheap, scavenges (first
# report times within run-to-run noise). Measured in docs/inventory.md; the inventory
# benchmark runs the agent with exactly these flags and ENV (it reads this file).
# --memory-saver-mode: V8 collects the old generation sooner instead of letting it grow to
# 2-4x the live data; at 5,000 nodes the heap after sync is ~40 MiB instead of ~80, for more
# CPU in full GCs (start-up and bursts: measured in docs/benchmarks-scale.md).
# --enable-source-maps: stack traces name src/ files and lines (dist/*.mjs.map map src/
# lines only, which keeps its cost to ~1.5 MiB: scripts/source-map-filter.ts).
ENTRYPOINT ["/nodejs/bin/node", "--enable-source-maps", "--max-semi-space-size=2", "--memory-saver-mode", "/app/dist/cli.mjs"]
CMD ["run"]
