// Package proto holds the plugin contract's .proto files, all a host in
// another language needs: smartretail/v1 is protocol version 1; plugin/ has
// go-plugin's controller and stdio services; google/rpc the error details.
// google/protobuf's well-known types come with every protobuf toolchain.
package proto

//go:generate ./generate.sh
