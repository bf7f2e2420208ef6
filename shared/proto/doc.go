// Package proto holds the plugin contract's .proto files: smartretail/v1 is
// protocol version 1, google/rpc the error details a foreign host decodes.
package proto

//go:generate ./generate.sh
