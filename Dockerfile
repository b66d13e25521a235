# syntax=docker/dockerfile:1
# The fitbench command in a small image, for the Kubernetes example (scripts/kubernetes/):
#   docker build -t fitbench:latest --build-arg GIT_COMMIT=$(git rev-parse HEAD) .
#
# Provenance: a report's git_commit is asked of git at run time, in the source tree fitbench
# was built from (crates/report/src/environment.rs). This image has neither git nor the
# source tree (.dockerignore keeps .git out), so the commit is compiled in instead: GIT_COMMIT
# becomes FITBENCH_GIT_COMMIT for the build, and reports made in the image record it
# (git_dirty stays null). Without the build argument they say "unknown". Run all shards of a
# sweep from one image tag: `fitbench merge` refuses runs of different commits.

FROM rust:1-bookworm AS build
ARG GIT_COMMIT=unknown
ENV FITBENCH_GIT_COMMIT=${GIT_COMMIT}
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target/ between builds (BuildKit); target/ is then
# not part of the layer, hence the copy out.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin fitbench \
    && cp target/release/fitbench /usr/local/bin/fitbench

FROM debian:bookworm-slim
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="fitbench" \
      org.opencontainers.image.revision="${GIT_COMMIT}"
# The built-in datasets (data/*.csv.gz) and the plot font are compiled into the binary
# (include_bytes!), so no data files are needed at run time. The binary needs only glibc.
COPY --from=build /usr/local/bin/fitbench /usr/local/bin/fitbench
# Used by scripts/kubernetes/merge-job.yaml (bash is in the base image).
COPY scripts/merge-shards.sh /usr/local/bin/fitbench-merge-shards
RUN chmod 0755 /usr/local/bin/fitbench-merge-shards
# Runs as root so that it can write to volumes whatever their ownership (many ReadWriteMany
# volumes, e.g. NFS, ignore fsGroup); set securityContext.runAsUser if your cluster forbids it.
WORKDIR /results
CMD ["fitbench", "--help"]
