// Package anybpfv1 is the wire API of the anybpf daemon: the gRPC service Anybpf and its
// messages, generated from anybpf.proto. Clients normally use anybpf.Connect instead.
package anybpfv1

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative anybpf.proto
