// Package maps implements eBPF maps with Linux's semantics. So far it names the map types
// (Linux's numbering); the implementations come with the runtime.
package maps

import "fmt"

// Type is a map type.
type Type uint32

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}
