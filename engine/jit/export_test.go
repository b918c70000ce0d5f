//go:build amd64 && linux

package jit

// LiveMappings returns the number of code mappings not yet freed.
func LiveMappings() int64 { return liveMappings.Load() }
