package progtype

import (
	"encoding/binary"
	"testing"
)

// TestBindMD checks that BindMD's fields land at the offsets of BindContext's fields and
// come back from DecodeBindMD.
func TestBindMD(t *testing.T) {
	m := BindMD{ProcessID: 0x1122334455667788, SocketAddressLength: 16, Operation: 2, Protocol: 17}
	m.SocketAddress[0], m.SocketAddress[2], m.SocketAddress[3], m.SocketAddress[15] = 2, 0x1f, 0x90, 0xee
	b := m.Encode()
	field := func(name string) []byte {
		for _, f := range BindContext.Fields {
			if f.Name == name {
				return b[f.RealOffset : f.RealOffset+f.RealSize]
			}
		}
		t.Fatalf("bind_md has no field %s", name)
		return nil
	}
	if got := binary.LittleEndian.Uint64(field("process_id")); got != m.ProcessID {
		t.Errorf("process_id %#x", got)
	}
	if got := field("socket_address"); got[0] != 2 || binary.BigEndian.Uint16(got[2:]) != 8080 || got[15] != 0xee {
		t.Errorf("socket_address % x", got)
	}
	if got := field("socket_address_length")[0]; got != 16 {
		t.Errorf("socket_address_length %d", got)
	}
	if got := binary.LittleEndian.Uint32(field("operation")); got != 2 {
		t.Errorf("operation %d", got)
	}
	if got := field("protocol")[0]; got != 17 {
		t.Errorf("protocol %d", got)
	}
	if z := binary.LittleEndian.Uint64(field("app_id_start")) | binary.LittleEndian.Uint64(field("app_id_end")); z != 0 {
		t.Errorf("span pointers not zero: %#x", z)
	}
	back, err := DecodeBindMD(b)
	if err != nil || back != m {
		t.Errorf("DecodeBindMD = %+v, %v; want %+v", back, err, m)
	}
	if _, err := DecodeBindMD(b[:55]); err == nil {
		t.Error("a short bind_md decoded")
	}
}
