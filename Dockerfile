# Build the manager as a static binary, then run it on distroless as a non-root user.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace
# The modules first, in their own layer: it is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
# What cmd/ imports (go list -deps ./cmd).
COPY cmd/ cmd/
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w" -o manager ./cmd

FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532
# The callback receiver, the health and readiness probes, the metrics (HTTPS), the admission
# webhook (HTTPS).
EXPOSE 8082 8081 8443 9443
ENTRYPOINT ["/manager"]
