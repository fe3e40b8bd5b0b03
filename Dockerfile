# Count server image: docker build -t count . ; a 3-node cluster: docker compose up (docker-compose.yml).
# Build stage: compile the TypeScript of src/ and raft/ (the server needs nothing else).
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY raft ./raft
RUN npx tsc -p tsconfig.json

# Runtime stage: production dependencies and the compiled JavaScript only.
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080 9080
# count-server exits 0 on SIGTERM after finishing in-flight requests and leaving gossip.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/cli/count-server.js"]
CMD ["--bind", "0.0.0.0:8080", "--data-dir", "/data"]
