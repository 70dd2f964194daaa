# syntax=docker/dockerfile:1

# rotor's container image: a static binary on distroless, run as a
# non-root user.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t rotor .
#   docker run --network host -v ./rotor.yaml:/etc/rotor/rotor.yaml:ro \
#     -e DATABASE_URL -e VAULT_ADDR -e VAULT_TOKEN rotor
#
# rotor serve listens only on a loopback address, so from a container it is
# reachable only with the host's network (as above and in
# docker-compose.yml) or from a proxy that shares the container's network
# namespace.

FROM golang:1.26 AS build
WORKDIR /src

# Modules first, so that a change to rotor's code reuses this layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rotor ./cmd/rotor

# distroless/static contains CA certificates, time zone data and a nonroot
# user (uid and gid 65532), and no shell or package manager. rotor also
# embeds the time zone data it needs.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rotor /usr/local/bin/rotor
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["/usr/local/bin/rotor", "healthcheck", "-url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/rotor"]
CMD ["serve", "-config", "/etc/rotor/rotor.yaml"]
