#!/usr/bin/env bash
# Regenerates the Go code for shared/proto/smartretail/v1 with pinned tools:
#   protoc 3.21.12 (Debian: apt-get install protobuf-compiler libprotobuf-dev)
#   protoc-gen-go v1.36.12, protoc-gen-go-grpc v1.6.2 (installed here by go install)
# Run from anywhere: go generate ./shared/proto/... (or this script).
# It also records the .proto's sha256, which TestGeneratedCodeIsCurrent checks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/.bin"
mkdir -p "$bin"
GOBIN="$bin" go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN="$bin" go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
want="libprotoc 3.21.12"
got=$(protoc --version)
[ "$got" = "$want" ] || { echo "generate.sh: want $want, found $got" >&2; exit 1; }
cd "$here"
protoc -I . \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" --go_out=. --go_opt=paths=source_relative \
  --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  smartretail/v1/orders.proto
sha256sum smartretail/v1/orders.proto > smartretail/v1/orders.proto.sha256
rm -rf "$bin"
